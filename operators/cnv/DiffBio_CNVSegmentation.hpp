// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_CNVSegmentation.hpp
/// \brief CNVSegmentation: soft segmentation of binned read-depth log-ratios by a hidden Markov
/// model over copy states — forward-backward in log space (τ = 1), Viterbi (τ = 0, `hard`) or any
/// temperature in between, in the same kernel.
///
/// Model (ADJOINT.md has the recurrences and the adjoint):
///  - states c = 0 .. S−1 are copy numbers (default S = 5: 0..4 copies, ploidy 2 = normal);
///  - emission: the log-ratio r_t = log((depth_t + ½)/(expected_t + ½)) is Gaussian with a
///    learnable mean μ_c per state (initialised at log(c/ploidy), c = 0 floored at
///    `zero_copy_floor`/ploidy) and spread σ_c = σ·√(ploidy/max(c, floor)) with one learnable
///    log σ (the normal state's spread): the delta-method spread of a log-count whose mean scales
///    with c, so losses are noisier than gains, as in read depth. A Gaussian on log-ratios
///    (rather than a Poisson on counts) makes the input differentiable and independent of the
///    depth scale, and bin means of read depth are less dispersed than Poisson counts, which the
///    free σ absorbs;
///  - transition: stay with probability σ(κ) (κ = the learnable "contiguity" logit), switch
///    uniformly to one of the S − 1 other states otherwise;
///  - initial state: softmax of learnable logits ι.
/// Parameters (one block of 2S + 2 values): [μ_0..μ_{S−1}, log σ, κ, ι_0..ι_{S−1}].
///
/// Inputs (batched: tracks = contigs or samples, padded to T bins): track [B×T] log-ratios,
/// optional mask [B×T] (0 = no data in the bin, e.g. a reference gap: the bin emits a constant
/// and only the transition prior carries the segmentation across it), length [B].
/// Outputs: posterior [B×T×S] (P(state c at bin t | track); one-hot of the Viterbi path in hard
/// mode; zero on padding), loglik [B] (τ·log Σ_paths e^{score/τ}: the log-likelihood at τ = 1,
/// the Viterbi path score at τ = 0; 0 for an empty track), path [B×T] (Viterbi path in hard mode,
/// per-bin most probable state in soft mode; −1 on padding).
/// Adjoint: d_loglik and d_posterior → d_params (+=) and d_track (+=). In hard mode the posterior
/// is piecewise constant (no gradient) and d_loglik flows along the Viterbi path.
///
/// Memory: the forward keeps α and β, [B×T×S] in accum_t each, in the Workspace for the adjoint.
/// For whole-genome tracks at fine bins (T ~ 10⁶–10⁷ per track) that is ~80 B·S per bin; split the
/// track (per contig / arm). Checkpointing α every √T bins with recompute would bound it; this
/// version stores both tables in full.
/// Parallelism is over tracks (one thread each): S² work per bin is too little to share.
#ifndef DIFFBIO_CNV_SEGMENTATION_HPP
#define DIFFBIO_CNV_SEGMENTATION_HPP

#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <impl/DiffBio_CNVSegmentation_Kernels.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace diffbio {

