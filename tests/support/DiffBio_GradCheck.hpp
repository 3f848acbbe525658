// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_GradCheck.hpp
/// \brief The gradient verification kit shared by every operator test.
///
/// An operator under test is wrapped as a `Differentiable`: a map y = F(x) on flat double vectors
/// (x = differentiable inputs and parameters, y = outputs) with
///   - `adjoint(x, ȳ)` = Jᵀȳ computed by the operator's hand-written adjoint kernels,
///   - `tangent(x, ẋ)` = J·ẋ computed by running the *same* Kokkos forward kernel on dual numbers.
/// The checks:
///   1. finite differences: central differences in double against ⟨ȳ, J e_i⟩ for every coordinate
///      (random projections beyond `max_coords`);
///   2. Taylor test: r(h) = |φ(x+hv) − φ(x) − h⟨∇φ, v⟩| with φ = ⟨ȳ, F⟩ must fall as h² (slope ≈ 2);
///      a wrong gradient leaves an O(h) remainder (slope ≈ 1);
///   3. dot-product test: ⟨ȳ, J·ẋ⟩ = ⟨Jᵀȳ, ẋ⟩ to rounding;
///   4. (DiffBio_AdolcOracle.hpp) an independent ADOL-C gradient of a plain serial reference.
/// Each check returns a CheckResult, so a test can also assert that a deliberately wrong adjoint
/// is *caught* (tests/core/tstGradCheckKit.cpp).
#ifndef DIFFBIO_GRAD_CHECK_HPP
#define DIFFBIO_GRAD_CHECK_HPP

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace diffbio {
namespace test {

using Vec = std::vector<double>;

struct Differentiable {
  std::string name;
  Vec x0;                                                     ///< point of evaluation
  std::function<Vec(const Vec& x)> forward;                   ///< y = F(x)
  std::function<Vec(const Vec& x, const Vec& ybar)> adjoint;  ///< Jᵀȳ (our adjoint kernels)
  std::function<Vec(const Vec& x, const Vec& xdot)> tangent;  ///< J·ẋ (dual-number forward)
};

struct CheckResult {
  bool passed = false;
  double error = 0;    ///< the check's own error measure (see each check)
  std::string detail;  ///< human-readable summary for test failure messages
};

inline Vec random_vector(std::size_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  Vec v(n);
  for (auto& e : v) e = d(gen);
  return v;
}
inline double dot(const Vec& a, const Vec& b) {
  long double s = 0;  // long double: the checks must not be limited by their own summation
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<long double>(a[i]) * b[i];
  return static_cast<double>(s);
}
inline Vec axpy(double h, const Vec& v, const Vec& x) {
  Vec r(x);
  for (std::size_t i = 0; i < x.size(); ++i) r[i] += h * v[i];
  return r;
}

/// Central finite differences of φ = ⟨ȳ, F(x)⟩ along each coordinate (or along random unit
/// directions if n > max_coords), step h_i = h_rel·max(1, |x_i|), compared with the adjoint.
/// Passes if every |fd − ad| ≤ atol + rtol·max(|fd|, |ad|).
inline CheckResult check_finite_differences(const Differentiable& f, std::uint64_t seed = 1,
                                            double rtol = 1e-5, double atol = 1e-7,
                                            double h_rel = 1e-5, std::size_t max_coords = 200) {
  const Vec& x = f.x0;
  const Vec y = f.forward(x);
  const Vec ybar = random_vector(y.size(), seed);
  const Vec g = f.adjoint(x, ybar);
  CheckResult r;
  r.passed = g.size() == x.size();
  if (!r.passed) {
    r.detail = f.name + ": adjoint returned " + std::to_string(g.size()) + " values for " +
               std::to_string(x.size()) + " inputs";
    return r;
  }
  const std::size_t n_dirs = x.size() <= max_coords ? x.size() : 16;
  double worst = 0;
  std::ostringstream os;
  for (std::size_t k = 0; k < n_dirs; ++k) {
    Vec v(x.size(), 0.0);
    double h;
    if (x.size() <= max_coords) {
      v[k] = 1.0;
      h = h_rel * std::max(1.0, std::fabs(x[k]));
    } else {
      v = random_vector(x.size(), seed + 1000 + k);
      h = h_rel;
    }
    const double fd = (dot(ybar, f.forward(axpy(h, v, x))) - dot(ybar, f.forward(axpy(-h, v, x)))) /
                      (2 * h);
    const double ad = dot(g, v);
    const double err = std::fabs(fd - ad) / (atol + rtol * std::max(std::fabs(fd), std::fabs(ad)));
    if (err > worst) {
      worst = err;
      os.str("");
      os << f.name << ": worst direction " << k << ": finite difference " << fd << " vs adjoint "
         << ad;
    }
  }
  r.error = worst;
  r.passed = worst <= 1.0;
  r.detail = os.str() + " (normalised error " + std::to_string(worst) + ")";
  return r;
}

/// Taylor remainder test along a random direction v: r(h) = |φ(x+hv) − φ(x) − h⟨∇φ, v⟩| for
/// h = h0·2^−k. With a correct gradient r falls as h² (observed slope log2(r(h)/r(h/2)) ≈ 2); with
/// a wrong one as h (slope ≈ 1). Remainders at rounding level are skipped (an operator that is
/// linear along v has r ≈ 0 and passes). Passes if the median measured slope ≥ 1.8.
inline CheckResult taylor_test(const Differentiable& f, std::uint64_t seed = 2, double h0 = 1e-2,
                               int levels = 6) {
  const Vec& x = f.x0;
  const Vec y0 = f.forward(x);
  const Vec ybar = random_vector(y0.size(), seed);
  const Vec v = random_vector(x.size(), seed + 7);
  const double phi0 = dot(ybar, y0);
  const double slope_dir = dot(f.adjoint(x, ybar), v);
  double scale = std::fabs(phi0);
  for (double e : y0) scale = std::max(scale, std::fabs(e));
  const double noise = 1e-11 * std::max(1.0, scale);
  std::vector<double> rem, slopes;
  std::ostringstream os;
  os << f.name << ": Taylor remainders";
  for (int k = 0; k < levels; ++k) {
    const double h = h0 * std::ldexp(1.0, -k);
    const double r = std::fabs(dot(ybar, f.forward(axpy(h, v, x))) - phi0 - h * slope_dir);
    rem.push_back(r);
    os << " " << r;
  }
  for (int k = 0; k + 1 < levels; ++k)
    if (rem[k] > noise && rem[k + 1] > noise) slopes.push_back(std::log2(rem[k] / rem[k + 1]));
  CheckResult res;
  if (slopes.empty()) {  // first-order exact along v (e.g. a linear map): remainders are rounding
    res.passed = rem.front() <= noise * 10;
    res.error = 2.0;
    res.detail = os.str() + " (all at rounding level)";
    return res;
  }
  std::sort(slopes.begin(), slopes.end());
  res.error = slopes[slopes.size() / 2];
  res.passed = res.error >= 1.8;
  os << "; median slope " << res.error;
  res.detail = os.str();
  return res;
}

/// Dot-product (adjoint) test: ⟨ȳ, J·ẋ⟩ against ⟨Jᵀȳ, ẋ⟩, relative to the magnitudes involved.
inline CheckResult dot_product_test(const Differentiable& f, std::uint64_t seed = 3,
                                    double rtol = 1e-11) {
  const Vec& x = f.x0;
  const Vec y = f.forward(x);
  const Vec ybar = random_vector(y.size(), seed);
  const Vec xdot = random_vector(x.size(), seed + 11);
  const Vec jx = f.tangent(x, xdot);
  const Vec jty = f.adjoint(x, ybar);
  CheckResult r;
  if (jx.size() != y.size() || jty.size() != x.size()) {
    r.detail = f.name + ": tangent/adjoint sizes do not match the forward";
    return r;
  }
  const double lhs = dot(ybar, jx), rhs = dot(jty, xdot);
  long double mag = 0;
  for (std::size_t i = 0; i < y.size(); ++i) mag += std::fabs(ybar[i] * jx[i]);
  for (std::size_t i = 0; i < x.size(); ++i) mag += std::fabs(jty[i] * xdot[i]);
  r.error = std::fabs(lhs - rhs) / std::max(static_cast<double>(mag), 1e-300);
  r.passed = r.error <= rtol;
  std::ostringstream os;
  os << f.name << ": <ybar, J xdot> = " << lhs << ", <J^T ybar, xdot> = " << rhs
     << ", relative gap " << r.error;
  r.detail = os.str();
  return r;
}

/// Element-wise comparison |a − b| ≤ atol + rtol·max(|a|, |b|); reports the worst entry.
inline CheckResult compare(const Vec& a, const Vec& b, double rtol, double atol,
                           const std::string& what) {
  CheckResult r;
  if (a.size() != b.size()) {
    r.detail = what + ": sizes " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
    return r;
  }
  std::size_t worst_i = 0;
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool both_nan = std::isnan(a[i]) && std::isnan(b[i]);
    double e = both_nan ? 0.0
                        : std::fabs(a[i] - b[i]) /
                              (atol + rtol * std::max(std::fabs(a[i]), std::fabs(b[i])));
    if (std::isnan(e)) e = std::numeric_limits<double>::infinity();
    if (e > worst) {
      worst = e;
      worst_i = i;
    }
  }
  r.error = worst;
  r.passed = worst <= 1.0;
  std::ostringstream os;
  os << what << ": worst entry " << worst_i;
  if (!a.empty()) os << " (" << a[worst_i] << " vs " << b[worst_i] << ")";
  os << ", normalised error " << worst;
  r.detail = os.str();
  return r;
}

/// Bitwise equality of two vectors (deterministic mode, backend consistency).
inline bool bitwise_equal(const Vec& a, const Vec& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(double)) != 0) return false;
  return true;
}

}  // namespace test
}  // namespace diffbio

#endif
