# SPDX-License-Identifier: BSD-3-Clause
# Single-cell QC benchmarks (included from perf/CMakeLists.txt).
#
# diffbio_perf_knn: KnnIndex (IVF) build + all-points search time with scikit-learn's
# NearestNeighbors timed in the same run (Debian python3-sklearn), and the recall against it.
if(NOT DIFFBIO_PERF_PYTHON)
  find_program(_diffbio_perf_qc_python3 NAMES python3)
  foreach(_py /usr/bin/python3 ${_diffbio_perf_qc_python3})
    if(EXISTS ${_py})
      execute_process(COMMAND ${_py} -c "import sklearn" RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
      if(_rc EQUAL 0)
        set(DIFFBIO_PERF_PYTHON ${_py} CACHE FILEPATH "Python with scikit-learn for perf/")
        break()
      endif()
    endif()
  endforeach()
endif()
add_executable(diffbio_perf_knn ${CMAKE_CURRENT_LIST_DIR}/diffbio_perf_knn.cpp)
target_link_libraries(diffbio_perf_knn PRIVATE DiffBio::diffbio)
if(DIFFBIO_PERF_PYTHON)
  target_compile_definitions(diffbio_perf_knn PRIVATE DIFFBIO_PERF_PYTHON="${DIFFBIO_PERF_PYTHON}")
else()
  message(STATUS "perf: no python3 with scikit-learn; diffbio_perf_knn will report no peer")
endif()
add_dependencies(perf diffbio_perf_knn)
