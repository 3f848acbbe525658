// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SingleCellKernels.hpp
/// \brief Building blocks of the single-cell kernels: in-order column sums of chunk partials and
/// the softmax exponentials of a row (with their sums, in one pass).
#ifndef DIFFBIO_SINGLE_CELL_KERNELS_HPP
#define DIFFBIO_SINGLE_CELL_KERNELS_HPP

#include <DiffBio_FastExp.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <DiffBio_Types.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

// Host passes on x86-64 get an SSE2 exp (SSE2 is the x86-64 baseline, so no compiler flag is
// needed); device passes and other CPUs use the scalar code below, which computes exactly the
// same polynomial (identical IEEE operations in the same order), so results do not depend on
// which lanes an element landed in.
#if defined(__SSE2__) && !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__) && \
    !defined(__SYCL_DEVICE_ONLY__)
#include <emmintrin.h>
#define DIFFBIO_SC_SSE2 1
// GCC and Clang can compile single functions for AVX2 (target attribute) and dispatch at run
// time, so the library keeps running on any x86-64. The AVX2 functions below use no FMA (it is
// not enabled for them, so nothing is contracted): same operations, same order, same bits. Not
// under the GPU compilers' host passes (nvcc, hipcc, nvc++), whose front ends need not accept
// per-function targets: they keep the SSE2 code.
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__) && !defined(__HIPCC__) && \
    !defined(__NVCOMPILER) && !defined(__SYCL_COMPILER_VERSION)
#include <immintrin.h>
#define DIFFBIO_SC_AVX2 1
#endif
#endif

