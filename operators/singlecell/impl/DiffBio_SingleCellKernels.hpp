// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SingleCellKernels.hpp
/// \brief Building blocks of the single-cell kernels: in-order column sums of chunk partials and
/// the softmax exponentials of a row.
#ifndef DIFFBIO_SINGLE_CELL_KERNELS_HPP
#define DIFFBIO_SINGLE_CELL_KERNELS_HPP

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
#endif

namespace diffbio {
namespace sc_impl {

// ---------------------------------------------------------------------------- exp without libm
//
// libm's exp is an opaque scalar call (≈ 12 cycles here, and g++ does not vectorise it without
// -ffast-math); the softmax of a row needs K of them per cell. exp_poly: x = n·ln2 + r with
// |r| ≤ ln2/2 (Cody–Waite), e^r by its Taylor polynomial (degree 13 for double, 7 for float;
// truncation below 0.1 ulp), times 2^n assembled in the exponent bits. Within 2 ulp of the
// correctly rounded e^x for x ∈ [−708, 0] (double) / [−87, 0] (float); smaller arguments give 0
// (the true value is below 2^−1021 / 2^−125: a softmax weight that small is 0 to working
// precision). Only arguments ≤ 0 are used (weights relative to the row minimum).

struct ExpConstD {
  static constexpr double lo = -708.0, log2e = 1.4426950408889634074;
  static constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  static constexpr double shifter = 6755399441055744.0;  // 1.5·2^52: adding it rounds to integer
};
struct ExpConstF {
  static constexpr float lo = -87.0f, log2e = 1.44269504088896341f;
  static constexpr float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187045e-06f;
  static constexpr float shifter = 12582912.0f;  // 1.5·2^23
};

KOKKOS_INLINE_FUNCTION double exp_poly(double x) {
  using C = ExpConstD;
  const double xc = x < C::lo ? C::lo : x;
  const double t = xc * C::log2e + C::shifter;
  const double n = t - C::shifter;
  const double r = (xc - n * C::ln2_hi) - n * C::ln2_lo;
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  std::int64_t bits;
  std::memcpy(&bits, &t, sizeof bits);
  const std::int64_t e = (bits - 0x4338000000000000LL + 1023) * (std::int64_t(1) << 52);
  double scale;
  std::memcpy(&scale, &e, sizeof scale);
  return x < C::lo ? 0.0 : p * scale;
}

KOKKOS_INLINE_FUNCTION float exp_poly(float x) {
  using C = ExpConstF;
  const float xc = x < C::lo ? C::lo : x;
  const float t = xc * C::log2e + C::shifter;
  const float n = t - C::shifter;
  const float r = (xc - n * C::ln2_hi) - n * C::ln2_lo;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  std::int32_t bits;
  std::memcpy(&bits, &t, sizeof bits);
  const std::int32_t e = (bits - 0x4B400000 + 127) * (std::int32_t(1) << 23);
  float scale;
  std::memcpy(&scale, &e, sizeof scale);
  return x < C::lo ? 0.0f : p * scale;
}

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
      const __m128i e = _mm_slli_epi64(_mm_add_epi64(_mm_castpd_si128(t[v]), bias), 52);
      _mm_storeu_pd(out + 2 * v, _mm_andnot_pd(under[v], _mm_mul_pd(p[v], _mm_castsi128_pd(e))));
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
      const __m128i e = _mm_slli_epi32(_mm_add_epi32(_mm_castps_si128(t[v]), bias), 23);
      _mm_storeu_ps(out + 4 * v, _mm_andnot_ps(under[v], _mm_mul_ps(p[v], _mm_castsi128_ps(e))));
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
