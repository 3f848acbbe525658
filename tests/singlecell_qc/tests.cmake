# SPDX-License-Identifier: BSD-3-Clause
# Single-cell QC: KnnIndex (IVF kNN), AmbientRemoval and DoubletScorer on every backend. The
# classic peers (scikit-learn NearestNeighbors and roc_auc_score, Debian python3-sklearn) run from
# the tests as a Python subprocess (qc_peer.py); the interpreter is the one tests/singlecell chose
# (DIFFBIO_SC_PYTHON), else the first python3 that imports sklearn.
set(_qc_dir ${CMAKE_CURRENT_LIST_DIR})
set(_qc_python ${DIFFBIO_SC_PYTHON})
if(NOT _qc_python)
  find_program(_diffbio_qc_path_python3 NAMES python3)
  foreach(_py /usr/bin/python3 ${_diffbio_qc_path_python3})
    if(EXISTS ${_py})
      execute_process(COMMAND ${_py} -c "import sklearn, numpy" RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
      if(_rc EQUAL 0)
        set(_qc_python ${_py})
        break()
      endif()
    endif()
  endforeach()
endif()
if(NOT _qc_python)
  set(_qc_python python3)
endif()

diffbio_add_backend_tests(NAME diffbio_singlecell_qc_tests
  SOURCES ${_qc_dir}/tstKnnIndex.cpp ${_qc_dir}/tstAmbientRemoval.cpp ${_qc_dir}/tstDoubletScorer.cpp
  LIBS diffbio_adolc
  LABELS "unit;grad")
foreach(_b IN LISTS DIFFBIO_TEST_BACKENDS)
  string(TOLOWER ${_b} _bl)
  target_compile_definitions(diffbio_singlecell_qc_tests_${_bl} PRIVATE
    DIFFBIO_SC_PYTHON="${_qc_python}" DIFFBIO_QC_SCRIPTS="${_qc_dir}")
endforeach()

unset(_qc_dir)
unset(_qc_python)
