# SPDX-License-Identifier: BSD-3-Clause
# src/parallel and src/training: unit tests (label unit), multi-rank determinism and training of
# the quality model through the diffbio app (label mpi), and the app's command-line contract
# (label app). The whole set runs in well under a minute on 2 cores.
set(_par_dir ${CMAKE_CURRENT_LIST_DIR})

diffbio_add_backend_tests(NAME diffbio_parallel_tests
  SOURCES ${_par_dir}/DiffBio_CommTest.cpp ${_par_dir}/DiffBio_QualityModelTest.cpp
  LABELS unit)

if(NOT TARGET diffbio_app)
  message(STATUS "DiffBio: apps disabled, skipping the diffbio app and MPI determinism tests")
  return()
endif()

set(_work ${CMAKE_CURRENT_BINARY_DIR}/parallel_work)
set(_app $<TARGET_FILE:diffbio_app>)
set(_check ${_par_dir}/run_app_check.cmake)
set(_data ${_par_dir}/data)
find_program(DIFFBIO_H5LS NAMES h5ls)
# Quiet, well-behaved OpenMP for tests: no Kokkos binding warning on stderr (the app tests count
# stderr lines) and passive waiting, so oversubscribed ranks do not spin against each other.
set(_omp_env OMP_PROC_BIND=false OMP_WAIT_POLICY=passive)

# ---- mpiexec command line ---------------------------------------------------------------------
set(_mpi_prefix "")
if(DiffBio_ENABLE_MPI AND MPIEXEC_EXECUTABLE)
  set(_mpi_flags ${MPIEXEC_PREFLAGS})
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _mpi_version
                  ERROR_VARIABLE _mpi_version RESULT_VARIABLE _mpi_version_rc)
  if(_mpi_version MATCHES "Open MPI|OpenRTE")
    # More ranks than cores is the point of the 4-rank test; unbound ranks so threads can spread.
    list(APPEND _mpi_flags --oversubscribe --bind-to none)
    execute_process(COMMAND id -u OUTPUT_VARIABLE _uid OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE _uid_rc)
    if(_uid_rc EQUAL 0 AND _uid STREQUAL "0")
      list(APPEND _mpi_flags --allow-run-as-root)  # containers and CI often run as root
    endif()
  endif()
  set(_rank_counts 1 2 4)
else()
  set(_rank_counts 1)
endif()

# Builds the '|'-separated command line of the diffbio app on N ranks (no mpiexec without MPI).
function(_diffbio_app_cmd out n)
  if(DiffBio_ENABLE_MPI AND MPIEXEC_EXECUTABLE)
    set(_c ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${n} ${_mpi_flags} ${_app} ${ARGN}
           ${MPIEXEC_POSTFLAGS})
  else()
    set(_c ${_app} ${ARGN})
  endif()
  string(REPLACE ";" "|" _c "${_c}")
  set(${out} "${_c}" PARENT_SCOPE)
endfunction()

# ---- determinism: identical bits for 1/2/4 ranks x 1/2 threads (label mpi) ---------------------
set(_det ${_work}/deterministic)
add_test(NAME mpi.deterministic.simulate
  COMMAND ${CMAKE_COMMAND} -DCLEAN_DIR=${_det}
          "-DCMD=${_app}|simulate-reads|--out|${_det}/reads.fastq|--n|400|--length|60|--seed|7"
          -DEXPECT_FILES=${_det}/reads.fastq -P ${_check})
set_tests_properties(mpi.deterministic.simulate PROPERTIES
  FIXTURES_SETUP diffbio_det_data LABELS "mpi" ENVIRONMENT "${_omp_env};OMP_NUM_THREADS=1")

