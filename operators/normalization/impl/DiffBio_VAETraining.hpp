// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_VAETraining.hpp
/// \brief VAETrainer: mini-batch training of a VAENormalizer over a (device) CSR count matrix
/// with Adam, shuffled mini-batches from the counter RNG, and the mean loss per cell per epoch;
/// embed() returns the latent means of all cells. Included by DiffBio_VAENormalizer.hpp.
///
/// Step t of the run (t counts mini-batches over all epochs) draws ε with Inputs::step = t, so
/// each cell sees a fresh ε every step, and a run is reproducible for a given seed on any backend
/// and thread count. The epoch's permutation is a Fisher–Yates shuffle on the host driven by
/// CounterRng(seed, 2^32 + epoch): identical everywhere. The last mini-batch of an epoch is padded
/// (rows −1), so the workspace keeps one size. The gradient is the mean over the valid cells of a
/// mini-batch (d_loss = 1, Optimizer grad_scale = 1/valid), as scVI's loss is the batch mean.
#ifndef DIFFBIO_VAE_TRAINING_HPP
#define DIFFBIO_VAE_TRAINING_HPP

#include <DiffBio_Optimizer.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_Random.hpp>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace diffbio {

struct VAETrainConfig {
  int batch_size = 128;
  double learning_rate = 1e-3;
  std::uint64_t seed = 0;   ///< shuffling (ε uses VAEConfig::seed)
  bool shuffle = true;
  /// KL warm-up: β = kl_weight · min(1, (epoch + 1) / warmup_epochs); 0: no warm-up.
  int kl_warmup_epochs = 0;
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class VAETrainer {
 public:
  using Op = VAENormalizer<Scalar, ExecSpace>;
  using memory_space = typename ExecSpace::memory_space;
  using Inputs = typename Op::Inputs;
  using matrix_view = typename Op::matrix_view;

  VAETrainer(const VAEConfig& cfg, const VAETrainConfig& tcfg, std::uint64_t init_seed = 0)
      : op_(cfg), tcfg_(tcfg), beta_(cfg.kl_weight) {
    DIFFBIO_EXPECTS(tcfg.batch_size >= 1, "VAETrainer: batch_size must be >= 1");
    ParameterLayout layout;
    block_ = op_.declare(layout, "vae");
    params_ = ParameterSet<Scalar, memory_space>(layout, "vae");
    params_.set_block(block_, op_.initial_params(init_seed));
    OptimizerConfig oc;
    oc.kind = "adam";
    oc.learning_rate = tcfg.learning_rate;
    opt_ = std::make_unique<Optimizer<Scalar, ExecSpace>>(oc, params_.size());
  }

  Op& op() { return op_; }
  const ParamBlock& block() const { return block_; }
  ParameterSet<Scalar, memory_space>& params() { return params_; }
  Optimizer<Scalar, ExecSpace>& optimizer() { return *opt_; }
  long long steps() const { return step_; }

  /// One epoch over all N rows of \p data (row_map/entries/values/batch; rows, mask and eps must
  /// be empty). Returns the mean loss per cell (NB NLL + β·KL) over the epoch's mini-batches.
  double train_epoch(const ExecSpace& exec, const Inputs& data) {
    const int N = static_cast<int>(data.row_map.extent(0)) - 1;
    DIFFBIO_EXPECTS(N >= 1, "VAETrainer: no cells");
    const int B = tcfg_.batch_size < N ? tcfg_.batch_size : N;
    const int n_batches = (N + B - 1) / B;
    if (tcfg_.kl_warmup_epochs > 0) {
      const double f = static_cast<double>(epoch_ + 1) / tcfg_.kl_warmup_epochs;
      op_.set_kl_weight(beta_ * (f < 1 ? f : 1.0));
    }
    op_.set_sample(true);
    // Shuffled row order, padded with −1 to whole mini-batches.
    auto h_perm = Kokkos::View<int*, Kokkos::HostSpace>("DiffBio::VAETrainer::perm_host",
                                                        static_cast<std::size_t>(n_batches) * B);
    for (int i = 0; i < N; ++i) h_perm(i) = i;
    if (tcfg_.shuffle) {
      const CounterRng rng(tcfg_.seed, (std::uint64_t(1) << 32) + static_cast<std::uint64_t>(epoch_));
      for (int i = N - 1; i > 0; --i) {
        const int j = static_cast<int>(rng.uniform(static_cast<std::uint64_t>(i)) * (i + 1));
        std::swap(h_perm(i), h_perm(j < i ? j : i));
      }
    }
    for (std::size_t i = N; i < h_perm.extent(0); ++i) h_perm(i) = -1;
    Kokkos::View<int*, memory_space> perm(Kokkos::view_alloc(Kokkos::WithoutInitializing,
                                                             label("VAETrainer::perm")),
                                          h_perm.extent(0));
    Kokkos::deep_copy(exec, perm, h_perm);
    ensure(exec, B);
    double total = 0;
    auto grads = Kokkos::subview(params_.grads(), block_.range());
    auto values = Kokkos::subview(params_.values(), block_.range());
    for (int t = 0; t < n_batches; ++t) {
      Inputs in = data;
      in.rows = Kokkos::subview(perm, std::make_pair(t * B, (t + 1) * B));
      in.mask = {};
      in.eps = {};
      in.step = static_cast<std::uint64_t>(step_);
      params_.zero_grads(exec);
      op_.forward(exec, values, in, out_, ws_);
      op_.adjoint(exec, values, in, ws_, {ones_, {}}, {}, grads);
      const int valid = (t + 1) * B <= N ? B : N - t * B;
      opt_->step(exec, params_, 1.0 / valid);
      auto loss = out_.loss;
      double s = 0;
      Kokkos::parallel_reduce(
          label("VAETrainer::batch_loss"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
          KOKKOS_LAMBDA(const int i, double& a) { a += static_cast<double>(loss(i)); }, s);
      total += s;
      ++step_;
    }
    ++epoch_;
    const double mean = total / N;
    if (!std::isfinite(mean))
      throw Error(ExitCode::numerical, "DiffBio: VAE training loss became non-finite at epoch " +
                                           std::to_string(epoch_));
    return mean;
  }

  /// \p epochs epochs; \p on_epoch(epoch, mean loss) after each. Returns the mean losses.
  std::vector<double> fit(const ExecSpace& exec, const Inputs& data, int epochs,
                          const std::function<void(int, double)>& on_epoch = {}) {
    std::vector<double> losses;
    for (int e = 0; e < epochs; ++e) {
      losses.push_back(train_epoch(exec, data));
      if (on_epoch) on_epoch(epoch_, losses.back());
    }
    return losses;
  }

  /// Latent means μ_z of all N rows into \p latent [N×L] (z = μ, no sampling), and optionally
  /// each row's loss at z = μ into \p loss [N]. Mini-batched; blocking.
  void embed(const ExecSpace& exec, const Inputs& data, const matrix_view& latent,
             const typename Op::vector_view& loss = {}) {
    const int N = static_cast<int>(data.row_map.extent(0)) - 1;
    const int L = op_.n_latent();
    DIFFBIO_EXPECTS(static_cast<int>(latent.extent(0)) == N && static_cast<int>(latent.extent(1)) == L,
                    "VAETrainer::embed: latent must be N x n_latent");
    const int B = tcfg_.batch_size < N ? tcfg_.batch_size : N;
    ensure(exec, B);
    const bool sample = op_.config().sample;
    op_.set_sample(false);
    Kokkos::View<int*, memory_space> rows(label("VAETrainer::embed_rows"), B);
    auto values = Kokkos::subview(params_.values(), block_.range());
    const bool has_loss = loss.extent(0) > 0;
    for (int r0 = 0; r0 < N; r0 += B) {
      Kokkos::parallel_for(
          label("VAETrainer::embed_rows"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
          KOKKOS_LAMBDA(const int i) { rows(i) = r0 + i < N ? r0 + i : -1; });
      Inputs in = data;
      in.rows = rows;
      in.mask = {};
      in.eps = {};
      op_.forward(exec, values, in, out_, ws_);
      auto mu = out_.latent_mean;
      auto l_out = out_.loss;
      Kokkos::parallel_for(
          label("VAETrainer::embed_copy"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
          KOKKOS_LAMBDA(const int i) {
            if (r0 + i >= N) return;
            for (int l = 0; l < L; ++l) latent(r0 + i, l) = mu(i, l);
            if (has_loss) loss(r0 + i) = l_out(i);
          });
    }
    exec.fence();
    op_.set_sample(sample);
  }

 private:
  void ensure(const ExecSpace& exec, int B) {
    if (static_cast<int>(ones_.extent(0)) == B) return;
    Inputs shape;
    shape.rows = Kokkos::View<int*, memory_space>("DiffBio::VAETrainer::shape", B);
    out_ = op_.allocate_outputs(shape, false, exec);
    ws_ = op_.allocate_workspace(shape);
    Kokkos::View<Scalar*, memory_space> ones(label("VAETrainer::ones"), B);
    Kokkos::deep_copy(exec, ones, Scalar(1));
    ones_ = ones;
  }

  Op op_;
  VAETrainConfig tcfg_;
  double beta_;
  ParamBlock block_;
  ParameterSet<Scalar, memory_space> params_;
  std::unique_ptr<Optimizer<Scalar, ExecSpace>> opt_;
  typename Op::Outputs out_;
  typename Op::Workspace ws_;
  Kokkos::View<const Scalar*, memory_space> ones_;
  long long step_ = 0;
  int epoch_ = 0;
};

}  // namespace diffbio

#endif
