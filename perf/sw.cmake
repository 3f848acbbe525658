# SPDX-License-Identifier: BSD-3-Clause
# SmoothSmithWaterman benchmark (include from perf/CMakeLists.txt). Its peer is parasail
# (Debian libparasail-dev, Spack parasail): hard mode vs parasail's fastest single-thread routine.
find_path(DIFFBIO_PERF_PARASAIL_INCLUDE_DIR parasail.h)
find_library(DIFFBIO_PERF_PARASAIL_LIBRARY parasail)
if(NOT DIFFBIO_PERF_PARASAIL_INCLUDE_DIR OR NOT DIFFBIO_PERF_PARASAIL_LIBRARY)
  message(STATUS "perf: parasail not found, skipping diffbio_perf_smooth_sw")
else()
  add_executable(diffbio_perf_smooth_sw ${CMAKE_CURRENT_LIST_DIR}/diffbio_perf_smooth_sw.cpp)
  target_link_libraries(diffbio_perf_smooth_sw PRIVATE DiffBio::diffbio ${DIFFBIO_PERF_PARASAIL_LIBRARY})
  target_include_directories(diffbio_perf_smooth_sw PRIVATE ${DIFFBIO_PERF_PARASAIL_INCLUDE_DIR})
  # The lane loops are written for the SIMD width of the machine: without -march the compiler
  # targets SSE2 (2 doubles). Kokkos_ARCH_* does this for the library when Kokkos is configured
  # with an architecture; the Kokkos here is not, so the benchmark asks for the host ISA itself.
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag(-march=native DIFFBIO_PERF_HAS_MARCH_NATIVE)
  if(DIFFBIO_PERF_HAS_MARCH_NATIVE)
    target_compile_options(diffbio_perf_smooth_sw PRIVATE -march=native)
  endif()
  add_dependencies(perf diffbio_perf_smooth_sw)
endif()
