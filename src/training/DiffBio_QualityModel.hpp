// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_QualityModel.hpp
/// \brief The first trainable pipeline: a learnable quality filter in front of a read classifier.
///
///   reads (bases, Phred) ──QualityFilter(θ, s)──▶ w·onehot ──WeightedPooling──▶ letter
///   frequencies (4) ──LinearHead(4 → 1)──▶ logit ──binary cross-entropy── label
///
/// All parameters (θ, log s, W, β) live in one ParameterSet, so one all-reduce and one optimiser
/// kernel per step serve the whole model. Training is data parallel over a Comm: each rank
/// evaluates its shard of every global minibatch, the gradient buffers are summed over ranks, and
/// every rank applies the same optimiser step.
///
/// Deterministic mode (TrainConfig::deterministic) makes the result independent of the number of
/// ranks and threads, bit for bit: every per-read gradient and loss contribution is rounded to the
/// grid 2^grid_exponent (DiffBio_GradientReduction.hpp), the loss is summed unscaled so the
/// all-reduced gradient is an exact grid sum, and the 1/N of the mean is applied in the optimiser.
/// The data side is rank-independent too: simulate_labelled_reads draws read i from
/// CounterRng(seed, stream = i), and minibatches are a seeded permutation computed identically on
/// every rank.
#ifndef DIFFBIO_QUALITY_MODEL_HPP
#define DIFFBIO_QUALITY_MODEL_HPP

#include <DiffBio_Comm.hpp>
#include <DiffBio_Fastq.hpp>
#include <DiffBio_Optimizer.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace diffbio {

/// Synthetic labelled reads (see simulate_labelled_reads).
struct SimulatedReads {
  std::vector<io::FastqRecord> records;  ///< names "sim<i> label=<y>", Phred+33 qualities
  std::vector<int> labels;               ///< y ∈ {0, 1}, one per record
};

/// Simulates \p n_reads reads of \p read_len bases with global indices first_global_index + k.
///
/// Everything about read i is drawn from CounterRng(seed, stream = i), so a read does not depend on
/// which rank or batch generates it: label y ~ Bernoulli(0.5); each true base is G or C with
/// probability 0.65 if y = 1, else 0.35 (then uniform within the pair); each base is high quality
/// (Q uniform in 25..40) with probability 0.7, else low quality (Q uniform in 2..14), and a low
/// quality base is replaced by a uniformly random base. Low-quality bases thus carry no signal, and
/// a quality filter that drops them sharpens the GC estimate the classifier relies on.
SimulatedReads simulate_labelled_reads(std::size_t n_reads, std::size_t read_len,
                                       std::uint64_t seed, std::size_t first_global_index = 0);

/// Label of a FASTQ header: the whitespace-separated token `label=0` or `label=1` after the read
/// identifier. Returns -1 if there is no `label=` token, -2 if its value is not 0 or 1.
int parse_label_token(const std::string& header);

/// Labels of all records, from their `label=` tokens. Throws input_error(\p path, record, ...)
/// naming the first record (1-based) without a valid token.
std::vector<int> labels_from_headers(const std::vector<io::FastqRecord>& records,
                                     const std::string& path);

/// Training settings of the quality model.
struct TrainConfig {
  int epochs = 10;                 ///< passes over the data set
  std::size_t batch_size = 64;     ///< global minibatch size (summed over ranks)
  OptimizerConfig optimizer{"adam", 0.05};  ///< kind ("adam"/"sgd") and learning rate
  std::uint64_t seed = 1;          ///< minibatch shuffling seed
  bool shuffle = true;             ///< reshuffle the reads every epoch
  bool deterministic = false;      ///< bitwise reproducible for any rank and thread count
  int grid_exponent = -36;         ///< deterministic grid q = 2^grid_exponent
  double theta = 10.0;             ///< initial quality threshold θ (Phred)
  double scale = 2.0;              ///< initial softness s (Phred units), > 0
  std::size_t block = 8;           ///< shard blocks: each rank's rows start at a multiple of this
  double head_init = 0.01;         ///< amplitude of the LinearHead's initial weights
};

/// Checks the user-controllable settings of \p config; throws Error(ExitCode::usage) naming the
/// first bad one. train_quality_model calls it too; apps call it early to fail before reading data.
void check_train_config(const TrainConfig& config);

/// Metrics of one epoch, evaluated on the whole data set after the epoch's last step.
struct EpochStats {
  int epoch = 0;              ///< 1-based
  int epochs = 0;             ///< total
  double loss = 0;            ///< mean binary cross-entropy over all reads
  double accuracy = 0;        ///< fraction of reads with (logit > 0) == label
  double train_loss = 0;      ///< mean loss seen by the minibatches during the epoch
  double theta = 0;           ///< current θ
  double scale = 0;           ///< current s
  double elapsed_seconds = 0; ///< wall time since training started
};

/// Outcome of train_quality_model.
struct TrainResult {
  std::vector<double> parameters;      ///< final parameter vector (ParameterSet order)
  std::vector<std::string> block_names;  ///< parameter block names, in order
  std::vector<std::size_t> block_offsets;  ///< offsets of the blocks in `parameters`
  std::vector<std::size_t> block_sizes;    ///< sizes of the blocks
  std::vector<EpochStats> history;     ///< one entry per epoch
  double theta = 0, scale = 0;         ///< final θ and s
  long long steps = 0;                 ///< optimiser steps taken
  /// The named block's values.
  std::vector<double> block(const std::string& name) const;
};

/// Called after every epoch on every rank (print on rank 0 only).
using ProgressCallback = std::function<void(const EpochStats&)>;

/// Trains the quality model on \p reads with \p labels (both global: every rank passes the whole
/// data set and uses only its shards). Must be called by all ranks of \p comm with the same
/// arguments; Kokkos must be initialised. An error on any rank (e.g. a non-finite gradient or a
/// deterministic sum leaving its exact range, ExitCode::numerical) is rethrown on every rank with
/// the failing rank's message, so no rank is left waiting in a collective.
TrainResult train_quality_model(const TrainConfig& config, const io::ReadBatch& reads,
                                const std::vector<int>& labels, const Comm& comm,
                                const ProgressCallback& progress = {});

}  // namespace diffbio

#endif