struct CNVSegmentationConfig {
  int n_states = 5;               ///< copy numbers 0 .. n_states−1 (2 ≤ n_states ≤ 16)
  int ploidy = 2;                 ///< the normal copy number (log-ratio 0)
  double temperature = 1.0;       ///< 1: forward-backward; 0: Viterbi (hard); else tempered
  double init_sigma = 0.2;        ///< initial σ of the log-ratio emission
  double init_stay = 0.999;       ///< initial stay probability σ(κ)
  double zero_copy_floor = 0.05;  ///< μ_0 = log(floor/ploidy): a deletion still has a few reads
  /// ε of the outlier component: every state emits (1 − ε)·N(μ_c, σ_c) + ε·U, U uniform over a
  /// log-ratio range of width 8, so one aberrant bin costs at most log(ε/8) instead of pulling
  /// the path into another state (a Gaussian's tails are too light for read depth). 0: off.
  double outlier_prob = 0.01;
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class CNVSegmentation {
 public:
  using scalar_type = Scalar;
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using accum_type = accum_t<Scalar>;
  using grad_type = accum_t<Scalar>;

  struct Inputs {
    Kokkos::View<const Scalar**, memory_space> track;       ///< [B×T] log-ratios
    Kokkos::View<const std::uint8_t**, memory_space> mask;  ///< [B×T] optional, 0 = no data
    Kokkos::View<const int*, memory_space> length;          ///< [B] valid bins
  };
  struct Outputs {
    Kokkos::View<Scalar***, memory_space> posterior;  ///< [B×T×S]
    Kokkos::View<Scalar*, memory_space> loglik;       ///< [B]
    Kokkos::View<int**, memory_space> path;           ///< [B×T]
  };
  /// Seeds; either may be empty.
  struct OutputGrads {
    Kokkos::View<const Scalar***, memory_space> d_posterior;
    Kokkos::View<const Scalar*, memory_space> d_loglik;
  };
  /// Empty d_track skips the input gradient.
  struct InputGrads {
    Kokkos::View<Scalar**, memory_space> d_track;
  };
  /// α, β of the last forward (soft) and its path (hard), reused by the adjoint; per-track
  /// gradient rows. Grown on demand.
  struct Workspace {
    Kokkos::View<accum_type***, memory_space> alpha, beta;
    Kokkos::View<int**, memory_space> path;
    mutable Kokkos::View<double**, memory_space> rows;
  };

  explicit CNVSegmentation(CNVSegmentationConfig cfg = {}) : cfg_(cfg) {
    DIFFBIO_EXPECTS(cfg_.n_states >= 2 && cfg_.n_states <= Impl::cnv_max_states,
                    "CNVSegmentation: n_states must be in [2, 16]");
    DIFFBIO_EXPECTS(cfg_.ploidy >= 1 && cfg_.ploidy < cfg_.n_states,
                    "CNVSegmentation: ploidy must be a state (1 <= ploidy < n_states)");
    DIFFBIO_EXPECTS(cfg_.temperature >= 0, "CNVSegmentation: temperature must be >= 0");
    DIFFBIO_EXPECTS(cfg_.outlier_prob >= 0 && cfg_.outlier_prob < 1,
                    "CNVSegmentation: outlier_prob must be in [0, 1)");
    DIFFBIO_EXPECTS(cfg_.init_sigma > 0 && cfg_.init_stay > 0 && cfg_.init_stay < 1 &&
                        cfg_.zero_copy_floor > 0,
                    "CNVSegmentation: init_sigma > 0, 0 < init_stay < 1, zero_copy_floor > 0");
  }

  int n_states() const { return cfg_.n_states; }
  std::size_t n_params() const { return static_cast<std::size_t>(2 * cfg_.n_states + 2); }
  const CNVSegmentationConfig& config() const { return cfg_; }
  bool hard() const { return !(cfg_.temperature > 0); }
  void set_temperature(double tau) {
    DIFFBIO_EXPECTS(tau >= 0, "CNVSegmentation: temperature must be >= 0");
    cfg_.temperature = tau;
  }

  // Parameter indices within the block.
  std::size_t mean_index(int c) const { return layout().mean(c); }
  std::size_t log_sigma_index() const { return layout().log_sigma(); }
  std::size_t stay_logit_index() const { return layout().stay_logit(); }
  std::size_t initial_index(int c) const { return layout().initial(c); }

  /// log σ_c − log σ = ½·log(ploidy / max(c, zero_copy_floor)): the emission of state c has
  /// the spread of a log-count whose mean scales with c (delta method, Var log X ≈ 1/E X).
  std::vector<double> sd_offsets() const {
    std::vector<double> o(cfg_.n_states);
    for (int c = 0; c < cfg_.n_states; ++c)
      o[c] = 0.5 * std::log(cfg_.ploidy / std::max<double>(c, cfg_.zero_copy_floor));
    return o;
  }

  ParamBlock declare(ParameterLayout& layout, const std::string& prefix = "cnv") const {
    return layout.add(prefix + "/emission_transition", n_params());
  }
  std::vector<double> initial_params() const {
    std::vector<double> p(n_params(), 0.0);
    for (int c = 0; c < cfg_.n_states; ++c)
      p[mean_index(c)] = std::log(std::max<double>(c, cfg_.zero_copy_floor) / cfg_.ploidy);
    p[log_sigma_index()] = std::log(cfg_.init_sigma);
    p[stay_logit_index()] = std::log(cfg_.init_stay / (1 - cfg_.init_stay));
    return p;  // ι = 0: uniform initial state
  }

  Outputs allocate_outputs(const Inputs& in) const {
    const int B = batch(in), T = padded(in);
    Outputs o;
    o.posterior = Kokkos::View<Scalar***, memory_space>(label("CNVSegmentation::posterior"), B, T,
                                                        cfg_.n_states);
    o.loglik = Kokkos::View<Scalar*, memory_space>(label("CNVSegmentation::loglik"), B);
    o.path = Kokkos::View<int**, memory_space>(label("CNVSegmentation::path"), B, T);
    return o;
  }

  /// Forward(-backward) or Viterbi. Non-blocking. Non-finite track values must be masked.
  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Outputs& out,
               Workspace& ws) const {
    static_assert(ParamView::rank == 1, "params is this operator's rank-1 block");
    check(params.extent(0), in);
    const int B = batch(in), T = padded(in), S = cfg_.n_states;
    DIFFBIO_EXPECTS(out.posterior.extent(0) == static_cast<std::size_t>(B) &&
                        out.posterior.extent(1) == static_cast<std::size_t>(T) &&
                        out.posterior.extent(2) == static_cast<std::size_t>(S) &&
                        out.loglik.extent(0) == static_cast<std::size_t>(B) &&
                        out.path.extent(0) == static_cast<std::size_t>(B) &&
                        out.path.extent(1) == static_cast<std::size_t>(T),
                    "CNVSegmentation: outputs must be allocated by allocate_outputs");
    grow(ws.alpha, "alpha", B, T, S);
    if (!hard()) grow(ws.beta, "beta", B, T, S);
    ws.path = out.path;
    if (B == 0) return;
    Impl::CNVForwardFunctor<Scalar, accum_type, memory_space, ParamView> f;
    f.S = S;
    f.Tpad = T;
    f.hard = hard();
    f.tau = cfg_.temperature;
    set_sd_offsets(f.sd_offset);
    f.outlier_prob = cfg_.outlier_prob;
    f.params = params;
    f.track = in.track;
    f.mask = in.mask;
    f.length = in.length;
    f.alpha = ws.alpha;
    f.beta = ws.beta;
    f.posterior = out.posterior;
    f.loglik = out.loglik;
    f.path = out.path;
    Kokkos::parallel_for(label("CNVSegmentation::forward"),
                         Kokkos::RangePolicy<ExecSpace>(exec, 0, B), f);
  }

