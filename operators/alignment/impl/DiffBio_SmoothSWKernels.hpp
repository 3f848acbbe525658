// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SmoothSWKernels.hpp
/// \brief Device kernels of SmoothSmithWaterman (forward DP, backward DP, checkpointing).
///
/// One work item (a Kokkos team of size 1) aligns a *group* of W pairs in lock-step: every DP
/// quantity is stored as [column j][lane l], so the inner `for l < W` loops are vertical SIMD
/// operations with no dependence between lanes (on a GPU W = 1: one pair per thread). Rows are
/// processed top to bottom; the within-row dependence of the Y state (eq. 3 / 9 of ADJOINT.md) is a
/// dependence along j only, which the lane layout hides completely.
///
/// Three arithmetic spaces share the driver:
///  - Space::prob      probability space, eqs. 7–11 (forward) and 12–17 (backward), per-row
///                     power-of-two rescaling; no exp/log in the inner loops. Used when the range
///                     checks of eq. 11 pass (decided per pair, see ADJOINT.md §4).
///  - Space::log_soft  log space, eqs. 1–5 and 20–21, max-shifted logsumexp (small τ, fallback).
///  - Space::log_hard  τ = 0, max-plus, eq. 22 (parasail-exact scores, traceback gradients).
/// Equation numbers refer to operators/alignment/ADJOINT.md.
///
/// Code-generation rules the kernels follow (measured in ADJOINT.md §6):
///  - lane loops are branch-free (selects only) and call nothing that is not inlined, so they
///    vectorise; neighbours along a row are carried in registers, never re-read from memory that
///    the same loop has just written (this also sidesteps a GCC 12 -O3 loop-distribution
///    miscompilation we hit with W = 1);
///  - scatters (the per-letter posterior histogram) run in a separate pass after each row.
#ifndef DIFFBIO_SMOOTH_SW_KERNELS_HPP
#define DIFFBIO_SMOOTH_SW_KERNELS_HPP

#include <DiffBio_FastExp.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <DiffBio_Types.hpp>

#include <cstddef>
#include <cstdint>
#include <type_traits>

// Lane loops: no dependence between iterations. GCC fully unrolls short constant-trip loops
// before its loop vectoriser runs (and then fails to SLP-vectorise the gathers), so the loop is
// kept (`unroll 1`) and declared independent (`ivdep`); clang gets its own hint.
// Short compile-time loops inside lane loops (letters of a DNA alphabet) must be unrolled before
// vectorisation.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDA_ARCH__)
#define DIFFBIO_SW_UNROLL _Pragma("GCC unroll 8")
#elif defined(__clang__)
#define DIFFBIO_SW_UNROLL _Pragma("unroll")
#else
#define DIFFBIO_SW_UNROLL
#endif
#ifndef DIFFBIO_SW_LANES
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
#define DIFFBIO_SW_LANES
#elif defined(__clang__)
#define DIFFBIO_SW_LANES _Pragma("clang loop vectorize(enable) interleave(disable)")
#elif defined(__GNUC__)
#define DIFFBIO_SW_LANES _Pragma("GCC ivdep") _Pragma("GCC unroll 1")
#else
#define DIFFBIO_SW_LANES
#endif
#endif

namespace diffbio {
namespace sw_detail {

enum class Space { prob, log_soft, log_hard };

constexpr double kTwo60 = 1152921504606846976.0;         // 2^60
constexpr double kTwoM60 = 1.0 / 1152921504606846976.0;  // 2^-60 (exact)
constexpr double kLn2x60 = 41.588830833596718565;        // 60·ln 2
/// eq. 11: largest allowed ln(row maximum / smallest finite value that can still matter).
constexpr double kRangeLimit = 600.0;
/// Largest |S|/τ, o/τ, e/τ for probability space (per-row growth stays far below 2^(1023−60)).
constexpr double kGrowthLimit = 200.0;
/// The −∞ of the log-space tables: finite, so −∞ − (−∞) never appears; absorbs every finite
/// score and penalty (|scores| < 1e20 assumed), and exp((kNegBig − x)/τ) is exactly 0.
constexpr double kNegBig = -1e30;

template <class T>
KOKKOS_INLINE_FUNCTION double val(const T& x) {
  using math::value_of;
  return static_cast<double>(value_of(x));
}

/// 2^(−60·K), exact (products of powers of two).
KOKKOS_INLINE_FUNCTION double pow2m60(int K) {
  double f = 1.0;
  for (int k = 0; k < K; ++k) f *= kTwoM60;
  for (int k = 0; k > K; --k) f *= kTwo60;
  return f;
}

// ---------------------------------------------------------------- vectorisable exp / log
//
// The log-space inner loops need exp and log per cell. libm calls do not vectorise (no SIMD
// variants without -ffast-math), so float and double get branch-free, inlinable versions:
// Cody–Waite range reduction + Taylor polynomial (exp; ≤ 2 ulp) and the atanh series (log; ≤ 2
// ulp). Arguments below the underflow threshold give exactly 0. Other number types (the dual
// numbers of the tangent tests) use math::exp / math::log.

namespace fastm {

template <class T>
KOKKOS_FORCEINLINE_FUNCTION T exp(const T& x) {
  return math::exp(x);
}
template <class T>
KOKKOS_FORCEINLINE_FUNCTION T log(const T& x) {
  return math::log(x);
}

// float and double: the shared polynomial exp of src/core/DiffBio_FastExp.hpp.
KOKKOS_FORCEINLINE_FUNCTION double exp(const double& x) { return fast_exp(x); }
KOKKOS_FORCEINLINE_FUNCTION float exp(const float& x) { return fast_exp(x); }

/// log x for positive normal x.
KOKKOS_FORCEINLINE_FUNCTION double log(const double& x) {
  union {
    std::int64_t i;
    double d;
  } u;
  u.d = x;
  std::int64_t e = ((u.i >> 52) & 0x7ff) - 1023;
  u.i = (u.i & 0x000fffffffffffffLL) | 0x3ff0000000000000LL;  // m ∈ [1, 2)
  double m = u.d;
  const bool big = m > 1.41421356237309504880;
  m = big ? 0.5 * m : m;
  e = big ? e + 1 : e;
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double z = s * s;
  double p = 1.0 / 23.0;
  p = p * z + 1.0 / 21.0;
  p = p * z + 1.0 / 19.0;
  p = p * z + 1.0 / 17.0;
  p = p * z + 1.0 / 15.0;
  p = p * z + 1.0 / 13.0;
  p = p * z + 1.0 / 11.0;
  p = p * z + 1.0 / 9.0;
  p = p * z + 1.0 / 7.0;
  p = p * z + 1.0 / 5.0;
  p = p * z + 1.0 / 3.0;
  const double ed = static_cast<double>(e);
  // log m = 2·atanh(s) = f − f·s·(1 − z·p)... written as f − s·(f − 2z·p·... ) is the classic
  // form; here the direct 2s(1 + z p) with the e·ln2 split keeps ≤ 2 ulp.
  return ed * 6.93147180369123816490e-01 + (2.0 * s + 2.0 * s * z * p + ed * 1.90821492927058770002e-10);
}

KOKKOS_FORCEINLINE_FUNCTION float log(const float& x) {
  union {
    std::int32_t i;
    float f;
  } u;
  u.f = x;
  std::int32_t e = ((u.i >> 23) & 0xff) - 127;
  u.i = (u.i & 0x007fffff) | 0x3f800000;
  float m = u.f;
  const bool big = m > 1.41421356f;
  m = big ? 0.5f * m : m;
  e = big ? e + 1 : e;
  const float f = m - 1.0f;
  const float s = f / (2.0f + f);
  const float z = s * s;
  float p = 1.0f / 11.0f;
  p = p * z + 1.0f / 9.0f;
  p = p * z + 1.0f / 7.0f;
  p = p * z + 1.0f / 5.0f;
  p = p * z + 1.0f / 3.0f;
  const float ef = static_cast<float>(e);
  return ef * 0.693145752f + (2.0f * s + 2.0f * s * z * p + ef * 1.42860677e-06f);
}

}  // namespace fastm

/// max(a, b) keeping the *first* maximiser on ties (the tangent and the backward agree on it).
template <class T>
KOKKOS_FORCEINLINE_FUNCTION T first_max(const T& a, const T& b) {
  return val(b) > val(a) ? b : a;
}
template <class T>
KOKKOS_FORCEINLINE_FUNCTION T min0(const T& a) {
  return val(a) > 0 ? T(0) : a;
}

/// Smooth max of three values (eqs. 1–3): m + τ·log Σ exp((v − m)/τ), m the first maximum.
template <class T, bool Hard>
KOKKOS_FORCEINLINE_FUNCTION T smax3(const T& a, const T& b, const T& c, const T& tau,
                                    const T& itau) {
  const T m = first_max(first_max(a, b), c);
  if (Hard) return m;
  return m + tau * fastm::log(fastm::exp((a - m) * itau) + fastm::exp((b - m) * itau) +
                              fastm::exp((c - m) * itau));
}
/// ... and of three values and a fourth candidate z: the local "start fresh" 0 (eq. 1), or −∞
/// (kNegBig) in global mode, so that both modes share one branch-free code path.
template <class T, bool Hard>
KOKKOS_FORCEINLINE_FUNCTION T smax3z(const T& a, const T& b, const T& c, const T& z, const T& tau,
                                     const T& itau) {
  const T m = first_max(first_max(first_max(a, b), c), z);
  if (Hard) return m;
  return m + tau * fastm::log(fastm::exp((a - m) * itau) + fastm::exp((b - m) * itau) +
                              fastm::exp((c - m) * itau) + fastm::exp((z - m) * itau));
}
/// Index (0, 1, 2) of the first maximiser of (a, b, c) — hard-mode weights (eq. 22).
template <class T>
KOKKOS_FORCEINLINE_FUNCTION int argmax3(const T& a, const T& b, const T& c) {
  const bool b_gt_a = val(b) > val(a);
  const double m = b_gt_a ? val(b) : val(a);
  return val(c) > m ? 2 : (b_gt_a ? 1 : 0);
}
/// ... with the fourth candidate z (local start 0, or −∞) as index 3.
template <class T>
KOKKOS_FORCEINLINE_FUNCTION int argmax3z(const T& a, const T& b, const T& c, const T& z) {
  const int k = argmax3(a, b, c);
  const double m = k == 0 ? val(a) : (k == 1 ? val(b) : val(c));
  return val(z) > m ? 3 : k;
}

/// Inputs of one batch (either side given as letter indices or as profiles).
template <class Scalar, class Mem>
struct SwBatch {
  Kokkos::View<const std::uint8_t**, Mem> x_index, y_index;  ///< [B×Lx], [B×Ly]
  Kokkos::View<const Scalar***, Mem> x_prof, y_prof;         ///< [B×Lx×A], [B×Ly×A]
  Kokkos::View<const int*, Mem> x_len, y_len;                ///< [B]
};

/// Byte layout of one team's scratch. Used on the host (maximal N, M: the allocation) and in the
/// kernel (the group's N, M: never larger).
struct SwLayout {
  std::size_t yidx = 0, ylet = 0, sub = 0, tab0 = 0, tab1 = 0, u0 = 0, u1 = 0, rows = 0, brows = 0,
              prow = 0, ks = 0, gsub = 0, rsum = 0, dq = 0, total = 0;
  std::size_t stride = 0;   ///< elements per state array of one row: (M + 2)·W
  std::size_t rowsize = 0;  ///< elements per row (three states)
  int nrows = 0;

