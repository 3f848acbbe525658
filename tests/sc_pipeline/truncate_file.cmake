# SPDX-License-Identifier: BSD-3-Clause
# Writes the first half of SRC to DST (a truncated HDF5 file): cmake -DSRC= -DDST= -P truncate_file.cmake
cmake_minimum_required(VERSION 3.20)
file(SIZE "${SRC}" _size)
math(EXPR _half "${_size} / 2")
execute_process(COMMAND head -c ${_half} "${SRC}" OUTPUT_FILE "${DST}" RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "cannot write ${DST}")
endif()