namespace diffbio {
namespace sc_impl {

// ---------------------------------------------------------------------------- exp without libm
//
// The scalar exp is src/core/DiffBio_FastExp.hpp; the SSE2/AVX2 versions below evaluate the same
// operations in the same order (same bits). Only arguments ≤ 0 are used here (weights relative to
// the row minimum), so the vector versions need no upper clamp.
using ExpConstD = FastExpConstD;
using ExpConstF = FastExpConstF;
KOKKOS_INLINE_FUNCTION double exp_poly(double x) { return fast_exp(x); }
KOKKOS_INLINE_FUNCTION float exp_poly(float x) { return fast_exp(x); }

#ifdef DIFFBIO_SC_SSE2
// V independent vectors per step: the Horner chain is latency-bound (≈ 90 cycles for degree 13),
// so four interleaved chains keep the FP units busy.
struct Sse2ExpD {
  __m128d vm, vs, vlo, vl2e, vsh, vhi, vln;
  __m128i bias;
  Sse2ExpD(double m, double inv_tau)
      : vm(_mm_set1_pd(m)), vs(_mm_set1_pd(inv_tau)), vlo(_mm_set1_pd(ExpConstD::lo)),
        vl2e(_mm_set1_pd(ExpConstD::log2e)), vsh(_mm_set1_pd(ExpConstD::shifter)),
        vhi(_mm_set1_pd(ExpConstD::ln2_hi)), vln(_mm_set1_pd(ExpConstD::ln2_lo)),
        bias(_mm_set1_epi64x(1023 - 0x4338000000000000LL)) {}
  template <int V>
  void run(const double* d, double* out) const {
    __m128d e[V];
    eval<V>(d, e);
    for (int v = 0; v < V; ++v) _mm_storeu_pd(out + 2 * v, e[v]);
  }
  template <int V>
  void eval(const double* d, __m128d* e) const {
    static constexpr double c[14] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0,
                                     1.0 / 3628800.0,    1.0 / 362880.0,    1.0 / 40320.0,
                                     1.0 / 5040.0,       1.0 / 720.0,       1.0 / 120.0,
                                     1.0 / 24.0,         1.0 / 6.0,         0.5,
                                     1.0,                1.0};
    __m128d under[V], t[V], r[V], p[V];
    for (int v = 0; v < V; ++v) {
      // x = −(d − m)·inv_tau, formed exactly as the scalar code forms it
      const __m128d x =
          _mm_mul_pd(_mm_sub_pd(_mm_setzero_pd(), _mm_sub_pd(_mm_loadu_pd(d + 2 * v), vm)), vs);
      under[v] = _mm_cmplt_pd(x, vlo);
      const __m128d xc = _mm_or_pd(_mm_and_pd(under[v], vlo), _mm_andnot_pd(under[v], x));
      t[v] = _mm_add_pd(_mm_mul_pd(xc, vl2e), vsh);
      const __m128d nn = _mm_sub_pd(t[v], vsh);
      r[v] = _mm_sub_pd(_mm_sub_pd(xc, _mm_mul_pd(nn, vhi)), _mm_mul_pd(nn, vln));
      p[v] = _mm_set1_pd(c[0]);
    }
    for (int j = 1; j < 14; ++j)
      for (int v = 0; v < V; ++v) p[v] = _mm_add_pd(_mm_mul_pd(p[v], r[v]), _mm_set1_pd(c[j]));
    for (int v = 0; v < V; ++v) {
      const __m128i sc = _mm_slli_epi64(_mm_add_epi64(_mm_castpd_si128(t[v]), bias), 52);
      e[v] = _mm_andnot_pd(under[v], _mm_mul_pd(p[v], _mm_castsi128_pd(sc)));
    }
  }
};

inline void exp_neg_scaled_sse2(const double* d, double* out, int n, double m, double inv_tau) {
  const Sse2ExpD f(m, inv_tau);
  int k = 0;
  for (; k + 7 < n; k += 8) f.run<4>(d + k, out + k);
  for (; k + 1 < n; k += 2) f.run<1>(d + k, out + k);
  for (; k < n; ++k) out[k] = exp_poly(-(d[k] - m) * inv_tau);
}

struct Sse2ExpF {
  __m128 vm, vs, vlo, vl2e, vsh, vhi, vln;
  __m128i bias;
  Sse2ExpF(float m, float inv_tau)
      : vm(_mm_set1_ps(m)), vs(_mm_set1_ps(inv_tau)), vlo(_mm_set1_ps(ExpConstF::lo)),
        vl2e(_mm_set1_ps(ExpConstF::log2e)), vsh(_mm_set1_ps(ExpConstF::shifter)),
        vhi(_mm_set1_ps(ExpConstF::ln2_hi)), vln(_mm_set1_ps(ExpConstF::ln2_lo)),
        bias(_mm_set1_epi32(127 - 0x4B400000)) {}
  template <int V>
  void run(const float* d, float* out) const {
    __m128 e[V];
    eval<V>(d, e);
    for (int v = 0; v < V; ++v) _mm_storeu_ps(out + 4 * v, e[v]);
  }
  template <int V>
  void eval(const float* d, __m128* e) const {
    static constexpr float c[8] = {1.0f / 5040.0f, 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
                                   1.0f / 6.0f,    0.5f,          1.0f,          1.0f};
    __m128 under[V], t[V], r[V], p[V];
    for (int v = 0; v < V; ++v) {
      const __m128 x =
          _mm_mul_ps(_mm_sub_ps(_mm_setzero_ps(), _mm_sub_ps(_mm_loadu_ps(d + 4 * v), vm)), vs);
      under[v] = _mm_cmplt_ps(x, vlo);
      const __m128 xc = _mm_or_ps(_mm_and_ps(under[v], vlo), _mm_andnot_ps(under[v], x));
      t[v] = _mm_add_ps(_mm_mul_ps(xc, vl2e), vsh);
      const __m128 nn = _mm_sub_ps(t[v], vsh);
      r[v] = _mm_sub_ps(_mm_sub_ps(xc, _mm_mul_ps(nn, vhi)), _mm_mul_ps(nn, vln));
      p[v] = _mm_set1_ps(c[0]);
    }
    for (int j = 1; j < 8; ++j)
      for (int v = 0; v < V; ++v) p[v] = _mm_add_ps(_mm_mul_ps(p[v], r[v]), _mm_set1_ps(c[j]));
    for (int v = 0; v < V; ++v) {
      const __m128i sc = _mm_slli_epi32(_mm_add_epi32(_mm_castps_si128(t[v]), bias), 23);
      e[v] = _mm_andnot_ps(under[v], _mm_mul_ps(p[v], _mm_castsi128_ps(sc)));
    }
  }
};

inline void exp_neg_scaled_sse2(const float* d, float* out, int n, float m, float inv_tau) {
  const Sse2ExpF f(m, inv_tau);
  int k = 0;
  for (; k + 15 < n; k += 16) f.run<4>(d + k, out + k);
  for (; k + 3 < n; k += 4) f.run<1>(d + k, out + k);
  for (; k < n; ++k) out[k] = exp_poly(-(d[k] - m) * inv_tau);
}

// Fused softmax numerators and their sums (see softmax_numerators below). The double sums of
// lanes {0,1} and {2,3} of every aligned group of four elements are two __m128d accumulators,
// so s4[k & 3] receives exactly the additions, in exactly the order, of the scalar loop.
inline void softmax_numerators_sse2(double* row, int n, double m, double inv_tau, double* s4,
                                    double* sd4) {
  const Sse2ExpD f(m, inv_tau);
  __m128d s01 = _mm_loadu_pd(s4), s23 = _mm_loadu_pd(s4 + 2);
  __m128d d01 = _mm_loadu_pd(sd4), d23 = _mm_loadu_pd(sd4 + 2);
  int k = 0;
  for (; k + 7 < n; k += 8) {
    __m128d e[4];
    f.eval<4>(row + k, e);
    for (int v = 0; v < 4; v += 2) {
      const __m128d da = _mm_loadu_pd(row + k + 2 * v), db = _mm_loadu_pd(row + k + 2 * v + 2);
      s01 = _mm_add_pd(s01, e[v]);
      d01 = _mm_add_pd(d01, _mm_mul_pd(e[v], da));
      s23 = _mm_add_pd(s23, e[v + 1]);
      d23 = _mm_add_pd(d23, _mm_mul_pd(e[v + 1], db));
      _mm_storeu_pd(row + k + 2 * v, e[v]);
      _mm_storeu_pd(row + k + 2 * v + 2, e[v + 1]);
    }
  }
  for (; k + 1 < n; k += 2) {  // a pair starts at k ≡ 0 or 2 (mod 4)
    __m128d e;
    f.eval<1>(row + k, &e);
    const __m128d d = _mm_loadu_pd(row + k);
    if ((k & 3) == 0) {
      s01 = _mm_add_pd(s01, e);
      d01 = _mm_add_pd(d01, _mm_mul_pd(e, d));
    } else {
      s23 = _mm_add_pd(s23, e);
      d23 = _mm_add_pd(d23, _mm_mul_pd(e, d));
    }
    _mm_storeu_pd(row + k, e);
  }
  _mm_storeu_pd(s4, s01), _mm_storeu_pd(s4 + 2, s23);
  _mm_storeu_pd(sd4, d01), _mm_storeu_pd(sd4 + 2, d23);
  for (; k < n; ++k) {
    const double d = row[k], e = exp_poly(-(d - m) * inv_tau);
    row[k] = e;
    s4[k & 3] += e;
    sd4[k & 3] += e * d;
  }
}

inline void softmax_numerators_sse2(float* row, int n, float m, float inv_tau, double* s4,
                                    double* sd4) {
  const Sse2ExpF f(m, inv_tau);
  __m128d s01 = _mm_loadu_pd(s4), s23 = _mm_loadu_pd(s4 + 2);
  __m128d d01 = _mm_loadu_pd(sd4), d23 = _mm_loadu_pd(sd4 + 2);
  int k = 0;
  for (; k + 15 < n; k += 16) {
    __m128 e[4];
    f.eval<4>(row + k, e);
    for (int v = 0; v < 4; ++v) {
      const __m128 d = _mm_loadu_ps(row + k + 4 * v);
      const __m128d elo = _mm_cvtps_pd(e[v]), ehi = _mm_cvtps_pd(_mm_movehl_ps(e[v], e[v]));
      const __m128d dlo = _mm_cvtps_pd(d), dhi = _mm_cvtps_pd(_mm_movehl_ps(d, d));
      s01 = _mm_add_pd(s01, elo);
      s23 = _mm_add_pd(s23, ehi);
      d01 = _mm_add_pd(d01, _mm_mul_pd(elo, dlo));
      d23 = _mm_add_pd(d23, _mm_mul_pd(ehi, dhi));
      _mm_storeu_ps(row + k + 4 * v, e[v]);
    }
  }
  for (; k + 3 < n; k += 4) {
    __m128 e;
    f.eval<1>(row + k, &e);
    const __m128 d = _mm_loadu_ps(row + k);
    const __m128d elo = _mm_cvtps_pd(e), ehi = _mm_cvtps_pd(_mm_movehl_ps(e, e));
    const __m128d dlo = _mm_cvtps_pd(d), dhi = _mm_cvtps_pd(_mm_movehl_ps(d, d));
    s01 = _mm_add_pd(s01, elo);
    s23 = _mm_add_pd(s23, ehi);
    d01 = _mm_add_pd(d01, _mm_mul_pd(elo, dlo));
    d23 = _mm_add_pd(d23, _mm_mul_pd(ehi, dhi));
    _mm_storeu_ps(row + k, e);
  }
  _mm_storeu_pd(s4, s01), _mm_storeu_pd(s4 + 2, s23);
  _mm_storeu_pd(sd4, d01), _mm_storeu_pd(sd4 + 2, d23);
  for (; k < n; ++k) {
    const float d = row[k], e = exp_poly(-(d - m) * inv_tau);
    row[k] = e;
    s4[k & 3] += double(e);
    sd4[k & 3] += double(e) * double(d);
  }
}

#ifdef DIFFBIO_SC_AVX2
inline bool host_has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2") != 0;
  return yes;
}

