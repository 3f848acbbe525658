# SPDX-License-Identifier: BSD-3-Clause
# Single-cell core: 10x/h5ad I/O (host), SoftKMeansClustering and clustering/embedding metrics
# (every backend). The classic peers — scikit-learn (KMeans, adjusted_rand_score,
# normalized_mutual_info_score, silhouette_score, NearestNeighbors), anndata and h5py — run from
# the tests as a Python subprocess (Debian python3-sklearn python3-anndata python3-h5py
# python3-scipy python3-numpy).
set(_sc_dir ${CMAKE_CURRENT_LIST_DIR})

# The first python3 that imports the peers: Debian's /usr/bin/python3 before whatever comes first
# on PATH (pyenv and virtualenv shims usually lack the Debian packages).
if(NOT DIFFBIO_SC_PYTHON)
  find_program(_diffbio_path_python3 NAMES python3)
  foreach(_py /usr/bin/python3 ${_diffbio_path_python3})
    if(EXISTS ${_py})
      execute_process(COMMAND ${_py} -c "import sklearn, anndata, h5py, scipy, numpy"
                      RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
      if(_rc EQUAL 0)
        set(DIFFBIO_SC_PYTHON ${_py} CACHE FILEPATH
            "Python with scikit-learn, anndata and h5py for the single-cell tests")
        break()
      endif()
    endif()
  endforeach()
  if(NOT DIFFBIO_SC_PYTHON)
    message(STATUS "DiffBio: no python3 with sklearn/anndata/h5py: the single-cell peer tests "
                   "will fail (install python3-sklearn python3-anndata python3-h5py)")
    set(_sc_python python3)
  endif()
endif()
if(DIFFBIO_SC_PYTHON)
  set(_sc_python ${DIFFBIO_SC_PYTHON})
endif()
set(_sc_defs DIFFBIO_SC_PYTHON="${_sc_python}" DIFFBIO_SC_SCRIPTS="${_sc_dir}")

diffbio_add_backend_tests(NAME diffbio_singlecell_tests
  SOURCES ${_sc_dir}/tstSoftKMeans.cpp ${_sc_dir}/tstSingleCellMetrics.cpp
  LIBS diffbio_adolc
  LABELS "unit;grad")
foreach(_b IN LISTS DIFFBIO_TEST_BACKENDS)
  string(TOLOWER ${_b} _bl)
  target_compile_definitions(diffbio_singlecell_tests_${_bl} PRIVATE ${_sc_defs})
endforeach()

if(DiffBio_ENABLE_HDF5)
  diffbio_add_host_test(NAME diffbio_singlecell_io_tests
    SOURCES ${_sc_dir}/tstSingleCellIO.cpp
    LABELS unit)
  target_compile_definitions(diffbio_singlecell_io_tests PRIVATE ${_sc_defs})
endif()

unset(_sc_dir)
unset(_sc_defs)
unset(_sc_python)
