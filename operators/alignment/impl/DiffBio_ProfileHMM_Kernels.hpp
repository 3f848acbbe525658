// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_ProfileHMM_Kernels.hpp
/// \brief Device kernels of ProfileHMM: the Plan7 dynamic programme over a semiring (sum-product
/// for τ > 0, max-product for τ = 0) in scaled odds space, and its reverse sweep (posteriors and
/// expected counts). See ADJOINT_ProfileHMM.md for the equations; comments cite them as (F1)...
///
/// Layout: sequences are processed in lane groups of W sequences (W = 4 on host backends, so the
/// innermost loops over lanes vectorise — inter-sequence SIMD; W = 1 on GPUs, one sequence per
/// thread). Every DP array is stored [k][lane]. A group runs in one work item with private
/// scratch ("slot"); groups are launched in chunks of at most `n_slots` so scratch is bounded.
#ifndef DIFFBIO_PROFILE_HMM_KERNELS_HPP
#define DIFFBIO_PROFILE_HMM_KERNELS_HPP

#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <impl/DiffBio_ProfileHMM_Config.hpp>

#include <cstdint>

/// Marks the loops over the W lanes of a group: the lanes are independent sequences, so there
/// are no dependences between iterations. GCC otherwise unrolls these short loops completely
/// and then fails to vectorise them (basic-block SLP gives up on the mixed access pattern). Lane
/// loops are kept small (few distinct arrays each): GCC 12 stops vectorising a loop body with
/// more than about a dozen data streams ("complicated access pattern"), so long bodies are split.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDA_ARCH__) && \
    !defined(__HIP_DEVICE_COMPILE__) && !defined(__INTEL_COMPILER)
#define DIFFBIO_LANES _Pragma("GCC ivdep") _Pragma("GCC unroll 1")
#elif defined(__clang__) && !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__)
#define DIFFBIO_LANES _Pragma("clang loop vectorize(enable) interleave(enable)")
#else
#define DIFFBIO_LANES
#endif

namespace diffbio {
namespace Impl {

/// Specials stored per row and lane: N, B, E, C, J and the row's rescaling multiplier ρ.
enum Plan7Special : int { x_N = 0, x_B, x_E, x_C, x_J, x_RHO, x_NX };

/// Lanes per group for a memory space: 4 on host (an AVX2 vector of doubles, two SSE2 ones, half
/// an AVX-512 one), 1 on devices. Measured on AMD EPYC (AVX-512) with M = 260: 4 lanes beat 8
/// (1.3× forward, 1.45× forward+backward) because the reverse sweep streams per-row working sets
/// (DP rows, count accumulators) that scale with the lane count, and 2 lanes (0.6×).
template <class MemorySpace>
struct ProfileHMMLanes {
  static constexpr int value =
      Kokkos::SpaceAccessibility<Kokkos::HostSpace, MemorySpace>::accessible ? 4 : 1;
};

/// Null model score (nats) of HMMER's null1 for length L: L·log(L/(L+1)) + log(1/(L+1)).
KOKKOS_INLINE_FUNCTION double plan7_null1(int L) {
  if (L <= 0) return 0.0;
  const double p1 = static_cast<double>(L) / (L + 1.0);
  return L * compat::log(p1) + compat::log(1.0 - p1);
}

/// The kernel state shared by forward, posterior and adjoint launches. A = accumulation type
/// (double for float and double models, a dual for tangent runs).
template <class Scalar, class A, class MemSpace, int W, bool Hard, class ParamView>
struct ProfileHMMKernel {
  using accum_type = A;
  static constexpr int NX = x_NX;

  // ---- sizes and configuration
  int B = 0, Lpad = 0, M = 0, K = 0, n_codes = 0;
  int n_params = 0;
  bool local = true, multihit = true, profile_input = false;
  double tau = 1.0;  ///< τ used in the tables (1 in hard mode)

  // ---- inputs
  Kokkos::View<const std::uint8_t**, MemSpace> residues;
  Kokkos::View<const Scalar***, MemSpace> profile;
  Kokkos::View<const int*, MemSpace> length;
  Kokkos::View<const int*, MemSpace> order;  ///< empty: identity
  ParamView params;
  Kokkos::View<const double**, MemSpace> code_w;  ///< [n_codes × K]

  // ---- tables (odds space, see (T1)-(T3))
  Kokkos::View<A**, MemSpace> trans;  ///< [M × 8]  e^{t/τ}, 0 for unused slots
  Kokkos::View<A**, MemSpace>
      emit_m;  ///< [(n_codes+1) × (M+1)] e^{(Σ_a w_ca s_ka)/τ}; row n_codes = 0
  Kokkos::View<A**, MemSpace> emit_i;  ///< [(n_codes+1) × (M+1)] (0 at k = M: no I_M)
  Kokkos::View<A**, MemSpace> msc_t;   ///< [(M+1) × K] match log-odds / τ (profile input)
  Kokkos::View<A**, MemSpace> isc_t;   ///< [(M+1) × K] insert log-odds / τ

  // ---- scratch (per slot)
  Kokkos::View<A*, MemSpace> scratch;
  std::size_t slot_size = 0;  ///< elements of A per slot
  int dp_rows = 2;            ///< rows of M/I/D kept: 2 (rolling) or Lpad+1 (stored)

  // ---- outputs
  Kokkos::View<Scalar*, MemSpace> score, bits;
  Kokkos::View<Scalar***, MemSpace> post_m;
  Kokkos::View<Scalar**, MemSpace> post_i, post_x;
  // ---- adjoint
  Kokkos::View<double**, MemSpace> counts;        ///< [chunk rows × n_params]
  Kokkos::View<const double*, MemSpace> d_total;  ///< [B] ∂L/∂score (+ ∂L/∂bits / ln 2)
  Kokkos::View<Scalar***, MemSpace> d_profile;
  int pos0 = 0;  ///< first position (in `order`) of the current chunk

  // ------------------------------------------------------------------ semiring helpers
  KOKKOS_INLINE_FUNCTION static A plus(const A& a, const A& b) {
    using math::value_of;
    if (Hard) return value_of(a) >= value_of(b) ? a : b;
    return a + b;
  }

  KOKKOS_INLINE_FUNCTION int seq_of(int pos) const {
    if (pos >= B) return -1;
    return order.extent(0) > 0 ? order(pos) : pos;
  }