// AVX2 (8 floats / 4 doubles per vector) versions of softmax_numerators_sse2: __m256d
// accumulators hold s4[0..3] and sd4[0..3] lane for lane, so additions happen in the scalar
// loop's order. The polynomial is the one of exp_poly, operation for operation.
__attribute__((target("avx2"))) inline __m256 exp_neg_scaled_avx2(__m256 d, __m256 vm,
                                                                   __m256 vs) {
  using C = ExpConstF;
  const __m256 vlo = _mm256_set1_ps(C::lo), vsh = _mm256_set1_ps(C::shifter);
  const __m256 x = _mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_sub_ps(d, vm)), vs);
  const __m256 under = _mm256_cmp_ps(x, vlo, _CMP_LT_OQ);
  const __m256 xc = _mm256_blendv_ps(x, vlo, under);
  const __m256 t = _mm256_add_ps(_mm256_mul_ps(xc, _mm256_set1_ps(C::log2e)), vsh);
  const __m256 nn = _mm256_sub_ps(t, vsh);
  const __m256 r = _mm256_sub_ps(_mm256_sub_ps(xc, _mm256_mul_ps(nn, _mm256_set1_ps(C::ln2_hi))),
                                 _mm256_mul_ps(nn, _mm256_set1_ps(C::ln2_lo)));
  static constexpr float c[8] = {1.0f / 5040.0f, 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
                                 1.0f / 6.0f,    0.5f,          1.0f,          1.0f};
  __m256 p = _mm256_set1_ps(c[0]);
  for (int j = 1; j < 8; ++j) p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(c[j]));
  const __m256i sc = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(127 - 0x4B400000)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(sc)));
}