  KOKKOS_INLINE_FUNCTION static std::size_t up(std::size_t x) { return (x + 63) & ~std::size_t(63); }
  KOKKOS_INLINE_FUNCTION static int rows_needed(int N, int k, bool adjoint) {
    if (!adjoint) return 2;
    return k <= 1 ? N + 1 : N / k + 1 + k;
  }
  KOKKOS_INLINE_FUNCTION SwLayout(int N, int M, int A, int W, int k, bool adjoint, bool yprof,
                                  std::size_t tsize) {
    stride = static_cast<std::size_t>(M + 2) * W;
    rowsize = 3 * stride;
    nrows = rows_needed(N, k, adjoint);
    std::size_t o = 0;
    yidx = o;  o = up(o + sizeof(int) * stride);
    ylet = o;  o = up(o + sizeof(int) * stride);
    sub = o;   o = up(o + tsize * A * A);
    tab0 = o;  o = up(o + tsize * A * W);
    tab1 = o;  o = up(o + tsize * A * W);
    u0 = o;    o = up(o + tsize * A * W);
    u1 = o;    o = up(o + tsize * A * W);
    rows = o;  o = up(o + tsize * rowsize * nrows);
    if (adjoint) {
      brows = o; o = up(o + tsize * rowsize * 2);
      prow = o;  o = up(o + tsize * stride);
      ks = o;    o = up(o + sizeof(int) * (N + 2) * W);
      gsub = o;  o = up(o + sizeof(double) * A * A * W);
      rsum = o;  o = up(o + sizeof(double) * A * W);
      dq = o;    o = up(o + (yprof ? sizeof(double) * (M + 2) * A * W : 0));
    }
    total = o + 64;
  }
};

/// One group of W pairs per team; see the file comment. `adjoint == false`: score only (two row
/// buffers). `adjoint == true`: forward sweep with checkpoints every k rows (k = 1: store all),
/// then the backward DP block by block, recomputing each block's rows from its checkpoint.
template <class Scalar, class ExecSpace, class ParamView, Space SP, int W>
struct SwGroupKernel {
  using Mem = typename ExecSpace::memory_space;
  using T = typename std::conditional<SP == Space::prob, accum_t<Scalar>, Scalar>::type;
  using Acc = accum_t<Scalar>;
  using policy_type = Kokkos::TeamPolicy<ExecSpace, Kokkos::Schedule<Kokkos::Dynamic>>;
  using member_type = typename policy_type::member_type;
  static constexpr bool kProb = SP == Space::prob;
  static constexpr bool kHard = SP == Space::log_hard;
  /// Fuse the posterior's y-letter histogram into the backward loop (compile-time alphabets).
  /// Measured (ADJOINT.md §6): a win in log space, a loss in probability space, whose cheaper
  /// loop then spills registers; there a separate vectorised pass per letter is faster.
  template <int AF>
  static constexpr bool fuse_hist() {
    return AF > 0 && !kProb;
  }

  SwBatch<Scalar, Mem> in;
  ParamView params;
  int B = 0, A = 0, Lx = 0, Ly = 0, k = 1;
  bool local = true, learn_tau = false, adjoint = false, xprof = false, yprof = false;
  double tau_cfg = 1.0;
  Kokkos::View<Scalar*, Mem> score;       ///< forward: written
  Kokkos::View<int*, Mem> path;           ///< per pair: 0 probability space, 1 log space
  /// Log-space kernels: the pairs with path 1, compacted (order[0 .. n_log)), so that lane groups
  /// are dense whatever the share of pairs that fell back to log space.
  Kokkos::View<const int*, Mem> order;
  Kokkos::View<const int, Mem> n_log;
  Kokkos::View<const Scalar*, Mem> dscore;  ///< adjoint seeds (empty: posterior only)
  Kokkos::View<Scalar***, Mem> post;       ///< posterior P_ij (empty: not requested)
  Kokkos::View<double**, Mem> pair_grad;   ///< per-pair ∂/∂params (empty: not requested)
  Kokkos::View<Scalar***, Mem> dxp, dyp;   ///< profile gradients (+=, empty: skipped)

