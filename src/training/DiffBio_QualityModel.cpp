// SPDX-License-Identifier: BSD-3-Clause
#include <DiffBio_QualityModel.hpp>

#include <DiffBio_LinearHead.hpp>
#include <DiffBio_Loss.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_Pipeline.hpp>
#include <DiffBio_QualityFilter.hpp>
#include <DiffBio_Random.hpp>
#include <DiffBio_WeightedPooling.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>
#include <sstream>

namespace diffbio {

// ------------------------------------------------------------------------------ simulation

SimulatedReads simulate_labelled_reads(std::size_t n_reads, std::size_t read_len,
                                       std::uint64_t seed, std::size_t first_global_index) {
  static const char letters[4] = {'A', 'C', 'G', 'T'};
  constexpr double two32 = 4294967296.0;
  SimulatedReads out;
  out.records.resize(n_reads);
  out.labels.resize(n_reads);
  for (std::size_t k = 0; k < n_reads; ++k) {
    const std::uint64_t i = first_global_index + k;
    // One stream per global read: read i is the same whoever generates it (rank-independent data).
    const CounterRng rng(seed, i);
    const int y = rng.uniform(0) < 0.5 ? 1 : 0;
    const double p_gc = y == 1 ? 0.65 : 0.35;
    auto& rec = out.records[k];
    rec.name = "sim" + std::to_string(i) + " label=" + std::to_string(y);
    rec.sequence.resize(read_len);
    rec.quality.resize(read_len);
    for (std::size_t p = 0; p < read_len; ++p) {
      // Counter 1 + p: four independent words per position (quality class, Q, base, noise base).
      const auto r = rng.bits(1 + static_cast<std::uint64_t>(p));
      const bool high = static_cast<double>(r[0]) / two32 < 0.7;
      const int q = high ? 25 + static_cast<int>(r[1] % 16u) : 2 + static_cast<int>(r[1] % 13u);
      // The top bits decide GC vs AT, the lowest bit picks within the pair: nearly independent.
      const bool gc = static_cast<double>(r[2]) / two32 < p_gc;
      const int within = static_cast<int>(r[2] & 1u);
      int base = gc ? (within ? 2 : 1) : (within ? 3 : 0);
      if (!high) base = static_cast<int>(r[3] & 3u);  // a low-quality call is noise
      rec.sequence[p] = letters[base];
      rec.quality[p] = static_cast<char>(33 + q);
    }
    out.labels[k] = y;
  }
  return out;
}

int parse_label_token(const std::string& header) {
  std::istringstream tokens(header);
  std::string tok;
  bool first = true;
  while (tokens >> tok) {
    // The first token is the read identifier; only description tokens carry the label.
    if (first) {
      first = false;
      continue;
    }
    if (tok.compare(0, 6, "label=") != 0) continue;
    if (tok == "label=0") return 0;
    if (tok == "label=1") return 1;
    return -2;
  }
  return -1;
}

std::vector<int> labels_from_headers(const std::vector<io::FastqRecord>& records,
                                     const std::string& path) {
  std::vector<int> labels(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    const int y = parse_label_token(records[i].name);
    if (y == -1)
      throw input_error(path, static_cast<long long>(i + 1),
                        "header has no 'label=0' or 'label=1' token (needed for training)");
    if (y == -2)
      throw input_error(path, static_cast<long long>(i + 1),
                        "invalid label token in header (expected label=0 or label=1)");
    labels[i] = y;
  }
  return labels;
}

std::vector<double> TrainResult::block(const std::string& name) const {
  for (std::size_t k = 0; k < block_names.size(); ++k)
    if (block_names[k] == name)
      return std::vector<double>(parameters.begin() + static_cast<std::ptrdiff_t>(block_offsets[k]),
                                 parameters.begin() +
                                     static_cast<std::ptrdiff_t>(block_offsets[k] + block_sizes[k]));
  throw Error(ExitCode::internal, "DiffBio: no parameter block named '" + name + "'");
}

// ------------------------------------------------------------------------------ the model

namespace Impl {

/// QualityFilter → WeightedPooling → LinearHead(4 → 1) on batches of up to `capacity` reads,
/// with every buffer allocated once. Rows past the loaded count are padding (length 0, target
/// −1): they produce exact zeros in every sum, so a shorter shard needs no re-allocation.
class QualityModel {
 public:
  using Exec = Kokkos::DefaultExecutionSpace;
  using Mem = Exec::memory_space;
  using QF = QualityFilter<double, Exec>;
  using Pool = WeightedPooling<double, Exec>;
  using Head = LinearHead<double, Exec>;
  static constexpr int n_letters = 4;

