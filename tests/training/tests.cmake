# SPDX-License-Identifier: BSD-3-Clause
diffbio_add_host_test(NAME diffbio_training_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tstAlignTrainer.cpp
  LABELS "unit;train")

# ---- `diffbio align` / `diffbio train-align` command-line contract (label app) ----
# Uses _diffbio_app_test from tests/parallel/tests.cmake (included before this file).
if(TARGET diffbio_app AND COMMAND _diffbio_app_test)
  set(_td ${CMAKE_CURRENT_LIST_DIR}/data)
  set(_tw ${CMAKE_CURRENT_BINARY_DIR}/training_work)
  file(MAKE_DIRECTORY ${_tw})
  _diffbio_app_test(align_hard 0 ARGS align --fasta ${_td}/protein_pairs.fa --out ${_tw}/s.tsv --hard
    STDOUT_REGEX "wrote" STDERR_LINES 0)
  _diffbio_app_test(align_dna_global_posterior 0 ARGS align --fasta ${_td}/dna_pair.fa --mode global
    --tau 0.5 --out ${_tw}/d.tsv --posterior-out ${_tw}/d.h5 STDOUT_REGEX "smooth global" STDERR_LINES 0)
  _diffbio_app_test(align_no_header 3 ARGS align --fasta ${_td}/no_header.fa --out ${_tw}/x.tsv
    STDERR_LINES 1 STDERR_REGEX "no_header.fa: record 1: .*before the first" ABSENT ${_tw}/x.tsv)
  _diffbio_app_test(align_odd_records 3 ARGS align --fasta ${_td}/odd_records.fa --out ${_tw}/y.tsv
    STDERR_LINES 1 STDERR_REGEX "odd number of records" ABSENT ${_tw}/y.tsv)
  _diffbio_app_test(align_bad_mode 2 ARGS align --fasta ${_td}/dna_pair.fa --out ${_tw}/z.tsv --mode semi
    STDERR_LINES 1 STDERR_REGEX "local or global")
  _diffbio_app_test(train_align_poor 0 ARGS train-align
    --stockholm /usr/share/doc/hmmer/examples/tutorial/fn3.sto,/usr/share/doc/hmmer/examples/tutorial/Pkinase.sto
    --init poor --epochs 3 --out ${_tw}/ta.h5 STDOUT_REGEX "held-out accuracy" STDERR_LINES 0)
  _diffbio_app_test(train_align_bad_stockholm 3 ARGS train-align --stockholm ${_td}/dna_pair.fa
    --out ${_tw}/tb.h5 STDERR_LINES 1 STDERR_REGEX "not a Stockholm file" ABSENT ${_tw}/tb.h5)
endif()