  struct Lanes {
    int b[W], n[W], m[W];
    bool on[W];
    double smin[W], smax[W];  // bounds of S_ij for the range checks (eq. 11)
    int N = 0, M = 0;
  };
  struct Par {
    T o, e, tau, itau, O, E;  // prob: O = e^{−o/τ}, E = e^{−e/τ} (eq. 8)
    double od, ed, taud;
  };
  struct Scr {
    int *yidx, *ylet;
    T *sub, *tab0, *tab1, *u0, *u1, *rows, *brows, *prow;
    int* ks;
    double *gsub, *rsum, *dq;
    std::size_t stride, rowsize;
  };

  // ------------------------------------------------------------------ set-up

  KOKKOS_INLINE_FUNCTION bool selected(int b) const {
    if (kProb) return adjoint ? path(b) == 0 : true;
    return path(b) == 1;
  }
  KOKKOS_INLINE_FUNCTION double subst(int a, int b) const { return val(params(a * A + b)); }

  KOKKOS_INLINE_FUNCTION Par load_params() const {
    Par p;
    p.od = val(params(A * A));
    p.ed = val(params(A * A + 1));
    p.o = T(params(A * A));
    p.e = T(params(A * A + 1));
    if (kHard) {
      p.tau = T(0);
      p.itau = T(0);
      p.taud = 0;
    } else {
      p.tau = learn_tau ? T(math::exp(params(A * A + 2))) : T(tau_cfg);
      p.itau = T(1) / p.tau;
      p.taud = val(p.tau);
    }
    if (kProb) {
      p.O = math::exp(-p.o * p.itau);
      p.E = math::exp(-p.e * p.itau);
    } else {
      p.O = p.E = T(0);
    }
    return p;
  }

  KOKKOS_FUNCTION void operator()(const member_type& team) const {
    Lanes L;
    const int g = team.league_rank();
    const Par P = load_params();
    // Substitution range (index inputs: the table; profiles: |S| ≤ max|Sub|·‖p‖₁·‖q‖₁).
    double tmin = 0, tmax = 0, tabs = 0;
    for (int a = 0; a < A * A; ++a) {
      const double v = val(params(a));
      tmin = a == 0 || v < tmin ? v : tmin;
      tmax = a == 0 || v > tmax ? v : tmax;
      tabs = v > tabs ? v : (-v > tabs ? -v : tabs);
    }
    // Probability space needs τ > 0, non-negative penalties and bounded per-row growth (eq. 11).
    const bool prob_ok = P.taud > 0 && P.od >= 0 && P.ed >= 0 && P.od / P.taud <= kGrowthLimit &&
                         P.ed / P.taud <= kGrowthLimit;
    bool any = false;
    const int nlog = kProb ? 0 : n_log();
    for (int l = 0; l < W; ++l) {
      const int slot = g * W + l;
      const int b = kProb ? slot : (slot < nlog ? order(slot) : B);
      bool on = b < B && selected(b);
      int n = 0, m = 0;
      double smin = tmin, smax = tmax;
      if (on) {
        n = in.x_len(b);
        m = in.y_len(b);
        n = n < 0 ? 0 : (n > Lx ? Lx : n);
        m = m < 0 ? 0 : (m > Ly ? Ly : m);
        if (xprof || yprof) {
          double px = 1, qy = 1;
          if (xprof) {
            px = 0;
            for (int i = 0; i < n; ++i) {
              double s = 0;
              for (int a = 0; a < A; ++a) {
                const double v = val(in.x_prof(b, i, a));
                s += v < 0 ? -v : v;
              }
              px = s > px ? s : px;
            }
          }
          if (yprof) {
            qy = 0;
            for (int j = 0; j < m; ++j) {
              double s = 0;
              for (int a = 0; a < A; ++a) {
                const double v = val(in.y_prof(b, j, a));
                s += v < 0 ? -v : v;
              }
              qy = s > qy ? s : qy;
            }
          }
          smax = tabs * px * qy;
          smin = -smax;
        }
        if (kProb && !adjoint) {
          const bool ok = prob_ok && (smax > -smin ? smax : -smin) / P.taud <= kGrowthLimit;
          if (!ok) {  // hand the pair to the log-space kernel
            path(b) = 1;
            on = false;
          }
        }
      }
      L.on[l] = on;
      L.b[l] = on ? b : -1;
      L.n[l] = on ? n : 0;
      L.m[l] = on ? m : 0;
      L.smin[l] = smin;
      L.smax[l] = smax;
      if (on) {
        any = true;
        L.N = n > L.N ? n : L.N;
        L.M = m > L.M ? m : L.M;
      }
    }
    if (!any) return;
    bool uniform = true;
    for (int l = 0; l < W; ++l)
      uniform = uniform && L.on[l] && L.n[l] == L.n[0] && L.m[l] == L.m[0];

    const SwLayout lay(L.N, L.M, A, W, k, adjoint, yprof, sizeof(T));
    char* base = static_cast<char*>(team.team_scratch(1).get_shmem(lay.total));
    if (base == nullptr) return;  // cannot happen: the host sized the scratch for Lx, Ly
    base = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(base) + 63) &
                                   ~std::uintptr_t(63));
    Scr s;
    s.yidx = reinterpret_cast<int*>(base + lay.yidx);
    s.ylet = reinterpret_cast<int*>(base + lay.ylet);
    s.sub = reinterpret_cast<T*>(base + lay.sub);
    s.tab0 = reinterpret_cast<T*>(base + lay.tab0);
    s.tab1 = reinterpret_cast<T*>(base + lay.tab1);
    s.u0 = reinterpret_cast<T*>(base + lay.u0);
    s.u1 = reinterpret_cast<T*>(base + lay.u1);
    s.rows = reinterpret_cast<T*>(base + lay.rows);
    s.brows = adjoint ? reinterpret_cast<T*>(base + lay.brows) : nullptr;
    s.prow = adjoint ? reinterpret_cast<T*>(base + lay.prow) : nullptr;
    s.ks = adjoint ? reinterpret_cast<int*>(base + lay.ks) : nullptr;
    s.gsub = adjoint ? reinterpret_cast<double*>(base + lay.gsub) : nullptr;
    s.rsum = adjoint ? reinterpret_cast<double*>(base + lay.rsum) : nullptr;
    s.dq = (adjoint && yprof) ? reinterpret_cast<double*>(base + lay.dq) : nullptr;
    s.stride = lay.stride;
    s.rowsize = lay.rowsize;

    // Column letters of y, and the same pre-multiplied into gather indices of the per-row
    // tables: yidx[j][l] = y_j·W + l (padding columns point at letter 0).
    for (int j = 0; j <= L.M + 1; ++j)
      for (int l = 0; l < W; ++l) {
        int letter = 0;
        if (!yprof && j >= 1 && j <= L.m[l]) {
          letter = in.y_index(L.b[l], j - 1);
          letter = letter < A ? letter : A - 1;
        }
        s.ylet[j * W + l] = letter;
        s.yidx[j * W + l] = letter * W + l;
      }
    for (int a = 0; a < A * A; ++a) {
      const T v = T(params(a));
      s.sub[a] = kProb ? T(math::exp(v * P.itau)) : v;  // eq. 7: s = e^{S/τ}
    }
    // compile-time alphabet for DNA (select chains and fused histograms), generic otherwise
    if (uniform) {
      if (yprof) run<true, true, 0>(L, P, s);
      else if (A == 4) run<true, false, 4>(L, P, s);
      else if (A == 5) run<true, false, 5>(L, P, s);
      else run<true, false, 0>(L, P, s);
    } else {
      if (yprof) run<false, true, 0>(L, P, s);
      else if (A == 4) run<false, false, 4>(L, P, s);
      else if (A == 5) run<false, false, 5>(L, P, s);
      else run<false, false, 0>(L, P, s);
    }
  }

