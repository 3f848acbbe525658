// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_CandidateFeatures.hpp
/// \brief CandidateFeatures: the normalised feature vector of each candidate variant site, read
/// from a window of the DifferentiablePileup outputs and differentiable with respect to them, so a
/// loss on the genotype logits reaches the pileup's quality weighting and soft positions.
///
/// Inputs are the pileup Outputs of one window (DiffBio_Pileup.hpp; P rows = the window's
/// positions, *without* the halo: output row s is CSR row s + halo): counts [P×8] (A C G T N DEL
/// SKIP INS), strand [P×2] (forward, reverse; over the occupancy channels 0–6), quality [P×2]
/// (Σ w·BQ, Σ w·MQ over the occupancy channels); the reference base of every row (0..3 = ACGT,
/// 4 = N) and, per candidate, its centre row and a mask.
///
/// For a candidate with centre row s₀ and half-window w, each of the K = 2w+1 positions
/// s = s₀ + j − w (j = 0..K−1) contributes 13 features, with depth d = Σ_{k<7} counts[s,k] and
/// D = d + ε (ε > 0 keeps empty columns finite):
///
///   f[j·13 + k]  = counts[s,k]/D            k = 0..7 (A C G T N DEL SKIP INS fractions)
///   f[j·13 + 8]  = counts[s,ref[s]]/D        reference-base fraction (0 if ref[s] = N)
///   f[j·13 + 9]  = strand[s,0]/D             forward-strand fraction
///   f[j·13 + 10] = quality[s,0]/(60·D)       mean base quality / 60
///   f[j·13 + 11] = quality[s,1]/(60·D)       mean mapping quality / 60
///   f[j·13 + 12] = log1p(d)/log1p(depth_scale)
///
/// and the centre adds three (indices 13K + 0..2), with f_b = counts[s₀,b]/D over the non-reference
/// bases b ∈ {A,C,G,T} \ {ref[s₀]} (all four if the reference is N):
///
///   top_alt   = τ·log Σ_b exp(f_b/τ)          smooth max (math::smooth_max); τ = 0 (hard): max_b f_b
///   alt_total = Σ_b f_b
///   indel     = (counts[s₀,DEL] + counts[s₀,INS])/D
///
/// n_features() = 13·K + 3. Positions outside [0, P) (window edges) and masked candidates give
/// zero features and no gradient. Every feature is smooth in the pileup outputs (rational with a
/// denominator ≥ ε, log1p of a non-negative depth, log-sum-exp); in hard mode top_alt is the exact
/// max with the gradient on the first maximiser. No parameters (n_params() = 0).
///
/// Adjoint (ADJOINT.md): one work item per candidate computes the 12 local input gradients of each
/// window position; then one work item per pileup row gathers them from the candidates whose
/// window covers it, in (centre, candidate) order — no atomics, bitwise identical for any thread
/// count and backend. The candidate order is sorted on the host (B integers), so the adjoint is
/// blocking.
#ifndef DIFFBIO_CANDIDATE_FEATURES_HPP
#define DIFFBIO_CANDIDATE_FEATURES_HPP

#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <impl/DiffBio_VariantKernels.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace diffbio {

