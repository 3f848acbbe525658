# SPDX-License-Identifier: BSD-3-Clause
# The single-cell pipeline: the simulator (host unit tests) and the app chain
# `diffbio simulate-sc` -> `diffbio sc` / `diffbio sc train` (label sc_pipeline): anndata opens
# the output, joint training beats the classic chain on a small simulated set, checkpoint/resume
# is bitwise, malformed inputs give one line and exit code 3, and 2 MPI ranks give the same
# clustering as 1. About 30 s in total on 2 cores.
set(_scp_dir ${CMAKE_CURRENT_LIST_DIR})

diffbio_add_host_test(NAME diffbio_sc_simulator_tests
  SOURCES ${_scp_dir}/tstSingleCellSimulator.cpp
  LABELS "unit;sc_pipeline")

if(NOT TARGET diffbio_app OR NOT DiffBio_ENABLE_HDF5)
  message(STATUS "DiffBio: app or HDF5 disabled, skipping the sc pipeline app tests")
  unset(_scp_dir)
  return()
endif()

# Python with anndata/h5py/scikit-learn (Debian's first: PATH shims usually lack the packages).
set(_scp_python "")
foreach(_py ${DIFFBIO_SC_PYTHON} /usr/bin/python3)
  if(NOT _scp_python AND EXISTS ${_py})
    execute_process(COMMAND ${_py} -c "import sklearn, anndata, h5py, scipy, numpy"
                    RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
    if(_rc EQUAL 0)
      set(_scp_python ${_py})
    endif()
  endif()
endforeach()
if(NOT _scp_python)
  message(STATUS "DiffBio: no python3 with anndata/h5py/sklearn: the sc output checks will fail "
                 "(install python3-anndata python3-h5py python3-sklearn)")
  set(_scp_python python3)
endif()

set(_w ${CMAKE_CURRENT_BINARY_DIR}/sc_pipeline_work)
set(_app $<TARGET_FILE:diffbio_app>)
set(_check ${PROJECT_SOURCE_DIR}/tests/parallel/run_app_check.cmake)
set(_py ${_scp_python}|${_scp_dir}/sc_check.py)
set(_env OMP_PROC_BIND=false OMP_WAIT_POLICY=passive OMP_NUM_THREADS=1)
# Small, fast problem: 1500 cells (+ 750 empty droplets, as in a raw matrix) x 600 genes, 8 types,
# 3 batches, weaker markers (lfc 1.5) so the classic chain is clearly imperfect (ARI 0.48; joint
# training 0.77), 10 % type-restricted genes (the simulator default).
set(_sim simulate-sc|--cells|1500|--genes|600|--marker-lfc|1.5|--seed|1)
set(_chain --clusters|8|--pcs|20)

function(_scp_test name)
  # fixtures are lists ("scp_data;scp_train" arrives as two arguments): multi-value keywords
  cmake_parse_arguments(A "" "PROCESSORS" "FIXTURES_SETUP;FIXTURES_REQUIRED;DEFS" ${ARGN})
  add_test(NAME sc_pipeline.${name} COMMAND ${CMAKE_COMMAND} ${A_DEFS} -P ${_check})
  set_tests_properties(sc_pipeline.${name} PROPERTIES LABELS "app;sc_pipeline" ENVIRONMENT "${_env}" TIMEOUT 120)
  if(A_FIXTURES_SETUP)
    set_tests_properties(sc_pipeline.${name} PROPERTIES FIXTURES_SETUP "${A_FIXTURES_SETUP}")
  endif()
  if(A_FIXTURES_REQUIRED)
    set_tests_properties(sc_pipeline.${name} PROPERTIES FIXTURES_REQUIRED "${A_FIXTURES_REQUIRED}")
  endif()
  if(A_PROCESSORS)
    set_tests_properties(sc_pipeline.${name} PROPERTIES PROCESSORS ${A_PROCESSORS})
  endif()
endfunction()

# ---- data: the same simulation as .h5ad and as 10x .h5 ----------------------------------------
_scp_test(simulate FIXTURES_SETUP scp_data DEFS -DCLEAN_DIR=${_w}/data
  "-DCMD=${_app}|${_sim}|--out|${_w}/data/sim.h5ad" -DEXPECT_FILES=${_w}/data/sim.h5ad
  "-DSTDOUT_REGEX=1500 cells x 600 genes.*density" -DSTDERR_LINES=0 -DNO_TEMP_IN=${_w}/data)
_scp_test(simulate_10x FIXTURES_SETUP scp_data10x FIXTURES_REQUIRED scp_data DEFS
  "-DCMD=${_app}|${_sim}|--out|${_w}/data/sim.h5" -DEXPECT_FILES=${_w}/data/sim.h5 -DSTDERR_LINES=0)
_scp_test(tenx_equals_h5ad FIXTURES_REQUIRED "scp_data;scp_data10x" DEFS
  "-DCMD=${_py}|tenx_matches|${_w}/data/sim.h5|${_w}/data/sim.h5ad" "-DSTDOUT_REGEX=^OK")

# ---- diffbio sc: the whole chain, anndata opens the result --------------------------------------
_scp_test(sc FIXTURES_SETUP scp_out FIXTURES_REQUIRED scp_data DEFS -DCLEAN_DIR=${_w}/sc
  "-DCMD=${_app}|sc|--input|${_w}/data/sim.h5ad|--out|${_w}/sc/out.h5ad|${_chain}"
  -DEXPECT_FILES=${_w}/sc/out.h5ad -DNO_TEMP_IN=${_w}/sc -DSTDERR_LINES=0
  "-DSTDOUT_REGEX=classic chain.*ambient removal.*doublet scoring: .*AUROC.*wrote .*peak memory")
_scp_test(sc_anndata_opens FIXTURES_REQUIRED scp_out DEFS
  "-DCMD=${_py}|output|${_w}/sc/out.h5ad|8|20" "-DSTDOUT_REGEX=^OK")
_scp_test(sc_10x FIXTURES_REQUIRED scp_data10x DEFS -DCLEAN_DIR=${_w}/sc10x
  "-DCMD=${_app}|sc|--input|${_w}/data/sim.h5|--out|${_w}/sc10x/out.h5ad|${_chain}"
  -DEXPECT_FILES=${_w}/sc10x/out.h5ad -DSTDERR_LINES=0
  "-DSTDOUT_REGEX=2250 barcodes, 75[0-9] below [0-9.]+ UMIs .*; 14[89][0-9] cells x 600 genes, 1 batch")
# Cell calling: the 750 simulated empty droplets (raw-matrix layout) are not analysed.
_scp_test(sc_cell_calling FIXTURES_REQUIRED scp_out DEFS
  "-DCMD=${_py}|cell_calling|${_w}/data/sim.h5ad|${_w}/sc/out.h5ad" "-DSTDOUT_REGEX=^OK")
# Doublet detection against the planted doublets (sklearn's AUROC >= 0.9; 0.95 measured).
_scp_test(sc_doublet_auroc FIXTURES_REQUIRED scp_out DEFS
  "-DCMD=${_py}|doublets|${_w}/sc/out.h5ad|0.9" "-DSTDOUT_REGEX=^OK")
# Ambient removal (profile from the empty droplets, ρ from the genes that are off in each cluster,
# then the per-channel Poisson fit) clearly reduces the per-cell contamination error: mean
# |ρ̂ − ρ| ≤ 0.6 × mean ρ (measured 0.46×: 0.051 vs 0.110; a constant at the true mean would
# give 0.045, so this is the level, not per-cell resolution).
_scp_test(sc_contamination FIXTURES_REQUIRED scp_out DEFS
  "-DCMD=${_py}|contamination|${_w}/sc/out.h5ad|0.6" "-DSTDOUT_REGEX=^OK")

# --embedding vae: the VAENormalizer latent as the embedding (classic chain on this set: ARI ≈ 0.48;
# measured with 60 epochs: 0.96).
_scp_test(sc_vae FIXTURES_SETUP scp_vae FIXTURES_REQUIRED scp_data DEFS -DCLEAN_DIR=${_w}/vae
  "-DCMD=${_app}|sc|--input|${_w}/data/sim.h5ad|--out|${_w}/vae/out.h5ad|--clusters|8|--pcs|10|--embedding|vae|--vae-epochs|60"
  -DEXPECT_FILES=${_w}/vae/out.h5ad -DSTDERR_LINES=0 "-DSTDOUT_REGEX=VAE embedding \\(10 latent dims, 60 epochs\\)")
_scp_test(sc_vae_output FIXTURES_REQUIRED scp_vae DEFS
  "-DCMD=${_py}|vae|${_w}/vae/out.h5ad|10|0.8" "-DSTDOUT_REGEX=^OK")

# ---- diffbio sc train: joint training beats the classic chain; checkpoint/resume is bitwise -----
set(_train sc|train|--input|${_w}/data/sim.h5ad|${_chain}|--epochs|60|--checkpoint-every|10)
add_test(NAME sc_pipeline.train_beats_classic COMMAND ${CMAKE_COMMAND} -DCLEAN_DIR=${_w}/train
  "-DCMD=${_app}|${_train}|--model-out|${_w}/train/full.h5|--checkpoint|${_w}/train/ck_full.h5"
  -DMIN_GAIN_E4=1000 -P ${_scp_dir}/sc_train_check.cmake)
set_tests_properties(sc_pipeline.train_beats_classic PROPERTIES LABELS "app;sc_pipeline"
  ENVIRONMENT "${_env}" TIMEOUT 120 FIXTURES_REQUIRED scp_data FIXTURES_SETUP scp_train)
_scp_test(train_interrupted FIXTURES_SETUP scp_half FIXTURES_REQUIRED "scp_data;scp_train" DEFS
  "-DCMD=${_app}|${_train}|--model-out|${_w}/train/interrupted.h5|--checkpoint|${_w}/train/ck_half.h5|--stop-after|25"
  -DEXPECT_FILES=${_w}/train/ck_half.h5 -DABSENT_FILES=${_w}/train/interrupted.h5
  "-DSTDOUT_REGEX=stopping after epoch 25")
_scp_test(train_resumed FIXTURES_SETUP scp_resumed FIXTURES_REQUIRED scp_half DEFS
  "-DCMD=${_app}|${_train}|--model-out|${_w}/train/resumed.h5|--checkpoint|${_w}/train/ck_half.h5|--resume|${_w}/train/ck_half.h5"
  -DEXPECT_FILES=${_w}/train/resumed.h5 "-DSTDOUT_REGEX=resumed from .* after epoch 25.*epoch 26/60")
_scp_test(resume_is_bitwise FIXTURES_REQUIRED scp_resumed DEFS
  "-DCMD=${_py}|same_h5|${_w}/train/full.h5|${_w}/train/resumed.h5" "-DSTDOUT_REGEX=^OK")
_scp_test(resume_checkpoint_is_bitwise FIXTURES_REQUIRED scp_resumed DEFS
  "-DCMD=${_py}|same_h5|${_w}/train/ck_full.h5|${_w}/train/ck_half.h5" "-DSTDOUT_REGEX=^OK")
# The hand-derived joint gradient (chain rule through SoftKMeans, batch offsets, SparsePCA,
# NormalizeLog1p, AmbientRemoval and the reconstruction term) equals central differences.
_scp_test(train_gradient_check FIXTURES_REQUIRED scp_data DEFS
  "-DCMD=${_app}|sc|train|--input|${_w}/data/sim.h5ad|${_chain}|--check-gradient|--model-out|${_w}/bad/never.h5"
  -DSTDERR_LINES=0 -DABSENT_FILES=${_w}/bad/never.h5
  "-DSTDOUT_REGEX=gradient check \\(PCA W, batch offsets, centroids\\): .*relative error [0-9.]+e-(0[6-9]|1[0-9]).*gradient check \\(contamination logits\\): .*relative error [0-9.]+e-(0[6-9]|1[0-9])")
# The trained model drives inference.
_scp_test(sc_with_model FIXTURES_REQUIRED scp_train DEFS
  "-DCMD=${_app}|sc|--input|${_w}/data/sim.h5ad|--out|${_w}/train/with_model.h5ad|${_chain}|--model|${_w}/train/full.h5"
  -DEXPECT_FILES=${_w}/train/with_model.h5ad -DSTDERR_LINES=0 "-DSTDOUT_REGEX=wrote .*ARI 0\\.[5-9]")

# ---- malformed inputs and usage errors: one line, documented exit code, no output --------------
file(MAKE_DIRECTORY ${_w}/bad ${_w}/mpi)
file(WRITE ${_w}/bad/text.h5ad "this is not an HDF5 file\n")
add_test(NAME sc_pipeline.make_truncated COMMAND ${CMAKE_COMMAND} -DSRC=${_w}/data/sim.h5ad
  -DDST=${_w}/bad/truncated.h5ad -P ${_scp_dir}/truncate_file.cmake)
set_tests_properties(sc_pipeline.make_truncated PROPERTIES LABELS "app;sc_pipeline"
  FIXTURES_REQUIRED scp_data FIXTURES_SETUP scp_bad)
foreach(_case text truncated missing)
  _scp_test(bad_${_case} FIXTURES_REQUIRED scp_bad DEFS -DEXPECT_CODE=3 -DSTDERR_LINES=1
    "-DCMD=${_app}|sc|--input|${_w}/bad/${_case}.h5ad|--out|${_w}/bad/${_case}_out.h5ad"
    "-DSTDERR_REGEX=^diffbio: error: .*${_case}.h5ad" -DABSENT_FILES=${_w}/bad/${_case}_out.h5ad)
endforeach()
_scp_test(bad_clusters FIXTURES_REQUIRED scp_data DEFS -DEXPECT_CODE=2 -DSTDERR_LINES=1
  "-DCMD=${_app}|sc|--input|${_w}/data/sim.h5ad|--out|${_w}/bad/k0.h5ad|--clusters|0"
  -DABSENT_FILES=${_w}/bad/k0.h5ad)
_scp_test(no_out FIXTURES_REQUIRED scp_data DEFS -DEXPECT_CODE=2 -DSTDERR_LINES=1
  "-DCMD=${_app}|sc|--input|${_w}/data/sim.h5ad" "-DSTDERR_REGEX=--out is required")
_scp_test(bad_resume FIXTURES_REQUIRED scp_data DEFS -DEXPECT_CODE=3 -DSTDERR_LINES=1
  "-DCMD=${_app}|sc|train|--input|${_w}/data/sim.h5ad|--model-out|${_w}/bad/m.h5|--resume|${_w}/data/sim.h5ad"
  "-DSTDERR_REGEX=not an sc train checkpoint" -DABSENT_FILES=${_w}/bad/m.h5)

# ---- MPI: 2 ranks give the same clustering as 1 (classic chain and the full chain) -------------
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
  foreach(_mode classic full)
    set(_extra "")
    if(_mode STREQUAL "classic")
      set(_extra "|--classic")
    endif()
    foreach(_n 1 2)
      _scp_test(mpi_${_mode}_n${_n} FIXTURES_SETUP scp_mpi_${_mode} FIXTURES_REQUIRED scp_data PROCESSORS ${_n} DEFS
        "-DCMD=${MPIEXEC_EXECUTABLE}|${MPIEXEC_NUMPROC_FLAG}|${_n}|${_mpi_flags}|${_app}|sc|--input|${_w}/data/sim.h5ad|--out|${_w}/mpi/${_mode}_n${_n}.h5ad|${_chain}${_extra}"
        -DEXPECT_FILES=${_w}/mpi/${_mode}_n${_n}.h5ad "-DSTDOUT_REGEX=${_n} rank")
    endforeach()
    _scp_test(mpi_${_mode}_same_clusters FIXTURES_REQUIRED scp_mpi_${_mode} DEFS
      "-DCMD=${_py}|same_labels|${_w}/mpi/${_mode}_n1.h5ad|${_w}/mpi/${_mode}_n2.h5ad" "-DSTDOUT_REGEX=^OK")
  endforeach()
endif()

unset(_scp_dir)
unset(_w)
unset(_py)
unset(_scp_python)