  // ------------------------------------------------------------------ per-row tables

  /// Row r's table over y letters: tab[b][l] = S(x_r, b) (log) or e^{S(x_r, b)/τ} (prob), and
  /// u[b][l] = S(x_r, b) in score units (used by profile inputs). Rows outside a lane: zeros.
  KOKKOS_INLINE_FUNCTION void make_tab(int r, const Lanes& L, const Par& P, const Scr& s, T* tab,
                                       T* u) const {
    for (int l = 0; l < W; ++l) {
      const bool in_row = r >= 1 && r <= L.n[l];
      if (!xprof) {
        int a = in_row ? in.x_index(L.b[l], r - 1) : 0;
        a = a < A ? a : A - 1;
        for (int b = 0; b < A; ++b) {
          tab[b * W + l] = in_row ? s.sub[a * A + b] : T(0);
          if (yprof) u[b * W + l] = in_row ? T(params(a * A + b)) : T(0);
        }
      } else {
        for (int b = 0; b < A; ++b) {
          T acc = T(0);
          if (in_row)
            for (int a = 0; a < A; ++a) acc += T(in.x_prof(L.b[l], r - 1, a)) * T(params(a * A + b));
          u[b * W + l] = acc;
          tab[b * W + l] = in_row ? (kProb ? T(math::exp(acc * P.itau)) : acc) : T(0);
        }
      }
    }
  }

  /// A row table held in registers for the compile-time alphabets (AF > 0).
  template <int AF>
  struct RowTab {
    T v[AF > 0 ? AF : 1][W];
    KOKKOS_FORCEINLINE_FUNCTION void load(const T* tab) {
      for (int b = 0; b < (AF > 0 ? AF : 1); ++b)
        for (int l = 0; l < W; ++l) v[b][l] = AF > 0 ? tab[b * W + l] : T(0);
    }
  };

  /// Substitution term of cell (r, j) for lane l (eq. 6): a select chain over the row table in
  /// registers (compile-time alphabet), a gather from the row table (y as indices), or u_r·q_j
  /// (y as profiles; columns beyond the lane give 0).
  template <bool YP, int AF>
  KOKKOS_FORCEINLINE_FUNCTION T cell_sub(int j, int l, const Lanes& L, const Par& P,
                                         const Scr& s, const T* tab, const T* u,
                                         const RowTab<AF>& rt) const {
    if (!YP && AF > 0) {
      const int y = s.ylet[j * W + l];
      T v = rt.v[0][l];
      DIFFBIO_SW_UNROLL
      for (int b = 1; b < AF; ++b) v = y == b ? rt.v[b < AF ? b : 0][l] : v;
      return v;
    }
    if (!YP) return tab[s.yidx[j * W + l]];
    T acc = T(0);
    if (j >= 1 && j <= L.m[l])
      for (int b = 0; b < A; ++b) acc += u[b * W + l] * T(in.y_prof(L.b[l], j - 1, b));
    return kProb ? T(math::exp(acc * P.itau)) : acc;
  }

  KOKKOS_INLINE_FUNCTION T* row_ptr(const Scr& s, int N, int r) const {
    if (!adjoint) return s.rows + (r & 1) * s.rowsize;
    if (k <= 1) return s.rows + static_cast<std::size_t>(r) * s.rowsize;
    if (r % k == 0) return s.rows + static_cast<std::size_t>(r / k) * s.rowsize;
    return s.rows + static_cast<std::size_t>(N / k + 1 + r % k) * s.rowsize;
  }

  // ------------------------------------------------------------------ forward rows

  /// Per-lane state of the forward sweep.
  struct FwdState {
    int K[W];      // prob: row scale exponent (values stored ×2^(−60K), eq. 11)
    T one[W];      // prob: the constant 1 in the current scale, 2^(−60K)
    Acc lnz[W];    // prob local: ln Z (eq. 10); global: captured
    T lmx[W], lsum[W];  // log local: online logsumexp of {0} ∪ {M_ij} (eq. 5L); hard: the max
    int bi[W], bj[W];   // log hard local: first argmax cell (−1: the empty alignment)
    Acc F[W];      // score
    bool bad[W];   // prob: range check failed (eq. 11) → log space
  };

  /// Row 0 (eq. 4): m_00 = 1 / M_00 = 0 in global mode, y_0j by eq. 9 / eq. 3, the rest empty.
  template <bool U>
  KOKKOS_INLINE_FUNCTION void row0(const Lanes& L, const Par& P, T* R) const {
    const std::size_t sd = static_cast<std::size_t>(L.M + 2) * W;
    T* mx = R;
    T* xx = R + sd;
    T* yy = R + 2 * sd;
    const int M = L.M;
    const T empty = kProb ? T(0) : T(kNegBig);
    T ml[W], xl[W], yl[W];
    int mlen[W];
    for (int l = 0; l < W; ++l) {
      mlen[l] = L.m[l];
      ml[l] = local ? empty : (kProb ? T(1) : T(0));  // eq. 4: m_00 = 1, M_00 = 0 (global)
      xl[l] = empty;
      yl[l] = empty;
      mx[l] = ml[l];
      xx[l] = xl[l];
      yy[l] = yl[l];
    }
    for (int j = 1; j <= M; ++j) {
      const std::size_t o = static_cast<std::size_t>(j) * W;
      DIFFBIO_SW_LANES
      for (int l = 0; l < W; ++l) {
        T yv;
        if (kProb)
          yv = P.O * (ml[l] + xl[l]) + P.E * yl[l];  // eq. 9
        else
          yv = smax3<T, kHard>(ml[l] - P.o, xl[l] - P.o, yl[l] - P.e, P.tau, P.itau);  // eq. 3
        if (!U) yv = j > mlen[l] ? empty : yv;
        mx[o + l] = empty;
        xx[o + l] = empty;
        yy[o + l] = yv;
        ml[l] = empty;
        xl[l] = empty;
        yl[l] = yv;
      }
    }
    for (int l = 0; l < W; ++l) {  // padding column M+1: finite zeros in both spaces
      const std::size_t o = static_cast<std::size_t>(M + 1) * W + l;
      mx[o] = xx[o] = yy[o] = T(0);
    }
  }

