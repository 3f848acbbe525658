// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SmoothMath.hpp
/// \brief Device functions for the smooth operators and their derivatives.
///
/// | classic           | smooth (temperature τ > 0)       | τ = 0 ("hard")          |
/// |-------------------|----------------------------------|--------------------------|
/// | max               | τ·logsumexp(x/τ)                 | max, gradient one-hot    |
/// | argmax            | softmax(x/τ)                     | one-hot of first argmax  |
/// | x ≥ t             | σ((x − t)/s)                     | step, zero gradient      |
/// | nearest centroid  | softmax(−d/τ) (soft assignment)  | one-hot of first argmin  |
///
/// Every function works for float, double and the forward-mode dual scalar used in tests
/// (calls to exp/log are unqualified so argument-dependent lookup finds the dual overloads).
///
/// NOTE(numerics): masked entries and −∞ entries are both "absent". A row with no present entry
/// (all masked or all −∞) yields value 0 and all-zero weights: finite output, zero gradient, so a
/// padded row can never inject NaN or −∞ into a loss. Entries equal to +∞ win outright: the value is
/// +∞ and the weight is shared equally by the +∞ entries.
#ifndef DIFFBIO_SMOOTH_MATH_HPP
#define DIFFBIO_SMOOTH_MATH_HPP

#include <DiffBio_Compat.hpp>
#include <DiffBio_Types.hpp>