  // Scratch offsets inside a slot.
  KOKKOS_INLINE_FUNCTION std::size_t row_elems() const { return std::size_t(3) * (M + 1) * W; }
  KOKKOS_INLINE_FUNCTION std::size_t off_x() const { return row_elems() * dp_rows; }
  KOKKOS_INLINE_FUNCTION std::size_t off_em() const {
    return off_x() + std::size_t(NX) * W * dp_rows;
  }
  KOKKOS_INLINE_FUNCTION std::size_t off_pi() const {
    return off_em() + std::size_t(2) * (M + 1) * W;
  }
  KOKKOS_INLINE_FUNCTION std::size_t off_pix() const { return off_pi() + 3 * row_elems() + W; }
  KOKKOS_INLINE_FUNCTION std::size_t off_cnt_t() const {
    return off_pix() + std::size_t(2) * NX * W;
  }
  KOKKOS_INLINE_FUNCTION int n_codes_eff() const { return profile_input ? K : n_codes; }
  KOKKOS_INLINE_FUNCTION std::size_t off_cnt_m() const {
    return off_cnt_t() + std::size_t(p7_NSLOTS) * M * W;
  }
  KOKKOS_INLINE_FUNCTION std::size_t off_cnt_i() const {
    return off_cnt_m() + std::size_t(n_codes_eff()) * (M + 1) * W;
  }
  /// Elements per slot: forward only, or forward + reverse sweep.
  std::size_t slot_elems(bool sweep) const {
    if (!sweep) return off_em() + std::size_t(2) * (M + 1) * W;
    return off_cnt_i() + std::size_t(n_codes_eff()) * (M + 1) * W;
  }

  // Length model and E transitions per lane (T3): loop = L/(L+2+nj), move = (2+nj)/(L+2+nj).
  KOKKOS_INLINE_FUNCTION void specials(int len, A& tloop, A& tmove, A& tec, A& tej) const {
    const double nj = multihit ? 1.0 : 0.0;
    const double pmove = (2.0 + nj) / (static_cast<double>(len) + 2.0 + nj);
    const double ploop = 1.0 - pmove;
    tloop = ploop > 0 ? A(math::exp(math::log(ploop) / tau)) : A(0);
    tmove = A(math::exp(math::log(pmove) / tau));
    tec = multihit ? A(math::exp(math::log(0.5) / tau)) : A(1);
    tej = multihit ? A(math::exp(math::log(0.5) / tau)) : A(0);
  }

  // Emissions of row i (residue i-1 of each lane) into em (match) and em + (M+1)W (insert).
  // Lanes past their sequence read the all-zero table row n_codes.
  KOKKOS_INLINE_FUNCTION void fill_emissions(A* em, const int* b, const int* len, int i) const {
    A* KOKKOS_RESTRICT eM = em;
    A* KOKKOS_RESTRICT eI = em + (M + 1) * W;
    if (!profile_input) {
      const A* KOKKOS_RESTRICT tm = emit_m.data();
      const A* KOKKOS_RESTRICT ti = emit_i.data();
      const std::size_t s0 = emit_m.stride(0);
      std::size_t off[W];
      for (int l = 0; l < W; ++l) {
        const int c = (b[l] >= 0 && i <= len[l]) ? int(residues(b[l], i - 1)) : n_codes;
        off[l] = std::size_t(c) * s0;
      }
      for (int k = 0; k <= M; ++k) {
        DIFFBIO_LANES
        for (int l = 0; l < W; ++l) {
          eM[k * W + l] = tm[off[l] + k];
          eI[k * W + l] = ti[off[l] + k];
        }
      }
      return;
    }
    for (int l = 0; l < W; ++l) {
      eM[l] = eI[l] = A(0);
      const bool active = b[l] >= 0 && i <= len[l];
      for (int k = 1; k <= M; ++k) {
        if (!active) {
          eM[k * W + l] = eI[k * W + l] = A(0);
          continue;
        }
        A sm = A(0), si = A(0);
        for (int a = 0; a < K; ++a) {
          const A q = A(profile(b[l], i - 1, a));
          sm += q * msc_t(k, a);
          si += q * isc_t(k, a);
        }
        eM[k * W + l] = math::exp(sm);
        eI[k * W + l] = k < M ? A(math::exp(si)) : A(0);
      }
    }
  }

