# SPDX-License-Identifier: BSD-3-Clause
# Pileup: htslib input (host tests) and the DifferentiablePileup operator (backend tests). Both read
# real alignments that tests/data/pileup/make_pileup_data.sh makes at test time (samtools, wgsim,
# bwa from Debian; ~1 s) in the CTest fixture `pileup.make_data`, and compare with samtools mpileup.
set(_diffbio_pileup_data ${CMAKE_CURRENT_BINARY_DIR}/pileup_data)
add_test(NAME pileup.make_data
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/data/pileup/make_pileup_data.sh ${_diffbio_pileup_data})
set_tests_properties(pileup.make_data PROPERTIES FIXTURES_SETUP diffbio_pileup_data
  LABELS "pileup;data" TIMEOUT 300)

diffbio_add_host_test(NAME diffbio_pileup_io_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tstPileupIO.cpp LABELS "unit;io;pileup")
target_compile_definitions(diffbio_pileup_io_tests PRIVATE
  DIFFBIO_PILEUP_DATA_DIR="${_diffbio_pileup_data}")
set(_diffbio_pileup_lists diffbio_pileup_io_tests_TESTS)

diffbio_add_backend_tests(NAME diffbio_pileup_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tstPileup.cpp LIBS diffbio_adolc LABELS "unit;grad;pileup")
foreach(_b IN LISTS DIFFBIO_TEST_BACKENDS)
  string(TOLOWER ${_b} _bl)
  target_compile_definitions(diffbio_pileup_tests_${_bl} PRIVATE
    DIFFBIO_PILEUP_DATA_DIR="${_diffbio_pileup_data}")
  if(_b STREQUAL "OPENMP")
    list(APPEND _diffbio_pileup_lists diffbio_pileup_tests_${_bl}_t1_TESTS diffbio_pileup_tests_${_bl}_t2_TESTS)
  else()
    list(APPEND _diffbio_pileup_lists diffbio_pileup_tests_${_bl}_TESTS)
  endif()
endforeach()

# Every discovered test needs the data: applied after discovery, like the harness' labels.
set(_f ${CMAKE_CURRENT_BINARY_DIR}/diffbio_pileup_fixtures.cmake)
file(WRITE ${_f} "")
foreach(_l IN LISTS _diffbio_pileup_lists)
  file(APPEND ${_f} "if(${_l})\n  set_tests_properties(\${${_l}} PROPERTIES FIXTURES_REQUIRED diffbio_pileup_data)\nendif()\n")
endforeach()
set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${_f})
unset(_f)
unset(_diffbio_pileup_lists)
unset(_diffbio_pileup_data)