  /// Forward row r ≥ 1 from row r−1 (eqs. 7–9 in probability space, 1–3 in log space).
  /// `record`: accumulate the score and run the range checks (first sweep only).
  template <bool U, bool YP, int AF>
  KOKKOS_INLINE_FUNCTION void fwd_row(int r, const Lanes& L, const Par& P, const Scr& s,
                                      const T* prev, T* cur, FwdState& st, bool record) const {
    make_tab(r, L, P, s, s.tab0, s.u0);
    const T* tab = s.tab0;
    const T* u = s.u0;
    RowTab<AF> rt;
    rt.load(tab);
    const std::size_t sd = s.stride;
    const T* pm = prev;
    const T* px = prev + sd;
    const T* py = prev + 2 * sd;
    T* cm = cur;
    T* cx = cur + sd;
    T* cy = cur + 2 * sd;
    const int M = L.M;
    const T neg = T(kNegBig);
    const bool acc_local = record && local;
    const T zstart = local ? T(0) : neg;  // eq. 1: the local start candidate (−∞ when global)
    bool rv[W];
    int mlen[W];
    T cf[W];
    double rmax[W];
    T zrow[W];
    T ml[W], xl[W], yl[W], dm[W], dx[W], dy[W];  // (r, j−1) and (r−1, j−1) in registers
    T lmx[W], lsum[W];
    int bi[W], bj[W];
    for (int l = 0; l < W; ++l) {
      rv[l] = r <= L.n[l];
      mlen[l] = rv[l] ? L.m[l] : -1;
      cf[l] = (kProb && local) ? st.one[l] : T(0);
      zrow[l] = T(0);
      lmx[l] = st.lmx[l];
      lsum[l] = st.lsum[l];
      bi[l] = st.bi[l];
      bj[l] = st.bj[l];
      // column 0: only the X state is reachable (eq. 4)
      T xv;
      if (kProb) {
        xv = P.O * (pm[l] + py[l]) + P.E * px[l];  // eq. 8
        if (!U && !rv[l]) xv = T(0);
        ml[l] = T(0);
        yl[l] = T(0);
        rmax[l] = val(xv);
      } else {
        xv = smax3<T, kHard>(pm[l] - P.o, px[l] - P.e, py[l] - P.o, P.tau, P.itau);  // eq. 2
        if (!U && !rv[l]) xv = neg;
        ml[l] = neg;
        yl[l] = neg;
        rmax[l] = 0;
      }
      xl[l] = xv;
      cm[l] = ml[l];
      cx[l] = xv;
      cy[l] = yl[l];
      dm[l] = pm[l];
      dx[l] = px[l];
      dy[l] = py[l];
    }
    for (int j = 1; j <= M; ++j) {
      const std::size_t o = static_cast<std::size_t>(j) * W;
      DIFFBIO_SW_LANES
      for (int l = 0; l < W; ++l) {
        const T sv = cell_sub<YP, AF>(j, l, L, P, s, tab, u, rt);
        const T um = pm[o + l], ux = px[o + l], uy = py[o + l];
        const bool v = U || j <= mlen[l];
        T mv, xv, yv;
        if (kProb) {
          mv = sv * (dm[l] + dx[l] + dy[l] + cf[l]);   // eq. 7
          xv = P.O * (um + uy) + P.E * ux;             // eq. 8
          yv = P.O * (ml[l] + xl[l]) + P.E * yl[l];    // eq. 9
          if (!U) {
            mv = v ? mv : T(0);
            xv = v ? xv : T(0);
            yv = v ? yv : T(0);
          }
          const double t = val(mv + xv + yv);
          rmax[l] = t > rmax[l] ? t : rmax[l];
          zrow[l] += mv;
        } else {
          const T d = smax3z<T, kHard>(dm[l], dx[l], dy[l], zstart, P.tau, P.itau);
          mv = sv + d;                                                                  // eq. 1
          xv = smax3<T, kHard>(um - P.o, ux - P.e, uy - P.o, P.tau, P.itau);            // eq. 2
          yv = smax3<T, kHard>(ml[l] - P.o, xl[l] - P.o, yl[l] - P.e, P.tau, P.itau);  // eq. 3
          if (!U) {  // outside the lane's matrix: −∞ (a min, which vectorises where a select
                     // between computed values did not)
            const T lim = v ? T(-kNegBig) : neg;
            mv = val(lim) < val(mv) ? lim : mv;
            xv = val(lim) < val(xv) ? lim : xv;
            yv = val(lim) < val(yv) ? lim : yv;
          }
          if (kHard) {  // eq. 5L: the first maximum in row-major order
            const bool better = acc_local && v && val(mv) > val(lmx[l]);
            lmx[l] = better ? mv : lmx[l];
            bi[l] = better ? r : bi[l];
            bj[l] = better ? j : bj[l];
          } else {  // eq. 5L, online logsumexp (−∞ cells add exactly 0)
            const T dd = mv - lmx[l];
            const bool up = val(dd) > 0;
            const T e1 = fastm::exp((up ? -dd : dd) * P.itau);
            const T ns = up ? lsum[l] * e1 + T(1) : lsum[l] + e1;
            lsum[l] = acc_local ? ns : lsum[l];
            lmx[l] = (acc_local && up) ? mv : lmx[l];
          }
        }
        cm[o + l] = mv;
        cx[o + l] = xv;
        cy[o + l] = yv;
        ml[l] = mv;
        xl[l] = xv;
        yl[l] = yv;
        dm[l] = um;
        dx[l] = ux;
        dy[l] = uy;
      }
    }
    // padding column M+1 (read as "j+1" by the backward): zeros, finite in both spaces
    for (int l = 0; l < W; ++l) {
      const std::size_t o = static_cast<std::size_t>(M + 1) * W + l;
      cm[o] = T(0);
      cx[o] = T(0);
      cy[o] = T(0);
      if (!kProb && acc_local) {
        st.lmx[l] = lmx[l];
        st.lsum[l] = lsum[l];
        st.bi[l] = bi[l];
        st.bj[l] = bj[l];
      }
    }
    if (kProb) {
      // eq. 10 (local): Z += Σ_j m_rj, the row being in the scale of row r−1
      if (acc_local)
        for (int l = 0; l < W; ++l)
          if (rv[l] && val(zrow[l]) > 0) {
            const Acc lz = Acc(math::log(zrow[l])) + Acc(kLn2x60 * st.K[l]);
            const Acc hi = val(lz) > val(st.lnz[l]) ? lz : st.lnz[l];
            const Acc lo = val(lz) > val(st.lnz[l]) ? st.lnz[l] : lz;
            st.lnz[l] = hi + math::log1p(math::exp(lo - hi));
          }
      rescale_row(L, cur, rmax, st.K, st.one);
      if (record) {
        for (int l = 0; l < W; ++l) {
          if (!rv[l] || !(rmax[l] > 0)) continue;
          // eq. 11: ln(row max) ≤ 60 ln2 (K + 1) against the smallest value that can matter
          const double smin = L.smin[l] < 0 ? L.smin[l] : 0.0;
          const double lb =
              local ? (smin - P.od) / P.taud
                    : (smin - 2 * P.od - static_cast<double>(r + L.m[l]) * P.ed) / P.taud;
          if (kLn2x60 * (st.K[l] + 1) - lb > kRangeLimit) st.bad[l] = true;
        }
      }
    }
  }

  /// Multiplies lanes of a row by powers of two so that each lane's maximum lies in
  /// [2^−60, 2^60] (eq. 11); K counts the factors 2^−60 applied, `one` = 2^(−60K).
  KOKKOS_INLINE_FUNCTION void rescale_row(const Lanes& L, T* R, double* rmax, int* K, T* one) const {
    double f[W];
    bool anyf = false;
    for (int l = 0; l < W; ++l) {
      f[l] = 1.0;
      double mx = rmax[l];
      if (mx > 0) {
        int dk = 0;
        while (mx > kTwo60) { mx *= kTwoM60; f[l] *= kTwoM60; ++dk; }
        while (mx < kTwoM60) { mx *= kTwo60; f[l] *= kTwo60; --dk; }
        K[l] += dk;
        one[l] = one[l] * T(f[l]);
        rmax[l] = mx;
      }
      anyf = anyf || f[l] != 1.0;
    }
    if (!anyf) return;
    const std::size_t n = 3 * static_cast<std::size_t>(L.M + 2);
    for (std::size_t j = 0; j < n; ++j) {
      DIFFBIO_SW_LANES
      for (int l = 0; l < W; ++l) R[j * W + l] = R[j * W + l] * T(f[l]);
    }
  }

