# SPDX-License-Identifier: BSD-3-Clause
# Variant operators (operators/variant/): VariantClassifier (MLP, gemm or portable path) and
# CandidateFeatures (pileup window → normalised features), on every backend: gradient kit,
# ADOL-C oracle on tests/reference/DiffBio_RefVariant.hpp, backend vs Serial, float vs double,
# masks, the += contract, and an Adam-trained classifier reaching 100% training accuracy.
diffbio_add_backend_tests(NAME diffbio_variant_tests
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tstVariantClassifier.cpp
          ${CMAKE_CURRENT_LIST_DIR}/tstCandidateFeatures.cpp
  LIBS diffbio_adolc
  LABELS "unit;grad")
