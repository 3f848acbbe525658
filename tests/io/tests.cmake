# SPDX-License-Identifier: BSD-3-Clause
# Host-only tests of src/io: FASTQ parsing and writing, read packing, atomic outputs, HDF5.
set(_diffbio_io_test_sources
  ${CMAKE_CURRENT_LIST_DIR}/DiffBio_FastqTest.cpp
  ${CMAKE_CURRENT_LIST_DIR}/DiffBio_AtomicFileTest.cpp
  ${CMAKE_CURRENT_LIST_DIR}/DiffBio_FastaTest.cpp)
if(DiffBio_ENABLE_HDF5)
  list(APPEND _diffbio_io_test_sources ${CMAKE_CURRENT_LIST_DIR}/DiffBio_HDF5Test.cpp)
endif()
diffbio_add_host_test(NAME diffbio_io_tests SOURCES ${_diffbio_io_test_sources} LABELS unit)
unset(_diffbio_io_test_sources)
