# SPDX-License-Identifier: BSD-3-Clause
# Single-cell benchmarks (included from perf/CMakeLists.txt).
#
# diffbio_perf_kmeans: SoftKMeansClustering E+M step throughput with scikit-learn's KMeans timed
# in the same run (Debian python3-sklearn; Debian's /usr/bin/python3 is preferred over shims).
if(NOT DIFFBIO_PERF_PYTHON)
  find_program(_diffbio_perf_path_python3 NAMES python3)
  foreach(_py /usr/bin/python3 ${_diffbio_perf_path_python3})
    if(EXISTS ${_py})
      execute_process(COMMAND ${_py} -c "import sklearn, threadpoolctl"
                      RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
      if(_rc EQUAL 0)
        set(DIFFBIO_PERF_PYTHON ${_py} CACHE FILEPATH "Python with scikit-learn for perf/")
        break()
      endif()
    endif()
  endforeach()
endif()
add_executable(diffbio_perf_kmeans ${CMAKE_CURRENT_LIST_DIR}/diffbio_perf_kmeans.cpp)
target_link_libraries(diffbio_perf_kmeans PRIVATE DiffBio::diffbio)
if(TARGET diffbio_perf_openblas)
  # Give OpenBLAS (the Kokkos Kernels BLAS TPL) Kokkos' thread count, as diffbio_perf_gemm does.
  target_link_libraries(diffbio_perf_kmeans PRIVATE diffbio_perf_openblas)
  target_compile_definitions(diffbio_perf_kmeans PRIVATE DIFFBIO_PERF_OPENBLAS)
endif()
if(DIFFBIO_PERF_PYTHON)
  target_compile_definitions(diffbio_perf_kmeans PRIVATE DIFFBIO_PERF_PYTHON="${DIFFBIO_PERF_PYTHON}")
else()
  message(STATUS "perf: no python3 with scikit-learn; diffbio_perf_kmeans will report no peer")
endif()
add_dependencies(perf diffbio_perf_kmeans)
