# SPDX-License-Identifier: BSD-3-Clause
# diffbio_find_optional(<Name> <Package> [find_package args...])
# Sets DiffBio_ENABLE_<Name>. With DiffBio_REQUIRE_<Name>=ON a missing package is a hard error
# (Cabana's REQUIRE pattern); Spack passes CMAKE_DISABLE_FIND_PACKAGE_<Package> when a variant is off.
macro(diffbio_find_optional name package)
  if(DiffBio_REQUIRE_${name})
    find_package(${package} REQUIRED ${ARGN})
  else()
    find_package(${package} ${ARGN})
  endif()
  if(${package}_FOUND)
    set(DiffBio_ENABLE_${name} ON)
  else()
    set(DiffBio_ENABLE_${name} OFF)
  endif()
  add_feature_info(${name} DiffBio_ENABLE_${name} "optional dependency ${package}")
endmacro()