set(_det_outputs "")
foreach(_n IN LISTS _rank_counts)
  foreach(_t 1 2)
    set(_name mpi.deterministic.n${_n}_t${_t})
    if(DiffBio_ENABLE_HDF5)
      set(_h5_out --out ${_det}/n${_n}_t${_t}.h5)
    else()
      set(_h5_out "")
    endif()
    _diffbio_app_cmd(_cmd ${_n} --kokkos-threads=${_t} train-quality --fastq ${_det}/reads.fastq
      ${_h5_out} --params-txt ${_det}/n${_n}_t${_t}.txt --deterministic
      --epochs 3 --batch 50 --block 4 --lr 0.05 --seed 3)
    add_test(NAME ${_name} COMMAND ${CMAKE_COMMAND} "-DCMD=${_cmd}"
      -DEXPECT_FILES=${_det}/n${_n}_t${_t}.txt -P ${_check})
    math(EXPR _procs "${_n} * ${_t}")
    set_tests_properties(${_name} PROPERTIES
      FIXTURES_REQUIRED diffbio_det_data FIXTURES_SETUP diffbio_det_runs LABELS "mpi"
      PROCESSORS ${_procs} ENVIRONMENT "${_omp_env};OMP_NUM_THREADS=${_t}" TIMEOUT 60)
    list(APPEND _det_outputs ${_det}/n${_n}_t${_t}.txt)
  endforeach()
endforeach()
string(REPLACE ";" "|" _det_outputs "${_det_outputs}")
add_test(NAME mpi.deterministic.bitwise_identical
  COMMAND ${CMAKE_COMMAND} "-DFILES=${_det_outputs}" -P ${_par_dir}/compare_files.cmake)
set_tests_properties(mpi.deterministic.bitwise_identical PROPERTIES
  FIXTURES_REQUIRED "diffbio_det_data;diffbio_det_runs" LABELS "mpi")

# ---- the fast (non-deterministic) mode still trains (label mpi) --------------------------------
list(GET _rank_counts -1 _fast_n)
if(_fast_n GREATER 2)
  set(_fast_n 2)
endif()
_diffbio_app_cmd(_cmd ${_fast_n} --kokkos-threads=1 train-quality --fastq ${_det}/reads.fastq
  --params-txt ${_work}/fast.txt --epochs 8 --batch 40 --lr 0.05)
add_test(NAME mpi.fast_mode_trains COMMAND ${CMAKE_COMMAND} "-DCMD=${_cmd}" -DCHECK_TRAINING=ON
  -DMIN_ACCURACY=0.7 -P ${_check})
set_tests_properties(mpi.fast_mode_trains PROPERTIES
  FIXTURES_REQUIRED diffbio_det_data LABELS "mpi" PROCESSORS ${_fast_n}
  ENVIRONMENT "${_omp_env};OMP_NUM_THREADS=1" TIMEOUT 60)

# ---- the app's command-line contract (label app) -----------------------------------------------
# Runs the app on one process (no mpiexec) and checks exit code and stderr.
function(_diffbio_app_test name code)
  cmake_parse_arguments(A "" "STDERR_LINES;STDOUT_REGEX;STDERR_REGEX;ABSENT" "ARGS" ${ARGN})
  string(REPLACE ";" "|" _args "${A_ARGS}")
  set(_defs "-DCMD=${_app}|--kokkos-threads=1|${_args}" -DEXPECT_CODE=${code})
  foreach(_k STDERR_LINES STDOUT_REGEX STDERR_REGEX)
    if(DEFINED A_${_k})
      list(APPEND _defs "-D${_k}=${A_${_k}}")
    endif()
  endforeach()
  if(DEFINED A_ABSENT)
    list(APPEND _defs "-DABSENT_FILES=${A_ABSENT}")
  endif()
  add_test(NAME app.${name} COMMAND ${CMAKE_COMMAND} ${_defs} -P ${_check})
  set_tests_properties(app.${name} PROPERTIES LABELS "app"
    ENVIRONMENT "${_omp_env};OMP_NUM_THREADS=1" TIMEOUT 30)
endfunction()