  // ------------------------------------------------------------------ forward (F1)-(F9)
  /// Runs the DP of group g in scratch slot `slot`; with Store, keeps every row for the sweep.
  template <bool Store>
  KOKKOS_INLINE_FUNCTION void forward_group(int g, int slot) const {
    using math::value_of;
    A* const base = scratch.data() + slot_size * slot;
    int b[W], len[W];
    A tloop[W], tmove[W], tec[W], tej[W];
    double logscale[W];
    int Lg = 0;
    for (int l = 0; l < W; ++l) {
      b[l] = seq_of(g * W + l);
      len[l] = b[l] >= 0 ? length(b[l]) : 0;
      if (len[l] > Lg) Lg = len[l];
      specials(len[l], tloop[l], tmove[l], tec[l], tej[l]);
      logscale[l] = 0.0;
    }
    const int Mp1 = M + 1;
    auto dprow = [&](int i) { return base + row_elems() * (Store ? i : (i & 1)); };
    auto xrow = [&](int i) { return base + off_x() + std::size_t(NX) * W * (Store ? i : (i & 1)); };
    A* const em = base + off_em();
    const A* const ei = em + Mp1 * W;
    {  // row 0 (F1)
      A* r = dprow(0);
      for (std::size_t e = 0; e < row_elems(); ++e) r[e] = A(0);
      A* x = xrow(0);
      for (int l = 0; l < W; ++l) {
        x[x_N * W + l] = A(1);
        x[x_B * W + l] = tmove[l];
        x[x_E * W + l] = x[x_C * W + l] = x[x_J * W + l] = A(0);
        x[x_RHO * W + l] = A(1);
      }
    }
    for (int l = 0; l < W; ++l)
      if (b[l] >= 0 && len[l] == 0) write_score(b[l], 0, A(0), 0.0);
    for (int i = 1; i <= Lg; ++i) {
      fill_emissions(em, b, len, i);
      const A* const P = dprow(i - 1);
      A* const C = dprow(i);
      const A* KOKKOS_RESTRICT Pm = P;
      const A* KOKKOS_RESTRICT Pi = P + Mp1 * W;
      const A* KOKKOS_RESTRICT Pd = P + 2 * Mp1 * W;
      A* KOKKOS_RESTRICT Cm = C;
      A* KOKKOS_RESTRICT Ci = C + Mp1 * W;
      A* KOKKOS_RESTRICT Cd = C + 2 * Mp1 * W;
      const A* const xp = xrow(i - 1);
      A* const xc = xrow(i);
      A E[W], tot[W], Bp[W];
      for (int l = 0; l < W; ++l) {
        Cm[l] = Ci[l] = Cd[l] = A(0);
        E[l] = tot[l] = A(0);
        Bp[l] = xp[x_B * W + l];
      }
      for (int k = 1; k < M; ++k) {
        const A* KOKKOS_RESTRICT tr = &trans(k - 1, 0);
        const A* KOKKOS_RESTRICT tk = &trans(k, 0);
        const A tMM = tr[p7_MM], tIM = tr[p7_IM], tDM = tr[p7_DM], tBM = tr[p7_BM];
        const A tMD = tr[p7_MD], tDD = tr[p7_DD], tMI = tk[p7_MI], tII = tk[p7_II];
        const int o = k * W, q = (k - 1) * W;
        DIFFBIO_LANES
        for (int l = 0; l < W; ++l) {
          // (F2) M(i,k) = e_M · [M(i-1,k-1)·t_MM ⊕ I(i-1,k-1)·t_IM ⊕ D(i-1,k-1)·t_DM ⊕ B(i-1)·t_BM]
          const A m =
              plus(plus(Pm[q + l] * tMM, Pi[q + l] * tIM), plus(Pd[q + l] * tDM, Bp[l] * tBM)) *
              em[o + l];
          // (F3) I(i,k) = e_I · [M(i-1,k)·t_MI ⊕ I(i-1,k)·t_II]
          const A iv = plus(Pm[o + l] * tMI, Pi[o + l] * tII) * ei[o + l];
          // (F4) D(i,k) = M(i,k-1)·t_MD ⊕ D(i,k-1)·t_DD
          const A d = plus(Cm[q + l] * tMD, Cd[q + l] * tDD);
          Cm[o + l] = m;
          Ci[o + l] = iv;
          Cd[o + l] = d;
          if (local) E[l] = plus(E[l], plus(m, d));  // (F5) local: every M_k, D_k -> E
          tot[l] = plus(tot[l], plus(m, plus(iv, d)));
        }
      }
      {  // node M: no I_M; M_M and D_M always reach E
        const A* tr = &trans(M - 1, 0);
        const A tMM = tr[p7_MM], tIM = tr[p7_IM], tDM = tr[p7_DM], tBM = tr[p7_BM];
        const A tMD = tr[p7_MD], tDD = tr[p7_DD];
        const int o = M * W, q = (M - 1) * W;
        DIFFBIO_LANES
        for (int l = 0; l < W; ++l) {
          const A m =
              plus(plus(Pm[q + l] * tMM, Pi[q + l] * tIM), plus(Pd[q + l] * tDM, Bp[l] * tBM)) *
              em[o + l];
          const A d = M > 1 ? plus(Cm[q + l] * tMD, Cd[q + l] * tDD) : A(0);
          Cm[o + l] = m;
          Ci[o + l] = A(0);
          Cd[o + l] = d;
          E[l] = plus(E[l], plus(m, d));
          tot[l] = plus(tot[l], plus(m, d));
        }
      }
      bool rescale = false;
      double rho[W];
      for (int l = 0; l < W; ++l) {
        // (F6)-(F8) specials; N, C, J emit residue i with odds 1 (background).
        const A J = plus(xp[x_J * W + l] * tloop[l], E[l] * tej[l]);
        const A Cc = plus(xp[x_C * W + l] * tloop[l], E[l] * tec[l]);
        const A N = xp[x_N * W + l] * tloop[l];
        const A Bv = plus(N * tmove[l], J * tmove[l]);
        const double t = value_of(plus(tot[l], plus(plus(N, Cc), plus(J, plus(Bv, E[l])))));
        // (F9) sparse rescaling keeps every row within double range; ρ is exact bookkeeping.
        rho[l] = 1.0;
        if (t > 1e100 || (t > 0 && t < 1e-100)) {
          rho[l] = 1.0 / t;
          logscale[l] += math::log(t);
          rescale = true;
        }
        xc[x_N * W + l] = N * rho[l];
        xc[x_B * W + l] = Bv * rho[l];
        xc[x_E * W + l] = E[l] * rho[l];
        xc[x_C * W + l] = Cc * rho[l];
        xc[x_J * W + l] = J * rho[l];
        xc[x_RHO * W + l] = A(rho[l]);
      }
      if (rescale)
        for (std::size_t e = 0; e < 3 * std::size_t(Mp1); ++e) {
          DIFFBIO_LANES
          for (int l = 0; l < W; ++l) C[e * W + l] *= rho[l];
        }
      for (int l = 0; l < W; ++l)
        if (b[l] >= 0 && i == len[l])
          write_score(b[l], len[l], xc[x_C * W + l] * tmove[l], logscale[l]);
    }
  }

  /// Score V = τ·(log Z + Σ log scale) (F10); Z = 0 (nothing can emit the sequence, or L = 0)
  /// gives V = 0, the "absent" convention of DiffBio_SmoothMath.hpp.
  KOKKOS_INLINE_FUNCTION void write_score(int b, int len, const A& Z, double logscale) const {
    using math::value_of;
    if (score.extent(0) == 0) return;
    if (!(value_of(Z) > 0) || len == 0) {
      score(b) = Scalar(0);
      bits(b) = Scalar(0);
      return;
    }
    const A V = A(tau) * (math::log(Z) + A(logscale));
    score(b) = Scalar(V);
    bits(b) = Scalar((V - A(plan7_null1(len))) * A(1.0 / 0.69314718055994530942));
  }

  // ------------------------------------------------------------------ reverse sweep (R1)-(R9)
  /// Denominator guard: a succ whose forward value is 0 has no posterior either (π = 0), so
  /// dividing by 1 instead keeps the flows 0 without a branch in the lane loops.
  KOKKOS_INLINE_FUNCTION static A nonzero(const A& s) {
    using math::value_of;
    return value_of(s) > 0 ? s : A(1);
  }

