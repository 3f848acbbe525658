// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SmithWatermanCases.hpp
/// \brief SmoothSmithWaterman wrapped as a `Differentiable` for the gradient kit, on any execution
/// space: forward and adjoint run the shipped kernels on `Exec`; the tangent runs the same forward
/// kernels on dual numbers. x = [parameters, x profiles (if any), y profiles (if any)], y = scores.
#ifndef DIFFBIO_SMITH_WATERMAN_CASES_HPP
#define DIFFBIO_SMITH_WATERMAN_CASES_HPP

#include <DiffBio_Dual.hpp>
#include <DiffBio_GradCheck.hpp>
#include <DiffBio_RefSmithWaterman.hpp>
#include <DiffBio_SmoothSmithWaterman.hpp>
#include <DiffBio_TestViews.hpp>

#include <random>
#include <string>
#include <vector>

namespace diffbio {
namespace test {

using SwDual = ad::Dual<double>;
inline double sw_dual_tangent(const SwDual& d) { return d.d; }

/// A batch of pairs: letters (also used to build profiles), lengths, padded extents.
struct SwData {
  int A = 4, B = 0, Lx = 0, Ly = 0;
  std::vector<std::uint8_t> xi, yi;  ///< [B×Lx], [B×Ly], padding letters are arbitrary
  std::vector<int> xl, yl;

  /// Random pairs; y_j copies x with mutations so that alignments are non-trivial.
  static SwData random(std::uint64_t seed, int A, std::vector<int> xl, std::vector<int> yl) {
    SwData d;
    d.A = A;
    d.B = static_cast<int>(xl.size());
    d.xl = xl;
    d.yl = yl;
    for (int b = 0; b < d.B; ++b) {
      d.Lx = std::max(d.Lx, xl[b]);
      d.Ly = std::max(d.Ly, yl[b]);
    }
    d.Lx = std::max(d.Lx, 1) + 1;  // at least one padding column everywhere
    d.Ly = std::max(d.Ly, 1) + 2;
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<int> let(0, A - 1), pad(0, 255);
    std::uniform_real_distribution<double> u(0, 1);
    d.xi.resize(static_cast<std::size_t>(d.B) * d.Lx);
    d.yi.resize(static_cast<std::size_t>(d.B) * d.Ly);
    for (int b = 0; b < d.B; ++b) {
      for (int i = 0; i < d.Lx; ++i)
        d.xi[b * d.Lx + i] = static_cast<std::uint8_t>(i < xl[b] ? let(gen) : pad(gen));
      int src = 0;
      for (int j = 0; j < d.Ly; ++j) {
        std::uint8_t c = static_cast<std::uint8_t>(let(gen));
        if (j < yl[b] && xl[b] > 0 && u(gen) < 0.7) c = d.xi[b * d.Lx + (src % xl[b])];
        src += u(gen) < 0.1 ? 2 : 1;
        d.yi[b * d.Ly + j] = j < yl[b] ? c : static_cast<std::uint8_t>(pad(gen));
      }
    }
    return d;
  }
  /// Explicit sequences (already encoded), one pair per entry.
  static SwData pairs(int A, const std::vector<std::vector<std::uint8_t>>& xs,
                      const std::vector<std::vector<std::uint8_t>>& ys) {
    SwData d;
    d.A = A;
    d.B = static_cast<int>(xs.size());
    for (int b = 0; b < d.B; ++b) {
      d.xl.push_back(static_cast<int>(xs[b].size()));
      d.yl.push_back(static_cast<int>(ys[b].size()));
      d.Lx = std::max(d.Lx, d.xl.back());
      d.Ly = std::max(d.Ly, d.yl.back());
    }
    d.Lx = std::max(d.Lx, 1);
    d.Ly = std::max(d.Ly, 1);
    d.xi.assign(static_cast<std::size_t>(d.B) * d.Lx, 0);
    d.yi.assign(static_cast<std::size_t>(d.B) * d.Ly, 0);
    for (int b = 0; b < d.B; ++b) {
      for (int i = 0; i < d.xl[b]; ++i) d.xi[b * d.Lx + i] = xs[b][i];
      for (int j = 0; j < d.yl[b]; ++j) d.yi[b * d.Ly + j] = ys[b][j];
    }
    return d;
  }
};

template <class Exec>
struct SwCase {
  using M = typename Exec::memory_space;
  SwData d;
  SmoothSmithWatermanConfig cfg;
  bool xprof = false, yprof = false;
  ReductionMode mode;

  SwCase(SwData data, SmoothSmithWatermanConfig c, bool xp = false, bool yp = false)
      : d(std::move(data)), cfg(std::move(c)), xprof(xp), yprof(yp) {
    cfg.alphabet_size = d.A;
  }

  int n_params() const { return d.A * d.A + 2 + (cfg.learn_temperature ? 1 : 0); }
  int n_xp() const { return xprof ? d.B * d.Lx * d.A : 0; }
  int n_yp() const { return yprof ? d.B * d.Ly * d.A : 0; }
  int n_x() const { return n_params() + n_xp() + n_yp(); }

  reference::SwRefProblem ref_problem() const {
    reference::SwRefProblem p;
    p.A = d.A;
    p.B = d.B;
    p.Lx = d.Lx;
    p.Ly = d.Ly;
    p.local = cfg.local;
    p.hard = cfg.hard;
    p.learn_tau = cfg.learn_temperature;
    p.xprof = xprof;
    p.yprof = yprof;
    p.tau = cfg.temperature;
    p.x_index = d.xi;
    p.y_index = d.yi;
    p.x_len = d.xl;
    p.y_len = d.yl;
    return p;
  }

