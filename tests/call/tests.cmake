# SPDX-License-Identifier: BSD-3-Clause
# The trainable variant caller: library tests (VCF I/O, candidates, evaluation, joint gradient vs
# finite differences, training beats the untrained start, next to bcftools) and the `diffbio call`
# app (train → call → VCF valid for bcftools; malformed inputs; 2 MPI ranks). Small data: 20 kb of
# lambda at 30× from tests/data/call/make_call_data.sh (~1 s), made in the fixture call.make_data.
# Run: ctest -R '^(call\.|host\.Call)'
set(_call_data ${CMAKE_CURRENT_BINARY_DIR}/call_data)
set(_call_bad ${CMAKE_CURRENT_BINARY_DIR}/call_bad)
add_test(NAME call.make_data
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/data/call/make_call_data.sh ${_call_data} 30 5 20000)
set_tests_properties(call.make_data PROPERTIES FIXTURES_SETUP diffbio_call_data
  LABELS "call;data" TIMEOUT 300)
add_test(NAME call.make_bad_inputs
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/make_bad_inputs.sh ${_call_data} ${_call_bad})
set_tests_properties(call.make_bad_inputs PROPERTIES FIXTURES_REQUIRED diffbio_call_data
  FIXTURES_SETUP diffbio_call_bad LABELS "call;data" TIMEOUT 60)

