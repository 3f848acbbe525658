// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_VAEKernels.hpp
/// \brief Building blocks of VAENormalizer: the three dense products of an MLP layer (forward
/// Y = X·Wᵀ, input gradient X̄ = Ȳ·W, weight gradient W̄ += Ȳᵀ·X) through KokkosBlas::gemm when
/// available for float/double, or portable loops (dual numbers), plus lgamma/digamma that also
/// work on dual numbers (the tangent of lgamma is digamma).
#ifndef DIFFBIO_VAE_KERNELS_HPP
#define DIFFBIO_VAE_KERNELS_HPP

#include <DiffBio_Config.hpp>
#include <DiffBio_Dual.hpp>
#include <DiffBio_Loss.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <DiffBio_Types.hpp>

#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
#include <KokkosBlas3_gemm.hpp>
#endif

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace diffbio {
namespace vae_impl {

/// lgamma on plain and dual scalars (d lgamma(x) = ψ(x) dx).
KOKKOS_INLINE_FUNCTION double lgamma_of(double x) { return math::lgamma(x); }
KOKKOS_INLINE_FUNCTION float lgamma_of(float x) {
  return static_cast<float>(math::lgamma(static_cast<double>(x)));
}
template <class T>
KOKKOS_INLINE_FUNCTION ad::Dual<T> lgamma_of(const ad::Dual<T>& x) {
  return {T(math::lgamma(static_cast<double>(x.v))), T(math::digamma(static_cast<double>(x.v))) * x.d};
}

/// Plain value of a plain or dual scalar (ad::value_of is found by argument-dependent lookup).
template <class T>
KOKKOS_INLINE_FUNCTION double val(const T& x) {
  using math::value_of;
  return static_cast<double>(value_of(x));
}

template <class T>
constexpr bool is_blas_scalar() {
  return std::is_same<T, float>::value || std::is_same<T, double>::value;
}

/// log1p(x) for x > −1 without a library call, so that the per-gene loop of the decoder
/// vectorises: u = 1 + x = 2^k·f with f ∈ [√½, √2) taken from the exponent bits, log f =
/// 2·atanh(s) with s = (f − 1)/(f + 1) (|s| ≤ 0.172) by its odd series (terms to s^11 for float,
/// s^23 for double: truncation below 0.1 ulp), k·ln 2 in two parts, and (x − (u − 1))/u restoring
/// what rounding 1 + x lost. Within 2.5 ulp of log1p over the finite range used here (x = m/θ ≥ 0).
KOKKOS_INLINE_FUNCTION float log1p_poly(float x) {
  const float u = 1.0f + x;
  std::int32_t bits;
  std::memcpy(&bits, &u, sizeof bits);
  const std::int32_t adj = bits - 0x3F3504F3;  // bits of √½
  const std::int32_t k = adj >> 23;
  const std::int32_t fbits = (adj & 0x007FFFFF) + 0x3F3504F3;
  float f;
  std::memcpy(&f, &fbits, sizeof f);
  const float s = (f - 1.0f) / (f + 1.0f), s2 = s * s;
  float p = 1.0f / 11.0f;
  p = p * s2 + 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  const float fk = static_cast<float>(k);
  const float corr = (x - (u - 1.0f)) / u;
  const float logf = 2.0f * s + 2.0f * s * s2 * p;
  return fk * 0.693145751953125f + (logf + (fk * 1.428606765330187045e-06f + corr));
}
KOKKOS_INLINE_FUNCTION double log1p_poly(double x) {
  const double u = 1.0 + x;
  std::int64_t bits;
  std::memcpy(&bits, &u, sizeof bits);
  const std::int64_t adj = bits - 0x3FE6A09E667F3BCDLL;  // bits of √½
  const std::int64_t k = adj >> 52;
  const std::int64_t fbits = (adj & 0x000FFFFFFFFFFFFFLL) + 0x3FE6A09E667F3BCDLL;
  double f;
  std::memcpy(&f, &fbits, sizeof f);
  const double s = (f - 1.0) / (f + 1.0), s2 = s * s;
  double p = 1.0 / 23.0;
  p = p * s2 + 1.0 / 21.0;
  p = p * s2 + 1.0 / 19.0;
  p = p * s2 + 1.0 / 17.0;
  p = p * s2 + 1.0 / 15.0;
  p = p * s2 + 1.0 / 13.0;
  p = p * s2 + 1.0 / 11.0;
  p = p * s2 + 1.0 / 9.0;
  p = p * s2 + 1.0 / 7.0;
  p = p * s2 + 1.0 / 5.0;
  p = p * s2 + 1.0 / 3.0;
  const double dk = static_cast<double>(k);
  const double corr = (x - (u - 1.0)) / u;
  const double logd = 2.0 * s + 2.0 * s * s2 * p;
  return dk * 6.93147180369123816490e-01 + (logd + (dk * 1.90821492927058770002e-10 + corr));
}
/// The polynomial log1p for float/double, the exact one for dual numbers (tangent tests).
template <class T>
KOKKOS_INLINE_FUNCTION T log1p_fast(const T& x) {
  if constexpr (is_blas_scalar<T>()) return log1p_poly(x);
  else return math::log1p(x);
}

template <class Scalar, class Mem>
using umatrix = Kokkos::View<Scalar**, Kokkos::LayoutRight, Mem, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

/// Y[B×out] = X[B×in]·Wᵀ (W [out×in] row-major, a slice of the parameter block). Overwrites Y.
template <class Exec, class Scalar, class Mem>
void dense_forward(const Exec& exec, bool blas, const umatrix<const Scalar, Mem>& X,
                   const umatrix<const Scalar, Mem>& W, const umatrix<Scalar, Mem>& Y) {
  const int B = static_cast<int>(X.extent(0)), in = static_cast<int>(X.extent(1)),
            out = static_cast<int>(W.extent(0));
  if (B == 0) return;
#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
  if constexpr (is_blas_scalar<Scalar>()) {
    if (blas) {
      exec.fence();
      KokkosBlas::gemm("N", "T", Scalar(1), X, W, Scalar(0), Y);
      return;
    }
  }
#endif
  (void)blas;
  Kokkos::parallel_for(
      label("VAENormalizer::dense_forward"), Kokkos::RangePolicy<Exec>(exec, 0, B * out),
      KOKKOS_LAMBDA(const int t) {
        const int i = t / out, o = t % out;
        Scalar s = Scalar(0);
        for (int j = 0; j < in; ++j) s += X(i, j) * W(o, j);
        Y(i, o) = s;
      });
}

/// X̄[B×in] = Ȳ[B×out]·W (overwrites X̄).
template <class Exec, class Scalar, class Mem>
void dense_input_grad(const Exec& exec, bool blas, const umatrix<const Scalar, Mem>& dY,
                      const umatrix<const Scalar, Mem>& W, const umatrix<Scalar, Mem>& dX) {
  const int B = static_cast<int>(dY.extent(0)), out = static_cast<int>(W.extent(0)),
            in = static_cast<int>(W.extent(1));
  if (B == 0) return;
#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
  if constexpr (is_blas_scalar<Scalar>()) {
    if (blas) {
      exec.fence();
      KokkosBlas::gemm("N", "N", Scalar(1), dY, W, Scalar(0), dX);
      return;
    }
  }
#endif
  (void)blas;
  Kokkos::parallel_for(
      label("VAENormalizer::dense_input_grad"), Kokkos::RangePolicy<Exec>(exec, 0, B * in),
      KOKKOS_LAMBDA(const int t) {
        const int i = t / in, j = t % in;
        Scalar s = Scalar(0);
        for (int o = 0; o < out; ++o) s += dY(i, o) * W(o, j);
        dX(i, j) = s;
      });
}

/// W̄[out×in] += Ȳᵀ·X and (dc non-null) c̄[out] += Σ_i Ȳ(i, ·), into the accum_t gradient block. The BLAS path
/// sums the mini-batch rows in Scalar (float: ≤ a mini-batch of terms, then added in double);
/// the bias sums and the portable path sum in accum_t, rows in order (thread-count independent).
template <class Exec, class Scalar, class Mem, class Acc>
void dense_param_grad(const Exec& exec, bool blas, const umatrix<const Scalar, Mem>& dY,
                      const umatrix<const Scalar, Mem>& X, Acc* dW, Acc* dc, Scalar* scratch) {
  const int B = static_cast<int>(dY.extent(0)), out = static_cast<int>(dY.extent(1)),
            in = static_cast<int>(X.extent(1));
  if (B == 0) return;
  if (dc != nullptr)
    Kokkos::parallel_for(
      label("VAENormalizer::bias_grad"), Kokkos::RangePolicy<Exec>(exec, 0, out),
      KOKKOS_LAMBDA(const int o) {
        Acc s = Acc(0);
        for (int i = 0; i < B; ++i) s += Acc(dY(i, o));
        dc[o] += s;
      });
#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
  if constexpr (is_blas_scalar<Scalar>()) {
    if (blas) {
      exec.fence();
      if constexpr (std::is_same<Scalar, Acc>::value) {
        umatrix<Scalar, Mem> G(dW, static_cast<std::size_t>(out), static_cast<std::size_t>(in));
        KokkosBlas::gemm("T", "N", Scalar(1), dY, X, Scalar(1), G);
      } else {
        umatrix<Scalar, Mem> G(scratch, static_cast<std::size_t>(out), static_cast<std::size_t>(in));
        KokkosBlas::gemm("T", "N", Scalar(1), dY, X, Scalar(0), G);
        Kokkos::parallel_for(
            label("VAENormalizer::weight_grad_add"), Kokkos::RangePolicy<Exec>(exec, 0, out * in),
            KOKKOS_LAMBDA(const int t) { dW[t] += Acc(G(t / in, t % in)); });
      }
      return;
    }
  }
#endif
  (void)blas;
  (void)scratch;
  Kokkos::parallel_for(
      label("VAENormalizer::weight_grad"), Kokkos::RangePolicy<Exec>(exec, 0, out * in),
      KOKKOS_LAMBDA(const int t) {
        const int o = t / in, j = t % in;
        Acc s = Acc(0);
        for (int i = 0; i < B; ++i) s += Acc(dY(i, o)) * Acc(X(i, j));
        dW[t] += s;
      });
}

}  // namespace vae_impl
}  // namespace diffbio

#endif
