// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_ProfileHMM.hpp
/// \brief ProfileHMM: a Plan7 profile hidden Markov model (HMMER 3's search profile) as a
/// differentiable operator — Forward (log-semiring, τ = 1), Viterbi (max-plus, τ = 0) or any
/// temperature in between, posterior decoding, and expected-count gradients.
///
/// The model has M nodes (match M_k, insert I_k, delete D_k) and the flanking states of HMMER's
/// search profile: S → N → B → (M/D ...) → E → C → T with the J loop E → J → B for multiple
/// domains. N, C and J emit at background frequency; their loop probability L/(L+2+nj) follows the
/// target length L as in HMMER's p7_ReconfigLength (nj = 1 multihit, 0 unihit). Local modes enter
/// any M_k (B → M_k) and leave from any M_k or D_k (→ E); glocal modes enter through wing-retracted
/// B → M_k and leave from M_M or D_M only.
///
/// Parameters (one block, M×(8 + 2K) values, see `transition_index` etc.): the search-profile
/// scores in nats — log transition probabilities (incl. the entries B → M_k) and match/insert
/// emission log-odds relative to the background. They are free scores: gradients are expected
/// counts, exactly. `from_hmmer()` loads a HMMER3 `.hmm` model (Pfam) configured like HMMER's
/// p7_ProfileConfig; a default-constructed model starts from a uniform (or seeded random) core.
///
/// Inputs (batched, padded): residues [B×L] digital codes (rows of the code-weight matrix:
/// canonical residues and HMMER's degenerate codes), or a profile [B×L×K] of residue
/// probabilities (its score is the expected log-odds), and length [B]. Outputs: score [B] in nats
/// (HMMER's raw Forward/Viterbi log-odds score before the null model), bits [B] = (score −
/// null1(L))/ln 2 (HMMER's bit score with --nonull2), and optionally posterior decoding:
/// match_posterior [B×L×M] = P(residue i emitted by M_k), insert_posterior [B×L] and
/// flank_posterior [B×L] (N, C, J) which sum with the match row to 1. ADJOINT_ProfileHMM.md has
/// the recurrences, the adjoint and the exact correspondence with hmmsearch.
#ifndef DIFFBIO_PROFILE_HMM_HPP
#define DIFFBIO_PROFILE_HMM_HPP

#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_HmmerFile.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <impl/DiffBio_ProfileHMM_Config.hpp>
#include <impl/DiffBio_ProfileHMM_Kernels.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace diffbio {

