// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_CNVSegmentationCases.hpp
/// \brief CNVSegmentation wrapped as a `Differentiable` for the gradient kit on any execution
/// space: x = [track (B·T), params (2S+2)] → y = [posterior (B·T·S), loglik (B)]; forward and
/// adjoint run the shipped kernels on `Exec`, the tangent the same forward kernel on duals.
#ifndef DIFFBIO_CNV_SEGMENTATION_CASES_HPP
#define DIFFBIO_CNV_SEGMENTATION_CASES_HPP

#include <DiffBio_CNVSegmentation.hpp>
#include <DiffBio_Dual.hpp>
#include <DiffBio_GradCheck.hpp>
#include <DiffBio_TestViews.hpp>

#include <random>
#include <string>

namespace diffbio {
namespace test {

/// Tracks of log-ratios drawn around the state means of a random piecewise-constant copy path.
struct CnvData {
  int B = 2, T = 7, S = 3;
  std::vector<double> track;
  std::vector<int> length;
  std::vector<std::uint8_t> mask;  // empty: no mask
  CnvData(std::vector<int> lengths, int S_, std::uint64_t seed, double noise = 0.3,
          std::vector<int> masked_bins = {})
      : B(static_cast<int>(lengths.size())), S(S_), length(std::move(lengths)) {
    T = 0;
    for (int n : length) T = std::max(T, n);
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> nd(0.0, noise);
    std::uniform_int_distribution<int> st(0, S - 1);
    track.assign(static_cast<std::size_t>(B) * T, 0.0);
    for (int b = 0; b < B; ++b) {
      int c = st(gen);
      for (int t = 0; t < length[b]; ++t) {
        if (t % 3 == 0) c = st(gen);
        track[b * T + t] = std::log(std::max(c, 1) / 2.0) + nd(gen);
      }
    }
    if (!masked_bins.empty()) {
      mask.assign(static_cast<std::size_t>(B) * T, 1);
      for (int k : masked_bins) mask[k] = 0;
    }
  }
};

template <class Exec>
struct CnvCase {
  using M = typename Exec::memory_space;
  CnvData d;
  CNVSegmentationConfig cfg;
  ReductionMode mode;

  CnvCase(CnvData data, double tau, ReductionMode m = {}) : d(std::move(data)), mode(m) {
    cfg.n_states = d.S;
    cfg.ploidy = 1;
    cfg.temperature = tau;
    cfg.init_stay = 0.8;
    cfg.init_sigma = 0.5;
  }
  int nx() const { return d.B * d.T; }
  Vec offsets() const { return CNVSegmentation<double, Exec>(cfg).sd_offsets(); }
  int np() const { return 2 * d.S + 2; }

  template <class S>
  struct Run {
    CNVSegmentation<S, Exec> op;
    typename CNVSegmentation<S, Exec>::Inputs in;
    typename CNVSegmentation<S, Exec>::Outputs out;
    typename CNVSegmentation<S, Exec>::Workspace ws;
    Kokkos::View<S*, M> params;
  };

  template <class S, class Make>
  Run<S> run_forward(const Vec& x, Make make) const {
    Run<S> r{CNVSegmentation<S, Exec>(cfg), {}, {}, {}, {}};
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    r.in.track = to_view<Kokkos::View<S**, M>>(std::vector<S>(xs.begin(), xs.begin() + nx()), d.B, d.T);
    if (!d.mask.empty()) r.in.mask = to_view<Kokkos::View<std::uint8_t**, M>>(d.mask, d.B, d.T);
    r.in.length = to_view<Kokkos::View<int*, M>>(d.length, d.B);
    r.params = to_view<Kokkos::View<S*, M>>(std::vector<S>(xs.begin() + nx(), xs.end()), np());
    r.out = r.op.allocate_outputs(r.in);
    r.op.forward(Exec(), r.params, r.in, r.out, r.ws);
    return r;
  }

  template <class Out, class Conv>
  static Vec outputs(const Out& out, Conv conv) {
    Vec y = flatten(out.posterior, conv), l = flatten(out.loglik, conv);
    y.insert(y.end(), l.begin(), l.end());
    return y;
  }
  Vec forward(const Vec& x) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    return outputs(r.out, [](double v) { return v; });
  }
  Vec tangent(const Vec& x, const Vec& xdot) const {
    auto r = run_forward<ad::Dual<double>>(
        x, [&](std::size_t i) { return ad::Dual<double>(x[i], xdot[i]); });
    return outputs(r.out, [](const ad::Dual<double>& v) { return v.d; });
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    const std::size_t BTS = static_cast<std::size_t>(d.B) * d.T * d.S;
    typename CNVSegmentation<double, Exec>::OutputGrads dout{
        to_view<Kokkos::View<double***, M>>(Vec(ybar.begin(), ybar.begin() + BTS), d.B, d.T, d.S),
        to_view<Kokkos::View<double*, M>>(Vec(ybar.begin() + BTS, ybar.end()), d.B)};
    Kokkos::View<double**, M> dx("DiffBio::test::dx", d.B, d.T);
    Kokkos::View<double*, M> dp("DiffBio::test::dp", np());
    r.op.adjoint(Exec(), r.params, r.in, r.ws, dout, {dx}, dp, mode);
    Vec g = flatten(dx), gp = flatten(dp);
    g.insert(g.end(), gp.begin(), gp.end());
    return g;
  }
  Differentiable differentiable(const Vec& x0) const {
    return {std::string("CNVSegmentation") + (cfg.temperature > 0 ? "" : "[hard]"), x0,
            [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }
  /// Evaluation point: the data and the operator's initial parameters, nudged off symmetry.
  Vec point(std::uint64_t seed = 5) const {
    Vec x = d.track;
    const Vec p = CNVSegmentation<double, Exec>(cfg).initial_params();
    const Vec jitter = random_vector(p.size(), seed, -0.2, 0.2);
    for (std::size_t k = 0; k < p.size(); ++k) x.push_back(p[k] + jitter[k]);
    return x;
  }
};

}  // namespace test
}  // namespace diffbio

#endif
