# SPDX-License-Identifier: BSD-3-Clause
# Alignment operators: each helper registers its tests in its own snippet.
include(${CMAKE_CURRENT_LIST_DIR}/sw_tests.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/hmm_tests.cmake OPTIONAL)