  /// Captures the global score at row r for lanes ending there (eq. 5G / 10 global).
  KOKKOS_INLINE_FUNCTION void capture_global(int r, const Lanes& L, const Par& P, const T* R,
                                             FwdState& st) const {
    if (local) return;
    const std::size_t sd = static_cast<std::size_t>(L.M + 2) * W;
    for (int l = 0; l < W; ++l) {
      if (!L.on[l] || r != L.n[l]) continue;
      const std::size_t o = static_cast<std::size_t>(L.m[l]) * W + l;
      if (kProb) {
        st.lnz[l] = Acc(math::log(R[o] + R[sd + o] + R[2 * sd + o])) + Acc(kLn2x60 * st.K[l]);
      } else {
        st.F[l] = Acc(smax3<T, kHard>(R[o], R[sd + o], R[2 * sd + o], P.tau, P.itau));
      }
    }
  }

  /// The forward sweep: row 0, then rows 1..N; stores checkpoints (adjoint) or ping-pongs.
  template <bool U, bool YP, int AF>
  KOKKOS_INLINE_FUNCTION void sweep(const Lanes& L, const Par& P, const Scr& s, FwdState& st) const {
    for (int l = 0; l < W; ++l) {
      st.K[l] = 0;
      st.one[l] = T(1);
      st.lnz[l] = Acc(0);  // local: ln 1, the empty alignment (eq. 10)
      st.lmx[l] = T(0);    // local: the candidate 0 of eq. 5L
      st.lsum[l] = T(1);
      st.bi[l] = st.bj[l] = -1;
      st.F[l] = Acc(0);
      st.bad[l] = false;
      if (adjoint) s.ks[l] = 0;
    }
    T* r0 = row_ptr(s, L.N, 0);
    row0<U>(L, P, r0);
    capture_global(0, L, P, r0, st);
    for (int r = 1; r <= L.N; ++r) {
      T* cur = row_ptr(s, L.N, r);
      fwd_row<U, YP, AF>(r, L, P, s, row_ptr(s, L.N, r - 1), cur, st, true);
      if (adjoint)
        for (int l = 0; l < W; ++l) s.ks[r * W + l] = st.K[l];
      capture_global(r, L, P, cur, st);
    }
    for (int l = 0; l < W; ++l) {
      if (kProb) {
        st.F[l] = Acc(P.tau) * st.lnz[l];  // F = τ ln Z
        if (!(val(st.F[l]) - val(st.F[l]) == 0)) st.bad[l] = true;  // non-finite → log space
      } else if (local) {
        st.F[l] = kHard ? Acc(st.lmx[l]) : Acc(st.lmx[l] + P.tau * math::log(st.lsum[l]));
      }
    }
  }

  // ------------------------------------------------------------------ driver

  template <bool U, bool YP, int AF>
  KOKKOS_INLINE_FUNCTION void run(const Lanes& L, const Par& P, const Scr& s) const {
    FwdState st;
    sweep<U, YP, AF>(L, P, s, st);
    if (!adjoint) {
      for (int l = 0; l < W; ++l) {
        if (!L.on[l]) continue;
        if (kProb && st.bad[l]) {
          path(L.b[l]) = 1;
          continue;
        }
        if (kProb) path(L.b[l]) = 0;
        score(L.b[l]) = Scalar(st.F[l]);
      }
      return;
    }
    backward<U, YP, AF>(L, P, s, st);
  }

  // ------------------------------------------------------------------ backward

  template <bool U, bool YP, int AF>
  KOKKOS_INLINE_FUNCTION void backward(const Lanes& L, const Par& P, const Scr& s,
                                       FwdState& st) const {
    const int N = L.N, M = L.M;
    double gopen[W], gext[W];
    int KB[W];
    T oneb[W];
    for (int l = 0; l < W; ++l) {
      gopen[l] = gext[l] = 0;
      KB[l] = 0;
      oneb[l] = T(1);
    }
    for (int a = 0; a < A * A * W; ++a) s.gsub[a] = 0;
    if (YP)
      for (std::size_t a = 0; a < static_cast<std::size_t>(M + 2) * A * W; ++a) s.dq[a] = 0;
    // b rows: "next" (row r+1) and "cur" (row r); row N+1 is zero
    T* bnext = s.brows;
    T* bcur = s.brows + s.rowsize;
    for (std::size_t a = 0; a < s.rowsize; ++a) bnext[a] = T(0);

    const int last_block = k <= 1 ? N : (N / k) * k;
    for (int c = last_block; c >= 0; c -= (k <= 1 ? 1 : k)) {
      const int rend = k <= 1 ? c : (c + k - 1 < N ? c + k - 1 : N);
      // recompute the block's rows from its checkpoint (eq. 24)
      if (k > 1 && rend > c) {
        FwdState rs;
        for (int l = 0; l < W; ++l) {
          rs.K[l] = s.ks[c * W + l];
          rs.one[l] = T(pow2m60(rs.K[l]));
        }
        for (int r = c + 1; r <= rend; ++r)
          fwd_row<U, YP, AF>(r, L, P, s, row_ptr(s, N, r - 1), row_ptr(s, N, r), rs, false);
      }
      for (int r = rend; r >= c; --r) {
        const T* fr = row_ptr(s, N, r);
        const T* fn = r < N ? row_ptr(s, N, r + 1) : fr;  // row N+1 never contributes
        if (kProb)
          bwd_row_prob<U, YP, AF>(r, L, P, s, st, fr, bnext, bcur, KB, oneb, gopen, gext);
        else
          bwd_row_log<U, YP, AF>(r, L, P, s, st, fr, fn, bnext, bcur, gopen, gext);
        T* t = bnext;
        bnext = bcur;
        bcur = t;
      }
    }
    finish<YP>(L, P, s, st, gopen, gext);
  }

  /// After a backward row: the posterior row prow[j][l] (∝ P_rj, times fac[l]) goes into the
  /// y-letter sums R[b][l] = Σ_j P_rj [y_j = b] (index y) or Σ_j P_rj q_j[b] (profile y), the
  /// posterior output, the profile-y gradient; then R into the substitution gradient and, for
  /// profile x, into ∂/∂p_r (eq. 19).
  template <bool YP, int AF>
  KOKKOS_INLINE_FUNCTION void row_grads(int r, const Lanes& L, const Scr& s, const double* fac) const {
    if (r < 1) return;
    const int M = L.M;
    const bool want_post = post.extent(0) > 0;
    const bool want_sub = pair_grad.extent(0) > 0 || dxp.extent(0) > 0;
    if (want_sub && !YP && !fuse_hist<AF>()) {
      for (int a = 0; a < A * W; ++a) s.rsum[a] = 0;
      if (A <= 8) {  // one vectorised pass per letter (no scatter)
        for (int b = 0; b < A; ++b) {
          double acc[W];
          for (int l = 0; l < W; ++l) acc[l] = 0;
          for (int j = 1; j <= M; ++j) {
            const std::size_t o = static_cast<std::size_t>(j) * W;
            DIFFBIO_SW_LANES
            for (int l = 0; l < W; ++l) {
              const double p = val(s.prow[o + l]);  // unconditional load: no masked access
              acc[l] += s.ylet[o + l] == b ? p : 0.0;
            }
          }
          for (int l = 0; l < W; ++l) s.rsum[b * W + l] = acc[l];
        }
      } else {
        for (int j = 1; j <= M; ++j) {
          const std::size_t o = static_cast<std::size_t>(j) * W;
          for (int l = 0; l < W; ++l) s.rsum[s.yidx[o + l]] += val(s.prow[o + l]);
        }
      }
    }
    if (YP || want_post) {
      if (YP)
        for (int a = 0; a < A * W; ++a) s.rsum[a] = 0;
      for (int l = 0; l < W; ++l) {
        if (!(L.on[l] && r <= L.n[l])) continue;
        for (int j = 1; j <= L.m[l]; ++j) {
          const double praw = val(s.prow[static_cast<std::size_t>(j) * W + l]);
          const double pn = praw * fac[l];  // eq. 15
          if (want_post) post(L.b[l], r - 1, j - 1) = Scalar(pn);
          if (YP)
            for (int b = 0; b < A; ++b) {
              s.rsum[b * W + l] += praw * val(in.y_prof(L.b[l], j - 1, b));
              s.dq[(static_cast<std::size_t>(j) * A + b) * W + l] += pn * val(s.u0[b * W + l]);
            }
        }
      }
    }
    if (!want_sub) return;
    for (int l = 0; l < W; ++l) {
      if (!L.on[l] || r > L.n[l]) continue;
      const int b = L.b[l];
      const double seed = dscore.extent(0) > 0 ? val(dscore(b)) : 1.0;
      if (!xprof) {
        int a = in.x_index(b, r - 1);
        a = a < A ? a : A - 1;
        for (int bb = 0; bb < A; ++bb) s.gsub[(a * A + bb) * W + l] += fac[l] * s.rsum[bb * W + l];
      } else {
        for (int a = 0; a < A; ++a) {
          const double pa = val(in.x_prof(b, r - 1, a));
          double dpa = 0;
          for (int bb = 0; bb < A; ++bb) {
            const double rb = fac[l] * s.rsum[bb * W + l];
            s.gsub[(a * A + bb) * W + l] += pa * rb;
            dpa += subst(a, bb) * rb;
          }
          if (dxp.extent(0) > 0) dxp(b, r - 1, a) += Scalar(seed * dpa);
        }
      }
    }
  }