struct CandidateFeaturesConfig {
  int half_window = 5;       ///< w: K = 2w + 1 positions centred on the candidate
  double eps = 1e-3;         ///< ε in D = depth + ε
  double depth_scale = 30;   ///< log1p(depth) is divided by log1p(depth_scale) (typical depth)
  double tau = 0.02;         ///< temperature of the smooth max of the alt-base fractions
  bool hard = false;         ///< τ = 0: exact max
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class CandidateFeatures {
 public:
  using scalar_type = Scalar;
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using grad_type = accum_t<Scalar>;
  using matrix_view = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;
  using const_matrix_view = Kokkos::View<const Scalar**, Kokkos::LayoutRight, memory_space>;
  /// The pileup's own View types (default layout), so its Outputs plug in directly.
  using pileup_view = Kokkos::View<Scalar**, memory_space>;
  using const_pileup_view = Kokkos::View<const Scalar**, memory_space>;

  static constexpr int n_channels = 8;       ///< pileup counts channels
  static constexpr int n_depth_channels = 7; ///< channels 0–6 make the depth
  static constexpr int per_position = 13;    ///< features per window position
  static constexpr int n_centre = 3;         ///< top_alt, alt_total, indel
  static constexpr int n_local = 12;         ///< pileup values per position: 8 + 2 + 2
  static constexpr int base_n = 4;           ///< reference code of N

  struct Inputs {
    const_pileup_view counts;                              ///< [P×8] pileup counts
    const_pileup_view strand;                              ///< [P×2] pileup strand sums
    const_pileup_view quality;                             ///< [P×2] pileup quality sums
    Kokkos::View<const int*, memory_space> centre;         ///< [B] pileup output row 0..P−1
    Kokkos::View<const int*, memory_space> ref_base;       ///< [P] 0..3 = ACGT, 4 = N
    Kokkos::View<const std::uint8_t*, memory_space> mask;  ///< [B] 1 = valid; empty: all valid
  };
  struct Outputs {
    matrix_view features;  ///< [B×n_features()]; masked rows 0
  };
  struct OutputGrads {
    const_matrix_view d_features;  ///< [B×n_features()]
  };
  /// Gradients with respect to the pileup outputs (+=); an empty View is skipped.
  struct InputGrads {
    pileup_view d_counts;   ///< [P×8]
    pileup_view d_strand;   ///< [P×2]
    pileup_view d_quality;  ///< [P×2]
  };
  /// Adjoint scratch (Views are handles: the adjoint writes through a const Workspace).
  struct Workspace {
    Kokkos::View<grad_type**, memory_space> local;  ///< [B × K·12] per-candidate input gradients
    Kokkos::View<int*, memory_space> order;         ///< valid candidates sorted by (centre, index)
    Kokkos::View<int*, memory_space> sorted_centre; ///< their centres
  };

  explicit CandidateFeatures(CandidateFeaturesConfig cfg = {}) : cfg_(cfg) {
    DIFFBIO_EXPECTS(cfg_.half_window >= 0, "CandidateFeatures: half_window must be >= 0");
    DIFFBIO_EXPECTS(cfg_.eps > 0, "CandidateFeatures: eps must be > 0");
    DIFFBIO_EXPECTS(cfg_.depth_scale > 0, "CandidateFeatures: depth_scale must be > 0");
    DIFFBIO_EXPECTS(cfg_.hard || cfg_.tau > 0, "CandidateFeatures: tau must be > 0 (or hard)");
  }

  const CandidateFeaturesConfig& config() const { return cfg_; }
  bool hard() const { return cfg_.hard; }
  void set_hard(bool h) { cfg_.hard = h; }
  int window() const { return 2 * cfg_.half_window + 1; }
  int n_features() const { return per_position * window() + n_centre; }
  int n_params() const { return 0; }
  /// Index of feature \p k (0..12) of window position \p j (0..K−1), and of the centre extras.
  int feature_index(int j, int k) const { return j * per_position + k; }
  int top_alt_index() const { return per_position * window(); }
  int alt_total_index() const { return per_position * window() + 1; }
  int indel_index() const { return per_position * window() + 2; }

  /// No parameters: an empty block is still declared so pipelines can treat operators uniformly.
  ParamBlock declare(ParameterLayout& layout, const std::string& prefix = "candidate_features") const {
    return layout.add(prefix + "/none", 0);
  }
  std::vector<double> initial_params() const { return {}; }

  Outputs allocate_outputs(const Inputs& in, const ExecSpace& exec = ExecSpace()) const {
    return {matrix_view(Kokkos::view_alloc(label("CandidateFeatures::features"), exec),
                        in.centre.extent(0), static_cast<std::size_t>(n_features()))};
  }
  Workspace allocate_workspace(const Inputs& in) const {
    Workspace ws;
    ensure_workspace(ws, static_cast<int>(in.centre.extent(0)));
    return ws;
  }

  /// Forward. Non-blocking. \p params is ignored (no parameters; any rank-1 View, may be empty).
  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& /*params*/, const Inputs& in,
               const Outputs& out, Workspace& ws) const {
    check(in);
    const int B = static_cast<int>(in.centre.extent(0));
    DIFFBIO_EXPECTS(static_cast<int>(out.features.extent(0)) == B &&
                        static_cast<int>(out.features.extent(1)) == n_features(),
                    "CandidateFeatures: features must be B x n_features()");
    ensure_workspace(ws, B);
    const Consts k = consts();
    auto counts = in.counts;
    auto strand = in.strand;
    auto quality = in.quality;
    auto centre = in.centre;
    auto ref = in.ref_base;
    auto mask = in.mask;
    const bool has_mask = in.mask.extent(0) > 0;
    const int P = static_cast<int>(in.counts.extent(0));
    auto f = out.features;
    const int F = n_features();
    Kokkos::parallel_for(
        label("CandidateFeatures::forward"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
        KOKKOS_LAMBDA(const int b) {
          if (has_mask && mask(b) == 0) {
            for (int e = 0; e < F; ++e) f(b, e) = Scalar(0);
            return;
          }
          const int s0 = centre(b);
          for (int j = 0; j < k.K; ++j) {
            const int s = s0 + j - k.w;
            Scalar v[per_position];
            if (s < 0 || s >= P) {
              for (int e = 0; e < per_position; ++e) v[e] = Scalar(0);
            } else {
              Column col = load(counts, strand, quality, ref, s);
              position_features(k, col, v);
            }
            for (int e = 0; e < per_position; ++e) f(b, j * per_position + e) = v[e];
          }
          Scalar c3[n_centre] = {Scalar(0), Scalar(0), Scalar(0)};
          if (s0 >= 0 && s0 < P) centre_features(k, load(counts, strand, quality, ref, s0), c3);
          for (int e = 0; e < n_centre; ++e) f(b, k.K * per_position + e) = c3[e];
        });
  }

  /// Adjoint: d_counts/d_strand/d_quality += ∂L/∂(pileup outputs). Blocking (the candidate order
  /// is sorted on the host). \p d_params is ignored (no parameters).
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& /*params*/, const Inputs& in,
               const Workspace& ws, const OutputGrads& d_out, const InputGrads& d_in,
               const GradView& /*d_params*/, const ReductionMode& /*mode*/ = {}) const {
    check(in);
    const int B = static_cast<int>(in.centre.extent(0));
    const int P = static_cast<int>(in.counts.extent(0));
    DIFFBIO_EXPECTS(static_cast<int>(ws.local.extent(0)) == B,
                    "CandidateFeatures::adjoint: workspace from allocate_workspace()/forward expected");
    DIFFBIO_EXPECTS(static_cast<int>(d_out.d_features.extent(0)) == B &&
                        static_cast<int>(d_out.d_features.extent(1)) == n_features(),
                    "CandidateFeatures::adjoint: d_features must be B x n_features()");
    const bool has_dc = d_in.d_counts.extent(0) > 0, has_ds = d_in.d_strand.extent(0) > 0,
               has_dq = d_in.d_quality.extent(0) > 0;
    DIFFBIO_EXPECTS((!has_dc || (static_cast<int>(d_in.d_counts.extent(0)) == P &&
                                 d_in.d_counts.extent(1) == n_channels)) &&
                        (!has_ds || (static_cast<int>(d_in.d_strand.extent(0)) == P &&
                                     d_in.d_strand.extent(1) == 2)) &&
                        (!has_dq || (static_cast<int>(d_in.d_quality.extent(0)) == P &&
                                     d_in.d_quality.extent(1) == 2)),
                    "CandidateFeatures::adjoint: input gradients must match the pileup outputs");
    if (B == 0 || P == 0 || !(has_dc || has_ds || has_dq)) return;
    const int n_valid = sort_candidates(in, ws);
    local_gradients(exec, in, ws, d_out);
    gather_into_rows(exec, in, ws, d_in, n_valid);
    exec.fence();
  }

