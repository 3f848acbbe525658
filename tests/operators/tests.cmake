# SPDX-License-Identifier: BSD-3-Clause
find_path(ADOLC_INCLUDE_DIR adolc/adolc.h REQUIRED)
find_library(ADOLC_LIBRARY adolc REQUIRED)
add_library(diffbio_adolc INTERFACE)
target_include_directories(diffbio_adolc INTERFACE ${ADOLC_INCLUDE_DIR})
target_link_libraries(diffbio_adolc INTERFACE ${ADOLC_LIBRARY})
target_include_directories(diffbio_test_support INTERFACE ${CMAKE_CURRENT_LIST_DIR} ${PROJECT_SOURCE_DIR}/tests/reference)

diffbio_add_backend_tests(NAME diffbio_operator_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tstReadOperators.cpp
  LIBS diffbio_adolc
  LABELS "unit;grad")
