# SPDX-License-Identifier: BSD-3-Clause
diffbio_add_backend_tests(NAME diffbio_core_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tstCoreNumerics.cpp ${CMAKE_CURRENT_LIST_DIR}/tstGradCheckKit.cpp
    ${CMAKE_CURRENT_LIST_DIR}/tstLabels.cpp ${CMAKE_CURRENT_LIST_DIR}/tstFastExp.cpp
  LIBS diffbio_adolc
  LABELS "unit;grad")
