# SPDX-License-Identifier: BSD-3-Clause
# Runs `diffbio sc train` and checks that joint training beats the classic chain:
#   cmake -DCMD=<'|'-separated command> -DMIN_GAIN_E4=<ARI gain in units of 1e-4> [-DCLEAN_DIR=<dir>] -P sc_train_check.cmake
# The run must exit 0, print one progress line per epoch with its loss terms and τ, and end with
# "ARI ... classic chain <a> -> joint training <b>" where b >= a + MIN_GAIN_E4·1e-4.
cmake_minimum_required(VERSION 3.20)
string(REPLACE "|" ";" _cmd "${CMD}")
if(DEFINED CLEAN_DIR)
  file(REMOVE_RECURSE "${CLEAN_DIR}")
  file(MAKE_DIRECTORY "${CLEAN_DIR}")
endif()
execute_process(COMMAND ${_cmd} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
message(STATUS "stdout:\n${_out}")
message(STATUS "stderr:\n${_err}")
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "exit code ${_rc}")
endif()
if(NOT _out MATCHES "epoch 1/[0-9]+ loss=[-0-9.e+]+ energy=[-0-9.e+]+ rec=[-0-9.e+]+ nll=[-0-9.e+]+ tau=[0-9.e+]+ ARI=")
  message(FATAL_ERROR "no per-epoch progress line with loss terms, tau and ARI")
endif()
if(NOT _out MATCHES "classic chain ([0-9.]+) -> joint training ([0-9.]+)")
  message(FATAL_ERROR "no 'classic chain a -> joint training b' line")
endif()
set(_a ${CMAKE_MATCH_1})
set(_b ${CMAKE_MATCH_2})
# CMake has no floating point: compare in units of 1e-4 (the line prints 4 decimals).
string(REPLACE "." "" _ai "${_a}")
string(REPLACE "." "" _bi "${_b}")
math(EXPR _ai "${_ai}")  # strips leading zeros
math(EXPR _bi "${_bi}")
math(EXPR _need "${_ai} + ${MIN_GAIN_E4}")
if(_bi LESS _need)
  message(FATAL_ERROR "joint training ARI ${_b} does not beat the classic chain ${_a} by ${MIN_GAIN_E4}e-4")
endif()
message(STATUS "ARI classic ${_a} -> joint ${_b} (gain >= ${MIN_GAIN_E4}e-4)")
