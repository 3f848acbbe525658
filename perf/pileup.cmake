# SPDX-License-Identifier: BSD-3-Clause
# diffbio_perf_pileup: DifferentiablePileup forward+adjoint, BAM decoding included, vs samtools
# mpileup on the same BAM and region (samtools from Debian; the BAM is made by
# tests/data/pileup/make_pileup_data.sh on first use). Included by perf/CMakeLists.txt.
add_executable(diffbio_perf_pileup ${CMAKE_CURRENT_LIST_DIR}/diffbio_perf_pileup.cpp)
target_link_libraries(diffbio_perf_pileup PRIVATE DiffBio::diffbio)
target_compile_definitions(diffbio_perf_pileup PRIVATE
  DIFFBIO_PILEUP_DATA_SCRIPT="${PROJECT_SOURCE_DIR}/tests/data/pileup/make_pileup_data.sh"
  DIFFBIO_PILEUP_PERF_DATA_DIR="${CMAKE_CURRENT_BINARY_DIR}/pileup_perf_data")
add_dependencies(perf diffbio_perf_pileup)