  /// Flow split of a succ y = a ⊕ b with posterior π: shares of a and b (R2)-(R4), (R6), (R7).
  KOKKOS_INLINE_FUNCTION static void split2(const A& pi, const A& a, const A& b, A& fa, A& fb) {
    using math::value_of;
    if (Hard) {
      const bool ta = value_of(a) >= value_of(b);
      fa = ta ? pi : A(0);
      fb = ta ? A(0) : pi;
      return;
    }
    const A g = pi / nonzero(a + b);
    fa = g * a;
    fb = g * b;
  }

  /// Runs the reverse sweep of group g after forward_group<true>(g, slot): posteriors π of every
  /// state (written out if the posterior Views are set), expected counts into
  /// counts(pos - pos0, ·) if `counts` is set, and profile gradients.
  KOKKOS_INLINE_FUNCTION void reverse_group(int g, int slot) const {
    if constexpr (Hard)
      reverse_ratio(g, slot);
    else
      reverse_backward(g, slot);
  }

  /// Reverse sweep as reverse-mode differentiation of the forward graph: each state's posterior
  /// is split among its predecessors in proportion to their terms (smooth) or given to the first
  /// maximiser (hard: a Viterbi traceback). Used for τ = 0.
  KOKKOS_INLINE_FUNCTION void reverse_ratio(int g, int slot) const {
    using math::value_of;
    A* const base = scratch.data() + slot_size * slot;
    int b[W], len[W];
    A tloop[W], tmove[W], tec[W], tej[W];
    bool present[W];
    int Lg = 0;
    const int Mp1 = M + 1;
    auto dprow = [&](int i) { return base + row_elems() * i; };
    auto xrow = [&](int i) { return base + off_x() + std::size_t(NX) * W * i; };
    for (int l = 0; l < W; ++l) {
      b[l] = seq_of(g * W + l);
      len[l] = b[l] >= 0 ? length(b[l]) : 0;
      if (len[l] > Lg) Lg = len[l];
      specials(len[l], tloop[l], tmove[l], tec[l], tej[l]);
      present[l] = b[l] >= 0 && len[l] > 0 && value_of(xrow(len[l])[x_C * W + l] * tmove[l]) > 0;
    }
    A* const pi = base + off_pi();
    A* const pix = base + off_pix();
    A* const cnt_t = base + off_cnt_t();
    A* const cnt_m = base + off_cnt_m();
    A* const cnt_i = base + off_cnt_i();
    const int nce = n_codes_eff();
    for (std::size_t e = 0; e < std::size_t(p7_NSLOTS) * M * W; ++e) cnt_t[e] = A(0);
    for (std::size_t e = 0; e < 2 * std::size_t(nce) * Mp1 * W; ++e) cnt_m[e] = A(0);
    for (std::size_t e = 0; e < 2 * row_elems(); ++e) pi[e] = A(0);
    for (int e = 0; e < 2 * NX * W; ++e) pix[e] = A(0);
    std::uint64_t used[W];  // residue codes seen by each lane (to fold code counts cheaply)
    for (int l = 0; l < W; ++l) used[l] = 0;

    for (int i = Lg; i >= 1; --i) {
      A* KOKKOS_RESTRICT cm = pi + row_elems() * (i & 1);  // π of row i (complete from row i+1)
      A* KOKKOS_RESTRICT ci = cm + Mp1 * W;
      A* KOKKOS_RESTRICT cd = cm + 2 * Mp1 * W;
      A* KOKKOS_RESTRICT pm = pi + row_elems() * ((i - 1) & 1);  // π of row i-1 (accumulating)
      A* KOKKOS_RESTRICT pI = pm + Mp1 * W;
      A* KOKKOS_RESTRICT pd = pm + 2 * Mp1 * W;
      A* const xc_pi = pix + NX * W * (i & 1);
      A* const xp_pi = pix + NX * W * ((i - 1) & 1);
      for (std::size_t e = 0; e < row_elems(); ++e) pm[e] = A(0);
      for (int e = 0; e < NX * W; ++e) xp_pi[e] = A(0);
      const A* KOKKOS_RESTRICT Fm = dprow(i);
      const A* KOKKOS_RESTRICT Fd = Fm + 2 * Mp1 * W;
      const A* KOKKOS_RESTRICT Gm = dprow(i - 1);
      const A* KOKKOS_RESTRICT Gi = Gm + Mp1 * W;
      const A* KOKKOS_RESTRICT Gd = Gm + 2 * Mp1 * W;
      const A* const xc = xrow(i);
      const A* const xp = xrow(i - 1);
      A flank[W], gE[W], piE[W];
      for (int l = 0; l < W; ++l) {
        // (R1) seed: ∂V/∂log C(L)·... = 1 at the lane's last row.
        if (present[l] && i == len[l]) xc_pi[x_C * W + l] += A(1);
        const A rho = xc[x_RHO * W + l];
        A fa, fb;
        // (R2) B(i) = N(i)·move ⊕ J(i)·move
        split2(xc_pi[x_B * W + l], xc[x_N * W + l] * tmove[l], xc[x_J * W + l] * tmove[l], fa, fb);
        xc_pi[x_N * W + l] += fa;
        xc_pi[x_J * W + l] += fb;
        // (R3) N(i) = ρ·N(i-1)·loop: everything flows back (emits residue i)
        const A fN = value_of(xc[x_N * W + l]) > 0 ? xc_pi[x_N * W + l] : A(0);
        xp_pi[x_N * W + l] += fN;
        // (R4) C(i) = ρ·C(i-1)·loop ⊕ E(i)·t_EC ;  J(i) = ρ·J(i-1)·loop ⊕ E(i)·t_EJ
        split2(xc_pi[x_C * W + l], rho * xp[x_C * W + l] * tloop[l], xc[x_E * W + l] * tec[l], fa,
               fb);
        xp_pi[x_C * W + l] += fa;
        xc_pi[x_E * W + l] += fb;
        const A fC = fa;
        split2(xc_pi[x_J * W + l], rho * xp[x_J * W + l] * tloop[l], xc[x_E * W + l] * tej[l], fa,
               fb);
        xp_pi[x_J * W + l] += fa;
        xc_pi[x_E * W + l] += fb;
        flank[l] = fN + fC + fa;
        piE[l] = xc_pi[x_E * W + l];
        gE[l] = piE[l] / nonzero(xc[x_E * W + l]);
      }
      // (R5) E(i) = ⊕_k M(i,k) ⊕ D(i,k)  (local; glocal: k = M only)
      const int k_first = local ? 1 : M;
      if (!Hard) {
        for (int k = k_first; k <= M; ++k) {
          DIFFBIO_LANES
          for (int l = 0; l < W; ++l) {
            cm[k * W + l] += gE[l] * Fm[k * W + l];
            cd[k * W + l] += gE[l] * Fd[k * W + l];
          }
        }
      } else {
        // first maximiser in the forward's order: k ascending, M before D
        int best[W];
        A bv[W];
        for (int l = 0; l < W; ++l) {
          best[l] = -1;
          bv[l] = A(0);
        }
        for (int k = k_first; k <= M; ++k)
          for (int l = 0; l < W; ++l) {
            const A vm = Fm[k * W + l], vd = Fd[k * W + l];
            if (best[l] < 0 || value_of(vm) > value_of(bv[l])) {
              best[l] = 2 * k;
              bv[l] = vm;
            }
            if (value_of(vd) > value_of(bv[l])) {
              best[l] = 2 * k + 1;
              bv[l] = vd;
            }
          }
        for (int l = 0; l < W; ++l)
          if (best[l] >= 0) {
            if (best[l] & 1)
              cd[(best[l] >> 1) * W + l] += piE[l];
            else
              cm[(best[l] >> 1) * W + l] += piE[l];
          }
      }
      // (R6)-(R8) nodes k = M..1
      for (int k = M; k >= 1; --k) {
        const A* tr = &trans(k - 1, 0);
        const A tMM = tr[p7_MM], tIM = tr[p7_IM], tDM = tr[p7_DM], tBM = tr[p7_BM];
        const A tMD = tr[p7_MD], tDD = tr[p7_DD];
        A* KOKKOS_RESTRICT ct = cnt_t + std::size_t(k - 1) * p7_NSLOTS * W;
        const int o = k * W, q = (k - 1) * W;
        DIFFBIO_LANES
        for (int l = 0; l < W; ++l) {
          A fa, fb;
          // (R6) D(i,k) = M(i,k-1)·t_MD ⊕ D(i,k-1)·t_DD
          split2(cd[o + l], Fm[q + l] * tMD, Fd[q + l] * tDD, fa, fb);
          cm[q + l] += fa;
          cd[q + l] += fb;
          ct[p7_MD * W + l] += fa;
          ct[p7_DD * W + l] += fb;
        }
        if (k < M) {
          const A* tk = &trans(k, 0);
          const A tMI = tk[p7_MI], tII = tk[p7_II];
          A* KOKKOS_RESTRICT ctk = cnt_t + std::size_t(k) * p7_NSLOTS * W;
          DIFFBIO_LANES
          for (int l = 0; l < W; ++l) {
            A fa, fb;
            // (R7) I(i,k) = e_I·[M(i-1,k)·t_MI ⊕ I(i-1,k)·t_II]
            split2(ci[o + l], Gm[o + l] * tMI, Gi[o + l] * tII, fa, fb);
            pm[o + l] += fa;
            pI[o + l] += fb;
            ctk[p7_MI * W + l] += fa;
            ctk[p7_II * W + l] += fb;
          }
        }
        DIFFBIO_LANES
        for (int l = 0; l < W; ++l) {
          // (R8) M(i,k) = e_M·[M(i-1,k-1)·t_MM ⊕ I(i-1,k-1)·t_IM ⊕ D(i-1,k-1)·t_DM ⊕ B(i-1)·t_BM]
          const A a0 = Gm[q + l] * tMM, a1 = Gi[q + l] * tIM, a2 = Gd[q + l] * tDM,
                  a3 = xp[x_B * W + l] * tBM;
          const A p = cm[o + l];
          A f0, f1, f2, f3;
          if (Hard) {
            // same association as the forward: (a0 ⊕ a1) ⊕ (a2 ⊕ a3), first maximiser wins ties
            const bool s0 = value_of(a0) >= value_of(a1), s2 = value_of(a2) >= value_of(a3);
            const double v01 = s0 ? value_of(a0) : value_of(a1);
            const double v23 = s2 ? value_of(a2) : value_of(a3);
            const bool left = v01 >= v23;
            f0 = (left && s0) ? p : A(0);
            f1 = (left && !s0) ? p : A(0);
            f2 = (!left && s2) ? p : A(0);
            f3 = (!left && !s2) ? p : A(0);
          } else {
            const A gq = p / nonzero(a0 + a1 + a2 + a3);
            f0 = gq * a0;
            f1 = gq * a1;
            f2 = gq * a2;
            f3 = gq * a3;
          }
          pm[q + l] += f0;
          pI[q + l] += f1;
          pd[q + l] += f2;
          xp_pi[x_B * W + l] += f3;
          ct[p7_MM * W + l] += f0;
          ct[p7_IM * W + l] += f1;
          ct[p7_DM * W + l] += f2;
          ct[p7_BM * W + l] += f3;
        }
      }
      row_outputs(i, b, len, cm, ci, Mp1, flank, cnt_m, cnt_i, used);
    }
    write_counts(g, b, present, cnt_t, cnt_m, cnt_i, used, false);
  }

