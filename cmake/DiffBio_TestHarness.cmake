# SPDX-License-Identifier: BSD-3-Clause
# Cabana-style test generation: one test body, compiled once per Kokkos backend this Kokkos enables.
#
# diffbio_add_backend_tests(NAME <name> SOURCES <files...> [LIBS <targets...>] [LABELS <labels...>])
#   builds <name>_<backend> for every enabled backend (serial, openmp, cuda, hip) with
#   TEST_EXECSPACE defined by tests/support/DiffBio_TestBackend.hpp; OpenMP binaries are
#   registered at 1 and 2 threads.
# diffbio_add_host_test(NAME <name> SOURCES <files...> [LIBS ...] [LABELS ...])
#   a host-only GoogleTest binary (I/O, parsing): no backend variants.
set(DIFFBIO_TEST_BACKENDS)
foreach(_b SERIAL OPENMP CUDA HIP)
  if(Kokkos_ENABLE_${_b})
    list(APPEND DIFFBIO_TEST_BACKENDS ${_b})
  endif()
endforeach()
set(DIFFBIO_TEST_MAIN ${PROJECT_SOURCE_DIR}/tests/support/DiffBio_TestMain.cpp)

# Registers the tests of one GoogleTest binary (discovered at test time) with a set of labels.
# gtest_discover_tests flattens a list given as a property value, so the labels are applied by a
# small include file that runs after discovery, on the discovered test list.
function(_diffbio_discover exe list_name prefix labels)
  gtest_discover_tests(${exe} TEST_PREFIX "${prefix}" TEST_LIST ${list_name} ${ARGN}
    DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60 PROPERTIES ENVIRONMENT "OMP_PROC_BIND=false")
  set(_f ${CMAKE_CURRENT_BINARY_DIR}/${list_name}_labels.cmake)
  file(WRITE ${_f} "if(${list_name})\n  set_tests_properties(\${${list_name}} PROPERTIES LABELS \"${labels}\")\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${_f})
endfunction()

function(diffbio_add_backend_tests)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  foreach(_b IN LISTS DIFFBIO_TEST_BACKENDS)
    string(TOLOWER ${_b} _bl)
    set(_exe ${T_NAME}_${_bl})
    add_executable(${_exe} ${T_SOURCES} ${DIFFBIO_TEST_MAIN})
    target_compile_definitions(${_exe} PRIVATE DIFFBIO_TEST_BACKEND_${_b})
    target_link_libraries(${_exe} PRIVATE diffbio_test_support ${T_LIBS})
    if(_b STREQUAL "OPENMP")
      foreach(_t 1 2)
        _diffbio_discover(${_exe} ${_exe}_t${_t}_TESTS "${_bl}_t${_t}." "${T_LABELS};${_bl}"
          EXTRA_ARGS --kokkos-threads=${_t})
      endforeach()
    else()
      _diffbio_discover(${_exe} ${_exe}_TESTS "${_bl}." "${T_LABELS};${_bl}")
    endif()
  endforeach()
endfunction()

function(diffbio_add_host_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES} ${DIFFBIO_TEST_MAIN})
  target_compile_definitions(${T_NAME} PRIVATE DIFFBIO_TEST_BACKEND_HOST)
  target_link_libraries(${T_NAME} PRIVATE diffbio_test_support ${T_LIBS})
  _diffbio_discover(${T_NAME} ${T_NAME}_TESTS "host." "${T_LABELS};host")
endfunction()
