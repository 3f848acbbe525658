// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SmoothSmithWaterman.hpp
/// \brief SmoothSmithWaterman: differentiable affine-gap pairwise alignment (local or global).
///
/// Gotoh's three-state recurrence (M: x_i aligned to y_j; X: x_i against a gap; Y: y_j against a
/// gap) with every max replaced by the smooth max τ·logsumexp(·/τ): the "start fresh" option of
/// local alignment, the end point (local: over all cells; global: over the three states at (n, m))
/// included. As τ → 0 it becomes the classic score; `hard = true` evaluates τ = 0 (max-plus) in
/// the same kernels and equals parasail's sw/nw exactly.
///
/// Gap convention (parasail's, checked against parasail in the tests): a gap of length k costs
/// gap_open + (k − 1)·gap_extend; a gap in x may directly follow a gap in y (each pays gap_open).
///
/// Inputs (batched, padded): each side either as letter indices [B×L] (View<uint8_t**>) or as
/// per-position profiles [B×L×A] (substitution score S_ij = p_iᵀ·Sub·q_j, gradients flow into the
/// profiles), with lengths [B]. Output: the score of each pair and, on request, the expected
/// alignment P_ij = ∂score/∂S_ij [B×Lx×Ly] from the backward DP. Parameters (one block):
/// [Sub (A×A, row-major), gap_open, gap_extend (, log τ if learn_temperature)].
///
/// The derivation of the backward DP, the numerics (probability space with row rescaling, log
/// space for small τ) and the memory bound (checkpointing) are in ADJOINT.md.
#ifndef DIFFBIO_SMOOTH_SMITH_WATERMAN_HPP
#define DIFFBIO_SMOOTH_SMITH_WATERMAN_HPP

#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <DiffBio_SubstitutionMatrix.hpp>
#include <impl/DiffBio_SmoothSWKernels.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace diffbio {