__attribute__((target("avx2"))) inline __m256d exp_neg_scaled_avx2(__m256d d, __m256d vm,
                                                                    __m256d vs) {
  using C = ExpConstD;
  const __m256d vlo = _mm256_set1_pd(C::lo), vsh = _mm256_set1_pd(C::shifter);
  const __m256d x = _mm256_mul_pd(_mm256_sub_pd(_mm256_setzero_pd(), _mm256_sub_pd(d, vm)), vs);
  const __m256d under = _mm256_cmp_pd(x, vlo, _CMP_LT_OQ);
  const __m256d xc = _mm256_blendv_pd(x, vlo, under);
  const __m256d t = _mm256_add_pd(_mm256_mul_pd(xc, _mm256_set1_pd(C::log2e)), vsh);
  const __m256d nn = _mm256_sub_pd(t, vsh);
  const __m256d r = _mm256_sub_pd(_mm256_sub_pd(xc, _mm256_mul_pd(nn, _mm256_set1_pd(C::ln2_hi))),
                                  _mm256_mul_pd(nn, _mm256_set1_pd(C::ln2_lo)));
  static constexpr double c[14] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0,
                                   1.0 / 3628800.0,    1.0 / 362880.0,    1.0 / 40320.0,
                                   1.0 / 5040.0,       1.0 / 720.0,       1.0 / 120.0,
                                   1.0 / 24.0,         1.0 / 6.0,         0.5,
                                   1.0,                1.0};
  __m256d p = _mm256_set1_pd(c[0]);
  for (int j = 1; j < 14; ++j) p = _mm256_add_pd(_mm256_mul_pd(p, r), _mm256_set1_pd(c[j]));
  const __m256i sc = _mm256_slli_epi64(
      _mm256_add_epi64(_mm256_castpd_si256(t), _mm256_set1_epi64x(1023 - 0x4338000000000000LL)),
      52);
  return _mm256_andnot_pd(under, _mm256_mul_pd(p, _mm256_castsi256_pd(sc)));
}

