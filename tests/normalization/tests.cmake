# SPDX-License-Identifier: BSD-3-Clause
# NormalizeLog1p and DifferentiablePCA (operators/normalization) on every backend. The classic
# peers — scanpy's normalize_total + log1p arithmetic in numpy, sklearn.decomposition.PCA — run
# from the tests as a Python subprocess (tests/normalization/pca_peer.py; Debian python3-numpy
# python3-scipy python3-sklearn).
set(_norm_dir ${CMAKE_CURRENT_LIST_DIR})

# The first python3 that imports the peers: Debian's /usr/bin/python3 before whatever comes first
# on PATH (pyenv and virtualenv shims usually lack the Debian packages).
if(NOT DIFFBIO_NORM_PYTHON)
  find_program(_diffbio_norm_path_python3 NAMES python3)
  foreach(_py /usr/bin/python3 ${_diffbio_norm_path_python3})
    if(EXISTS ${_py})
      execute_process(COMMAND ${_py} -c "import sklearn, scipy, numpy"
                      RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
      if(_rc EQUAL 0)
        set(DIFFBIO_NORM_PYTHON ${_py} CACHE FILEPATH
            "Python with numpy, scipy and scikit-learn for the normalisation/PCA tests")
        break()
      endif()
    endif()
  endforeach()
endif()
if(DIFFBIO_NORM_PYTHON)
  set(_norm_python ${DIFFBIO_NORM_PYTHON})
else()
  message(STATUS "DiffBio: no python3 with numpy/scipy/sklearn: the normalisation/PCA peer "
                 "tests will fail (install python3-sklearn)")
  set(_norm_python python3)
endif()

diffbio_add_backend_tests(NAME diffbio_normalization_tests
  SOURCES ${_norm_dir}/tstNormalizeLog1p.cpp ${_norm_dir}/tstSparsePCA.cpp
  LIBS diffbio_adolc
  LABELS "unit;grad")
foreach(_b IN LISTS DIFFBIO_TEST_BACKENDS)
  string(TOLOWER ${_b} _bl)
  target_compile_definitions(diffbio_normalization_tests_${_bl} PRIVATE
    DIFFBIO_NORM_PYTHON="${_norm_python}" DIFFBIO_NORM_SCRIPTS="${_norm_dir}")
endforeach()

unset(_norm_dir)
unset(_norm_python)