  template <class S>
  struct Run {
    SmoothSmithWaterman<S, Exec> op;
    typename SmoothSmithWaterman<S, Exec>::Inputs in;
    typename SmoothSmithWaterman<S, Exec>::Outputs out;
    typename SmoothSmithWaterman<S, Exec>::Workspace ws;
    Kokkos::View<S*, M> params;
  };

  template <class S, class Make>
  Run<S> run(const Vec& x, Make make, bool posterior = false) const {
    Run<S> r{SmoothSmithWaterman<S, Exec>(cfg), {}, {}, {}, {}};
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    const int K = n_params();
    r.params = to_view<Kokkos::View<S*, M>>(std::vector<S>(xs.begin(), xs.begin() + K), K);
    if (xprof)
      r.in.x_profile = to_view<Kokkos::View<S***, M>>(
          std::vector<S>(xs.begin() + K, xs.begin() + K + n_xp()), d.B, d.Lx, d.A);
    else
      r.in.x_index = to_view<Kokkos::View<std::uint8_t**, M>>(d.xi, d.B, d.Lx);
    if (yprof)
      r.in.y_profile = to_view<Kokkos::View<S***, M>>(
          std::vector<S>(xs.begin() + K + n_xp(), xs.end()), d.B, d.Ly, d.A);
    else
      r.in.y_index = to_view<Kokkos::View<std::uint8_t**, M>>(d.yi, d.B, d.Ly);
    r.in.x_length = to_view<Kokkos::View<int*, M>>(d.xl, d.B);
    r.in.y_length = to_view<Kokkos::View<int*, M>>(d.yl, d.B);
    r.out = r.op.allocate_outputs(r.in, posterior);
    r.ws = r.op.allocate_workspace(r.in);
    r.op.forward(Exec(), r.params, r.in, r.out, r.ws);
    return r;
  }

  Vec forward(const Vec& x) const {
    return flatten(run<double>(x, [&](std::size_t i) { return x[i]; }).out.score);
  }
  Vec tangent(const Vec& x, const Vec& xdot) const {
    auto r = run<SwDual>(x, [&](std::size_t i) { return SwDual(x[i], xdot[i]); });
    return flatten(r.out.score, sw_dual_tangent);
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const {
    auto r = run<double>(x, [&](std::size_t i) { return x[i]; });
    return adjoint_of(r, ybar);
  }
  Vec adjoint_of(const Run<double>& r, const Vec& ybar) const {
    Kokkos::View<double*, M> dp("DiffBio::test::dp", n_params());
    typename SmoothSmithWaterman<double, Exec>::InputGrads din;
    if (xprof) din.d_x_profile = Kokkos::View<double***, M>("DiffBio::test::dxp", d.B, d.Lx, d.A);
    if (yprof) din.d_y_profile = Kokkos::View<double***, M>("DiffBio::test::dyp", d.B, d.Ly, d.A);
    r.op.adjoint(Exec(), r.params, r.in, r.ws, {to_view<Kokkos::View<double*, M>>(ybar, d.B)}, din,
                 dp, mode);
    Vec g = flatten(dp);
    if (xprof) {
      const Vec gx = flatten(din.d_x_profile);
      g.insert(g.end(), gx.begin(), gx.end());
    }
    if (yprof) {
      const Vec gy = flatten(din.d_y_profile);
      g.insert(g.end(), gy.begin(), gy.end());
    }
    return g;
  }
  Differentiable differentiable(const Vec& x0, const std::string& name) const {
    return {name, x0, [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }

  /// Evaluation point: the configured matrix and gaps, perturbed by seeded noise (no ties), and
  /// profiles that are soft versions of the letters (rows of positive weights summing to 1).
  Vec point(std::uint64_t seed, double noise = 0.3) const {
    SmoothSmithWaterman<double, Exec> op(cfg);
    Vec x = op.initial_params();
    const Vec r = random_vector(x.size(), seed, -noise, noise);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += r[i];
    auto profiles = [&](const std::vector<std::uint8_t>& letters, int L, std::uint64_t s) {
      Vec p(static_cast<std::size_t>(d.B) * L * d.A);
      const Vec w = random_vector(p.size(), s, 0.02, 0.3);
      for (int b = 0; b < d.B; ++b)
        for (int i = 0; i < L; ++i) {
          double sum = 0;
          for (int a = 0; a < d.A; ++a) {
            const std::size_t k = (static_cast<std::size_t>(b) * L + i) * d.A + a;
            p[k] = w[k] + (letters[b * L + i] % d.A == a ? 1.0 : 0.0);
            sum += p[k];
          }
          for (int a = 0; a < d.A; ++a) p[(static_cast<std::size_t>(b) * L + i) * d.A + a] /= sum;
        }
      return p;
    };
    if (xprof) {
      const Vec p = profiles(d.xi, d.Lx, seed + 1);
      x.insert(x.end(), p.begin(), p.end());
    }
    if (yprof) {
      const Vec p = profiles(d.yi, d.Ly, seed + 2);
      x.insert(x.end(), p.begin(), p.end());
    }
    return x;
  }
};

}  // namespace test
}  // namespace diffbio

#endif