struct ProfileHMMConfig {
  Plan7Mode mode = Plan7Mode::multilocal;  ///< hmmsearch's default
  /// τ = 1: Forward; τ = 0: Viterbi; τ >= 0.02: τ·log Σ_paths e^{S/τ}
  double temperature = 1.0;
  bool informative_inserts = false;  ///< from_hmmer: insert log-odds from the file (HMMER uses 0)
  Impl::Plan7InitSpec init;          ///< from-scratch core model (uniform unless init.noise > 0)
  /// Scratch budget of the posterior/adjoint sweeps, which keep one group's full DP matrix
  /// (≈ 24·(L+1)·(M+1)·W bytes) per concurrently running group.
  std::size_t sweep_memory_bytes = std::size_t(1) << 30;
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class ProfileHMM {
 public:
  using scalar_type = Scalar;
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using grad_type = accum_t<Scalar>;
  using accum_type = accum_t<Scalar>;
  static constexpr int lanes = Impl::ProfileHMMLanes<memory_space>::value;

  struct Inputs {
    Kokkos::View<const std::uint8_t**, memory_space> residues;  ///< [B×L] codes (if no profile)
    Kokkos::View<const Scalar***, memory_space> profile;  ///< [B×L×K] probabilities, optional
    Kokkos::View<const int*, memory_space> length;        ///< [B] valid positions
    /// Optional permutation of 0..B-1 grouping sequences into SIMD lanes (e.g. `length_order`);
    /// results do not depend on it, only speed does.
    Kokkos::View<const int*, memory_space> order;
  };
  struct Outputs {
    Kokkos::View<Scalar*, memory_space> score;              ///< [B] nats
    Kokkos::View<Scalar*, memory_space> bits;               ///< [B] (score − null1(L))/ln 2
    Kokkos::View<Scalar***, memory_space> match_posterior;  ///< [B×L×M], optional
    Kokkos::View<Scalar**, memory_space> insert_posterior;  ///< [B×L], optional
    Kokkos::View<Scalar**, memory_space> flank_posterior;   ///< [B×L], optional
  };
  /// Seeds; either may be empty. The posteriors are decoding outputs, not differentiated.
  struct OutputGrads {
    Kokkos::View<const Scalar*, memory_space> d_score;
    Kokkos::View<const Scalar*, memory_space> d_bits;
  };
  /// Empty d_profile skips the profile gradient (residue input has none).
  struct InputGrads {
    Kokkos::View<Scalar***, memory_space> d_profile;
  };
  /// Odds tables and scratch: a cache reused across calls (its Views are grown on demand, hence
  /// `mutable`, so the adjoint can take it by const reference like every operator). Nothing needs
  /// to survive from forward to adjoint: the adjoint recomputes the DP per lane group (O(L·M)
  /// scratch per running group instead of O(B·L·M) for the batch).
  struct Workspace {
    mutable Kokkos::View<accum_type**, memory_space> trans, emit_m, emit_i, msc_t, isc_t;
    mutable Kokkos::View<accum_type*, memory_space> scratch;
    mutable Kokkos::View<double**, memory_space> counts;
    mutable Kokkos::View<double*, memory_space> d_total;
  };

  /// A model of M nodes over an alphabet (background `bg`, K = bg.size()) with `n_codes` input
  /// codes whose emission weights are `code_weights` (n_codes × K; empty: identity, n_codes = K).
  ProfileHMM(int M, std::vector<double> background, ProfileHMMConfig cfg = {},
             std::vector<double> code_weights = {})
      : M_(M), K_(static_cast<int>(background.size())), cfg_(cfg), bg_(std::move(background)) {
    DIFFBIO_EXPECTS(M_ >= 1, "ProfileHMM: M must be at least 1");
    DIFFBIO_EXPECTS(K_ >= 1, "ProfileHMM: empty alphabet");
    DIFFBIO_EXPECTS(cfg_.temperature >= 0, "ProfileHMM: temperature must be >= 0");
    if (code_weights.empty()) {
      code_weights.assign(static_cast<std::size_t>(K_) * K_, 0.0);
      for (int a = 0; a < K_; ++a) code_weights[a * K_ + a] = 1.0;
    }
    DIFFBIO_EXPECTS(code_weights.size() % K_ == 0, "ProfileHMM: code weights must be n_codes × K");
    n_codes_ = static_cast<int>(code_weights.size() / K_);
    DIFFBIO_EXPECTS(n_codes_ <= 256, "ProfileHMM: at most 256 residue codes (uint8 input)");
    weights_host_ = code_weights;
    Kokkos::View<double**, memory_space> w(label("ProfileHMM::code_weights"), n_codes_, K_);
    auto h = Kokkos::create_mirror_view(w);
    for (int c = 0; c < n_codes_; ++c)
      for (int a = 0; a < K_; ++a) h(c, a) = code_weights[c * K_ + a];
    Kokkos::deep_copy(w, h);
    code_w_ = w;
  }

  /// A model read from a HMMER3 file: HMMER's background and degenerate residue codes of its
  /// alphabet (codes 0..Kp-1 as io::HmmerAlphabet::encode), parameters as p7_ProfileConfig.
  static ProfileHMM from_hmmer(const io::HmmerModel& model, ProfileHMMConfig cfg = {}) {
    ProfileHMM op(model.M, model.alphabet.background, cfg, model.alphabet.code_weights());
    op.model_ = model;
    op.has_model_ = true;
    return op;
  }

  // ---- shape and layout
  int M() const { return M_; }
  int K() const { return K_; }
  int n_codes() const { return n_codes_; }
  std::size_t n_params() const { return static_cast<std::size_t>(M_) * (p7_NSLOTS + 2 * K_); }
  const ProfileHMMConfig& config() const { return cfg_; }
  const std::vector<double>& background() const { return bg_; }
  bool hard() const { return !(cfg_.temperature > 0); }
  void set_temperature(double tau) {
    DIFFBIO_EXPECTS(tau >= 0, "ProfileHMM: temperature must be >= 0");
    cfg_.temperature = tau;
  }
  /// Smallest positive temperature: the kernels run in odds space, e^{s/τ}, which must stay within
  /// double range for the scores of real models (|s| up to ~20 nats).
  static constexpr double min_temperature = 0.02;

  /// Changes the alignment mode. The entry scores B -> M_k are parameters: re-initialise them
  /// (initial_params) when switching between local and glocal.
  void set_mode(Plan7Mode m) { cfg_.mode = m; }

  /// Index of transition slot s (Impl::Plan7Slot) of row r (0 <= r < M).
  std::size_t transition_index(int r, int s) const {
    return static_cast<std::size_t>(r) * p7_NSLOTS + s;
  }
  /// Index of the match log-odds of node k (1..M), residue a.
  std::size_t match_index(int k, int a) const {
    return static_cast<std::size_t>(M_) * p7_NSLOTS + static_cast<std::size_t>(k - 1) * K_ + a;
  }
  /// Index of the insert log-odds of node k (1..M-1), residue a.
  std::size_t insert_index(int k, int a) const {
    return static_cast<std::size_t>(M_) * (p7_NSLOTS + K_) + static_cast<std::size_t>(k - 1) * K_ +
           a;
  }

  ParamBlock declare(ParameterLayout& layout, const std::string& prefix = "profile_hmm") const {
    return layout.add(prefix + "/log_params", n_params());
  }
  /// HMMER's search profile of the loaded model, or of the from-scratch core model.
  std::vector<double> initial_params() const {
    if (has_model_)
      return Impl::plan7_profile_params(model_, cfg_.mode, bg_, cfg_.informative_inserts);
    io::HmmerAlphabet alpha;
    alpha.K = K_;
    alpha.background = bg_;
    return Impl::plan7_profile_params(Impl::plan7_scratch_model(M_, alpha, cfg_.init), cfg_.mode,
                                      bg_, false);
  }

  /// HMMER's null1 score (nats) for length L, as subtracted in `bits`.
  static double null1(int L) { return Impl::plan7_null1(L); }

  /// Sequence indices sorted by decreasing length (stable): a good `Inputs::order`.
  static std::vector<int> length_order(const std::vector<int>& lengths) {
    std::vector<int> o(lengths.size());
    std::iota(o.begin(), o.end(), 0);
    std::stable_sort(o.begin(), o.end(), [&](int a, int b) { return lengths[a] > lengths[b]; });
    return o;
  }

  Outputs allocate_outputs(const Inputs& in, bool posteriors = false) const {
    const int B = batch(in), L = padded_length(in);
    Outputs o;
    o.score = Kokkos::View<Scalar*, memory_space>(label("ProfileHMM::score"), B);
    o.bits = Kokkos::View<Scalar*, memory_space>(label("ProfileHMM::bits"), B);
    if (posteriors) {
      o.match_posterior =
          Kokkos::View<Scalar***, memory_space>(label("ProfileHMM::match_posterior"), B, L, M_);
      o.insert_posterior =
          Kokkos::View<Scalar**, memory_space>(label("ProfileHMM::insert_posterior"), B, L);
      o.flank_posterior =
          Kokkos::View<Scalar**, memory_space>(label("ProfileHMM::flank_posterior"), B, L);
    }
    return o;
  }

  /// Forward: scores (and posteriors if those outputs are allocated). Non-blocking without
  /// posteriors; padding positions of the posteriors are left untouched.
  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Outputs& out,
               Workspace& ws) const {
    static_assert(ParamView::rank == 1, "params is this operator's rank-1 block");
    check(params.extent(0), in);
    DIFFBIO_EXPECTS(out.score.extent(0) == static_cast<std::size_t>(batch(in)) &&
                        out.bits.extent(0) == out.score.extent(0),
                    "ProfileHMM: score/bits outputs must have one entry per sequence");
    if (hard())
      run_forward<true>(exec, params, in, out, ws);
    else
      run_forward<false>(exec, params, in, out, ws);
  }