  /// Per-row outputs shared by both sweeps (R9): emission counts by residue code, posteriors, and
  /// the profile-input terms. pm_row/pi_row hold π_M(i,k), π_I(i,k) at [k*W + l].
  KOKKOS_INLINE_FUNCTION void row_outputs(int i, const int* b, const int* len, const A* pm_row,
                                          const A* pi_row, int Mp1, const A* flank, A* cnt_m,
                                          A* cnt_i, std::uint64_t* used) const {
    const bool want_dprof = profile_input && d_profile.extent(0) > 0;
    if (!profile_input) {
      for (int l = 0; l < W; ++l) {
        if (b[l] < 0 || i > len[l]) continue;
        const int c = residues(b[l], i - 1);
        used[l] |= c < 64 ? std::uint64_t(1) << c : ~std::uint64_t(0);
        A* KOKKOS_RESTRICT em_c = cnt_m + std::size_t(c) * Mp1 * W + l;
        A* KOKKOS_RESTRICT ei_c = cnt_i + std::size_t(c) * Mp1 * W + l;
        for (int k = 1; k <= M; ++k) {
          em_c[k * W] += pm_row[k * W + l];
          ei_c[k * W] += pi_row[k * W + l];
        }
      }
    }
    for (int l = 0; l < W; ++l) {
      if (b[l] < 0 || i > len[l]) continue;
      if (post_m.extent(0) > 0)
        for (int k = 1; k <= M; ++k) post_m(b[l], i - 1, k - 1) = Scalar(pm_row[k * W + l]);
      if (post_i.extent(0) > 0) {
        A sI = A(0);
        for (int k = 1; k < M; ++k) sI += pi_row[k * W + l];
        post_i(b[l], i - 1) = Scalar(sI);
      }
      if (post_x.extent(0) > 0) post_x(b[l], i - 1) = Scalar(flank[l]);
      if (profile_input) {
        const double dt = want_dprof ? d_total(b[l]) : 0.0;
        for (int a = 0; a < K; ++a) {
          const A qa = A(profile(b[l], i - 1, a));
          A dq = A(0);
          for (int k = 1; k <= M; ++k) {
            const A p = pm_row[k * W + l], pin = k < M ? pi_row[k * W + l] : A(0);
            cnt_m[(std::size_t(a) * Mp1 + k) * W + l] += p * qa;
            cnt_i[(std::size_t(a) * Mp1 + k) * W + l] += pin * qa;
            if (want_dprof)  // ∂V/∂q_a = Σ_k π_M s^M_ka + π_I s^I_ka (τ cancels)
              dq += p * A(params(n_p_m(k, a))) + pin * (k < M ? A(params(n_p_i(k, a))) : A(0));
          }
          if (want_dprof) d_profile(b[l], i - 1, a) += Scalar(A(dt) * dq);
        }
      }
    }
  }

