# SPDX-License-Identifier: BSD-3-Clause
# Normalisation/PCA benchmark (included from perf/CMakeLists.txt).
#
# diffbio_perf_pca: NormalizeLog1p + DifferentiablePCA fit/forward/adjoint on a 100k × 2k sparse
# matrix (time, peak RSS), with scikit-learn's TruncatedSVD and scanpy's centred sparse PCA method
# (tests/normalization/pca_peer.py) timed in the same run.
if(NOT DIFFBIO_PERF_NORM_PYTHON)
  find_program(_diffbio_perf_norm_path_python3 NAMES python3)
  foreach(_py /usr/bin/python3 ${_diffbio_perf_norm_path_python3})
    if(EXISTS ${_py})
      execute_process(COMMAND ${_py} -c "import sklearn, scipy"
                      RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
      if(_rc EQUAL 0)
        set(DIFFBIO_PERF_NORM_PYTHON ${_py} CACHE FILEPATH
            "Python with scikit-learn and scipy for perf/diffbio_perf_pca")
        break()
      endif()
    endif()
  endforeach()
endif()
add_executable(diffbio_perf_pca ${CMAKE_CURRENT_LIST_DIR}/diffbio_perf_pca.cpp)
target_link_libraries(diffbio_perf_pca PRIVATE DiffBio::diffbio)
target_compile_definitions(diffbio_perf_pca PRIVATE
  DIFFBIO_PERF_PCA_PEER="${PROJECT_SOURCE_DIR}/tests/normalization/pca_peer.py")
if(DIFFBIO_PERF_NORM_PYTHON)
  target_compile_definitions(diffbio_perf_pca PRIVATE
    DIFFBIO_PERF_PYTHON="${DIFFBIO_PERF_NORM_PYTHON}")
else()
  message(STATUS "perf: no python3 with scikit-learn/scipy; diffbio_perf_pca's peer will fail")
endif()
add_dependencies(perf diffbio_perf_pca)
