# SPDX-License-Identifier: BSD-3-Clause
# SmoothSmithWaterman tests (included from tests/alignment/tests.cmake).
# parasail (Debian libparasail-dev, Spack parasail) is the classic-tool peer of hard mode: the
# scores must equal parasail_sw / parasail_nw exactly.
find_path(PARASAIL_INCLUDE_DIR parasail.h REQUIRED)
find_library(PARASAIL_LIBRARY parasail REQUIRED)
if(NOT TARGET diffbio_parasail)
  add_library(diffbio_parasail INTERFACE)
  target_include_directories(diffbio_parasail INTERFACE ${PARASAIL_INCLUDE_DIR})
  target_link_libraries(diffbio_parasail INTERFACE ${PARASAIL_LIBRARY})
endif()

diffbio_add_backend_tests(NAME diffbio_smooth_sw_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tstSmoothSmithWaterman.cpp
  LIBS diffbio_adolc diffbio_parasail
  LABELS "unit;grad")