  QualityModel(const TrainConfig& cfg, std::size_t capacity, std::size_t max_len)
      : qf_(QualityFilterConfig{cfg.theta, cfg.scale, false}), head_(n_letters, 1) {
    ParameterLayout layout;
    bq_ = qf_.declare(layout);
    bh_ = head_.declare(layout);
    params_ = ParameterSet<double, Mem>(layout, "QualityModel");
    params_.set_block(bq_, qf_.initial_params());
    params_.set_block(bh_, head_.initial_params(cfg.head_init));

    const std::size_t B = capacity, L = std::max<std::size_t>(max_len, 1);
    base_ = Kokkos::View<std::uint8_t**, Mem>(label("QualityModel::base"), B, L);
    quality_ = Kokkos::View<std::uint8_t**, Mem>(label("QualityModel::quality"), B, L);
    profile_ = Kokkos::View<double***, Mem>(label("QualityModel::profile"), B, L, n_letters);
    length_ = Kokkos::View<int*, Mem>(label("QualityModel::length"), B);
    target_ = Kokkos::View<double*, Mem>(label("QualityModel::target"), B);
    h_base_ = Kokkos::create_mirror_view(base_);
    h_quality_ = Kokkos::create_mirror_view(quality_);
    h_length_ = Kokkos::create_mirror_view(length_);
    h_target_ = Kokkos::create_mirror_view(target_);

    qf_in_ = QF::Inputs{quality_, profile_, length_};
    qf_out_ = QF::allocate_outputs(qf_in_);
    pool_in_ = Pool::Inputs{qf_out_.filtered, qf_out_.weight, length_};
    pool_out_ = Pool::allocate_outputs(pool_in_);
    pool_ws_ = Pool::allocate_workspace(pool_in_);
    head_in_ = Head::Inputs{pool_out_.pooled};
    head_out_ = head_.allocate_outputs(head_in_);

    d_logits_ = Kokkos::View<double**, Mem>(label("QualityModel::d_logits"), B, 1);
    d_pooled_ = Kokkos::View<double**, Mem>(label("QualityModel::d_pooled"), B, n_letters);
    d_weight_ = Kokkos::View<double**, Mem>(label("QualityModel::d_weight"), B, L);
    d_filtered_ = Kokkos::View<double***, Mem>(label("QualityModel::d_filtered"), B, L, n_letters);

    build_pipeline();
  }
  // The pipeline's stages capture `this`: the model must stay where it was built.
  QualityModel(const QualityModel&) = delete;
  QualityModel& operator=(const QualityModel&) = delete;

  ParameterSet<double, Mem>& params() { return params_; }
  const ParamBlock& qf_block() const { return bq_; }
  std::size_t capacity() const { return length_.extent(0); }

  /// Loads the global reads rows[0..n) into batch rows 0..n, pads the rest, builds the one-hot
  /// profile on the device.
  void load(const io::ReadBatch& reads, const std::vector<int>& labels,
            const std::vector<std::size_t>& rows) {
    const std::size_t B = capacity(), L = base_.extent(1);
    DIFFBIO_EXPECTS(rows.size() <= B, "QualityModel: shard larger than the batch capacity");
    for (std::size_t r = 0; r < B; ++r) {
      const bool present = r < rows.size();
      const std::size_t g = present ? rows[r] : 0;
      const std::size_t len =
          present ? std::min<std::size_t>(static_cast<std::size_t>(reads.length[g]), L) : 0;
      h_length_(r) = static_cast<int>(len);
      h_target_(r) = present ? static_cast<double>(labels[g]) : -1.0;  // < 0: skipped by the loss
      // Indexed, not memcpy: the mirrors have the device's default layout (LayoutLeft on GPUs).
      const std::uint8_t* src_b = len > 0 ? &reads.base[g * reads.max_len] : nullptr;
      const std::uint8_t* src_q = len > 0 ? &reads.quality[g * reads.max_len] : nullptr;
      for (std::size_t p = 0; p < L; ++p) {
        const bool in = p < len;
        h_base_(r, p) = in ? src_b[p] : std::uint8_t(4);  // padding reads like N: a zero profile row
        h_quality_(r, p) = in ? src_q[p] : std::uint8_t(0);
      }
    }
    Kokkos::deep_copy(base_, h_base_);
    Kokkos::deep_copy(quality_, h_quality_);
    Kokkos::deep_copy(length_, h_length_);
    Kokkos::deep_copy(target_, h_target_);
    auto base = base_;
    auto len = length_;
    auto x = profile_;
    const int Lc = static_cast<int>(L);
    Kokkos::parallel_for(
        label("QualityModel::one_hot"), Kokkos::RangePolicy<Exec>(0, static_cast<int>(B) * Lc),
        KOKKOS_LAMBDA(const int idx) {
          const int b = idx / Lc, p = idx % Lc;
          const int code = p < len(b) ? static_cast<int>(base(b, p)) : 4;  // 4 (N, padding): zero row
          for (int a = 0; a < n_letters; ++a) x(b, p, a) = (a == code) ? 1.0 : 0.0;
        });
  }

