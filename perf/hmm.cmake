# SPDX-License-Identifier: BSD-3-Clause
# ProfileHMM throughput vs HMMER's hmmsearch --max (Debian packages hmmer, hmmer-examples), same
# model and database, same run. Included from perf/CMakeLists.txt.
#
# DiffBio_PERF_NATIVE (default ON) compiles this benchmark for the build machine (-march=native):
# the operator is header-only and its lane loops vectorise to the widest SIMD available, while
# the Debian hmmsearch binary is built for baseline x86-64 with SSE2 (HMMER 3.3 has no AVX path).
# Turn it off to measure the portable baseline build.
option(DiffBio_PERF_NATIVE "Build diffbio_perf_profile_hmm with -march=native" ON)
add_executable(diffbio_perf_profile_hmm ${CMAKE_CURRENT_LIST_DIR}/diffbio_perf_profile_hmm.cpp)
target_link_libraries(diffbio_perf_profile_hmm PRIVATE DiffBio::diffbio)
if(DiffBio_PERF_NATIVE)
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-march=native DIFFBIO_CXX_HAS_MARCH_NATIVE)
  if(DIFFBIO_CXX_HAS_MARCH_NATIVE)
    target_compile_options(diffbio_perf_profile_hmm PRIVATE -march=native)
  endif()
endif()
add_dependencies(perf diffbio_perf_profile_hmm)
