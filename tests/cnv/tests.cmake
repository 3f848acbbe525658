# SPDX-License-Identifier: BSD-3-Clause
# CNV: the CNVSegmentation operator (backend tests: gradient kit, ADOL-C, Viterbi, planted
# gains/losses) and the `diffbio cnv` app on a simulated BAM with a planted deletion and
# duplication (tests/data/cnv/make_cnv_data.sh, Debian tools only).
set(_cnv_dir ${CMAKE_CURRENT_LIST_DIR})

diffbio_add_backend_tests(NAME diffbio_cnv_tests
  SOURCES ${_cnv_dir}/tstCNVSegmentation.cpp LIBS diffbio_adolc LABELS "unit;grad;cnv")

# ---- test data: a simulated BAM with a planted deletion and duplication (~1 s) ----------------
set(_cnv_data ${CMAKE_CURRENT_BINARY_DIR}/cnv_data)
add_test(NAME cnv.make_data
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/data/cnv/make_cnv_data.sh ${_cnv_data})
set_tests_properties(cnv.make_data PROPERTIES FIXTURES_SETUP diffbio_cnv_data
  LABELS "cnv;data" TIMEOUT 300)

# Binned depth vs samtools mpileup (host test).
diffbio_add_host_test(NAME diffbio_depth_track_tests
  SOURCES ${_cnv_dir}/tstDepthTrack.cpp LABELS "unit;io;cnv")
target_compile_definitions(diffbio_depth_track_tests PRIVATE DIFFBIO_CNV_DATA_DIR="${_cnv_data}")
set(_f ${CMAKE_CURRENT_BINARY_DIR}/diffbio_depth_track_fixtures.cmake)
file(WRITE ${_f} "if(diffbio_depth_track_tests_TESTS)\n  set_tests_properties(\${diffbio_depth_track_tests_TESTS} PROPERTIES FIXTURES_REQUIRED diffbio_cnv_data)\nendif()\n")
set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${_f})
unset(_f)

if(NOT TARGET diffbio_app)
  unset(_cnv_dir)
  unset(_cnv_data)
  return()
endif()

# ---- `diffbio cnv` (label app) -------------------------------------------------------------------
set(_cnv_work ${CMAKE_CURRENT_BINARY_DIR}/cnv_work)
set(_cnv_check ${PROJECT_SOURCE_DIR}/tests/parallel/run_app_check.cmake)
set(_cnv_env OMP_PROC_BIND=false OMP_WAIT_POLICY=passive OMP_NUM_THREADS=1)
file(MAKE_DIRECTORY ${_cnv_work})

# Runs `diffbio --kokkos-threads=1 cnv ARGS...` and checks exit code / stderr / outputs
# (run_app_check.cmake); SETUP names a fixture the run provides (for a comparison test).
function(_diffbio_cnv_app_test name code)
  cmake_parse_arguments(A "" "STDERR_LINES;STDOUT_REGEX;STDERR_REGEX;ABSENT;EXPECT;SETUP" "ARGS" ${ARGN})
  string(REPLACE ";" "|" _args "${A_ARGS}")
  set(_defs "-DCMD=$<TARGET_FILE:diffbio_app>|--kokkos-threads=1|cnv|${_args}" -DEXPECT_CODE=${code})
  foreach(_k STDERR_LINES STDOUT_REGEX STDERR_REGEX)
    if(DEFINED A_${_k})
      list(APPEND _defs "-D${_k}=${A_${_k}}")
    endif()
  endforeach()
  if(DEFINED A_ABSENT)
    list(APPEND _defs "-DABSENT_FILES=${A_ABSENT}")
  endif()
  if(DEFINED A_EXPECT)
    list(APPEND _defs "-DEXPECT_FILES=${A_EXPECT}" "-DNO_TEMP_IN=${_cnv_work}")
  endif()
  add_test(NAME app.cnv_${name} COMMAND ${CMAKE_COMMAND} ${_defs} -P ${_cnv_check})
  set_tests_properties(app.cnv_${name} PROPERTIES LABELS "app;cnv" FIXTURES_REQUIRED diffbio_cnv_data
    ENVIRONMENT "${_cnv_env}" TIMEOUT 60)
  if(DEFINED A_SETUP)
    set_tests_properties(app.cnv_${name} PROPERTIES FIXTURES_SETUP ${A_SETUP})
  endif()
endfunction()

