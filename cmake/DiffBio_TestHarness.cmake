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
        gtest_discover_tests(${_exe} TEST_PREFIX "${_bl}_t${_t}." EXTRA_ARGS --kokkos-threads=${_t}
          DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
          PROPERTIES LABELS "${T_LABELS};${_bl}" ENVIRONMENT "OMP_PROC_BIND=false")
      endforeach()
    else()
      gtest_discover_tests(${_exe} TEST_PREFIX "${_bl}." DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
        PROPERTIES LABELS "${T_LABELS};${_bl}")
    endif()
  endforeach()
endfunction()

function(diffbio_add_host_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES} ${DIFFBIO_TEST_MAIN})
  target_compile_definitions(${T_NAME} PRIVATE DIFFBIO_TEST_BACKEND_HOST)
  target_link_libraries(${T_NAME} PRIVATE diffbio_test_support ${T_LIBS})
  gtest_discover_tests(${T_NAME} TEST_PREFIX "host." DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${T_LABELS};host")
endfunction()
