# SPDX-License-Identifier: BSD-3-Clause
# ProfileHMM (operators/alignment) and the HMMER3 file reader (src/io/DiffBio_HmmerFile):
#   - tstProfileHMM: gradient kit, ADOL-C oracle, backends, posteriors, padding, and agreement with
#     HMMER 3: hmmsearch (Debian package hmmer) on the Pfam models of hmmer-examples, and HMMER's
#     own library as an unrounded oracle for Viterbi, glocal modes and posterior decoding;
#   - tstHmmerFile: the .hmm reader on real files and one-line errors on malformed ones.
# The library oracle links libhmmer.a/libeasel.a built from Debian's hmmer source package by
# cmake/setup-deps.sh (found through CMAKE_PREFIX_PATH: include/hmmer/p7_config.h, lib/libhmmer.a).
find_path(DIFFBIO_HMMER_INCLUDE_DIR p7_config.h PATH_SUFFIXES hmmer include/hmmer)
find_library(DIFFBIO_HMMER_LIBRARY NAMES libhmmer.a hmmer)
find_library(DIFFBIO_EASEL_LIBRARY NAMES libeasel.a easel)
set(_diffbio_hmmer_oracle "")
if(DIFFBIO_HMMER_INCLUDE_DIR AND DIFFBIO_HMMER_LIBRARY AND DIFFBIO_EASEL_LIBRARY)
  find_package(Threads REQUIRED)
  add_executable(diffbio_hmmer_oracle ${CMAKE_CURRENT_LIST_DIR}/DiffBio_HmmerOracle.c)
  target_include_directories(diffbio_hmmer_oracle PRIVATE ${DIFFBIO_HMMER_INCLUDE_DIR})
  target_link_libraries(diffbio_hmmer_oracle PRIVATE
    ${DIFFBIO_HMMER_LIBRARY} ${DIFFBIO_EASEL_LIBRARY} Threads::Threads m)
  set(_diffbio_hmmer_oracle $<TARGET_FILE:diffbio_hmmer_oracle>)
else()
  message(STATUS "ProfileHMM tests: HMMER library (p7_config.h, libhmmer, libeasel) not found; "
                 "the HMMER-library oracle tests will fail until cmake/setup-deps.sh builds it")
endif()

diffbio_add_backend_tests(NAME diffbio_profile_hmm_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tstProfileHMM.cpp
  LIBS diffbio_adolc
  LABELS "unit;grad")
foreach(_b IN LISTS DIFFBIO_TEST_BACKENDS)
  string(TOLOWER ${_b} _bl)
  target_compile_definitions(diffbio_profile_hmm_tests_${_bl} PRIVATE
    DIFFBIO_HMMER_ORACLE="${_diffbio_hmmer_oracle}")
  if(TARGET diffbio_hmmer_oracle)
    add_dependencies(diffbio_profile_hmm_tests_${_bl} diffbio_hmmer_oracle)
  endif()
endforeach()

diffbio_add_host_test(NAME diffbio_hmmer_file_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tstHmmerFile.cpp
  LABELS "unit;grad")
unset(_diffbio_hmmer_oracle)