  /// Forward pass and loss on the loaded batch. Returns {Σ loss, # correct} over present rows;
  /// with \p with_grad the parameter gradients (zeroed first) receive loss_scale·∂loss/∂params.
  std::pair<double, double> evaluate(const ReductionMode& mode, double loss_scale, bool with_grad) {
    mode_ = mode;
    pipeline_.forward();
    Kokkos::deep_copy(exec_, d_logits_, 0.0);
    auto z = Kokkos::subview(head_out_.logits, Kokkos::ALL, 0);
    auto dz = Kokkos::subview(d_logits_, Kokkos::ALL, 0);
    const double loss = binary_cross_entropy_with_logits(exec_, z, target_, dz,
                                                         with_grad ? loss_scale : 0.0, mode);
    auto t = target_;
    int correct = 0;
    Kokkos::parallel_reduce(
        label("QualityModel::accuracy"), Kokkos::RangePolicy<Exec>(exec_, 0, static_cast<int>(capacity())),
        KOKKOS_LAMBDA(const int b, int& c) {
          if (t(b) < 0) return;
          c += ((z(b) > 0) == (t(b) > 0.5)) ? 1 : 0;
        },
        correct);
    if (with_grad) {
      params_.zero_grads(exec_);
      Kokkos::deep_copy(exec_, d_pooled_, 0.0);
      Kokkos::deep_copy(exec_, d_weight_, 0.0);
      Kokkos::deep_copy(exec_, d_filtered_, 0.0);
      pipeline_.adjoint();
    }
    exec_.fence();
    return {loss, static_cast<double>(correct)};
  }

  const Exec& exec() const { return exec_; }

 private:
  void build_pipeline() {
    // Stages capture Views (reference-counted handles) and `this` only for the operators and the
    // reduction mode, which lives as long as the model.
    pipeline_.add(
        "QualityFilter",
        [this] {
          QF::Workspace ws;
          qf_.forward(exec_, params_.values(bq_), qf_in_, qf_out_, ws);
        },
        [this] {
          qf_.adjoint(exec_, params_.values(bq_), qf_in_, QF::Workspace{},
                      QF::OutputGrads{d_weight_, d_filtered_}, QF::InputGrads{}, params_.grads(bq_),
                      mode_);
        });
    pipeline_.add(
        "WeightedPooling", [this] { pool_.forward(exec_, pool_in_, pool_out_, pool_ws_); },
        [this] {
          pool_.adjoint(exec_, pool_in_, pool_out_, pool_ws_, Pool::OutputGrads{d_pooled_},
                        Pool::InputGrads{d_filtered_, d_weight_});
        });
    pipeline_.add(
        "LinearHead",
        [this] {
          Head::Workspace ws;
          head_.forward(exec_, params_.values(bh_), head_in_, head_out_, ws);
        },
        [this] {
          head_.adjoint(exec_, params_.values(bh_), head_in_, Head::Workspace{},
                        Head::OutputGrads{d_logits_}, Head::InputGrads{d_pooled_},
                        params_.grads(bh_), mode_);
        });
  }

  Exec exec_;
  QF qf_;
  Pool pool_;
  Head head_;
  ParamBlock bq_, bh_;
  ParameterSet<double, Mem> params_;
  ReductionMode mode_;
  Pipeline pipeline_;

  Kokkos::View<std::uint8_t**, Mem> base_, quality_;
  Kokkos::View<double***, Mem> profile_;
  Kokkos::View<int*, Mem> length_;
  Kokkos::View<double*, Mem> target_;
  Kokkos::View<std::uint8_t**, Mem>::HostMirror h_base_, h_quality_;
  Kokkos::View<int*, Mem>::HostMirror h_length_;
  Kokkos::View<double*, Mem>::HostMirror h_target_;