  /// Backward row r in probability space (eqs. 12–17), scaled by 2^(−60·KB) (eq. 23).
  template <bool U, bool YP, int AF>
  KOKKOS_INLINE_FUNCTION void bwd_row_prob(int r, const Lanes& L, const Par& P, const Scr& s,
                                           const FwdState& st, const T* fr, const T* bn, T* bc,
                                           int* KB, T* oneb, double* gopen, double* gext) const {
    const int M = L.M;
    const std::size_t sd = s.stride;
    make_tab(r + 1, L, P, s, s.tab1, s.u1);  // s_{r+1, ·}
    if (YP) make_tab(r, L, P, s, s.tab0, s.u0);
    const T* tabn = s.tab1;
    const T* un = s.u1;
    RowTab<AF> rt;
    rt.load(tabn);
    const T* fm = fr;
    const T* fx = fr + sd;
    const T* fy = fr + 2 * sd;
    const T* bmn = bn;
    const T* bxn = bn + sd;
    T* bm = bc;
    T* bx = bc + sd;
    T* by = bc + 2 * sd;
    T* prow = s.prow;
    // the posterior row is stored only when a later pass reads it (histogram pass, output)
    const bool need_prow = YP || !fuse_hist<AF>() || post.extent(0) > 0;
    int mlen[W], endj[W];
    T cb[W], cg[W];
    double fac[W], bmax[W];
    T opn[W], ext[W], byc[W];
    constexpr int AH = fuse_hist<AF>() ? AF : 1;
    T hist[AH][W];  // fused y-letter histogram of the posterior row (AF > 0), in the DP type
    for (int l = 0; l < W; ++l) {
      for (int b = 0; b < AH; ++b) hist[b][l] = T(0);
      mlen[l] = r <= L.n[l] ? L.m[l] : -1;
      endj[l] = (!local && L.on[l] && r == L.n[l]) ? L.m[l] : -1;
      cb[l] = local ? oneb[l] : T(0);  // ∂Z/∂m_ij ∋ 1 for every cell (local, eq. 12)
      cg[l] = oneb[l];                 // ∂Z/∂(m,x,y)_nm = 1 (global end, eq. 12)
      // eq. 15: P = m̃·b̃·2^{60(K_r + KB_{r+1})}/Z
      fac[l] = L.on[l] ? val(math::exp(Acc(kLn2x60 * (s.ks[r * W + l] + KB[l])) - st.lnz[l])) : 0.0;
      bmax[l] = 0;
      opn[l] = ext[l] = T(0);
      byc[l] = T(0);  // b^Y_{r, j+1}, carried in registers
      const std::size_t o = static_cast<std::size_t>(M + 1) * W + l;
      bm[o] = bx[o] = by[o] = T(0);
      prow[o] = T(0);
    }
    for (int j = M; j >= 0; --j) {
      const std::size_t o = static_cast<std::size_t>(j) * W;
      DIFFBIO_SW_LANES
      for (int l = 0; l < W; ++l) {
        const T t = cell_sub<YP, AF>(j + 1, l, L, P, s, tabn, un, rt) * bmn[o + W + l];
        const T bxd = bxn[o + l];
        const T byr = byc[l];
        const T ce = j == endj[l] ? cg[l] : T(0);
        T bmv = cb[l] + ce + t + P.O * (bxd + byr);  // eq. 12
        T bxv = ce + t + P.E * bxd + P.O * byr;      // eq. 13
        T byv = ce + t + P.O * bxd + P.E * byr;      // eq. 14
        if (!U) {
          const bool v = j <= mlen[l];
          bmv = v ? bmv : T(0);
          bxv = v ? bxv : T(0);
          byv = v ? byv : T(0);
        }
        bm[o + l] = bmv;
        bx[o + l] = bxv;
        by[o + l] = byv;
        byc[l] = byv;
        const double tb = val(bmv + bxv + byv);
        bmax[l] = tb > bmax[l] ? tb : bmax[l];
        const T fmv = fm[o + l], fxv = fx[o + l], fyv = fy[o + l];
        opn[l] += (fmv + fyv) * bxd + (fmv + fxv) * byr;  // eq. 16 (× O after the row)
        ext[l] += fxv * bxd + fyv * byr;                  // eq. 17 (× E after the row)
        const T pv = fmv * bmv;                           // eq. 15 (unnormalised)
        if (need_prow) prow[o + l] = pv;
        if (fuse_hist<AF>()) {
          const int y = s.ylet[o + l];
          DIFFBIO_SW_UNROLL
          for (int b = 0; b < AF; ++b) hist[b][l] += y == b ? pv : T(0);
        }
      }
    }
    if (fuse_hist<AF>())
      for (int b = 0; b < AF; ++b)
        for (int l = 0; l < W; ++l) s.rsum[b * W + l] = val(hist[b][l]);
    for (int l = 0; l < W; ++l) {
      gopen[l] -= fac[l] * val(P.O * opn[l]);
      gext[l] -= fac[l] * val(P.E * ext[l]);
    }
    row_grads<YP, AF>(r, L, s, fac);
    rescale_row(L, bc, bmax, KB, oneb);
  }

