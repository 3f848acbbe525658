// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SoftKMeansCases.hpp
/// \brief SoftKMeansClustering wrapped as a `Differentiable` for the gradient kit on any execution
/// space: x = [X (N·D), centroids (K·D), log τ] → y = [assign (N·K), distortion (N), energy (N)];
/// forward and adjoint run the shipped kernels on `Exec`, the tangent runs the same forward
/// kernel on dual numbers.
#ifndef DIFFBIO_SOFT_KMEANS_CASES_HPP
#define DIFFBIO_SOFT_KMEANS_CASES_HPP

#include <DiffBio_Dual.hpp>
#include <DiffBio_GradCheck.hpp>
#include <DiffBio_SoftKMeans.hpp>
#include <DiffBio_TestViews.hpp>

#include <random>
#include <string>

namespace diffbio {
namespace test {

/// Points around K well-separated centres plus noise (no distance ties), with given masked rows.
struct KMeansData {
  int N = 7, D = 3, K = 4;
  std::vector<double> X, centroids;
  std::vector<std::uint8_t> mask;
  KMeansData(int N_, int D_, int K_, std::uint64_t seed, double spread = 0.6,
             std::vector<int> masked = {})
      : N(N_), D(D_), K(K_) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> nd(0.0, 1.0);
    std::vector<double> centres(K * D);
    for (auto& c : centres) c = 3.0 * nd(gen);
    X.resize(static_cast<std::size_t>(N) * D);
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < D; ++j) X[i * D + j] = centres[(i % K) * D + j] + spread * nd(gen);
    centroids.resize(static_cast<std::size_t>(K) * D);
    for (int k = 0; k < K; ++k)
      for (int j = 0; j < D; ++j) centroids[k * D + j] = centres[k * D + j] + 0.5 * nd(gen);
    mask.assign(N, 1);
    for (int i : masked) mask[i] = 0;
  }
};

template <class Exec>
struct SoftKMeansCase {
  using M = typename Exec::memory_space;
  KMeansData d;
  SoftKMeansConfig cfg;
  ReductionMode mode;
  bool use_mask = true;

  SoftKMeansCase(KMeansData data, bool hard, ReductionMode m = {}) : d(std::move(data)), mode(m) {
    cfg.n_clusters = d.K;
    cfg.n_features = d.D;
    cfg.tau = 1.0;
    cfg.hard = hard;
  }
  int nx() const { return d.N * d.D; }
  int np() const { return d.K * d.D + 1; }

  template <class S>
  struct Run {
    SoftKMeansClustering<S, Exec> op;
    typename SoftKMeansClustering<S, Exec>::Inputs in;
    typename SoftKMeansClustering<S, Exec>::Outputs out;
    typename SoftKMeansClustering<S, Exec>::Workspace ws;
    Kokkos::View<S*, M> params;
  };

  template <class S, class Make>
  Run<S> run_forward(const Vec& x, Make make) const {
    Run<S> r{SoftKMeansClustering<S, Exec>(cfg), {}, {}, {}, {}};
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    const Exec exec;
    r.in.x = exec_view<Kokkos::View<S**, Kokkos::LayoutRight, M>>(
        exec, std::vector<S>(xs.begin(), xs.begin() + nx()), d.N, d.D);
    if (use_mask) r.in.mask = exec_view<Kokkos::View<std::uint8_t*, M>>(exec, d.mask, d.N);
    r.params = exec_view<Kokkos::View<S*, M>>(exec, std::vector<S>(xs.begin() + nx(), xs.end()), np());
    r.out = r.op.allocate_outputs(r.in, true, Exec());
    r.ws = r.op.allocate_workspace(r.in);
    r.op.forward(Exec(), r.params, r.in, r.out, r.ws);
    return r;
  }

  template <class Out, class Conv>
  static Vec outputs(const Out& out, Conv conv) {
    Vec y = flatten(out.assign, conv), a = flatten(out.distortion, conv),
        b = flatten(out.energy, conv);
    y.insert(y.end(), a.begin(), a.end());
    y.insert(y.end(), b.begin(), b.end());
    return y;
  }

  Vec forward(const Vec& x) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    return outputs(r.out, [](double v) { return v; });
  }
  Vec tangent(const Vec& x, const Vec& xdot) const {
    auto r = run_forward<ad::Dual<double>>(x, [&](std::size_t i) { return ad::Dual<double>(x[i], xdot[i]); });
    return outputs(r.out, [](const ad::Dual<double>& v) { return v.d; });
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    const int NK = d.N * d.K;
    const Exec exec;
    typename SoftKMeansClustering<double, Exec>::OutputGrads dout{
        exec_view<Kokkos::View<double**, Kokkos::LayoutRight, M>>(exec, Vec(ybar.begin(), ybar.begin() + NK), d.N, d.K),
        exec_view<Kokkos::View<double*, M>>(exec, Vec(ybar.begin() + NK, ybar.begin() + NK + d.N), d.N),
        exec_view<Kokkos::View<double*, M>>(exec, Vec(ybar.begin() + NK + d.N, ybar.end()), d.N)};
    Kokkos::View<double**, Kokkos::LayoutRight, M> dx(Kokkos::view_alloc("DiffBio::test::dx", Exec()),
                                                     d.N, d.D);
    Kokkos::View<double*, M> dp(Kokkos::view_alloc("DiffBio::test::dp", Exec()), np());
    r.op.adjoint(Exec(), r.params, r.in, r.ws, dout, {dx}, dp, mode);
    Vec g = flatten(dx), gp = flatten(dp);
    g.insert(g.end(), gp.begin(), gp.end());
    return g;
  }
  Differentiable differentiable(const Vec& x0) const {
    return {std::string("SoftKMeans") + (cfg.hard ? "[hard]" : ""), x0,
            [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }
  Vec point(double tau = 1.5) const {
    Vec x = d.X;
    x.insert(x.end(), d.centroids.begin(), d.centroids.end());
    x.push_back(std::log(tau));
    return x;
  }
};

}  // namespace test
}  // namespace diffbio

#endif