  /// Adjoint of the last forward with the same params and inputs: d_params += Jᵀ(d_posterior,
  /// d_loglik) summed over tracks (fast mode: in track order, bitwise identical for any thread
  /// count; deterministic mode: reduce_rows_into's grid sums, identical across MPI shards too),
  /// d_track += its part. Blocking; throws Error(numerical) for a non-finite gradient.
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in,
               const Workspace& ws, const OutputGrads& d_out, const InputGrads& d_in,
               const GradView& d_params, const ReductionMode& mode = {}) const {
    static_assert(GradView::rank == 1, "d_params is this operator's rank-1 gradient block");
    check(params.extent(0), in);
    DIFFBIO_EXPECTS(d_params.extent(0) == n_params(), "CNVSegmentation: d_params has the wrong size");
    const int B = batch(in), T = padded(in), S = cfg_.n_states;
    if (B == 0) return;
    DIFFBIO_EXPECTS(ws.alpha.extent(0) >= static_cast<std::size_t>(B) &&
                        ws.path.extent(0) == static_cast<std::size_t>(B) &&
                        (hard() || ws.beta.extent(0) >= static_cast<std::size_t>(B)),
                    "CNVSegmentation: adjoint needs the workspace of a forward on these inputs");
    DIFFBIO_EXPECTS(d_out.d_posterior.extent(0) == 0 ||
                        (d_out.d_posterior.extent(0) == static_cast<std::size_t>(B) &&
                         d_out.d_posterior.extent(1) == static_cast<std::size_t>(T) &&
                         d_out.d_posterior.extent(2) == static_cast<std::size_t>(S)),
                    "CNVSegmentation: d_posterior must be B × T × S");
    DIFFBIO_EXPECTS(d_out.d_loglik.extent(0) == 0 ||
                        d_out.d_loglik.extent(0) == static_cast<std::size_t>(B),
                    "CNVSegmentation: d_loglik must have one entry per track");
    DIFFBIO_EXPECTS(d_in.d_track.extent(0) == 0 ||
                        (d_in.d_track.extent(0) == static_cast<std::size_t>(B) &&
                         d_in.d_track.extent(1) == static_cast<std::size_t>(T)),
                    "CNVSegmentation: d_track must be shaped like the track");
    const int np = static_cast<int>(n_params());
    if (ws.rows.extent(0) < static_cast<std::size_t>(B) ||
        ws.rows.extent(1) != static_cast<std::size_t>(np))
      ws.rows = Kokkos::View<double**, memory_space>(
          Kokkos::view_alloc(Kokkos::WithoutInitializing, label("CNVSegmentation::rows")), B, np);
    Impl::CNVAdjointFunctor<Scalar, accum_type, memory_space, ParamView> f;
    f.S = S;
    f.Tpad = T;
    f.hard = hard();
    f.tau = cfg_.temperature;
    set_sd_offsets(f.sd_offset);
    f.outlier_prob = cfg_.outlier_prob;
    f.params = params;
    f.track = in.track;
    f.mask = in.mask;
    f.length = in.length;
    f.alpha = ws.alpha;
    f.beta = ws.beta;
    f.path = ws.path;
    f.d_posterior = d_out.d_posterior;
    f.d_loglik = d_out.d_loglik;
    f.d_track = d_in.d_track;
    f.rows = ws.rows;
    Kokkos::parallel_for(label("CNVSegmentation::adjoint"),
                         Kokkos::RangePolicy<ExecSpace>(exec, 0, B), f);
    if (mode.deterministic) {
      reduce_rows_into(exec, "CNVSegmentation::adjoint", B, d_params, mode,
                       Impl::CNVReduceRow<memory_space>{ws.rows, np});
      return;
    }
    // Fast mode: tracks are few (contigs, samples), so each parameter sums its column in track
    // order — bitwise identical for any thread count, without the grid rounding.
    Kokkos::View<double*, memory_space> sums(
        Kokkos::view_alloc(label("CNVSegmentation::adjoint::sums"), exec), np);
    auto rows = ws.rows;
    Kokkos::parallel_for(
        label("CNVSegmentation::adjoint::column_sums"), Kokkos::RangePolicy<ExecSpace>(exec, 0, np),
        KOKKOS_LAMBDA(const int k) {
          double acc = 0;
          for (int b = 0; b < B; ++b) acc += rows(b, k);
          sums(k) = acc;
        });
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sums);
    for (int k = 0; k < np; ++k)
      if (!std::isfinite(h(k)))
        throw Error(ExitCode::numerical, "DiffBio: non-finite gradient in CNVSegmentation::adjoint");
    Kokkos::parallel_for(label("CNVSegmentation::adjoint::add"),
                         Kokkos::RangePolicy<ExecSpace>(exec, 0, np),
                         KOKKOS_LAMBDA(const int k) { d_params(k) += sums(k); });
    exec.fence();
  }

 private:
  void set_sd_offsets(double* out) const {
    const auto o = sd_offsets();
    for (int c = 0; c < Impl::cnv_max_states; ++c) out[c] = c < cfg_.n_states ? o[c] : 0.0;
  }

  Impl::CNVLayout layout() const { return Impl::CNVLayout{cfg_.n_states}; }
  static int batch(const Inputs& in) { return static_cast<int>(in.length.extent(0)); }
  static int padded(const Inputs& in) { return static_cast<int>(in.track.extent(1)); }

  void check(std::size_t np, const Inputs& in) const {
    DIFFBIO_EXPECTS(np == n_params(), "CNVSegmentation: params has " + std::to_string(np) +
                                          " values, expected " + std::to_string(n_params()));
    DIFFBIO_EXPECTS(in.track.extent(0) == in.length.extent(0),
                    "CNVSegmentation: track must have one row per length entry");
    DIFFBIO_EXPECTS(in.mask.extent(0) == 0 || (in.mask.extent(0) == in.track.extent(0) &&
                                               in.mask.extent(1) == in.track.extent(1)),
                    "CNVSegmentation: mask must be empty or shaped like the track");
  }

  static void grow(Kokkos::View<accum_type***, memory_space>& v, const char* what, int B, int T,
                   int S) {
    if (v.extent(0) != static_cast<std::size_t>(B) || v.extent(1) != static_cast<std::size_t>(T) ||
        v.extent(2) != static_cast<std::size_t>(S))
      v = Kokkos::View<accum_type***, memory_space>(
          Kokkos::view_alloc(Kokkos::WithoutInitializing,
                             label(std::string("CNVSegmentation::") + what)),
          B, T, S);
  }

  CNVSegmentationConfig cfg_;
};

}  // namespace diffbio

#endif