  // ---- implementation (public only because CUDA forbids extended lambdas in private members)

  /// Constants the kernels need (device-copyable).
  struct Consts {
    int w, K;
    Scalar eps, inv_log_scale, tau;
  };
  Consts consts() const {
    return {cfg_.half_window, window(), Scalar(cfg_.eps),
            Scalar(1.0 / std::log1p(cfg_.depth_scale)), Scalar(cfg_.hard ? 0.0 : cfg_.tau)};
  }

  /// The 12 pileup values of one row and its reference base.
  struct Column {
    Scalar c[n_channels];
    Scalar s0, q0, q1;
    int ref;
  };

  template <class V, class R>
  KOKKOS_INLINE_FUNCTION static Column load(const V& counts, const V& strand, const V& quality,
                                            const R& ref, int s) {
    Column col;
    for (int k = 0; k < n_channels; ++k) col.c[k] = counts(s, k);
    col.s0 = strand(s, 0);
    col.q0 = quality(s, 0);
    col.q1 = quality(s, 1);
    const int r = ref(s);
    col.ref = (r >= 0 && r < base_n) ? r : base_n;
    return col;
  }

  KOKKOS_INLINE_FUNCTION static Scalar depth(const Column& col) {
    Scalar d = Scalar(0);
    for (int k = 0; k < n_depth_channels; ++k) d += col.c[k];
    return d;
  }