  QF::Inputs qf_in_;
  QF::Outputs qf_out_;
  Pool::Inputs pool_in_;
  Pool::Outputs pool_out_;
  Pool::Workspace pool_ws_;
  Head::Inputs head_in_;
  Head::Outputs head_out_;
  Kokkos::View<double**, Mem> d_logits_, d_pooled_, d_weight_;
  Kokkos::View<double***, Mem> d_filtered_;
};

/// The epoch's visiting order: a Fisher–Yates shuffle driven by CounterRng(seed, stream = epoch),
/// computed identically on every rank (no communication needed).
std::vector<std::size_t> epoch_order(std::size_t n, std::uint64_t seed, int epoch, bool shuffle) {
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t(0));
  if (!shuffle) return order;
  // Stream 2^32 + epoch keeps the shuffle's streams apart from small per-read stream numbers.
  const CounterRng rng(seed, (std::uint64_t(1) << 32) + static_cast<std::uint64_t>(epoch));
  for (std::size_t i = n; i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(rng.uniform(i) * static_cast<double>(i));
    std::swap(order[i - 1], order[std::min(j, i - 1)]);
  }
  return order;
}

/// A sum of losses over batches and ranks that is bitwise reproducible in deterministic mode.
///
/// Each batch's loss is an exact multiple of the grid q there, but the running total over a large
/// data set can outgrow the exact range of a double grid sum (2^53·q, about 1.2e5 at q = 2^-36),
/// after which its rounding would depend on how batches are split over ranks. So the deterministic
/// total is kept as an integer number of quanta and all-reduced in two exact 32-bit halves.
class LossTotal {
 public:
  explicit LossTotal(const ReductionMode& mode)
      : deterministic_(mode.deterministic), q_(mode.quantum()) {}
  void add(double batch_sum) {
    if (deterministic_)
      quanta_ += std::llround(batch_sum / q_);  // exact: batch_sum is a multiple of q = 2^e
    else
      sum_ += batch_sum;
  }
  /// The total over all ranks (collective).
  double allreduce(const Comm& comm) const {
    if (!deterministic_) return comm.allreduce_sum(sum_);
    const long long hi = quanta_ >> 32;            // floor division by 2^32
    const long long lo = quanta_ - (hi << 32);     // in [0, 2^32)
    double parts[2] = {static_cast<double>(hi), static_cast<double>(lo)};
    comm.allreduce_sum(parts, 2);                  // integers far below 2^53: exact in any order
    return (parts[0] * 4294967296.0 + parts[1]) * q_;
  }

 private:
  bool deterministic_;
  double q_;
  long long quanta_ = 0;
  double sum_ = 0;
};

}  // namespace Impl

void check_train_config(const TrainConfig& config) {
  if (config.epochs < 0) throw Error(ExitCode::usage, "epochs must be >= 0");
  if (config.batch_size < 1) throw Error(ExitCode::usage, "batch size must be >= 1");
  if (config.block < 1) throw Error(ExitCode::usage, "shard block must be >= 1");
  if (!(config.scale > 0) || !std::isfinite(config.scale))
    throw Error(ExitCode::usage, "initial scale s must be a positive number");
  if (!std::isfinite(config.theta)) throw Error(ExitCode::usage, "initial theta must be finite");
  if (!(config.optimizer.learning_rate > 0) || !std::isfinite(config.optimizer.learning_rate))
    throw Error(ExitCode::usage, "learning rate must be a positive number");
  if (config.grid_exponent < -60 || config.grid_exponent > -8)
    throw Error(ExitCode::usage, "grid exponent must be in [-60, -8]");
  if (config.optimizer.kind != "adam" && config.optimizer.kind != "sgd")
    throw Error(ExitCode::usage,
                "unknown optimizer '" + config.optimizer.kind + "' (expected adam or sgd)");
}