if(DiffBio_ENABLE_HDF5)
  diffbio_add_host_test(NAME diffbio_call_tests
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/tstVariantCaller.cpp LABELS "unit;call")
  target_compile_definitions(diffbio_call_tests PRIVATE DIFFBIO_CALL_DATA_DIR="${_call_data}")
  set(_f ${CMAKE_CURRENT_BINARY_DIR}/diffbio_call_fixtures.cmake)
  file(WRITE ${_f} "if(diffbio_call_tests_TESTS)\n  set_tests_properties(\${diffbio_call_tests_TESTS} PROPERTIES FIXTURES_REQUIRED diffbio_call_data ENVIRONMENT \"OMP_PROC_BIND=false;OMP_WAIT_POLICY=passive\")\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${_f})
  unset(_f)
endif()

if(NOT TARGET diffbio_app OR NOT DiffBio_ENABLE_HDF5)
  return()
endif()

# ---- the app: exit code, stderr, outputs (tests/parallel/run_app_check.cmake) -----------------
set(_app $<TARGET_FILE:diffbio_app>)
set(_check ${PROJECT_SOURCE_DIR}/tests/parallel/run_app_check.cmake)
set(_w ${CMAKE_CURRENT_BINARY_DIR}/call_work)
set(_env "OMP_PROC_BIND=false;OMP_WAIT_POLICY=passive;OMP_NUM_THREADS=1")
set(_common --bam|${_call_data}/reads.bam|--reference|${_call_data}/ref.fa)

# train on the first half, evaluate the second: progress lines, model written, held-out F1 up.
add_test(NAME call.app.train COMMAND ${CMAKE_COMMAND}
  "-DCMD=${_app}|--kokkos-threads=1|call|train|${_common}|--truth|${_call_data}/truth.vcf.gz|--region|lambda:1-10000|--eval-region|lambda:10001-20000|--epochs|200|--eval-every|50|--out|${_w}/model.h5"
  -DCLEAN_DIR=${_w} -DEXPECT_FILES=${_w}/model.h5 -DNO_TEMP_IN=${_w} -DSTDERR_LINES=0
  "-DSTDOUT_REGEX=epoch 50/200 loss=[0-9.]+ precision=[0-9.]+ recall=[0-9.]+ F1=.*held-out after training: SNP P=[0-9.]+ R=[0-9.]+ F1=(0\\.9|1\\.0)"
  -P ${_check})
set_tests_properties(call.app.train PROPERTIES FIXTURES_REQUIRED diffbio_call_data
  FIXTURES_SETUP diffbio_call_model LABELS "call;app" ENVIRONMENT "${_env}" TIMEOUT 120)

# call → VCF; bcftools must accept it (view) and it must be sorted (bcftools index refuses unsorted
# bgzipped input).
add_test(NAME call.app.call COMMAND ${CMAKE_COMMAND}
  "-DCMD=${_app}|--kokkos-threads=1|call|--model|${_w}/model.h5|${_common}|--region|lambda:10001-20000|--truth|${_call_data}/truth.vcf.gz|--out|${_w}/calls.vcf.gz"
  -DEXPECT_FILES=${_w}/calls.vcf.gz -DNO_TEMP_IN=${_w} -DSTDERR_LINES=0
  "-DSTDOUT_REGEX=wrote [0-9]+ records.*vs truth: SNP P=" -P ${_check})
set_tests_properties(call.app.call PROPERTIES FIXTURES_REQUIRED "diffbio_call_data;diffbio_call_model"
  FIXTURES_SETUP diffbio_call_vcf LABELS "call;app" ENVIRONMENT "${_env}" TIMEOUT 60)
find_program(DIFFBIO_BCFTOOLS NAMES bcftools)
if(DIFFBIO_BCFTOOLS)
  add_test(NAME call.app.bcftools_view COMMAND ${CMAKE_COMMAND}
    "-DCMD=${DIFFBIO_BCFTOOLS}|view|-H|${_w}/calls.vcf.gz" "-DSTDOUT_REGEX=lambda\t[0-9]+\t" -DSTDERR_LINES=0 -P ${_check})
  add_test(NAME call.app.bcftools_index COMMAND ${CMAKE_COMMAND}
    "-DCMD=${DIFFBIO_BCFTOOLS}|index|-f|-t|${_w}/calls.vcf.gz" -DSTDERR_LINES=0 -P ${_check})
  set_tests_properties(call.app.bcftools_view call.app.bcftools_index PROPERTIES
    FIXTURES_REQUIRED diffbio_call_vcf LABELS "call;app" TIMEOUT 30)
endif()
add_test(NAME call.app.eval COMMAND ${CMAKE_COMMAND}
  "-DCMD=${_app}|--kokkos-threads=1|call|eval|--calls|${_w}/calls.vcf.gz|--truth|${_call_data}/truth.vcf.gz|--region|lambda:10001-20000"
  "-DSTDOUT_REGEX=snp_f1=(0\\.9|1\\.0)[0-9]+ indel_f1=" -DSTDERR_LINES=0 -P ${_check})
set_tests_properties(call.app.eval PROPERTIES FIXTURES_REQUIRED "diffbio_call_data;diffbio_call_vcf"
  LABELS "call;app" ENVIRONMENT "${_env}" TIMEOUT 30)

# TOML table [call-train] (epochs, checkpoints) and resuming from the checkpoint.
add_test(NAME call.app.config COMMAND ${CMAKE_COMMAND}
  "-DCMD=${_app}|--kokkos-threads=1|--config|${CMAKE_CURRENT_LIST_DIR}/call_train.toml|call|train|${_common}|--truth|${_call_data}/truth.vcf.gz|--region|lambda:1-3000|--out|${_w}/config_model.h5"
  -DEXPECT_FILES=${_w}/config_model.h5 -DSTDERR_LINES=0
  "-DSTDOUT_REGEX=epoch 1/4 loss=[0-9.]+ precision=.*checkpoint \\(epoch 2\\).*epoch 4/4 loss=" -P ${_check})
add_test(NAME call.app.resume COMMAND ${CMAKE_COMMAND}
  "-DCMD=${_app}|--kokkos-threads=1|call|train|${_common}|--truth|${_call_data}/truth.vcf.gz|--region|lambda:1-3000|--init-model|${_w}/config_model.h5|--epochs|1|--out|${_w}/resumed_model.h5"
  -DEXPECT_FILES=${_w}/resumed_model.h5 -DSTDERR_LINES=0 "-DSTDOUT_REGEX=epoch 1/1 loss=" -P ${_check})
set_tests_properties(call.app.config PROPERTIES FIXTURES_REQUIRED "diffbio_call_data;diffbio_call_model"
  FIXTURES_SETUP diffbio_call_config LABELS "call;app" ENVIRONMENT "${_env}" TIMEOUT 60)
set_tests_properties(call.app.resume PROPERTIES FIXTURES_REQUIRED "diffbio_call_data;diffbio_call_config"
  LABELS "call;app" ENVIRONMENT "${_env}" TIMEOUT 60)

# Malformed inputs: one line on stderr, exit code 3 (input error), no VCF / model left behind.
function(_call_bad name regex)
  set(_out ${_w}/bad_${name})
  string(REPLACE ";" "|" _args "${ARGN}")
  add_test(NAME call.app.bad_${name} COMMAND ${CMAKE_COMMAND}
    "-DCMD=${_app}|--kokkos-threads=1|${_args}" -DEXPECT_CODE=3 -DSTDERR_LINES=1
    "-DSTDERR_REGEX=^diffbio: error: .*${regex}" "-DABSENT_FILES=${_out}.vcf|${_out}.h5" -DNO_TEMP_IN=${_w}
    -P ${_check})
  set_tests_properties(call.app.bad_${name} PROPERTIES
    FIXTURES_REQUIRED "diffbio_call_data;diffbio_call_bad;diffbio_call_model"
    LABELS "call;app" ENVIRONMENT "${_env}" TIMEOUT 30)
endfunction()
set(_model --model ${_w}/model.h5)
_call_bad(truncated_bam "truncated.bam: truncated"
  call ${_model} --bam ${_call_bad}/truncated.bam --reference ${_call_data}/ref.fa --region lambda:1-20000 --out ${_w}/bad_truncated_bam.vcf)
_call_bad(missing_index "noindex.bam: no index"
  call ${_model} --bam ${_call_bad}/noindex.bam --reference ${_call_data}/ref.fa --region lambda:1-2000 --out ${_w}/bad_missing_index.vcf)
_call_bad(contig_mismatch "other_ref.fa: contig 'lambda' not in reference"
  call ${_model} --bam ${_call_data}/reads.bam --reference ${_call_bad}/other_ref.fa --region lambda:1-2000 --out ${_w}/bad_contig_mismatch.vcf)
_call_bad(malformed_truth "bad_truth.vcf: record 3: POS"
  call train --bam ${_call_data}/reads.bam --reference ${_call_data}/ref.fa --truth ${_call_bad}/bad_truth.vcf --region lambda:1-2000 --epochs 2 --out ${_w}/bad_malformed_truth.h5)
_call_bad(empty_region "empty region"
  call ${_model} --bam ${_call_data}/reads.bam --reference ${_call_data}/ref.fa --region lambda:200-100 --out ${_w}/bad_empty_region.vcf)
_call_bad(model_missing "cannot open"
  call --model ${_w}/none.h5 --bam ${_call_data}/reads.bam --reference ${_call_data}/ref.fa --region lambda:1-2000 --out ${_w}/bad_model_missing.vcf)

# Two MPI ranks: candidates sharded, gradients all-reduced; same progress and a model.
if(DiffBio_ENABLE_MPI AND MPIEXEC_EXECUTABLE)
  set(_mpi_flags ${MPIEXEC_PREFLAGS})
  execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE _v ERROR_VARIABLE _v)
  if(_v MATCHES "Open MPI|OpenRTE")
    list(APPEND _mpi_flags --oversubscribe --bind-to none)
    execute_process(COMMAND id -u OUTPUT_VARIABLE _uid OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(_uid STREQUAL "0")
      list(APPEND _mpi_flags --allow-run-as-root)
    endif()
  endif()
  string(REPLACE ";" "|" _mpi_flags "${_mpi_flags}")
  add_test(NAME call.app.mpi2 COMMAND ${CMAKE_COMMAND}
    "-DCMD=${MPIEXEC_EXECUTABLE}|${MPIEXEC_NUMPROC_FLAG}|2|${_mpi_flags}|${_app}|--kokkos-threads=1|call|train|${_common}|--truth|${_call_data}/truth.vcf.gz|--region|lambda:1-10000|--eval-region|lambda:10001-20000|--epochs|100|--eval-every|100|--out|${_w}/model_mpi2.h5"
    -DEXPECT_FILES=${_w}/model_mpi2.h5
    "-DSTDOUT_REGEX=epoch 100/100 loss=.*held-out after training: SNP P=[0-9.]+ R=[0-9.]+ F1=(0\\.9|1\\.0)" -P ${_check})
  set_tests_properties(call.app.mpi2 PROPERTIES FIXTURES_REQUIRED "diffbio_call_data;diffbio_call_model"
    LABELS "call;app;mpi" ENVIRONMENT "${_env}" TIMEOUT 120 PROCESSORS 2)
endif()
unset(_call_data)
unset(_call_bad)