# Planted het deletion [10000, 14000) → copy 1 and tandem duplication [30000, 35000) → copy 3.
function(_diffbio_cnv_compare name out tol)
  add_test(NAME app.cnv_${name}_matches_truth COMMAND ${CMAKE_COMMAND} -DOUT=${out}
    -DTRUTH=${_cnv_data}/truth.bed -DTOL=${tol} -P ${_cnv_dir}/compare_cnv_bed.cmake)
  set_tests_properties(app.cnv_${name}_matches_truth PROPERTIES LABELS "app;cnv"
    FIXTURES_REQUIRED "diffbio_cnv_data;diffbio_cnv_${name}")
endfunction()

set(_bam ${_cnv_data}/reads.bam)
set(_ref ${_cnv_data}/ref.fa)
_diffbio_cnv_app_test(soft_bed 0 ARGS --bam ${_bam} --reference ${_ref} --out ${_cnv_work}/soft.bed
  EXPECT ${_cnv_work}/soft.bed STDERR_LINES 0 STDOUT_REGEX "posterior decoding, 5 segments"
  SETUP diffbio_cnv_soft_bed)
_diffbio_cnv_compare(soft_bed ${_cnv_work}/soft.bed 0)
_diffbio_cnv_app_test(hard_trained_tsv 0
  ARGS --bam ${_bam} --reference ${_ref} --hard --train-epochs 10 --out ${_cnv_work}/hard.tsv
  EXPECT ${_cnv_work}/hard.tsv STDERR_LINES 0 STDOUT_REGEX "epoch 10/10 loss=.*Viterbi decoding"
  SETUP diffbio_cnv_hard_trained_tsv)
_diffbio_cnv_compare(hard_trained_tsv ${_cnv_work}/hard.tsv 0)
# A region (1-based 5001-40000) at 500 bp bins: boundaries within one bin.
_diffbio_cnv_app_test(region_bin500 0
  ARGS --bam ${_bam} --reference ${_ref} --region lambda:5001-40000 --bin 500 --min-mapq 1
  --out ${_cnv_work}/region.bed
  EXPECT ${_cnv_work}/region.bed STDERR_LINES 0 SETUP diffbio_cnv_region_bin500)
_diffbio_cnv_compare(region_bin500 ${_cnv_work}/region.bed 500)

# Malformed inputs: one line on stderr, documented exit code, no output left behind.
set(_no ${_cnv_work}/never.bed)
foreach(_case
    "missing_index|3|noindex.bam|ref.fa|no index"
    "truncated_bam|3|truncated.bam|ref.fa|truncated"
    "missing_bam|3|does_not_exist.bam|ref.fa|cannot open"
    "wrong_reference|3|reads.bam|wrong_ref.fa|contig 'phage' .*not in the BAM header"
    "reference_length_mismatch|3|reads.bam|short_ref.fa|has length 48502 in the BAM header but 47502")
  string(REPLACE "|" ";" _c "${_case}")
  list(GET _c 0 _name)
  list(GET _c 1 _code)
  list(GET _c 2 _b)
  list(GET _c 3 _r)
  list(GET _c 4 _re)
  _diffbio_cnv_app_test(${_name} ${_code}
    ARGS --bam ${_cnv_data}/${_b} --reference ${_cnv_data}/${_r} --out ${_no}
    STDERR_LINES 1 STDERR_REGEX "^diffbio: error: .*${_re}" ABSENT ${_no})
endforeach()
_diffbio_cnv_app_test(empty_region 3 ARGS --bam ${_bam} --reference ${_ref} --region lambda:2000-1000
  --out ${_no} STDERR_LINES 1 STDERR_REGEX "^diffbio: error: .*empty region" ABSENT ${_no})
_diffbio_cnv_app_test(unknown_contig 3 ARGS --bam ${_bam} --reference ${_ref} --region chrX:1-100
  --out ${_no} STDERR_LINES 1 STDERR_REGEX "contig 'chrX' not in" ABSENT ${_no})
_diffbio_cnv_app_test(bad_bin 2 ARGS --bam ${_bam} --reference ${_ref} --bin 0 --out ${_no}
  STDERR_LINES 1 STDERR_REGEX "--bin must be > 0" ABSENT ${_no})

unset(_bam)
unset(_ref)
unset(_no)
unset(_cnv_data)
unset(_cnv_work)
unset(_cnv_check)
unset(_cnv_env)
unset(_cnv_dir)
