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
