# SPDX-License-Identifier: BSD-3-Clause
# Install tests: build and run the consumer project in this folder against (a) DiffBio's build tree
# and (b) an installed (and then moved) copy of DiffBio. Included by tests/CMakeLists.txt.
#
# Each test is a CMake script (run_install_test.cmake) run with `cmake -P`, so it works with any
# generator and needs nothing beyond CMake. Everything the consumer needs to find the *same*
# toolchain and dependencies as this build is passed explicitly: the compilers, the generator, the
# build type, CMAKE_PREFIX_PATH (where Kokkos lives) and the Kokkos / Kokkos Kernels package dirs.

set(_diffbio_install_work ${PROJECT_BINARY_DIR}/tests/install)

# Lists (CMAKE_PREFIX_PATH) cannot cross add_test's argument splitting on ';': encode as '|'.
string(REPLACE ";" "|" _diffbio_install_prefix_path "${CMAKE_PREFIX_PATH}")

if(CMAKE_CONFIGURATION_TYPES)
  set(_diffbio_install_config "$<CONFIG>")
elseif(CMAKE_BUILD_TYPE)
  set(_diffbio_install_config "${CMAKE_BUILD_TYPE}")
else()
  set(_diffbio_install_config "Release")
endif()

set(_diffbio_install_args
  -DDIFFBIO_BINARY_DIR=${PROJECT_BINARY_DIR}
  -DCONSUMER_SOURCE_DIR=${CMAKE_CURRENT_LIST_DIR}
  -DGENERATOR=${CMAKE_GENERATOR}
  -DCONFIG=${_diffbio_install_config}
  -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
  -DC_COMPILER=${CMAKE_C_COMPILER}
  -DPREFIX_PATH=${_diffbio_install_prefix_path}
  -DKOKKOS_DIR=${Kokkos_DIR}
  -DKOKKOSKERNELS_DIR=${KokkosKernels_DIR})

add_test(NAME install.build_tree
  COMMAND ${CMAKE_COMMAND} ${_diffbio_install_args} -DMODE=build_tree
          -DWORK_DIR=${_diffbio_install_work}/build_tree
          -P ${CMAKE_CURRENT_LIST_DIR}/run_install_test.cmake)
add_test(NAME install.install_tree
  COMMAND ${CMAKE_COMMAND} ${_diffbio_install_args} -DMODE=install_tree
          -DWORK_DIR=${_diffbio_install_work}/install_tree
          -P ${CMAKE_CURRENT_LIST_DIR}/run_install_test.cmake)
# Each configures a fresh project with Kokkos (and MPI/HDF5 probing): a few seconds to a minute.
# OMP_PROC_BIND=false as for every other test here (Kokkos' advice for tests on shared machines).
set_tests_properties(install.build_tree install.install_tree PROPERTIES
  LABELS install TIMEOUT 900 ENVIRONMENT "OMP_PROC_BIND=false")
