// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_AlignTrainer.hpp
/// \brief Scoring and training of pairwise alignment with SmoothSmithWaterman.
///
/// Training learns the substitution matrix and the gap penalties from reference pairwise
/// alignments (pairs of rows of a Stockholm MSA). The smooth alignment score at temperature τ is a
/// log-partition function, V = τ·log Σ_paths exp(s(path)/τ), so the Gibbs distribution over paths
/// is p(path) = exp((s(path) − V)/τ), and the reference path's negative log-likelihood is
///
///   ℓ = (V − s(ref)) / τ  ≥ 0,    ∂ℓ/∂θ = (E_p[φ(path)] − φ(ref)) / τ
///
/// where φ counts aligned letter pairs, gap openings and gap extensions (s is linear in θ). The
/// expected counts E_p[φ] are exactly the SmoothSmithWaterman adjoint with d_score = 1, so training
/// maximises the agreement between the soft alignment and the reference with first derivatives
/// only. Accuracy is measured on the hard (τ = 0) alignment: the fraction of reference-aligned
/// residue pairs that the max-scoring alignment also aligns.
#ifndef DIFFBIO_ALIGN_TRAINER_HPP
#define DIFFBIO_ALIGN_TRAINER_HPP

#include <DiffBio_Fasta.hpp>
#include <DiffBio_SmoothSmithWaterman.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace diffbio {

/// Encoded pairs (letters as alphabet indices) with optional reference alignments.
struct AlignPairs {
  int alphabet_size = 0;
  std::vector<std::string> name_x, name_y;
  std::vector<std::vector<std::uint8_t>> x, y;
  std::vector<std::vector<std::pair<int, int>>> reference;  ///< empty when unknown
  std::size_t size() const { return x.size(); }
};

/// "dna" (A = 5, ACGTN), "protein" (A = 24, BLOSUM62 order) or "auto": DNA if every letter of every
/// sequence is in ACGTUN.
int alphabet_size_for(const std::string& alphabet, const std::vector<std::string>& sequences);
std::vector<std::uint8_t> encode_sequence(const std::string& s, int alphabet_size);

/// Reference pairs from MSAs: every row is paired with up to `partners` later rows (deterministic),
/// pairs with fewer than `min_aligned` aligned residues are skipped.
AlignPairs pairs_from_msas(const std::vector<io::Msa>& msas, int alphabet_size, int partners = 3,
                           int min_aligned = 10);
/// Splits pairs into train / validation / test by a seeded shuffle (fractions of the whole).
void split_pairs(const AlignPairs& all, double train_fraction, double validation_fraction,
                 std::uint64_t seed, AlignPairs& train, AlignPairs& validation, AlignPairs& test);

/// Scores of every pair (hard or smooth per cfg); `posteriors` (if non-null) receives the
/// expected alignment of each pair, row-major Lx×Ly.
std::vector<double> align_scores(const SmoothSmithWatermanConfig& cfg,
                                 const std::vector<double>& params, const AlignPairs& pairs,
                                 std::vector<std::vector<double>>* posteriors = nullptr,
                                 std::size_t batch = 256);

/// Fraction of reference-aligned residue pairs recovered by the hard (τ = 0) alignment.
double alignment_accuracy(SmoothSmithWatermanConfig cfg, const std::vector<double>& params,
                          const AlignPairs& pairs);

/// Score of a given path (the reference) and its gradient φ w.r.t. the parameter block; the path
/// spans its first to last aligned pair (local mode) or the whole sequences (global mode).
double reference_path_score(const SmoothSmithWatermanConfig& cfg, const std::vector<double>& params,
                            const std::vector<std::uint8_t>& x, const std::vector<std::uint8_t>& y,
                            const std::vector<std::pair<int, int>>& aligned,
                            std::vector<double>* grad = nullptr);

struct AlignTrainConfig {
  int epochs = 20;
  std::size_t batch = 32;
  double learning_rate = 0.05;
  std::uint64_t seed = 1;
  bool symmetric = true;  ///< keep the substitution matrix symmetric (average the gradient)
};

struct AlignEpoch {
  int epoch;
  double loss;                 ///< mean ℓ over training pairs
  double train_accuracy;
  double validation_accuracy;
};

struct AlignTrainResult {
  std::vector<double> params;          ///< the parameters with the best validation accuracy
  int best_epoch = 0;                  ///< 0 = the initial parameters
  double validation_before = 0, validation_after = 0;
  double test_before = 0, test_after = 0;
  std::vector<AlignEpoch> history;
};

/// Adam on ℓ summed over minibatches of training pairs; keeps the epoch with the best validation
/// accuracy (the initial parameters count as epoch 0, so training never returns worse-on-validation
/// parameters than it started from).
AlignTrainResult train_alignment(const SmoothSmithWatermanConfig& cfg,
                                 const std::vector<double>& initial, const AlignPairs& train,
                                 const AlignPairs& validation, const AlignPairs& test,
                                 const AlignTrainConfig& tc,
                                 const std::function<void(const AlignEpoch&)>& progress = {});

}  // namespace diffbio

#endif
