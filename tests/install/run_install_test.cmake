# SPDX-License-Identifier: BSD-3-Clause
# cmake -DMODE=<build_tree|install_tree> -DDIFFBIO_BINARY_DIR=... -DCONSUMER_SOURCE_DIR=...
#       -DWORK_DIR=... -DGENERATOR=... -DCONFIG=... -DCXX_COMPILER=... [-DC_COMPILER=...]
#       [-DPREFIX_PATH=a|b] [-DKOKKOS_DIR=...] [-DKOKKOSKERNELS_DIR=...] -P run_install_test.cmake
#
# build_tree:   consumer with DiffBio_DIR = DiffBio's build directory (export(EXPORT ...) files).
# install_tree: `cmake --install` DiffBio into WORK_DIR/staged, move that to WORK_DIR/prefix (an
#               install must not depend on where it was first put), then find it the way a user
#               would, through CMAKE_PREFIX_PATH, and check the DiffBio that was found is that one.
cmake_minimum_required(VERSION 3.20)

foreach(v MODE DIFFBIO_BINARY_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CONFIG CXX_COMPILER)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "run_install_test.cmake: -D${v}=... is required")
  endif()
endforeach()
string(REPLACE "|" ";" PREFIX_PATH "${PREFIX_PATH}")

# Runs a command, echoing it; any non-zero exit status fails the test with the step's name.
function(run_step name)
  string(REPLACE ";" " " _pretty "${ARGN}")
  message(STATUS "[${MODE}] ${name}: ${_pretty}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "[${MODE}] step '${name}' failed (exit status ${rc})")
  endif()
endfunction()

# A clean slate every run: a stale consumer cache would hide a broken package config.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(consumer_args
  -G "${GENERATOR}"
  -DCMAKE_BUILD_TYPE=${CONFIG}
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
  # Only the DiffBio given here may be found: no user/system package registries.
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(C_COMPILER)
  # DiffBio's config enables C when it needs to probe HDF5; use the same C compiler as DiffBio.
  list(APPEND consumer_args -DCMAKE_C_COMPILER=${C_COMPILER})
endif()
# The very Kokkos / Kokkos Kernels DiffBio was built with, however DiffBio's build found them.
if(KOKKOS_DIR)
  list(APPEND consumer_args -DKokkos_DIR=${KOKKOS_DIR})
endif()
if(KOKKOSKERNELS_DIR)
  list(APPEND consumer_args -DKokkosKernels_DIR=${KOKKOSKERNELS_DIR})
endif()

if(MODE STREQUAL "build_tree")
  set(search_prefix_path "${PREFIX_PATH}")
  list(APPEND consumer_args -DDiffBio_DIR=${DIFFBIO_BINARY_DIR})
  set(expected_dir "${DIFFBIO_BINARY_DIR}")
elseif(MODE STREQUAL "install_tree")
  set(staged "${WORK_DIR}/staged")
  set(prefix "${WORK_DIR}/prefix")
  run_step("install" "${CMAKE_COMMAND}" --install "${DIFFBIO_BINARY_DIR}" --prefix "${staged}" --config "${CONFIG}")
  file(RENAME "${staged}" "${prefix}")
  # The installed prefix first, so it wins over any other DiffBio on the dependency prefixes.
  set(search_prefix_path "${prefix};${PREFIX_PATH}")
  set(expected_dir "${prefix}")
else()
  message(FATAL_ERROR "run_install_test.cmake: unknown MODE '${MODE}'")
endif()

# CMAKE_PREFIX_PATH is a list: pass it in a cache initial file, not through the command line.
file(WRITE "${WORK_DIR}/init.cmake" "set(CMAKE_PREFIX_PATH \"${search_prefix_path}\" CACHE STRING \"\")\n")

set(build_dir "${WORK_DIR}/consumer")
run_step("configure" "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${build_dir}"
         -C "${WORK_DIR}/init.cmake" ${consumer_args})

# Make sure the consumer found the DiffBio under test and not some other one.
file(STRINGS "${build_dir}/CMakeCache.txt" found_dir REGEX "^DiffBio_DIR:")
string(REGEX REPLACE "^DiffBio_DIR:[A-Z]+=" "" found_dir "${found_dir}")
file(REAL_PATH "${found_dir}" found_real)
file(REAL_PATH "${expected_dir}" expected_real)
string(FIND "${found_real}/" "${expected_real}/" pos)
if(NOT pos EQUAL 0)
  message(FATAL_ERROR "[${MODE}] consumer found DiffBio in '${found_dir}', expected under '${expected_dir}'")
endif()

run_step("build" "${CMAKE_COMMAND}" --build "${build_dir}" --config "${CONFIG}")

# Single-config generators put the executable in the build dir, multi-config ones in <config>/.
set(exe "${build_dir}/diffbio_install_test")
if(NOT EXISTS "${exe}" AND EXISTS "${build_dir}/${CONFIG}/diffbio_install_test")
  set(exe "${build_dir}/${CONFIG}/diffbio_install_test")
endif()
run_step("run" "${exe}")
message(STATUS "[${MODE}] passed")
