// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_VAECases.hpp
/// \brief VAENormalizer wrapped as a `Differentiable` for the gradient kit on any execution space
/// (x = the parameter block → y = [loss (B), latent mean (B·L)]), and a small simulator of
/// negative-binomial counts with cell types, library-size variation and batch effects.
#ifndef DIFFBIO_VAE_CASES_HPP
#define DIFFBIO_VAE_CASES_HPP

#include <DiffBio_Dual.hpp>
#include <DiffBio_GradCheck.hpp>
#include <DiffBio_TestViews.hpp>
#include <DiffBio_VAENormalizer.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace diffbio {
namespace test {

/// NB counts: cell i has type i % T and batch (i / T) % NB; each type has a gene program
/// (log-fold 2 on its own block of genes), each batch a gene-wise log-fold effect of size
/// `batch_effect`, libraries vary ×[0.5, 2].
struct VAEData {
  int N = 0, G = 0, NB = 0, T = 0;
  std::vector<double> dense;  ///< N×G
  std::vector<std::int64_t> row_map;
  std::vector<std::int32_t> entries;
  std::vector<float> values;
  std::vector<int> batch, type;
  VAEData(int N_, int G_, int NB_, int T_, std::uint64_t seed, double mean_count = 1.0,
          double batch_effect = 0.5, double theta = 2.0)
      : N(N_), G(G_), NB(NB_), T(T_) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> nd(0.0, 1.0);
    std::uniform_real_distribution<double> ud(0.0, 1.0);
    std::vector<double> base(G), beff(std::max(NB, 1) * G);
    for (auto& b : base) b = 0.5 * nd(gen);
    for (auto& b : beff) b = batch_effect * nd(gen);
    dense.assign(static_cast<std::size_t>(N) * G, 0.0);
    row_map.assign(1, 0);
    for (int i = 0; i < N; ++i) {
      const int t = i % T, b = NB > 0 ? (i / T) % NB : 0;
      type.push_back(t);
      batch.push_back(b);
      const double lib = mean_count * std::exp2(2.0 * ud(gen) - 1.0);
      for (int g = 0; g < G; ++g) {
        const bool prog = (g * T) / G == t;
        const double m = lib * std::exp(base[g] + (prog ? 2.0 : 0.0) + (NB > 0 ? beff[b * G + g] : 0.0));
        std::gamma_distribution<double> gd(theta, m / theta);
        std::poisson_distribution<int> pd(std::max(gd(gen), 1e-12));
        const int y = pd(gen);
        if (y > 0) {
          dense[static_cast<std::size_t>(i) * G + g] = y;
          entries.push_back(g);
          values.push_back(static_cast<float>(y));
        }
      }
      row_map.push_back(static_cast<std::int64_t>(entries.size()));
    }
  }
};

template <class Exec>
struct VAECase {
  using M = typename Exec::memory_space;
  VAEData d;
  VAEConfig cfg;
  std::vector<int> rows;            ///< mini-batch rows (−1 padding); empty: all rows
  std::vector<std::uint8_t> mask;   ///< [B]; empty: none
  std::vector<double> eps;          ///< [B×L] fixed ε; empty: Philox
  std::uint64_t step = 3;

  VAECase(VAEData data, VAEConfig c) : d(std::move(data)), cfg(c) {
    cfg.n_genes = d.G;
    cfg.n_batches = d.NB;
  }
  int B() const { return rows.empty() ? d.N : static_cast<int>(rows.size()); }
  int np() const { return VAENormalizer<double, Exec>(cfg).n_params(); }

  template <class S>
  struct Run {
    VAENormalizer<S, Exec> op;
    typename VAENormalizer<S, Exec>::Inputs in;
    typename VAENormalizer<S, Exec>::Outputs out;
    typename VAENormalizer<S, Exec>::Workspace ws;
    Kokkos::View<S*, M> params;
  };