__attribute__((target("avx2"))) inline void softmax_numerators_avx2(float* row, int n, float m,
                                                                    float inv_tau, double* s4,
                                                                    double* sd4) {
  const __m256 vm = _mm256_set1_ps(m), vs = _mm256_set1_ps(inv_tau);
  __m256d s = _mm256_loadu_pd(s4), sd = _mm256_loadu_pd(sd4);
  int k = 0;
  for (; k + 7 < n; k += 8) {
    const __m256 d = _mm256_loadu_ps(row + k);
    const __m256 e = exp_neg_scaled_avx2(d, vm, vs);
    const __m256d e0 = _mm256_cvtps_pd(_mm256_castps256_ps128(e));
    const __m256d e1 = _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1));
    s = _mm256_add_pd(s, e0);
    sd = _mm256_add_pd(sd, _mm256_mul_pd(e0, _mm256_cvtps_pd(_mm256_castps256_ps128(d))));
    s = _mm256_add_pd(s, e1);
    sd = _mm256_add_pd(sd, _mm256_mul_pd(e1, _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1))));
    _mm256_storeu_ps(row + k, e);
  }
  if (k + 3 < n) {  // one group of four: the upper half of a vector is padding
    const __m128 d4 = _mm_loadu_ps(row + k);
    const __m256 e = exp_neg_scaled_avx2(_mm256_castps128_ps256(d4), vm, vs);
    const __m256d e0 = _mm256_cvtps_pd(_mm256_castps256_ps128(e));
    s = _mm256_add_pd(s, e0);
    sd = _mm256_add_pd(sd, _mm256_mul_pd(e0, _mm256_cvtps_pd(d4)));
    _mm_storeu_ps(row + k, _mm256_castps256_ps128(e));
    k += 4;
  }
  _mm256_storeu_pd(s4, s);
  _mm256_storeu_pd(sd4, sd);
  for (; k < n; ++k) {
    const float d = row[k], e = exp_poly(-(d - m) * inv_tau);
    row[k] = e;
    s4[k & 3] += double(e);
    sd4[k & 3] += double(e) * double(d);
  }
}