  /// Writes each lane's expected counts in the parameter layout (rows of the reduction). With
  /// `times_t`, the transition accumulators hold Σ x̂·w and are multiplied by the odds t here.
  KOKKOS_INLINE_FUNCTION void write_counts(int g, const int* b, const bool* present, const A* cnt_t,
                                           const A* cnt_m, const A* cnt_i,
                                           const std::uint64_t* used, bool times_t) const {
    using math::value_of;
    if (counts.extent(0) == 0) return;
    const int Mp1 = M + 1;
    for (int l = 0; l < W; ++l) {
      if (b[l] < 0) continue;
      const int row = g * W + l - pos0;
      for (int r = 0; r < M; ++r)
        for (int sl = 0; sl < p7_NSLOTS; ++sl) {
          const double f = times_t ? value_of(trans(r, sl)) : 1.0;
          counts(row, r * p7_NSLOTS + sl) =
              present[l] ? f * value_of(cnt_t[(std::size_t(r) * p7_NSLOTS + sl) * W + l]) : 0.0;
        }
      for (int j = p7_NSLOTS * M; j < n_params; ++j) counts(row, j) = 0.0;
      if (!present[l]) continue;
      if (profile_input) {
        for (int k = 1; k <= M; ++k)
          for (int a = 0; a < K; ++a) {
            counts(row, n_p_m(k, a)) = value_of(cnt_m[(std::size_t(a) * Mp1 + k) * W + l]);
            if (k < M)
              counts(row, n_p_i(k, a)) = value_of(cnt_i[(std::size_t(a) * Mp1 + k) * W + l]);
          }
        continue;
      }
      // Fold code counts into residue counts: a code's score is Σ_a w_ca s_ka (T2).
      for (int c = 0; c < n_codes; ++c) {
        if (c < 64 && !((used[l] >> c) & 1)) continue;
        for (int a = 0; a < K; ++a) {
          const double w = code_w(c, a);
          if (w == 0) continue;
          for (int k = 1; k <= M; ++k) {
            counts(row, n_p_m(k, a)) += w * value_of(cnt_m[(std::size_t(c) * Mp1 + k) * W + l]);
            if (k < M)
              counts(row, n_p_i(k, a)) += w * value_of(cnt_i[(std::size_t(c) * Mp1 + k) * W + l]);
          }
        }
      }
    }
  }