  template <class S, class Make>
  Run<S> run_forward(const Vec& x, Make make) const {
    Run<S> r{VAENormalizer<S, Exec>(cfg), {}, {}, {}, {}};
    const Exec exec;
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    r.in.row_map = exec_view<Kokkos::View<std::int64_t*, M>>(exec, d.row_map, d.row_map.size());
    r.in.entries = exec_view<Kokkos::View<std::int32_t*, M>>(exec, d.entries, d.entries.size());
    r.in.values = exec_view<Kokkos::View<float*, M>>(exec, d.values, d.values.size());
    r.in.batch = exec_view<Kokkos::View<int*, M>>(exec, d.batch, d.batch.size());
    if (!rows.empty()) r.in.rows = exec_view<Kokkos::View<int*, M>>(exec, rows, rows.size());
    if (!mask.empty()) r.in.mask = exec_view<Kokkos::View<std::uint8_t*, M>>(exec, mask, mask.size());
    if (!eps.empty())
      r.in.eps = exec_view<Kokkos::View<S**, Kokkos::LayoutRight, M>>(exec, eps, B(), cfg.n_latent);
    r.in.step = step;
    r.params = exec_view<Kokkos::View<S*, M>>(exec, xs, xs.size());
    r.out = r.op.allocate_outputs(r.in, true, exec);
    r.ws = r.op.allocate_workspace(r.in);
    r.op.forward(exec, r.params, r.in, r.out, r.ws);
    return r;
  }
  template <class Out, class Conv>
  static Vec outputs(const Out& out, Conv conv) {
    Vec y = flatten(out.loss, conv), m = flatten(out.latent_mean, conv);
    y.insert(y.end(), m.begin(), m.end());
    return y;
  }
  Vec forward(const Vec& x) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    return outputs(r.out, [](double v) { return v; });
  }
  Vec tangent(const Vec& x, const Vec& xd) const {
    auto r = run_forward<ad::Dual<double>>(x, [&](std::size_t i) { return ad::Dual<double>(x[i], xd[i]); });
    return outputs(r.out, [](const ad::Dual<double>& v) { return v.d; });
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    const Exec exec;
    const int b = B(), L = cfg.n_latent;
    typename VAENormalizer<double, Exec>::OutputGrads dout{
        exec_view<Kokkos::View<double*, M>>(exec, Vec(ybar.begin(), ybar.begin() + b), b),
        exec_view<Kokkos::View<double**, Kokkos::LayoutRight, M>>(exec, Vec(ybar.begin() + b, ybar.end()), b, L)};
    Kokkos::View<double*, M> dp(Kokkos::view_alloc("DiffBio::test::dp", exec), x.size());
    r.op.adjoint(exec, r.params, r.in, r.ws, dout, {}, dp);
    return flatten(dp);
  }
  /// Forward + adjoint in precision S with seeds \p ybar: [loss, latent mean, gradient, ε].
  template <class S>
  Vec run_all(const Vec& x, const Vec& ybar, bool use_blas = true) const {
    VAECase c2 = *this;
    c2.cfg.use_blas = use_blas;
    auto r = c2.template run_forward<S>(x, [&](std::size_t i) { return static_cast<S>(x[i]); });
    const Exec exec;
    const int b = B(), L = cfg.n_latent;
    typename VAENormalizer<S, Exec>::OutputGrads dout{
        exec_view<Kokkos::View<S*, M>>(exec, Vec(ybar.begin(), ybar.begin() + b), b),
        exec_view<Kokkos::View<S**, Kokkos::LayoutRight, M>>(exec, Vec(ybar.begin() + b, ybar.end()), b, L)};
    Kokkos::View<accum_t<S>*, M> dp(Kokkos::view_alloc("DiffBio::test::dp", exec), x.size());
    r.op.adjoint(exec, r.params, r.in, r.ws, dout, {}, dp);
    Vec y = outputs(r.out, [](S v) { return static_cast<double>(v); });
    Vec g = flatten(dp), e = flatten(r.ws.eps);
    y.insert(y.end(), g.begin(), g.end());
    y.insert(y.end(), e.begin(), e.end());
    return y;
  }
  Differentiable differentiable(const Vec& x0, const std::string& name) const {
    return {name, x0, [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }
  /// PyTorch-like initial weights, with log θ and the decoder bias spread out.
  Vec point(std::uint64_t seed = 5) const {
    VAENormalizer<double, Exec> op(cfg);
    Vec p = op.initial_params(seed);
    const auto& o = op.offsets();
    Vec noise = random_vector(p.size(), seed + 17, -0.5, 0.5);
    for (int g = 0; g < d.G; ++g) p[o.log_theta + g] = noise[o.log_theta + g];
    for (int g = 0; g < d.G; ++g) p[o.cd + g] += noise[o.cd + g];
    return p;
  }
};

}  // namespace test
}  // namespace diffbio

#endif