__attribute__((target("avx2"))) inline void softmax_numerators_avx2(double* row, int n, double m,
                                                                    double inv_tau, double* s4,
                                                                    double* sd4) {
  const __m256d vm = _mm256_set1_pd(m), vs = _mm256_set1_pd(inv_tau);
  __m256d s = _mm256_loadu_pd(s4), sd = _mm256_loadu_pd(sd4);
  int k = 0;
  for (; k + 7 < n; k += 8) {  // two independent exp chains per step
    const __m256d d0 = _mm256_loadu_pd(row + k), d1 = _mm256_loadu_pd(row + k + 4);
    const __m256d e0 = exp_neg_scaled_avx2(d0, vm, vs), e1 = exp_neg_scaled_avx2(d1, vm, vs);
    s = _mm256_add_pd(s, e0);
    sd = _mm256_add_pd(sd, _mm256_mul_pd(e0, d0));
    s = _mm256_add_pd(s, e1);
    sd = _mm256_add_pd(sd, _mm256_mul_pd(e1, d1));
    _mm256_storeu_pd(row + k, e0);
    _mm256_storeu_pd(row + k + 4, e1);
  }
  for (; k + 3 < n; k += 4) {
    const __m256d d0 = _mm256_loadu_pd(row + k);
    const __m256d e0 = exp_neg_scaled_avx2(d0, vm, vs);
    s = _mm256_add_pd(s, e0);
    sd = _mm256_add_pd(sd, _mm256_mul_pd(e0, d0));
    _mm256_storeu_pd(row + k, e0);
  }
  _mm256_storeu_pd(s4, s);
  _mm256_storeu_pd(sd4, sd);
  for (; k < n; ++k) {
    const double d = row[k], e = exp_poly(-(d - m) * inv_tau);
    row[k] = e;
    s4[k & 3] += e;
    sd4[k & 3] += e * d;
  }
}

__attribute__((target("avx2"))) inline void scale_row_avx2(float* row, int n, double s) {
  const __m256d vs = _mm256_set1_pd(s);
  int k = 0;
  for (; k + 3 < n; k += 4) {
    const __m128 e = _mm_loadu_ps(row + k);
    _mm_storeu_ps(row + k, _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(e), vs)));
  }
  for (; k < n; ++k) row[k] = float(double(row[k]) * s);
}
#endif

/// row[k] ← row[k]·s in double, rounded back (float rows: four at a time).
inline void scale_row_sse2(float* row, int n, double s) {
  const __m128d vs = _mm_set1_pd(s);
  int k = 0;
  for (; k + 3 < n; k += 4) {
    const __m128 e = _mm_loadu_ps(row + k);
    const __m128 lo = _mm_cvtpd_ps(_mm_mul_pd(_mm_cvtps_pd(e), vs));
    const __m128 hi = _mm_cvtpd_ps(_mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(e, e)), vs));
    _mm_storeu_ps(row + k, _mm_movelh_ps(lo, hi));
  }
  for (; k < n; ++k) row[k] = float(double(row[k]) * s);
}
#endif

/// out[k] = e^{−(d[k] − m)·inv_tau} for k < n (arguments ≤ 0 when m = min d). float/double: the
/// polynomial exp (SSE2 on x86-64 hosts); other scalars (the dual numbers of the tangent tests):
/// the exact exp.
template <class T>
KOKKOS_INLINE_FUNCTION void exp_neg_scaled(const T* d, T* out, int n, T m, T inv_tau) {
  if constexpr (std::is_same<T, double>::value || std::is_same<T, float>::value) {
#ifdef DIFFBIO_SC_SSE2
    exp_neg_scaled_sse2(d, out, n, m, inv_tau);
#else
    for (int k = 0; k < n; ++k) out[k] = exp_poly(-(d[k] - m) * inv_tau);
#endif
  } else {
    for (int k = 0; k < n; ++k) out[k] = math::exp(T(-(d[k] - m) * inv_tau));
  }
}