  /// Adjoint: d_params += Σ_b ∂L/∂V_b · (expected counts of sequence b) and, for profile input,
  /// d_profile += ∂L/∂V·Σ_k π_M s^M + π_I s^I (ADJOINT_ProfileHMM.md). Parameter sums go through
  /// reduce_rows_into (bitwise reproducible in deterministic mode). Blocking.
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in,
               const Workspace& ws, const OutputGrads& d_out, const InputGrads& d_in,
               const GradView& d_params, const ReductionMode& mode = {}) const {
    static_assert(GradView::rank == 1, "d_params is this operator's rank-1 gradient block");
    check(params.extent(0), in);
    DIFFBIO_EXPECTS(d_params.extent(0) == n_params(), "ProfileHMM: d_params has the wrong size");
    if (hard())
      run_adjoint<true>(exec, params, in, ws, d_out, d_in, d_params, mode);
    else
      run_adjoint<false>(exec, params, in, ws, d_out, d_in, d_params, mode);
  }

 private:
  static constexpr int W = lanes;

  static int batch(const Inputs& in) { return static_cast<int>(in.length.extent(0)); }
  static int padded_length(const Inputs& in) {
    return static_cast<int>(in.profile.extent(0) > 0 ? in.profile.extent(1)
                                                     : in.residues.extent(1));
  }

  void check(std::size_t np, const Inputs& in) const {
    if (cfg_.temperature > 0 && cfg_.temperature < min_temperature)
      throw Error(ExitCode::usage, "ProfileHMM: temperature " + std::to_string(cfg_.temperature) +
                                       " is below the supported minimum " +
                                       std::to_string(min_temperature) + "; use 0 for Viterbi");
    DIFFBIO_EXPECTS(np == n_params(), "ProfileHMM: params has " + std::to_string(np) +
                                          " values, expected " + std::to_string(n_params()));
    const bool prof = in.profile.extent(0) > 0 || in.residues.extent(0) == 0;
    if (prof) {
      DIFFBIO_EXPECTS(in.profile.extent(0) == in.length.extent(0),
                      "ProfileHMM: profile must have one row per sequence");
      DIFFBIO_EXPECTS(
          in.profile.extent(2) == static_cast<std::size_t>(K_) || in.length.extent(0) == 0,
          "ProfileHMM: profile rows must have K entries");
    } else {
      DIFFBIO_EXPECTS(in.residues.extent(0) == in.length.extent(0),
                      "ProfileHMM: residues must have one row per sequence");
    }
    DIFFBIO_EXPECTS(in.order.extent(0) == 0 || in.order.extent(0) == in.length.extent(0),
                    "ProfileHMM: order must be empty or a permutation of the batch");
  }

  template <bool Hard, class ParamView>
  using kernel_t = Impl::ProfileHMMKernel<Scalar, accum_type, memory_space, W, Hard, ParamView>;

  template <bool Hard, class ParamView>
  kernel_t<Hard, ParamView> make_kernel(const ExecSpace& exec, const ParamView& params,
                                        const Inputs& in, const Workspace& ws) const {
    kernel_t<Hard, ParamView> k;
    k.B = batch(in);
    k.Lpad = padded_length(in);
    k.M = M_;
    k.K = K_;
    k.n_codes = n_codes_;
    k.n_params = static_cast<int>(n_params());
    k.local = plan7_is_local(cfg_.mode);
    k.multihit = plan7_is_multihit(cfg_.mode);
    k.profile_input = in.profile.extent(0) > 0 || in.residues.extent(0) == 0;
    k.tau = Hard ? 1.0 : cfg_.temperature;
    k.residues = in.residues;
    k.profile = in.profile;
    k.length = in.length;
    k.order = in.order;
    k.params = params;
    k.code_w = code_w_;
    // (T1)-(T2) tables
    auto realloc = [&](Kokkos::View<accum_type**, memory_space>& v, const char* name, int n0,
                       int n1) {
      if (v.extent(0) != static_cast<std::size_t>(n0) ||
          v.extent(1) != static_cast<std::size_t>(n1))
        v = Kokkos::View<accum_type**, memory_space>(label(std::string("ProfileHMM::") + name), n0,
                                                     n1);
    };
    realloc(ws.trans, "trans", M_, p7_NSLOTS);
    realloc(ws.msc_t, "match_scores", M_ + 1, K_);
    realloc(ws.isc_t, "insert_scores", M_ + 1, K_);
    realloc(ws.emit_m, "match_odds", n_codes_ + 1, M_ + 1);  // + the zero row of padding
    realloc(ws.emit_i, "insert_odds", n_codes_ + 1, M_ + 1);
    k.trans = ws.trans;
    k.msc_t = ws.msc_t;
    k.isc_t = ws.isc_t;
    k.emit_m = ws.emit_m;
    k.emit_i = ws.emit_i;
    Kokkos::parallel_for(label("ProfileHMM::tables"),
                         Kokkos::RangePolicy<ExecSpace>(exec, 0, M_ + 1),
                         Impl::ProfileHMMTableFunctor<kernel_t<Hard, ParamView>>{k});
    if (!k.profile_input)
      Kokkos::parallel_for(label("ProfileHMM::emission_tables"),
                           Kokkos::RangePolicy<ExecSpace>(exec, 0, (n_codes_ + 1) * (M_ + 1)),
                           Impl::ProfileHMMEmitFunctor<kernel_t<Hard, ParamView>>{k});
    return k;
  }

  // Scratch for `slots` concurrently running groups.
  template <class Kernel>
  void reserve_scratch(Kernel& k, const Workspace& ws, int slots, bool sweep) const {
    k.dp_rows = sweep ? k.Lpad + 1 : 2;
    k.slot_size = k.slot_elems(sweep);
    const std::size_t need = k.slot_size * static_cast<std::size_t>(slots);
    if (ws.scratch.extent(0) < need)
      ws.scratch = Kokkos::View<accum_type*, memory_space>(
          Kokkos::view_alloc(Kokkos::WithoutInitializing, label("ProfileHMM::scratch")), need);
    k.scratch = ws.scratch;
  }

  static bool host_like() {
    return Kokkos::SpaceAccessibility<Kokkos::HostSpace, memory_space>::accessible;
  }
  using token_type = Kokkos::Experimental::UniqueToken<ExecSpace>;

  // Launch plan. Host backends run one launch over all groups (dynamic schedule) and give each
  // thread its own scratch slot through a UniqueToken, so there are few launches and no idle
  // threads between chunks. Devices launch chunks of groups, one slot per group in the chunk,
  // with the number of slots bounded by the memory budget.
  struct Plan {
    bool tokens = false;
    int slots = 1;  ///< scratch slots
    int chunk = 1;  ///< groups per launch
  };

  template <class Kernel>
  Plan plan(const ExecSpace& exec, const Kernel& k, bool sweep, int groups) const {
    Plan p;
    const int conc = std::max(1, static_cast<int>(exec.concurrency()));
    const std::size_t per = std::max<std::size_t>(1, k.slot_elems(sweep) * sizeof(accum_type));
    const std::size_t budget = sweep ? cfg_.sweep_memory_bytes : cfg_.sweep_memory_bytes / 4;
    const std::size_t by_budget = std::max<std::size_t>(1, budget / per);
    if (host_like() && static_cast<std::size_t>(conc) <= by_budget) {
      p.tokens = true;
      p.slots = conc;
      p.chunk = std::max(1, groups);
    } else {
      p.slots = static_cast<int>(std::max<std::size_t>(
          1, std::min<std::size_t>({static_cast<std::size_t>(conc), by_budget,
                                    static_cast<std::size_t>(std::max(1, groups))})));
      p.chunk = p.slots;
    }
    return p;
  }

  // Launches `functor` over groups [g0, g0 + n) with the plan's slot assignment.
  template <class Kernel, bool Sweep>
  void launch(const ExecSpace& exec, const char* what, const Kernel& k, const Plan& p, int g0,
              int n) const {
    using policy = Kokkos::RangePolicy<ExecSpace, Kokkos::Schedule<Kokkos::Dynamic>>;
    if (p.tokens)
      Kokkos::parallel_for(
          label(what), policy(exec, 0, n),
          Impl::ProfileHMMGroupFunctor<Kernel, Sweep, token_type>{k, g0, token_type(exec)});
    else
      Kokkos::parallel_for(label(what), policy(exec, 0, n),
                           Impl::ProfileHMMGroupFunctor<Kernel, Sweep, void>{k, g0});
  }

  template <bool Hard, class ParamView>
  void run_forward(const ExecSpace& exec, const ParamView& params, const Inputs& in,
                   const Outputs& out, Workspace& ws) const {
    auto k = make_kernel<Hard>(exec, params, in, ws);
    const int groups = (k.B + W - 1) / W;
    if (groups == 0) return;
    k.score = out.score;
    k.bits = out.bits;
    {
      k.dp_rows = 2;
      const Plan p = plan(exec, k, false, groups);
      reserve_scratch(k, ws, p.slots, false);
      for (int g0 = 0; g0 < groups; g0 += p.chunk)
        launch<decltype(k), false>(exec, "ProfileHMM::forward", k, p, g0,
                                   std::min(p.chunk, groups - g0));
    }
    const bool post = out.match_posterior.extent(0) > 0 || out.insert_posterior.extent(0) > 0 ||
                      out.flank_posterior.extent(0) > 0;
    if (!post) return;
    DIFFBIO_EXPECTS(out.match_posterior.extent(0) == 0 ||
                        (out.match_posterior.extent(0) == static_cast<std::size_t>(k.B) &&
                         out.match_posterior.extent(1) >= static_cast<std::size_t>(k.Lpad) &&
                         out.match_posterior.extent(2) == static_cast<std::size_t>(M_)),
                    "ProfileHMM: match_posterior must be B × L × M");
    k.score = {};
    k.bits = {};
    k.post_m = out.match_posterior;
    k.post_i = out.insert_posterior;
    k.post_x = out.flank_posterior;
    const Plan p = prepare_sweep(exec, k, ws);
    sweep(exec, k, p, groups, [](int, int) {});
  }

  // Scratch of the sweeps (every slot holds a full DP matrix of Lpad + 1 rows).
  template <class Kernel>
  Plan prepare_sweep(const ExecSpace& exec, Kernel& k, const Workspace& ws) const {
    const int groups = (k.B + W - 1) / W;
    k.dp_rows = k.Lpad + 1;
    const Plan p = plan(exec, k, true, groups);
    reserve_scratch(k, ws, p.slots, true);
    return p;
  }

  // Runs the store-forward + reverse sweep over all groups, `chunk` groups per launch; after each
  // launch calls after(first position, rows) (the adjoint reduces that chunk's counts there).
  template <class Kernel, class After>
  void sweep(const ExecSpace& exec, Kernel& k, const Plan& p, int chunk, After after) const {
    const int groups = (k.B + W - 1) / W;
    chunk = std::max(1, std::min(chunk, p.chunk));
    for (int g0 = 0; g0 < groups; g0 += chunk) {
      const int n = std::min(chunk, groups - g0);
      k.pos0 = g0 * W;
      launch<Kernel, true>(exec, "ProfileHMM::sweep", k, p, g0, n);
      after(g0 * W, std::min(n * W, k.B - g0 * W));
    }
  }

  template <bool Hard, class ParamView, class GradView>
  void run_adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in,
                   const Workspace& ws, const OutputGrads& d_out, const InputGrads& d_in,
                   const GradView& d_params, const ReductionMode& mode) const {
    auto k = make_kernel<Hard>(exec, params, in, ws);
    const int B = k.B;
    if (B == 0) return;
    // ∂L/∂V_b = d_score_b + d_bits_b / ln 2
    if (ws.d_total.extent(0) < static_cast<std::size_t>(B))
      ws.d_total = Kokkos::View<double*, memory_space>(label("ProfileHMM::d_total"), B);
    Kokkos::parallel_for(
        label("ProfileHMM::d_total"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
        Impl::ProfileHMMSeedFunctor<Scalar, memory_space>{ws.d_total, d_out.d_score, d_out.d_bits});
    k.d_total = ws.d_total;
    if (k.profile_input && d_in.d_profile.extent(0) > 0) {
      DIFFBIO_EXPECTS(d_in.d_profile.extent(0) == static_cast<std::size_t>(B) &&
                          d_in.d_profile.extent(2) == static_cast<std::size_t>(K_),
                      "ProfileHMM: d_profile must be shaped like the profile");
      k.d_profile = d_in.d_profile;
    }
    const Plan p = prepare_sweep(exec, k, ws);
    // Per-sequence count rows of one chunk: at least one group per slot, at most ~256 MB.
    const std::size_t row_bytes = n_params() * sizeof(double);
    const int groups = (B + W - 1) / W;
    const int chunk = std::max(
        p.slots, std::min(groups, static_cast<int>((std::size_t(256) << 20) / (row_bytes * W))));
    const std::size_t rows = static_cast<std::size_t>(std::min(chunk, p.chunk)) * W;
    if (ws.counts.extent(0) < rows || ws.counts.extent(1) != n_params())
      ws.counts = Kokkos::View<double**, memory_space>(
          Kokkos::view_alloc(Kokkos::WithoutInitializing, label("ProfileHMM::counts")), rows,
          n_params());
    k.counts = ws.counts;
    const int np = static_cast<int>(n_params());
    auto counts = ws.counts;
    auto d_total = ws.d_total;
    auto order = in.order;
    sweep(exec, k, p, chunk, [&](int pos0, int nrows) {
      reduce_rows_into(exec, "ProfileHMM::adjoint", nrows, d_params, mode,
                       Impl::ProfileHMMReduceRow<memory_space>{counts, d_total, order, pos0, np});
    });
  }

  int M_, K_;
  int n_codes_ = 0;
  ProfileHMMConfig cfg_;
  std::vector<double> bg_;
  std::vector<double> weights_host_;
  Kokkos::View<const double**, memory_space> code_w_;
  io::HmmerModel model_;
  bool has_model_ = false;
};

}  // namespace diffbio

#endif