  /// Backward row r in log space (eqs. 20–22): adjoints M̄, X̄, Ȳ pulled from row r+1 and from
  /// (r, j+1); the weights are the softmax weights of each successor's smooth max.
  template <bool U, bool YP, int AF>
  KOKKOS_INLINE_FUNCTION void bwd_row_log(int r, const Lanes& L, const Par& P, const Scr& s,
                                          const FwdState& st, const T* fr, const T* fn,
                                          const T* an, T* ac, double* gopen, double* gext) const {
    const int M = L.M;
    const std::size_t sd = s.stride;
    make_tab(r + 1, L, P, s, s.tab1, s.u1);  // S_{r+1, ·} (to recover D' = M' − S')
    if (YP) make_tab(r, L, P, s, s.tab0, s.u0);
    const T* tabn = s.tab1;
    const T* un = s.u1;
    RowTab<AF> rt;
    rt.load(tabn);
    const T* fM = fr;
    const T* fX = fr + sd;
    const T* fY = fr + 2 * sd;
    const T* nM = fn;
    const T* nX = fn + sd;
    const T* aMn = an;
    const T* aXn = an + sd;
    T* aM = ac;
    T* aX = ac + sd;
    T* aY = ac + 2 * sd;
    T* prow = s.prow;
    int endj[W], hi[W], hj[W];
    T Fv[W], og[W], eg[W], ayc[W];
    double one[W];
    const T has_next = r < L.N ? T(1) : T(0);
    const T zstart = local ? T(0) : T(kNegBig);
    constexpr int AH = AF > 0 ? AF : 1;
    T hist[AH][W];  // fused y-letter histogram of the posterior row (AF > 0), in the DP type
    for (int l = 0; l < W; ++l) {
      for (int b = 0; b < AH; ++b) hist[b][l] = T(0);
      endj[l] = (!local && L.on[l] && r == L.n[l]) ? L.m[l] : -1;
      hi[l] = (kHard && local && st.bi[l] == r) ? st.bj[l] : -1;  // hard local end cell in row r
      hj[l] = 0;
      Fv[l] = T(st.F[l]);
      one[l] = 1.0;
      og[l] = eg[l] = T(0);
      ayc[l] = T(0);  // Ȳ_{r, j+1}, carried in registers
      const std::size_t o = static_cast<std::size_t>(M + 1) * W + l;
      aM[o] = aX[o] = aY[o] = T(0);
      prow[o] = T(0);
    }
    for (int j = M; j >= 0; --j) {
      const std::size_t o = static_cast<std::size_t>(j) * W;
      DIFFBIO_SW_LANES
      for (int l = 0; l < W; ++l) {
        const T Mv = fM[o + l], Xv = fX[o + l], Yv = fY[o + l];
        // successors: M'(r+1, j+1) via D' = M' − S' (eq. 1), X'(r+1, j) (eq. 2), Y(r, j+1) (eq. 3)
        const T Dn = has_next * (nM[o + W + l] - cell_sub<YP, AF>(j + 1, l, L, P, s, tabn, un, rt));
        const T Xd = has_next * nX[o + l];
        const T Yr = fY[o + W + l];
        const T aMd = aMn[o + W + l], aXd = aXn[o + l], aYr = ayc[l];
        const bool at_end = j == endj[l];
        T wMM, wXM, wYM, wMX, wXX, wYX, wMY, wXY, wYY, eM, eX, eY;
        if (kHard) {  // eq. 22: one-hot weights on the first maximiser
          const int km = argmax3z(Mv, Xv, Yv, zstart);
          const int kx = argmax3(Mv - P.o, Xv - P.e, Yv - P.o);
          const int ky = argmax3(Mv - P.o, Xv - P.o, Yv - P.e);
          const int ke = argmax3(Mv, Xv, Yv);
          wMM = T(km == 0 ? 1 : 0); wXM = T(km == 1 ? 1 : 0); wYM = T(km == 2 ? 1 : 0);
          wMX = T(kx == 0 ? 1 : 0); wXX = T(kx == 1 ? 1 : 0); wYX = T(kx == 2 ? 1 : 0);
          wMY = T(ky == 0 ? 1 : 0); wXY = T(ky == 1 ? 1 : 0); wYY = T(ky == 2 ? 1 : 0);
          // non-short-circuit logic (| and &): no control flow in the lane loop
          eM = T(((j == hi[l]) | (at_end & (ke == 0))) ? 1 : 0);
          eX = T((at_end & (ke == 1)) ? 1 : 0);
          eY = T((at_end & (ke == 2)) ? 1 : 0);
        } else {  // eq. 20: w = exp((pred + transition − succ)/τ) ≤ 1
          const T it = P.itau;
          wMM = fastm::exp(min0((Mv - Dn) * it));
          wXM = fastm::exp(min0((Xv - Dn) * it));
          wYM = fastm::exp(min0((Yv - Dn) * it));
          wMX = fastm::exp(min0((Mv - P.o - Xd) * it));
          wXX = fastm::exp(min0((Xv - P.e - Xd) * it));
          wYX = fastm::exp(min0((Yv - P.o - Xd) * it));
          wMY = fastm::exp(min0((Mv - P.o - Yr) * it));
          wXY = fastm::exp(min0((Xv - P.o - Yr) * it));
          wYY = fastm::exp(min0((Yv - P.e - Yr) * it));
          // eq. 5: local ends anywhere (M = −∞ outside: weight 0), global at (n, m) only
          const T e0 = fastm::exp(min0((Mv - Fv[l]) * it));
          eM = (local | at_end) ? e0 : T(0);
          eX = at_end ? fastm::exp(min0((Xv - Fv[l]) * it)) : T(0);
          eY = at_end ? fastm::exp(min0((Yv - Fv[l]) * it)) : T(0);
        }
        const T amv = eM + aMd * wMM + aXd * wMX + aYr * wMY;  // eq. 20
        const T axv = eX + aMd * wXM + aXd * wXX + aYr * wXY;
        const T ayv = eY + aMd * wYM + aXd * wYX + aYr * wYY;
        aM[o + l] = amv;
        aX[o + l] = axv;
        aY[o + l] = ayv;
        ayc[l] = ayv;
        og[l] += aXd * (wMX + wYX) + aYr * (wMY + wXY);  // eq. 21
        eg[l] += aXd * wXX + aYr * wYY;
        prow[o + l] = amv;  // P_rj = M̄_rj (eq. 21)
        if (AF > 0) {
          const int y = s.ylet[o + l];
          DIFFBIO_SW_UNROLL
          for (int b = 0; b < AF; ++b) hist[b][l] += y == b ? amv : T(0);
        }
      }
    }
    if (AF > 0)
      for (int b = 0; b < AF; ++b)
        for (int l = 0; l < W; ++l) s.rsum[b * W + l] = val(hist[b][l]);
    (void)hj;
    for (int l = 0; l < W; ++l) {
      gopen[l] -= val(og[l]);
      gext[l] -= val(eg[l]);
    }
    row_grads<YP, AF>(r, L, s, one);
  }

  /// Per-pair results: ∂F/∂Sub, ∂F/∂o, ∂F/∂e, ∂F/∂log τ (Euler, eq. 18), times the seed F̄;
  /// profile-y gradients (eq. 19).
  template <bool YP>
  KOKKOS_INLINE_FUNCTION void finish(const Lanes& L, const Par& P, const Scr& s,
                                     const FwdState& st, const double* gopen,
                                     const double* gext) const {
    const int AA = A * A;
    for (int l = 0; l < W; ++l) {
      if (!L.on[l]) continue;
      const int b = L.b[l];
      const double seed = dscore.extent(0) > 0 ? val(dscore(b)) : 1.0;
      if (pair_grad.extent(0) > 0) {
        double sg = 0;
        for (int a = 0; a < AA; ++a) {
          const double g = s.gsub[a * W + l];
          sg += g * subst(a / A, a % A);
          pair_grad(b, a) = seed * g;
        }
        pair_grad(b, AA) = seed * gopen[l];
        pair_grad(b, AA + 1) = seed * gext[l];
        if (learn_tau) {
          // eq. 18: ∂F/∂log τ = F − Σ P S − o ∂F/∂o − e ∂F/∂e (F is homogeneous of degree 1)
          const double gl = kHard ? 0.0 : val(st.F[l]) - sg - P.od * gopen[l] - P.ed * gext[l];
          pair_grad(b, AA + 2) = seed * gl;
        }
      }
      if (YP && dyp.extent(0) > 0)
        for (int j = 1; j <= L.m[l]; ++j)
          for (int a = 0; a < A; ++a)
            dyp(b, j - 1, a) += Scalar(seed * s.dq[(static_cast<std::size_t>(j) * A + a) * W + l]);
    }
  }
};

}  // namespace sw_detail
}  // namespace diffbio

#endif