/// The softmax numerators of one row in place, with their sums: row[k] = d_k on entry and
/// e_k = e^{−(d_k − m)·inv_tau} on return; s4[k & 3] += e_k and sd4[k & 3] += e_k·d_k, in
/// increasing k, in accumulate precision A (double for float). The SSE2 path (x86-64 hosts)
/// performs the same operations in the same order as the scalar loop: identical bits.
template <class T, class A>
KOKKOS_INLINE_FUNCTION void softmax_numerators(T* row, int n, T m, T inv_tau, A* s4, A* sd4) {
#ifdef DIFFBIO_SC_SSE2
  if constexpr ((std::is_same<T, double>::value || std::is_same<T, float>::value) &&
                std::is_same<A, double>::value) {
#ifdef DIFFBIO_SC_AVX2
    if (host_has_avx2()) {
      softmax_numerators_avx2(row, n, m, inv_tau, s4, sd4);
      return;
    }
#endif
    softmax_numerators_sse2(row, n, m, inv_tau, s4, sd4);
    return;
  }
#endif
  constexpr int B = 32;
  for (int kb = 0; kb < n; kb += B) {
    const int nb = n - kb < B ? n - kb : B;
    T el[B];
    exp_neg_scaled(row + kb, el, nb, m, inv_tau);
    for (int u = 0; u < nb; ++u) {
      const int k = kb + u;
      s4[k & 3] += A(el[u]);
      sd4[k & 3] += A(el[u]) * A(row[k]);
      row[k] = el[u];
    }
  }
}

/// row[k] ← T(A(row[k])·s) for k < n (the softmax normalisation, in accumulate precision).
template <class T, class A>
KOKKOS_INLINE_FUNCTION void scale_row(T* row, int n, A s) {
#ifdef DIFFBIO_SC_SSE2
  if constexpr (std::is_same<T, float>::value && std::is_same<A, double>::value) {
#ifdef DIFFBIO_SC_AVX2
    if (host_has_avx2()) {
      scale_row_avx2(row, n, s);
      return;
    }
#endif
    scale_row_sse2(row, n, s);
    return;
  }
#endif
  for (int k = 0; k < n; ++k) row[k] = T(A(row[k]) * s);
}

/// out(c) = Σ_ch partial(ch, c) for c < n_cols, summed over ch in increasing order (the same
/// bits on every backend and thread count). Work items take 32 adjacent columns so the reads of a
/// chunk row are contiguous. Non-blocking.
template <class ExecSpace, class Partial, class Out>
void sum_chunks(const ExecSpace& exec, const std::string& what, const Partial& partial, int n_cols,
                const Out& out) {
  constexpr int B = 32;
  const int NC = static_cast<int>(partial.extent(0));
  using A = typename Out::non_const_value_type;
  Kokkos::parallel_for(
      label(what), Kokkos::RangePolicy<ExecSpace>(exec, 0, (n_cols + B - 1) / B),
      KOKKOS_LAMBDA(const int blk) {
        A acc[B];
        const int c0 = blk * B, nb = (c0 + B <= n_cols) ? B : n_cols - c0;
        for (int u = 0; u < B; ++u) acc[u] = A(0);
        for (int ch = 0; ch < NC; ++ch)
          for (int u = 0; u < nb; ++u) acc[u] += A(partial(ch, c0 + u));
        for (int u = 0; u < nb; ++u) out(c0 + u) = acc[u];
      });
}

}  // namespace sc_impl
}  // namespace diffbio

#endif