  /// Reverse sweep for τ > 0 as a scaled Backward pass (R10)-(R14): β of every state with the
  /// forward's rescaling folded into a per-row constant c_i, so that π = α̂·β·c_i and every
  /// expected count is a product — no divisions in the lane loops.
  KOKKOS_INLINE_FUNCTION void reverse_backward(int g, int slot) const {
    using math::value_of;
    A* const base = scratch.data() + slot_size * slot;
    int b[W], len[W];
    A tloop[W], tmove[W], tec[W], tej[W];
    bool present[W];
    int Lg = 0;
    const int Mp1 = M + 1;
    auto dprow = [&](int i) { return base + row_elems() * i; };
    auto xrow = [&](int i) { return base + off_x() + std::size_t(NX) * W * i; };
    for (int l = 0; l < W; ++l) {
      b[l] = seq_of(g * W + l);
      len[l] = b[l] >= 0 ? length(b[l]) : 0;
      if (len[l] > Lg) Lg = len[l];
      specials(len[l], tloop[l], tmove[l], tec[l], tej[l]);
      present[l] = b[l] >= 0 && len[l] > 0 && value_of(xrow(len[l])[x_C * W + l] * tmove[l]) > 0;
    }
    A* const em = base + off_em();
    const A* const ei = em + Mp1 * W;
    A* const wbuf = base + off_pi();                  // w = e·β of rows i and i+1: [2][M|I][k][l]
    A* const post = wbuf + 4 * std::size_t(Mp1) * W;  // π_M, π_I of row i: [M|I][k][l]
    A* const cnt_t = base + off_cnt_t();
    A* const cnt_m = base + off_cnt_m();
    A* const cnt_i = base + off_cnt_i();
    const int nce = n_codes_eff();
    for (std::size_t e = 0; e < std::size_t(p7_NSLOTS) * M * W; ++e) cnt_t[e] = A(0);
    for (std::size_t e = 0; e < 2 * std::size_t(nce) * Mp1 * W; ++e) cnt_m[e] = A(0);
    for (std::size_t e = 0; e < 6 * std::size_t(Mp1) * W; ++e) wbuf[e] = A(0);
    std::uint64_t used[W];
    double logc[W];
    A bN[W], bC[W], bJ[W];  // β of the specials of row i+1 (then of row i)
    for (int l = 0; l < W; ++l) {
      used[l] = 0;
      logc[l] = 0.0;
      bN[l] = bC[l] = bJ[l] = A(0);
    }
    A* const dD = post + 2 * std::size_t(Mp1) * W;   // β_D(i, k), k = 0..M+1 (row M+1 = 0)
    A* const bMr = dD + (std::size_t(Mp1) + 1) * W;  // β_M(i, k)
    A* const bIr = bMr + std::size_t(Mp1) * W;       // β_I(i, k)
    for (int l = 0; l < W; ++l) dD[(M + 1) * W + l] = A(0);
    for (int i = Lg; i >= 1; --i) {
      const A* KOKKOS_RESTRICT wnM = wbuf + std::size_t(2) * Mp1 * W * ((i + 1) & 1);
      const A* KOKKOS_RESTRICT wnI = wnM + Mp1 * W;
      A* KOKKOS_RESTRICT wcM = wbuf + std::size_t(2) * Mp1 * W * (i & 1);
      A* KOKKOS_RESTRICT wcI = wcM + Mp1 * W;
      A* KOKKOS_RESTRICT pM = post;
      A* KOKKOS_RESTRICT pI = post + Mp1 * W;
      fill_emissions(em, b, len, i);
      const A* KOKKOS_RESTRICT Fm = dprow(i);
      const A* KOKKOS_RESTRICT Fi = Fm + Mp1 * W;
      const A* KOKKOS_RESTRICT Fd = Fm + 2 * Mp1 * W;
      const A* KOKKOS_RESTRICT Gm = dprow(i - 1);
      const A* KOKKOS_RESTRICT Gi = Gm + Mp1 * W;
      const A* KOKKOS_RESTRICT Gd = Gm + 2 * Mp1 * W;
      const A* const xc = xrow(i);
      const A* const xp = xrow(i - 1);
      // (R10) β_B(i) = Σ_k t_BM(k)·w_M(i+1, k)   (B(i) -> M(i+1,k))
      A bB[W], bE[W], c[W], cr[W], flank[W], totw[W], xB[W];
      for (int l = 0; l < W; ++l) bB[l] = A(0);
      for (int k = 1; k <= M; ++k) {
        const A tBM = trans(k - 1, p7_BM);
        DIFFBIO_LANES
        for (int l = 0; l < W; ++l) bB[l] += tBM * wnM[k * W + l];
      }
      for (int l = 0; l < W; ++l) {
        // (R11) specials of row i; seed C(L) -> T at the lane's last row
        const bool seed = present[l] && i == len[l];
        if (seed) logc[l] = -math::log(value_of(xc[x_C * W + l] * tmove[l]));
        const bool active = present[l] && i <= len[l];
        c[l] = active ? A(math::exp(logc[l])) : A(0);
        const A rho = xc[x_RHO * W + l];
        cr[l] = c[l] * rho;
        const A bCi = tloop[l] * bC[l] + (seed ? tmove[l] : A(0));
        const A bNi = tloop[l] * bN[l] + tmove[l] * bB[l];
        const A bJi = tloop[l] * bJ[l] + tmove[l] * bB[l];
        bE[l] = tec[l] * bCi + tej[l] * bJi;
        // residue i emitted by N, C or J: the loop edges from row i-1 (e = 1)
        flank[l] = cr[l] * tloop[l] *
                   (xp[x_N * W + l] * bNi + xp[x_C * W + l] * bCi + xp[x_J * W + l] * bJi);
        bN[l] = bNi;
        bC[l] = bCi;
        bJ[l] = bJi;
        totw[l] = bNi + bCi + bJi;
        xB[l] = xp[x_B * W + l];
      }
      // (R12)-(R13) nodes k = M..1 (β_D chains from k+1 to k within the row)
      for (int k = M; k >= 1; --k) {
        const int o = k * W, q = (k - 1) * W;
        const A ex = (local || k == M) ? A(1) : A(0);
        if (k < M) {
          const A* tk = &trans(k, 0);
          const A tMM = tk[p7_MM], tMI = tk[p7_MI], tMD = tk[p7_MD], tIM = tk[p7_IM],
                  tII = tk[p7_II], tDM = tk[p7_DM], tDD = tk[p7_DD];
          DIFFBIO_LANES
          for (int l = 0; l < W; ++l) {
            const A wM1 = wnM[o + W + l], wI1 = wnI[o + l];  // M(i+1,k+1), I(i+1,k)
            const A bEk = ex * bE[l], bDn = dD[o + W + l];
            dD[o + l] = tDM * wM1 + tDD * bDn + bEk;
            bMr[o + l] = tMM * wM1 + tMI * wI1 + tMD * bDn + bEk;
            bIr[o + l] = tIM * wM1 + tII * wI1;
          }
        } else {
          DIFFBIO_LANES
          for (int l = 0; l < W; ++l) {  // node M: M_M -> E and D_M -> E only
            dD[o + l] = bE[l];
            bMr[o + l] = bE[l];
            bIr[o + l] = A(0);
          }
        }
        DIFFBIO_LANES
        for (int l = 0; l < W; ++l) {
          const A bM = bMr[o + l], bI = bIr[o + l];
          wcM[o + l] = em[o + l] * bM;
          wcI[o + l] = ei[o + l] * bI;
          pM[o + l] = Fm[o + l] * bM * c[l];
          pI[o + l] = Fi[o + l] * bI * c[l];
        }
        // (R14) expected counts / t: cross-row edges into M(i,k); D(i,k) within the row
        A* KOKKOS_RESTRICT ct = cnt_t + std::size_t(k - 1) * p7_NSLOTS * W;
        DIFFBIO_LANES
        for (int l = 0; l < W; ++l) {
          const A WM = wcM[o + l] * cr[l], bDc = dD[o + l] * c[l];
          ct[p7_MM * W + l] += Gm[q + l] * WM;
          ct[p7_IM * W + l] += Gi[q + l] * WM;
          ct[p7_DM * W + l] += Gd[q + l] * WM;
          ct[p7_BM * W + l] += xB[l] * WM;
          ct[p7_MD * W + l] += Fm[q + l] * bDc;
          ct[p7_DD * W + l] += Fd[q + l] * bDc;
        }
        if (k < M) {  // cross-row edges into I(i,k)
          A* KOKKOS_RESTRICT ctk = cnt_t + std::size_t(k) * p7_NSLOTS * W;
          DIFFBIO_LANES
          for (int l = 0; l < W; ++l) {
            const A WI = wcI[o + l] * cr[l];
            ctk[p7_MI * W + l] += Gm[o + l] * WI;
            ctk[p7_II * W + l] += Gi[o + l] * WI;
          }
        }
      }
      for (int k = 1; k <= M; ++k) {
        DIFFBIO_LANES
        for (int l = 0; l < W; ++l) totw[l] += wcM[k * W + l] + wcI[k * W + l];
      }
      row_outputs(i, b, len, pM, pI, Mp1, flank, cnt_m, cnt_i, used);
      // Backward sparse rescaling of row i's β (σ_i), and c_{i-1} = c_i·ρ_i/σ_i.
      bool rescale = false;
      double sigma[W];
      for (int l = 0; l < W; ++l) {
        const double t = value_of(totw[l]);
        sigma[l] = 1.0;
        if (t > 1e100 || (t > 0 && t < 1e-100)) {
          sigma[l] = 1.0 / t;
          rescale = true;
        }
        logc[l] += math::log(value_of(xc[x_RHO * W + l])) - math::log(sigma[l]);
        bN[l] *= sigma[l];
        bC[l] *= sigma[l];
        bJ[l] *= sigma[l];
      }
      if (rescale)
        for (std::size_t e = 0; e < 2 * std::size_t(Mp1); ++e) {
          DIFFBIO_LANES
          for (int l = 0; l < W; ++l) wcM[e * W + l] *= sigma[l];
        }
    }
    write_counts(g, b, present, cnt_t, cnt_m, cnt_i, used, true);
  }