namespace diffbio {
namespace math {

template <class T>
KOKKOS_INLINE_FUNCTION T exp(const T& x) {
  using compat::exp;
  return exp(x);
}
template <class T>
KOKKOS_INLINE_FUNCTION T log(const T& x) {
  using compat::log;
  return log(x);
}
template <class T>
KOKKOS_INLINE_FUNCTION T log1p(const T& x) {
  using compat::log1p;
  return log1p(x);
}
/// Plain value of a scalar (strips the derivative part of a dual); used for branches and tests.
KOKKOS_INLINE_FUNCTION double value_of(double x) { return x; }
KOKKOS_INLINE_FUNCTION float value_of(float x) { return x; }

template <class T>
KOKKOS_INLINE_FUNCTION constexpr T neg_inf() {
  return -compat::infinity<T>();
}
template <class T>
KOKKOS_INLINE_FUNCTION bool is_pos_inf(const T& x) {
  return value_of(x) == compat::infinity<decltype(value_of(x))>();
}
template <class T>
KOKKOS_INLINE_FUNCTION bool is_neg_inf(const T& x) {
  return value_of(x) == -compat::infinity<decltype(value_of(x))>();
}

// ---------------------------------------------------------------- sigmoid / soft threshold

/// Logistic σ(z), evaluated on the side where exp cannot overflow.
template <class T>
KOKKOS_INLINE_FUNCTION T sigmoid(const T& z) {
  if (value_of(z) >= 0) {
    return T(1) / (T(1) + exp(-z));
  }
  const T e = exp(z);
  return e / (T(1) + e);
}

/// log σ(z) = −softplus(−z), stable for large |z|.
template <class T>
KOKKOS_INLINE_FUNCTION T log_sigmoid(const T& z) {
  if (value_of(z) >= 0) return -log1p(exp(-z));
  return z - log1p(exp(z));
}

/// softplus(z) = log(1 + e^z), stable.
template <class T>
KOKKOS_INLINE_FUNCTION T softplus(const T& z) {
  return -log_sigmoid(-z);
}

/// Soft threshold w = σ((x − t)/s) and its partial derivatives; s ≤ 0 means hard mode:
/// w = [x ≥ t] (the classic cut-off, ties kept) with all derivatives zero.
template <class T>
struct SoftThreshold {
  T value;   ///< w
  T d_x;     ///< ∂w/∂x
  T d_t;     ///< ∂w/∂t
  T d_s;     ///< ∂w/∂s
};

template <class T>
KOKKOS_INLINE_FUNCTION SoftThreshold<T> soft_threshold(const T& x, const T& t, const T& s) {
  SoftThreshold<T> r;
  if (!(value_of(s) > 0)) {
    r.value = value_of(x) >= value_of(t) ? T(1) : T(0);
    r.d_x = r.d_t = r.d_s = T(0);
    return r;
  }
  const T z = (x - t) / s;
  r.value = sigmoid(z);
  const T slope = r.value * (T(1) - r.value);  // σ'(z)
  r.d_x = slope / s;
  r.d_t = -slope / s;
  r.d_s = -slope * z / s;
  return r;
}

// ---------------------------------------------------------------- smooth max of two / three

/// Smooth max of two values with its weights (∂/∂a, ∂/∂b); τ ≤ 0 gives max with the weight on the
/// first maximiser (ties go to `a`, matching a classic `a >= b ? a : b`).
template <class T>
struct SmoothMax2 {
  T value, w_a, w_b;
};
template <class T>
KOKKOS_INLINE_FUNCTION SmoothMax2<T> smooth_max2(const T& a, const T& b, const T& tau) {
  SmoothMax2<T> r;
  const bool a_absent = is_neg_inf(a), b_absent = is_neg_inf(b);
  if (a_absent && b_absent) {
    r.value = T(0);
    r.w_a = r.w_b = T(0);
    return r;
  }
  if (!(value_of(tau) > 0) || a_absent || b_absent || is_pos_inf(a) || is_pos_inf(b)) {
    const bool take_a = !a_absent && (b_absent || value_of(a) >= value_of(b));
    const bool both_inf = is_pos_inf(a) && is_pos_inf(b);
    r.value = take_a ? a : b;
    r.w_a = both_inf ? T(0.5) : (take_a ? T(1) : T(0));
    r.w_b = both_inf ? T(0.5) : T(1) - r.w_a;
    return r;
  }
  // τ·log(e^{a/τ} + e^{b/τ}) = m + τ·log1p(e^{−|a−b|/τ}); the weights are σ(±(a−b)/τ).
  const T m = value_of(a) >= value_of(b) ? a : b;
  const T lo = value_of(a) >= value_of(b) ? b : a;
  r.value = m + tau * log1p(exp((lo - m) / tau));
  r.w_a = sigmoid((a - b) / tau);
  r.w_b = T(1) - r.w_a;
  return r;
}

// ---------------------------------------------------------------- logsumexp over a row

/// Smooth max V = τ·log Σ_i exp(x_i/τ) over the present entries of a row (`get(i)` returns x_i, or
/// −∞ for a masked entry). τ ≤ 0 gives the hard max. Accumulates in accum_t<T>.
/// Returns 0 for a row with no present entry (see the NOTE at the top of this file).
template <class T, class Get>
KOKKOS_INLINE_FUNCTION T smooth_max(int n, const T& tau, Get get) {
  using A = accum_t<T>;
  T m = neg_inf<T>();
  int n_pos_inf = 0;
  for (int i = 0; i < n; ++i) {
    const T x = get(i);
    if (is_pos_inf(x)) ++n_pos_inf;
    if (!is_neg_inf(x) && value_of(x) > value_of(m)) m = x;
  }
  if (is_neg_inf(m)) return T(0);
  if (n_pos_inf > 0) return m;  // +∞
  if (!(value_of(tau) > 0)) return m;
  A sum = A(0);
  for (int i = 0; i < n; ++i) {
    const T x = get(i);
    if (!is_neg_inf(x)) sum += A(exp((x - m) / tau));
  }
  return m + tau * T(log(sum));
}

/// Weights p_i = ∂V/∂x_i of smooth_max (the softmax of x/τ, or the one-hot of the first maximiser
/// when τ ≤ 0), written through `put(i, p_i)` for every i (0 for masked entries). `value` is the
/// result of smooth_max on the same row. Returns ∂V/∂τ = (V − Σ p_i x_i)/τ (0 when τ ≤ 0).
template <class T, class Get, class Put>
KOKKOS_INLINE_FUNCTION T smooth_max_weights(int n, const T& tau, const T& value, Get get, Put put) {
  using A = accum_t<T>;
  int n_pos_inf = 0, first_max = -1;
  T m = neg_inf<T>();
  for (int i = 0; i < n; ++i) {
    const T x = get(i);
    if (is_pos_inf(x)) ++n_pos_inf;
    if (!is_neg_inf(x) && (first_max < 0 || value_of(x) > value_of(m))) {
      m = x;
      first_max = i;
    }
  }
  if (first_max < 0) {  // nothing present: zero gradient
    for (int i = 0; i < n; ++i) put(i, T(0));
    return T(0);
  }
  if (n_pos_inf > 0) {
    for (int i = 0; i < n; ++i) put(i, is_pos_inf(get(i)) ? T(1) / T(n_pos_inf) : T(0));
    return T(0);
  }
  if (!(value_of(tau) > 0)) {
    for (int i = 0; i < n; ++i) put(i, i == first_max ? T(1) : T(0));
    return T(0);
  }
  // Normalise relative to the maximum, not through `value`: when τ·log Σ is below the rounding
  // of a huge m (e.g. m = 1e300), exp(x − value) would not sum to one.
  A sum = A(0);
  for (int i = 0; i < n; ++i) {
    const T x = get(i);
    if (!is_neg_inf(x)) sum += A(exp((x - m) / tau));
  }
  A mean = A(0);
  for (int i = 0; i < n; ++i) {
    const T x = get(i);
    const T p = is_neg_inf(x) ? T(0) : T(A(exp((x - m) / tau)) / sum);
    put(i, p);
    if (!is_neg_inf(x)) mean += A(p * x);
  }
  return (value - T(mean)) / tau;
}

/// Adjoint of the softmax p = softmax(x/τ) of a row: given p and p̄, returns x̄_i through
/// `put(i, x̄_i)` (added by the caller) and ∂/∂τ as the return value:
///   x̄_i = p_i (p̄_i − Σ_j p_j p̄_j)/τ,   τ̄ = −Σ_i x̄_i x_i/τ.
/// Masked entries (p_i = 0) receive 0. τ ≤ 0: the softmax is piecewise constant, all zero.
template <class T, class GetX, class GetP, class GetPbar, class Put>
KOKKOS_INLINE_FUNCTION T softmax_adjoint(int n, const T& tau, GetX get_x, GetP get_p,
                                         GetPbar get_pbar, Put put) {
  using A = accum_t<T>;
  if (!(value_of(tau) > 0)) {
    for (int i = 0; i < n; ++i) put(i, T(0));
    return T(0);
  }
  A dot = A(0);
  for (int i = 0; i < n; ++i) dot += A(get_p(i) * get_pbar(i));
  A tau_bar = A(0);
  for (int i = 0; i < n; ++i) {
    const T p = get_p(i);
    if (value_of(p) == 0) {
      put(i, T(0));
      continue;
    }
    const T xbar = p * (get_pbar(i) - T(dot)) / tau;
    put(i, xbar);
    tau_bar -= A(xbar * get_x(i) / tau);
  }
  return T(tau_bar);
}

// ---------------------------------------------------------------- soft assignment

/// Soft assignment of a point to K centres from squared distances d_k: p_k = softmax_k(−d_k/τ)
/// (hard: one-hot of the first nearest centre). It is smooth_max_weights on −d, written out so
/// callers do not negate by hand. Masked centres: `get_dist(k)` returns +∞.
template <class T, class GetDist, class Put>
KOKKOS_INLINE_FUNCTION void soft_assignment(int k, const T& tau, GetDist get_dist, Put put) {
  auto neg = [&](int i) { return -get_dist(i); };
  const T v = smooth_max(k, tau, neg);
  smooth_max_weights(k, tau, v, neg, put);
}

}  // namespace math
}  // namespace diffbio

#endif