TrainResult train_quality_model(const TrainConfig& cfg, const io::ReadBatch& reads,
                                const std::vector<int>& labels, const Comm& comm,
                                const ProgressCallback& progress) {
  check_train_config(cfg);
  // Inconsistent data is the caller's bug, not a usage error.
  DIFFBIO_EXPECTS(labels.size() == reads.n_reads, "one label per read expected");
  DIFFBIO_EXPECTS(reads.length.size() == reads.n_reads &&
                      reads.base.size() == reads.n_reads * reads.max_len &&
                      reads.quality.size() == reads.n_reads * reads.max_len,
                  "ReadBatch arrays are inconsistent");
  for (int y : labels) DIFFBIO_EXPECTS(y == 0 || y == 1, "labels must be 0 or 1");
  if (reads.n_reads == 0) throw Error(ExitCode::input_error, "no reads to train on");

  const std::size_t N = reads.n_reads;
  const std::size_t batch = std::min(cfg.batch_size, N);
  // The first rank's shard is the largest one (it gets any extra block).
  const std::size_t capacity =
      std::max<std::size_t>(1, shard_rows(batch, 0, comm.size(), cfg.block).size());

  ReductionMode mode;
  mode.deterministic = cfg.deterministic;
  mode.grid_exponent = cfg.grid_exponent;

  std::unique_ptr<Impl::QualityModel> model;
  run_collectively(comm, [&] {
    model = std::make_unique<Impl::QualityModel>(cfg, capacity, reads.max_len);
  });
  auto& params = model->params();
  Optimizer<double, Impl::QualityModel::Exec> opt(cfg.optimizer, params.size());

  // Gathers the rows [lo, hi) of `order` this rank owns in a minibatch.
  std::vector<std::size_t> rows;
  auto shard_of = [&](const std::vector<std::size_t>& order, std::size_t lo, std::size_t hi) {
    const Shard s = shard_rows(hi - lo, comm.rank(), comm.size(), cfg.block);
    rows.assign(order.begin() + static_cast<std::ptrdiff_t>(lo + s.begin),
                order.begin() + static_cast<std::ptrdiff_t>(lo + s.end));
  };

  TrainResult result;
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t steps_per_epoch = (N + batch - 1) / batch;
  std::vector<std::size_t> identity(N);
  std::iota(identity.begin(), identity.end(), std::size_t(0));

  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    const auto order = Impl::epoch_order(N, cfg.seed, epoch, cfg.shuffle);
    Impl::LossTotal epoch_loss(mode);
    for (std::size_t step = 0; step < steps_per_epoch; ++step) {
      const std::size_t lo = step * batch, hi = std::min(N, lo + batch);
      const double n_global = static_cast<double>(hi - lo);
      // Deterministic: unscaled (exact grid) sums, the mean's 1/N goes into the optimiser.
      const double loss_scale = cfg.deterministic ? 1.0 : 1.0 / n_global;
      const double grad_scale = cfg.deterministic ? 1.0 / n_global : 1.0;
      double bound = 0;  // max_k |G_rk| of this rank's gradient totals
      run_collectively(comm, [&] {
        shard_of(order, lo, hi);
        model->load(reads, labels, rows);
        epoch_loss.add(model->evaluate(mode, loss_scale, true).first);
        for (double g : params.all_grads()) bound = std::max(bound, std::fabs(g));
      });
      comm.allreduce_sum(params.grads());
      // Each rank's totals are exact grid sums (reduce_rows_into guards that). The all-reduce adds
      // one total per rank, and all its partial sums are bounded by Σ_r max_k |G_rk|.
      bound = comm.allreduce_sum(bound);
      if (cfg.deterministic && bound >= mode.exact_bound())
        throw Error(ExitCode::numerical,
                    "deterministic gradient all-reduce exceeds its exact range (sum over ranks of "
                    "max |g| = " + std::to_string(bound) + "); raise the grid exponent");
      opt.step(model->exec(), params, grad_scale);
      ++result.steps;
    }

    // Evaluation on the whole data set, in global batches sharded like training.
    Impl::LossTotal eval_loss(mode);
    double correct = 0;  // an integer count: exact
    run_collectively(comm, [&] {
      for (std::size_t lo = 0; lo < N; lo += batch) {
        shard_of(identity, lo, std::min(N, lo + batch));
        model->load(reads, labels, rows);
        const auto r = model->evaluate(mode, 0.0, false);
        eval_loss.add(r.first);
        correct += r.second;
      }
    });
    const double total_loss = eval_loss.allreduce(comm);
    correct = comm.allreduce_sum(correct);

    const auto qp = params.get_block(model->qf_block());
    EpochStats st;
    st.epoch = epoch;
    st.epochs = cfg.epochs;
    st.loss = total_loss / static_cast<double>(N);
    st.accuracy = correct / static_cast<double>(N);
    st.train_loss = epoch_loss.allreduce(comm) / static_cast<double>(N);
    st.theta = qp[0];
    st.scale = std::exp(qp[1]);
    st.elapsed_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    result.history.push_back(st);
    if (progress) progress(st);
  }

  result.parameters = params.all_values();
  for (const auto& b : params.layout().blocks()) {
    result.block_names.push_back(b.name);
    result.block_offsets.push_back(b.offset);
    result.block_sizes.push_back(b.size);
  }
  const auto qp = params.get_block(model->qf_block());
  result.theta = qp[0];
  result.scale = std::exp(qp[1]);
  return result;
}

}  // namespace diffbio