struct SmoothSmithWatermanConfig {
  int alphabet_size = 4;          ///< A: 4/5 (DNA), 20–24 (protein, BLOSUM62 order)
  bool local = true;              ///< local (Smith–Waterman) or global (Needleman–Wunsch)
  bool hard = false;              ///< τ = 0: max-plus, exactly the classic score
  double temperature = 1.0;       ///< τ (initial value when learn_temperature)
  bool learn_temperature = false; ///< τ = exp(last parameter) is learned
  double gap_open = 5.0;          ///< cost of a gap of length 1 (parasail's "open")
  double gap_extend = 2.0;        ///< cost of each further gap position (parasail's "extend")
  /// A×A row-major; empty: DNA +2/−3 (A = 4, 5; N scores 0) or BLOSUM62 (A ≥ 20).
  std::vector<double> substitution;
  /// The adjoint stores every DP row of a pair group when they fit in this many bytes, otherwise
  /// it keeps every k-th row (k ≈ √n) and recomputes blocks (ADJOINT.md §5, measured there).
  /// 0 = automatic: 12 MiB per group on host backends (≈ one thread's share of a 32 MiB L3),
  /// 256 KiB per pair on devices (thousands of pairs are in flight at once).
  std::size_t store_all_bytes = 0;
  int checkpoint_interval = 0;    ///< > 0 forces k (testing); 0 = automatic
  bool probability_space = true;  ///< false: always log space (reference / testing)
  /// Groups of W pairs need W× the scratch; beyond this many bytes per group one pair per team.
  std::size_t max_group_scratch_bytes = std::size_t(64) << 20;
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class SmoothSmithWaterman {
 public:
  using scalar_type = Scalar;
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using grad_type = accum_t<Scalar>;

  struct Inputs {
    Kokkos::View<const std::uint8_t**, memory_space> x_index;  ///< [B×Lx] letters (or empty)
    Kokkos::View<const std::uint8_t**, memory_space> y_index;  ///< [B×Ly] letters (or empty)
    Kokkos::View<const Scalar***, memory_space> x_profile;     ///< [B×Lx×A] (or empty)
    Kokkos::View<const Scalar***, memory_space> y_profile;     ///< [B×Ly×A] (or empty)
    Kokkos::View<const int*, memory_space> x_length;           ///< [B] valid positions of x
    Kokkos::View<const int*, memory_space> y_length;           ///< [B] valid positions of y
  };
  struct Outputs {
    Kokkos::View<Scalar*, memory_space> score;        ///< [B]
    /// [B×Lx×Ly] expected alignment P_ij = ∂score/∂S_ij (empty: not computed). Not
    /// differentiable itself (its derivative would be second order).
    Kokkos::View<Scalar***, memory_space> posterior;
  };
  struct OutputGrads {
    Kokkos::View<const Scalar*, memory_space> d_score;  ///< [B]
  };
  /// Profile gradients (+=); empty Views skip them.
  struct InputGrads {
    Kokkos::View<Scalar***, memory_space> d_x_profile;
    Kokkos::View<Scalar***, memory_space> d_y_profile;
  };
  /// Per-pair arithmetic space chosen by the forward (read by the adjoint) and the per-pair
  /// parameter gradients summed by reduce_rows_into. DP tables live in team scratch only.
  struct Workspace {
    Kokkos::View<int*, memory_space> path;         ///< [B] 0: probability space, 1: log space
    Kokkos::View<int*, memory_space> order;        ///< [B] log-space pairs, compacted
    Kokkos::View<int, memory_space> n_log;         ///< how many pairs are in log space
    Kokkos::View<double**, memory_space> pair_grad;  ///< [B × n_params]
  };

  explicit SmoothSmithWaterman(SmoothSmithWatermanConfig cfg = {}) : cfg_(std::move(cfg)) {
    DIFFBIO_EXPECTS(cfg_.alphabet_size >= 1 && cfg_.alphabet_size <= 255,
                    "SmoothSmithWaterman: alphabet size must be in [1, 255]");
    DIFFBIO_EXPECTS(cfg_.substitution.empty() ||
                        cfg_.substitution.size() ==
                            static_cast<std::size_t>(cfg_.alphabet_size) * cfg_.alphabet_size,
                    "SmoothSmithWaterman: substitution matrix must be A×A");
    DIFFBIO_EXPECTS(cfg_.hard || cfg_.temperature > 0, "SmoothSmithWaterman: temperature must be > 0");
  }

  const SmoothSmithWatermanConfig& config() const { return cfg_; }
  int alphabet_size() const { return cfg_.alphabet_size; }
  bool hard() const { return cfg_.hard; }
  void set_hard(bool h) { cfg_.hard = h; }
  /// Number of parameters: A² + 2 (+ 1 with a learned temperature).
  int n_params() const {
    return cfg_.alphabet_size * cfg_.alphabet_size + 2 + (cfg_.learn_temperature ? 1 : 0);
  }
  /// Index of gap_open / gap_extend / log τ in the block (after the A² substitution entries).
  int gap_open_index() const { return cfg_.alphabet_size * cfg_.alphabet_size; }
  int gap_extend_index() const { return gap_open_index() + 1; }
  int log_temperature_index() const { return gap_open_index() + 2; }

  ParamBlock declare(ParameterLayout& layout, const std::string& prefix = "smooth_sw") const {
    return layout.add(prefix + "/substitution_gaps", static_cast<std::size_t>(n_params()));
  }
  std::vector<double> initial_params() const {
    const int A = cfg_.alphabet_size;
    std::vector<double> p;
    if (!cfg_.substitution.empty()) {
      p = cfg_.substitution;
    } else if (A == 4 || A == 5) {
      p = dna_substitution(A);
    } else if (A >= 20 && A <= 24) {
      p = blosum62(A);
    } else {
      p.assign(static_cast<std::size_t>(A) * A, -1.0);
      for (int a = 0; a < A; ++a) p[a * A + a] = 1.0;
    }
    p.push_back(cfg_.gap_open);
    p.push_back(cfg_.gap_extend);
    if (cfg_.learn_temperature) p.push_back(std::log(cfg_.temperature));
    return p;
  }

  Outputs allocate_outputs(const Inputs& in, bool posterior = false) const {
    Outputs o;
    const std::size_t B = batch(in);
    o.score = Kokkos::View<Scalar*, memory_space>(label("SmoothSW::score"), B);
    if (posterior)
      o.posterior = Kokkos::View<Scalar***, memory_space>(label("SmoothSW::posterior"), B,
                                                         len_x(in), len_y(in));
    return o;
  }
  Workspace allocate_workspace(const Inputs& in) const {
    Workspace w;
    const std::size_t B = batch(in);
    w.path = Kokkos::View<int*, memory_space>(label("SmoothSW::path"), B);
    w.order = Kokkos::View<int*, memory_space>(label("SmoothSW::order"), B);
    w.n_log = Kokkos::View<int, memory_space>(label("SmoothSW::n_log"));
    w.pair_grad = Kokkos::View<double**, memory_space>(label("SmoothSW::pair_grad"), B,
                                                      static_cast<std::size_t>(n_params()));
    return w;
  }

  /// Forward: score per pair (and the posterior if out.posterior is allocated). Non-blocking.
  /// \param params this operator's block (rank 1, n_params() values, on memory_space)
  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Outputs& out,
               Workspace& ws) const {
    static_assert(ParamView::rank == 1, "params is this operator's rank-1 block");
    check(in, params.extent(0));
    DIFFBIO_EXPECTS(out.score.extent(0) == batch(in), "SmoothSmithWaterman: score must be [B]");
    DIFFBIO_EXPECTS(ws.path.extent(0) == batch(in), "SmoothSmithWaterman: workspace not allocated");
    if (batch(in) == 0) return;
    Empty e;
    if (use_prob()) {
      dispatch<sw_detail::Space::prob>(exec, params, in, ws, false, out.score, e);
    } else {
      Kokkos::deep_copy(exec, ws.path, 1);
    }
    compact_log_pairs(exec, ws);
    if (cfg_.hard)
      dispatch<sw_detail::Space::log_hard>(exec, params, in, ws, false, out.score, e);
    else
      dispatch<sw_detail::Space::log_soft>(exec, params, in, ws, false, out.score, e);
    if (out.posterior.extent(0) > 0) {
      DIFFBIO_EXPECTS(out.posterior.extent(1) == len_x(in) && out.posterior.extent(2) == len_y(in),
                      "SmoothSmithWaterman: posterior must be [B×Lx×Ly]");
      Kokkos::deep_copy(exec, out.posterior, Scalar(0));
      Empty post;
      post.post = out.posterior;
      run_backward(exec, params, in, ws, out.score, post);
    }
  }