  KOKKOS_INLINE_FUNCTION static void position_features(const Consts& k, const Column& col,
                                                       Scalar* v) {
    const Scalar d = depth(col);
    const Scalar inv = Scalar(1) / (d + k.eps);
    for (int c = 0; c < n_channels; ++c) v[c] = col.c[c] * inv;
    v[8] = col.ref < base_n ? col.c[col.ref] * inv : Scalar(0);
    v[9] = col.s0 * inv;
    v[10] = col.q0 * inv / Scalar(60);
    v[11] = col.q1 * inv / Scalar(60);
    v[12] = math::log1p(d) * k.inv_log_scale;
  }

  /// Non-reference bases of a column: their indices in \p alt, count returned.
  KOKKOS_INLINE_FUNCTION static int alt_bases(const Column& col, int* alt) {
    int n = 0;
    for (int b = 0; b < base_n; ++b)
      if (b != col.ref) alt[n++] = b;
    return n;
  }

  KOKKOS_INLINE_FUNCTION static void centre_features(const Consts& k, const Column& col,
                                                     Scalar* v) {
    const Scalar inv = Scalar(1) / (depth(col) + k.eps);
    int alt[base_n];
    const int na = alt_bases(col, alt);
    Scalar total = Scalar(0), fa[base_n];
    for (int a = 0; a < na; ++a) {
      fa[a] = col.c[alt[a]] * inv;
      total += fa[a];
    }
    v[0] = variant_impl::smooth_max_finite(na, fa, k.tau);
    v[1] = total;
    v[2] = (col.c[5] + col.c[7]) * inv;
  }