  KOKKOS_INLINE_FUNCTION int n_p_m(int k, int a) const { return p7_NSLOTS * M + (k - 1) * K + a; }
  KOKKOS_INLINE_FUNCTION int n_p_i(int k, int a) const {
    return p7_NSLOTS * M + M * K + (k - 1) * K + a;
  }
};

// ---------------------------------------------------------------------------------------- launches

/// One lane group per work item: the forward (rolling rows) or the sweep (stored forward +
/// reverse). With a UniqueToken each thread uses its own scratch slot; without one, work item j
/// of a chunk uses slot j.
template <class Kernel, bool Sweep, class Token>
struct ProfileHMMGroupFunctor {
  Kernel k;
  int g0;
  Token token;
  KOKKOS_INLINE_FUNCTION void operator()(const int j) const {
    const int slot = token.acquire();
    run(g0 + j, slot);
    token.release(slot);
  }
  KOKKOS_INLINE_FUNCTION void run(int g, int slot) const {
    if (Sweep) {
      k.template forward_group<true>(g, slot);
      k.reverse_group(g, slot);
    } else {
      k.template forward_group<false>(g, slot);
    }
  }
};

template <class Kernel, bool Sweep>
struct ProfileHMMGroupFunctor<Kernel, Sweep, void> {
  Kernel k;
  int g0;
  KOKKOS_INLINE_FUNCTION void operator()(const int j) const {
    if (Sweep) {
      k.template forward_group<true>(g0 + j, j);
      k.reverse_group(g0 + j, j);
    } else {
      k.template forward_group<false>(g0 + j, j);
    }
  }
};

/// Odds-space tables (T1)-(T2) from the parameter block.
template <class Kernel>
struct ProfileHMMTableFunctor {
  Kernel k;
  KOKKOS_INLINE_FUNCTION void operator()(const int r) const {
    using A = typename Kernel::accum_type;
    const int M = k.M, K = k.K;
    const A inv_tau = A(1.0 / k.tau);
    if (r < M) {
      for (int s = 0; s < p7_NSLOTS; ++s) {
        const bool live = r > 0 || s == p7_BM;
        k.trans(r, s) = live ? A(math::exp(A(k.params(r * p7_NSLOTS + s)) * inv_tau)) : A(0);
      }
    }
    if (r <= M) {
      for (int a = 0; a < K; ++a) {
        const bool node = r >= 1;
        k.msc_t(r, a) = node ? A(k.params(k.n_p_m(r, a))) * inv_tau : A(0);
        k.isc_t(r, a) = (node && r < M) ? A(A(k.params(k.n_p_i(r, a))) * inv_tau) : A(0);
      }
    }
  }
};

template <class Kernel>
struct ProfileHMMEmitFunctor {
  Kernel k;
  KOKKOS_INLINE_FUNCTION void operator()(const int idx) const {
    using A = typename Kernel::accum_type;
    const int Mp1 = k.M + 1;
    const int c = idx / Mp1, node = idx % Mp1;
    if (node == 0 || c == k.n_codes) {
      k.emit_m(c, node) = k.emit_i(c, node) = A(0);
      return;
    }
    A sm = A(0), si = A(0);
    for (int a = 0; a < k.K; ++a) {
      const double w = k.code_w(c, a);
      if (w == 0) continue;
      sm += A(w) * k.msc_t(node, a);
      si += A(w) * k.isc_t(node, a);
    }
    k.emit_m(c, node) = math::exp(sm);
    k.emit_i(c, node) = node < k.M ? A(math::exp(si)) : A(0);
  }
};

/// ∂L/∂V_b = d_score_b + d_bits_b / ln 2 (either seed may be empty).
template <class Scalar, class MemSpace>
struct ProfileHMMSeedFunctor {
  Kokkos::View<double*, MemSpace> d_total;
  Kokkos::View<const Scalar*, MemSpace> d_score, d_bits;
  KOKKOS_INLINE_FUNCTION void operator()(const int b) const {
    double v = 0;
    if (d_score.extent(0) > 0) v += static_cast<double>(d_score(b));
    if (d_bits.extent(0) > 0) v += static_cast<double>(d_bits(b)) * 1.4426950408889634074;
    d_total(b) = v;
  }
};

/// Row functor of the parameter-gradient reduction: sequence row r contributes d_total·counts.
template <class MemSpace>
struct ProfileHMMReduceRow {
  Kokkos::View<const double**, MemSpace> counts;
  Kokkos::View<const double*, MemSpace> d_total;
  Kokkos::View<const int*, MemSpace> order;
  int pos0, n;
  KOKKOS_INLINE_FUNCTION void operator()(const int row, const GradientSink& sink) const {
    const int pos = pos0 + row;
    const int b = order.extent(0) > 0 ? order(pos) : pos;
    const double dt = d_total(b);
    for (int j = 0; j < n; ++j) sink.add(j, dt * counts(row, j));
  }
};

}  // namespace Impl
}  // namespace diffbio

#endif