  /// Adjoint: d_params += Σ_b d_score_b·∂score_b/∂params (reduce_rows_into: bitwise reproducible
  /// in deterministic mode) and the profile gradients (+=). Requires the forward of the same
  /// inputs and parameters on `ws` before. Blocking (the parameter sums are checked on the host).
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in,
               const Workspace& ws, const OutputGrads& d_out, const InputGrads& d_in,
               const GradView& d_params, const ReductionMode& mode = {}) const {
    static_assert(GradView::rank == 1, "d_params is this operator's rank-1 gradient block");
    check(in, params.extent(0));
    DIFFBIO_EXPECTS(d_params.extent(0) == static_cast<std::size_t>(n_params()),
                    "SmoothSmithWaterman: d_params must have n_params() entries");
    DIFFBIO_EXPECTS(d_out.d_score.extent(0) == batch(in), "SmoothSmithWaterman: d_score must be [B]");
    DIFFBIO_EXPECTS(d_in.d_x_profile.extent(0) == 0 || in.x_profile.extent(0) > 0,
                    "SmoothSmithWaterman: d_x_profile given but x is not a profile");
    DIFFBIO_EXPECTS(d_in.d_y_profile.extent(0) == 0 || in.y_profile.extent(0) > 0,
                    "SmoothSmithWaterman: d_y_profile given but y is not a profile");
    if (batch(in) == 0) return;
    Empty g;
    g.dscore = d_out.d_score;
    g.pair_grad = ws.pair_grad;
    g.dxp = d_in.d_x_profile;
    g.dyp = d_in.d_y_profile;
    Kokkos::View<Scalar*, memory_space> no_score;
    run_backward(exec, params, in, ws, no_score, g);
    const int K = n_params();
    auto pg = ws.pair_grad;
    reduce_rows_into(exec, "SmoothSW::adjoint::params", static_cast<int>(batch(in)), d_params, mode,
                     KOKKOS_LAMBDA(const int b, const Impl::GradientSink& sink) {
                       for (int k = 0; k < K; ++k) sink.add(k, pg(b, k));
                     });
  }

  /// The checkpoint interval the adjoint uses for these extents (1 = every row stored).
  int checkpoint_interval(int Lx, int Ly, int lanes, std::size_t tsize) const {
    if (cfg_.checkpoint_interval > 0) return cfg_.checkpoint_interval;
    const std::size_t budget = cfg_.store_all_bytes > 0
                                   ? cfg_.store_all_bytes
                                   : (on_host() ? std::size_t(12) << 20 : std::size_t(256) << 10);
    const std::size_t row = 3 * static_cast<std::size_t>(Ly + 2) * lanes * tsize;
    if (static_cast<std::size_t>(Lx + 1) * row <= budget) return 1;
    return static_cast<int>(std::ceil(std::sqrt(static_cast<double>(Lx + 1))));
  }

 private:
  struct Empty {
    Kokkos::View<const Scalar*, memory_space> dscore;
    Kokkos::View<Scalar***, memory_space> post;
    Kokkos::View<double**, memory_space> pair_grad;
    Kokkos::View<Scalar***, memory_space> dxp, dyp;
  };

  static constexpr bool on_host() {
    return Kokkos::SpaceAccessibility<Kokkos::HostSpace, memory_space>::accessible;
  }
  /// Lanes per group: one SIMD register of the DP type on host backends, one pair per thread on
  /// devices.
  template <class T>
  static constexpr int lanes() {
    return on_host() ? (sizeof(T) >= 64 ? 1 : static_cast<int>(64 / sizeof(T))) : 1;
  }

  bool use_prob() const { return !cfg_.hard && cfg_.probability_space; }

  /// order[0 .. n_log) = the pairs with path 1, in increasing order (a device scan: non-blocking).
  static void compact_log_pairs(const ExecSpace& exec, const Workspace& ws) {
    auto path = ws.path;
    auto order = ws.order;
    auto n_log = ws.n_log;
    const int B = static_cast<int>(path.extent(0));
    Kokkos::parallel_scan(
        label("SmoothSW::compact_log_pairs"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
        KOKKOS_LAMBDA(const int b, int& pos, const bool final) {
          const int in_log = path(b) == 1 ? 1 : 0;
          if (final && in_log) order(pos) = b;
          pos += in_log;
          if (final && b == B - 1) n_log() = pos;
        });
  }

  template <class ParamView>
  void run_backward(const ExecSpace& exec, const ParamView& params, const Inputs& in,
                    const Workspace& ws, const Kokkos::View<Scalar*, memory_space>& score,
                    const Empty& g) const {
    if (use_prob()) dispatch<sw_detail::Space::prob>(exec, params, in, ws, true, score, g);
    if (cfg_.hard)
      dispatch<sw_detail::Space::log_hard>(exec, params, in, ws, true, score, g);
    else
      dispatch<sw_detail::Space::log_soft>(exec, params, in, ws, true, score, g);
  }

  template <sw_detail::Space SP, class ParamView>
  void dispatch(const ExecSpace& exec, const ParamView& params, const Inputs& in,
                const Workspace& ws, bool adjoint, const Kokkos::View<Scalar*, memory_space>& score,
                const Empty& g) const {
    using T = typename std::conditional<SP == sw_detail::Space::prob, accum_t<Scalar>, Scalar>::type;
    constexpr int Wh = lanes<T>();
    const int Lx = static_cast<int>(len_x(in)), Ly = static_cast<int>(len_y(in));
    const int k = adjoint ? checkpoint_interval(Lx, Ly, Wh, sizeof(T)) : 1;
    const sw_detail::SwLayout lay(Lx, Ly, cfg_.alphabet_size, Wh, k, adjoint,
                                  in.y_profile.extent(0) > 0, sizeof(T));
    if (Wh == 1 || lay.total <= cfg_.max_group_scratch_bytes)
      launch<SP, Wh>(exec, params, in, ws, adjoint, score, g);
    else
      launch<SP, 1>(exec, params, in, ws, adjoint, score, g);
  }

  template <sw_detail::Space SP, int W, class ParamView>
  void launch(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Workspace& ws,
              bool adjoint, const Kokkos::View<Scalar*, memory_space>& score, const Empty& g) const {
    using Kern = sw_detail::SwGroupKernel<Scalar, ExecSpace, ParamView, SP, W>;
    using T = typename Kern::T;
    Kern kern;
    kern.in.x_index = in.x_index;
    kern.in.y_index = in.y_index;
    kern.in.x_prof = in.x_profile;
    kern.in.y_prof = in.y_profile;
    kern.in.x_len = in.x_length;
    kern.in.y_len = in.y_length;
    kern.params = params;
    kern.B = static_cast<int>(batch(in));
    kern.A = cfg_.alphabet_size;
    kern.Lx = static_cast<int>(len_x(in));
    kern.Ly = static_cast<int>(len_y(in));
    kern.local = cfg_.local;
    kern.learn_tau = cfg_.learn_temperature;
    kern.adjoint = adjoint;
    kern.xprof = in.x_profile.extent(0) > 0;
    kern.yprof = in.y_profile.extent(0) > 0;
    kern.tau_cfg = cfg_.temperature;
    kern.k = adjoint ? checkpoint_interval(kern.Lx, kern.Ly, W, sizeof(T)) : 1;
    kern.score = score;
    kern.path = ws.path;
    kern.order = ws.order;
    kern.n_log = ws.n_log;
    kern.dscore = g.dscore;
    kern.post = g.post;
    kern.pair_grad = g.pair_grad;
    kern.dxp = g.dxp;
    kern.dyp = g.dyp;
    const sw_detail::SwLayout lay(kern.Lx, kern.Ly, kern.A, W, kern.k, adjoint, kern.yprof,
                                  sizeof(T));
    const int teams = (kern.B + W - 1) / W;
    typename Kern::policy_type policy(exec, teams, 1);
    policy.set_scratch_size(1, Kokkos::PerTeam(lay.total));
    const char* space = SP == sw_detail::Space::prob
                            ? "prob"
                            : (SP == sw_detail::Space::log_soft ? "log" : "hard");
    Kokkos::parallel_for(
        label(std::string("SmoothSW::") + (adjoint ? "backward::" : "forward::") + space), policy,
        kern);
  }

  static std::size_t batch(const Inputs& in) { return in.x_length.extent(0); }
  static std::size_t len_x(const Inputs& in) {
    return in.x_index.extent(0) > 0 ? in.x_index.extent(1) : in.x_profile.extent(1);
  }
  static std::size_t len_y(const Inputs& in) {
    return in.y_index.extent(0) > 0 ? in.y_index.extent(1) : in.y_profile.extent(1);
  }

  void check(const Inputs& in, std::size_t n_par) const {
    const std::size_t B = batch(in);
    const std::size_t A = static_cast<std::size_t>(cfg_.alphabet_size);
    DIFFBIO_EXPECTS(n_par == static_cast<std::size_t>(n_params()),
                    "SmoothSmithWaterman: params must have n_params() entries");
    DIFFBIO_EXPECTS(in.y_length.extent(0) == B, "SmoothSmithWaterman: x_length and y_length differ");
    const bool xi = in.x_index.extent(0) > 0 || (B == 0 && in.x_profile.extent(0) == 0);
    const bool yi = in.y_index.extent(0) > 0 || (B == 0 && in.y_profile.extent(0) == 0);
    DIFFBIO_EXPECTS(xi != (in.x_profile.extent(0) > 0),
                    "SmoothSmithWaterman: give x either as indices or as a profile");
    DIFFBIO_EXPECTS(yi != (in.y_profile.extent(0) > 0),
                    "SmoothSmithWaterman: give y either as indices or as a profile");
    if (in.x_index.extent(0) > 0) DIFFBIO_EXPECTS(in.x_index.extent(0) == B, "x_index must be [B×Lx]");
    if (in.y_index.extent(0) > 0) DIFFBIO_EXPECTS(in.y_index.extent(0) == B, "y_index must be [B×Ly]");
    if (in.x_profile.extent(0) > 0)
      DIFFBIO_EXPECTS(in.x_profile.extent(0) == B && in.x_profile.extent(2) == A,
                      "x_profile must be [B×Lx×A]");
    if (in.y_profile.extent(0) > 0)
      DIFFBIO_EXPECTS(in.y_profile.extent(0) == B && in.y_profile.extent(2) == A,
                      "y_profile must be [B×Ly×A]");
  }

  SmoothSmithWatermanConfig cfg_;
};

}  // namespace diffbio

#endif