  /// Local input gradients of one position: g[0..7] counts, g[8..9] strand, g[10..11] quality,
  /// given the seeds of its 13 position features \p fb and (centre only, else null) of the 3
  /// centre features \p cb. ADJOINT.md steps 2–4.
  KOKKOS_INLINE_FUNCTION static void position_adjoint(const Consts& k, const Column& col,
                                                      const grad_type* fb, const grad_type* cb,
                                                      grad_type* g) {
    using A = grad_type;
    const A d = A(depth(col));
    const A inv = A(1) / (d + A(k.eps));
    for (int e = 0; e < n_local; ++e) g[e] = A(0);
    A Dbar = A(0);
    // Ratio features f = u/D (times a constant): ū += f̄·const/D, D̄ −= f̄·f/D.
    A cbar[n_channels];
    for (int c = 0; c < n_channels; ++c) cbar[c] = A(0);
    // Seeds of the base fractions f_c = c_c/D: their own, the reference fraction, and (centre)
    // top_alt (∂/∂f_b = p_b, softmax weights or the one-hot of the first maximiser) and alt_total.
    A fbar_base[n_channels];
    for (int c = 0; c < n_channels; ++c) fbar_base[c] = fb[c];
    if (col.ref < base_n) fbar_base[col.ref] += fb[8];
    if (cb != nullptr) {
      int alt[base_n];
      const int na = alt_bases(col, alt);
      A fa[base_n], p[base_n];
      for (int a = 0; a < na; ++a) fa[a] = A(col.c[alt[a]]) * inv;
      variant_impl::smooth_max_finite_weights(na, fa, A(k.tau), p);
      for (int a = 0; a < na; ++a) fbar_base[alt[a]] += cb[0] * p[a] + cb[1];
      // indel = (c_DEL + c_INS)/D
      const A indel = (A(col.c[5]) + A(col.c[7])) * inv;
      cbar[5] += cb[2] * inv;
      cbar[7] += cb[2] * inv;
      Dbar -= cb[2] * indel * inv;
    }
    for (int c = 0; c < n_channels; ++c) {
      const A f = A(col.c[c]) * inv;
      cbar[c] += fbar_base[c] * inv;
      Dbar -= fbar_base[c] * f * inv;
    }
    const A fs = A(col.s0) * inv, fq = A(col.q0) * inv / A(60), fm = A(col.q1) * inv / A(60);
    g[8] = fb[9] * inv;
    Dbar -= fb[9] * fs * inv;
    g[10] = fb[10] * inv / A(60);
    Dbar -= fb[10] * fq * inv;
    g[11] = fb[11] * inv / A(60);
    Dbar -= fb[11] * fm * inv;
    // D = d + ε and log1p(d)/log1p(scale) both depend on d = Σ_{k<7} c_k.
    const A dbar = Dbar + fb[12] * A(k.inv_log_scale) / (A(1) + d);
    for (int c = 0; c < n_channels; ++c) g[c] = cbar[c] + (c < n_depth_channels ? dbar : A(0));
  }

  void ensure_workspace(Workspace& ws, int B) const {
    const std::size_t nl = static_cast<std::size_t>(window() * n_local);
    if (ws.local.extent(0) != static_cast<std::size_t>(B) || ws.local.extent(1) != nl) {
      const auto alloc = [](const std::string& what) {
        return Kokkos::view_alloc(Kokkos::WithoutInitializing, label("CandidateFeatures::" + what));
      };
      ws.local = Kokkos::View<grad_type**, memory_space>(alloc("local_grads"), B, nl);
      ws.order = Kokkos::View<int*, memory_space>(alloc("order"), B);
      ws.sorted_centre = Kokkos::View<int*, memory_space>(alloc("sorted_centre"), B);
    }
  }

  void check(const Inputs& in) const {
    const std::size_t P = in.counts.extent(0);
    DIFFBIO_EXPECTS(in.counts.extent(1) == n_channels && in.strand.extent(0) == P &&
                        in.strand.extent(1) == 2 && in.quality.extent(0) == P &&
                        in.quality.extent(1) == 2 && in.ref_base.extent(0) == P,
                    "CandidateFeatures: counts [P x 8], strand/quality [P x 2] and ref_base [P] "
                    "expected");
    DIFFBIO_EXPECTS(in.mask.extent(0) == 0 || in.mask.extent(0) == in.centre.extent(0),
                    "CandidateFeatures: one mask entry per candidate expected");
  }

