# SPDX-License-Identifier: BSD-3-Clause

diffbio_add_backend_tests(NAME diffbio_operator_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tstReadOperators.cpp
  LIBS diffbio_adolc
  LABELS "unit;grad")