file(MAKE_DIRECTORY ${_work}/app)
_diffbio_app_test(help 0 ARGS --help STDOUT_REGEX "train-quality" STDERR_LINES 0)
_diffbio_app_test(train_help 0 ARGS train-quality --help STDOUT_REGEX "--deterministic")
_diffbio_app_test(no_subcommand 2 ARGS STDERR_LINES 1 STDERR_REGEX "^diffbio: error: ")
_diffbio_app_test(unknown_option 2 ARGS train-quality --no-such-flag STDERR_LINES 1
  STDERR_REGEX "^diffbio: error: ")
_diffbio_app_test(bad_option_value 2 ARGS train-quality --epochs many STDERR_LINES 1)
foreach(_case truncated length_mismatch non_ascii empty no_label)
  _diffbio_app_test(fastq_${_case} 3
    ARGS train-quality --fastq ${_data}/${_case}.fastq --params-txt ${_work}/app/${_case}.txt
    STDERR_LINES 1 STDERR_REGEX "^diffbio: error: .*${_case}.fastq: record [0-9]+: "
    ABSENT ${_work}/app/${_case}.txt)
endforeach()
_diffbio_app_test(fastq_missing 3
  ARGS train-quality --fastq ${_work}/app/does_not_exist.fastq --params-txt ${_work}/app/missing.txt
  STDERR_LINES 1 STDERR_REGEX "^diffbio: error: .*does_not_exist.fastq"
  ABSENT ${_work}/app/missing.txt)
_diffbio_app_test(config_unknown_key 2
  ARGS --config ${_data}/unknown_key.toml train-quality --fastq x.fastq --out x.h5
  STDERR_LINES 1 STDERR_REGEX "unknown key 'train-quality.epoch'")
_diffbio_app_test(config_missing_file 2
  ARGS train-quality --config ${_work}/app/none.toml --fastq x.fastq --out x.h5 STDERR_LINES 1)

if(DiffBio_ENABLE_HDF5)
  # A successful run: the .h5 holds every parameter block, and no temporary file is left behind.
  set(_ok ${_work}/app_ok)
  set(_defs "-DCMD=${_app}|--kokkos-threads=1|train-quality|--fastq|${_det}/reads.fastq|--out|${_ok}/params.h5|--params-txt|${_ok}/params.txt|--epochs|2|--batch|100"
            -DCLEAN_DIR=${_ok} "-DEXPECT_FILES=${_ok}/params.h5|${_ok}/params.txt"
            -DNO_TEMP_IN=${_ok} -DSTDERR_LINES=0 "-DSTDOUT_REGEX=epoch 2/2 loss=")
  if(DIFFBIO_H5LS)
    list(APPEND _defs -DH5LS=${DIFFBIO_H5LS} -DH5_FILE=${_ok}/params.h5
         "-DH5_REGEX=quality_filter/theta_log_scale +Dataset \\{2\\}.*linear_head/weight_bias|linear_head/weight_bias.*quality_filter/theta_log_scale")
  endif()
  add_test(NAME app.train_writes_h5 COMMAND ${CMAKE_COMMAND} ${_defs} -P ${_check})
  set_tests_properties(app.train_writes_h5 PROPERTIES LABELS "app"
    FIXTURES_REQUIRED diffbio_det_data ENVIRONMENT "${_omp_env};OMP_NUM_THREADS=1" TIMEOUT 30)

  # Command-line flags override the config file (epochs 5 in the file, 2 on the command line).
  set(_ov ${_work}/app_override)
  add_test(NAME app.config_override COMMAND ${CMAKE_COMMAND}
    "-DCMD=${_app}|--kokkos-threads=1|--config|${_data}/override.toml|train-quality|--fastq|${_det}/reads.fastq|--out|${_ov}/params.h5|--epochs|2"
    -DCLEAN_DIR=${_ov} "-DSTDOUT_REGEX=deterministic mode.*epoch 2/2 loss=" -DSTDERR_LINES=0
    -P ${_check})
  set_tests_properties(app.config_override PROPERTIES LABELS "app"
    FIXTURES_REQUIRED diffbio_det_data ENVIRONMENT "${_omp_env};OMP_NUM_THREADS=1" TIMEOUT 30)
endif()

unset(_par_dir)
unset(_work)