  /// Valid candidates sorted by (centre, index) into ws.order / ws.sorted_centre; returns their
  /// number. Host sort of B integers: the order of every gather sum is then fixed.
  int sort_candidates(const Inputs& in, const Workspace& ws) const {
    auto hc = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), in.centre);
    auto hm = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), in.mask);
    const int B = static_cast<int>(hc.extent(0));
    const bool has_mask = hm.extent(0) > 0;
    std::vector<std::pair<int, int>> v;
    v.reserve(static_cast<std::size_t>(B));
    for (int b = 0; b < B; ++b)
      if (!has_mask || hm(b) != 0) v.emplace_back(hc(b), b);
    std::sort(v.begin(), v.end());
    auto ho = Kokkos::create_mirror_view(Kokkos::HostSpace(), ws.order);
    auto hs = Kokkos::create_mirror_view(Kokkos::HostSpace(), ws.sorted_centre);
    for (std::size_t t = 0; t < v.size(); ++t) {
      hs(t) = v[t].first;
      ho(t) = v[t].second;
    }
    Kokkos::deep_copy(ws.order, ho);
    Kokkos::deep_copy(ws.sorted_centre, hs);
    return static_cast<int>(v.size());
  }

  /// Step 1: per candidate, the 12 local input gradients of every window position.
  void local_gradients(const ExecSpace& exec, const Inputs& in, const Workspace& ws,
                       const OutputGrads& d_out) const {
    using A = grad_type;
    const int B = static_cast<int>(in.centre.extent(0));
    const int P = static_cast<int>(in.counts.extent(0));
    const Consts k = consts();
    auto counts = in.counts;
    auto strand = in.strand;
    auto quality = in.quality;
    auto centre = in.centre;
    auto ref = in.ref_base;
    auto mask = in.mask;
    const bool has_mask = in.mask.extent(0) > 0;
    auto fbar = d_out.d_features;
    auto local = ws.local;
    Kokkos::parallel_for(
        label("CandidateFeatures::adjoint_local"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
        KOKKOS_LAMBDA(const int b) {
          const bool valid = !(has_mask && mask(b) == 0);
          const int s0 = centre(b);
          for (int j = 0; j < k.K; ++j) {
            const int s = s0 + j - k.w;
            A g[n_local];
            if (!valid || s < 0 || s >= P) {
              for (int e = 0; e < n_local; ++e) g[e] = A(0);
            } else {
              A fb[per_position], cb[n_centre];
              for (int e = 0; e < per_position; ++e) fb[e] = A(fbar(b, j * per_position + e));
              for (int e = 0; e < n_centre; ++e) cb[e] = A(fbar(b, k.K * per_position + e));
              position_adjoint(k, load(counts, strand, quality, ref, s), fb,
                               j == k.w ? cb : nullptr, g);
            }
            for (int e = 0; e < n_local; ++e) local(b, j * n_local + e) = g[e];
          }
        });
  }

  /// Step 2: per pileup row s, the sum over the valid candidates whose window covers s, in
  /// (centre, index) order (binary search on the sorted centres).
  void gather_into_rows(const ExecSpace& exec, const Inputs& in, const Workspace& ws,
                        const InputGrads& d_in, int n_valid) const {
    using A = grad_type;
    const int P = static_cast<int>(in.counts.extent(0));
    const int w = cfg_.half_window;
    auto order = ws.order;
    auto sc = ws.sorted_centre;
    auto local = ws.local;
    auto dc = d_in.d_counts;
    auto ds = d_in.d_strand;
    auto dq = d_in.d_quality;
    const bool has_dc = dc.extent(0) > 0, has_ds = ds.extent(0) > 0, has_dq = dq.extent(0) > 0;
    Kokkos::parallel_for(
        label("CandidateFeatures::adjoint_gather"), Kokkos::RangePolicy<ExecSpace>(exec, 0, P),
        KOKKOS_LAMBDA(const int s) {
          // First sorted centre ≥ s − w.
          int lo = 0, hi = n_valid;
          while (lo < hi) {
            const int mid = (lo + hi) / 2;
            if (sc(mid) < s - w) lo = mid + 1; else hi = mid;
          }
          A g[n_local];
          for (int e = 0; e < n_local; ++e) g[e] = A(0);
          bool any = false;
          for (int t = lo; t < n_valid && sc(t) <= s + w; ++t) {
            const int b = order(t);
            const int j = s - sc(t) + w;
            for (int e = 0; e < n_local; ++e) g[e] += local(b, j * n_local + e);
            any = true;
          }
          if (!any) return;
          if (has_dc)
            for (int c = 0; c < n_channels; ++c) dc(s, c) += Scalar(g[c]);
          if (has_ds) ds(s, 0) += Scalar(g[8]);  // the reverse-strand sum is not a feature
          if (has_dq) {
            dq(s, 0) += Scalar(g[10]);
            dq(s, 1) += Scalar(g[11]);
          }
        });
  }

 private:
  CandidateFeaturesConfig cfg_;
};

}  // namespace diffbio

#endif
