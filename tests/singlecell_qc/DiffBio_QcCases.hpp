// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_QcCases.hpp
/// \brief AmbientRemoval and DoubletScorer wrapped as `Differentiable`s for the gradient kit on any
/// execution space (forward/adjoint = the shipped kernels on `Exec`, tangent = the same forward on
/// dual numbers), with small fixed data sets that include masked rows.
#ifndef DIFFBIO_QC_CASES_HPP
#define DIFFBIO_QC_CASES_HPP

#include <DiffBio_AmbientRemoval.hpp>
#include <DiffBio_DoubletScorer.hpp>
#include <DiffBio_Dual.hpp>
#include <DiffBio_GradCheck.hpp>
#include <DiffBio_RefSingleCellQC.hpp>
#include <DiffBio_TestViews.hpp>

#include "../singlecell/DiffBio_SoftKMeansCases.hpp"  // exec_view

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace diffbio {
namespace test {

// ------------------------------------------------------------------------- AmbientRemoval

/// A small random count matrix (one empty row, one masked row) with positive q, Q and a.
struct AmbientData {
  reference::RefCsr c;
  std::vector<std::uint8_t> mask;
  Vec logits, q, Q, a;
  AmbientData(int N, int G, std::uint64_t seed, std::vector<int> masked = {}, int empty_row = -1) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> u(0, 1);
    c.n_rows = N;
    c.n_cols = G;
    for (int i = 0; i < N; ++i) {
      for (int g = 0; g < G; ++g)
        if (i != empty_row && u(gen) < 0.45) {
          c.indices.push_back(g);
          c.values.push_back(1 + std::floor(12 * u(gen)));
        }
      c.indptr.push_back(static_cast<std::int64_t>(c.values.size()));
    }
    mask.assign(N, 1);
    for (int i : masked) mask[i] = 0;
    for (int i = 0; i < N; ++i) logits.push_back(-2.5 + 2.0 * u(gen));
    for (std::size_t e = 0; e < c.values.size(); ++e) q.push_back(0.03 + 0.2 * u(gen));
    for (int i = 0; i < N; ++i) Q.push_back(0.8 + 0.4 * u(gen));
    for (int g = 0; g < G; ++g) a.push_back(0.02 + 0.2 * u(gen));
  }
  int nnz() const { return static_cast<int>(c.values.size()); }
};

template <class Exec>
struct AmbientCase {
  using M = typename Exec::memory_space;
  AmbientData d;
  AmbientRemovalConfig cfg;
  bool use_mask = true;

  AmbientCase(AmbientData data, bool hard, double tau = 1.0) : d(std::move(data)) {
    cfg.n_cells = d.c.n_rows;
    cfg.tau = tau;
    cfg.hard = hard;
  }
  int N() const { return d.c.n_rows; }
  int G() const { return d.c.n_cols; }
  /// x = [logits (N), q (nnz), Q (N), a (G)]
  Vec point() const {
    Vec x = d.logits;
    x.insert(x.end(), d.q.begin(), d.q.end());
    x.insert(x.end(), d.Q.begin(), d.Q.end());
    x.insert(x.end(), d.a.begin(), d.a.end());
    return x;
  }

  template <class S>
  struct Run {
    AmbientRemoval<S, Exec> op;
    typename AmbientRemoval<S, Exec>::Inputs in;
    typename AmbientRemoval<S, Exec>::Outputs out;
    typename AmbientRemoval<S, Exec>::Workspace ws;
    Kokkos::View<S*, M> params;
  };

  template <class S, class Make>
  Run<S> run_forward(const Vec& x, Make make) const {
    Run<S> r{AmbientRemoval<S, Exec>(cfg), {}, {}, {}, {}};
    const Exec exec;
    const int n = N(), nnz = d.nnz(), g = G();
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    auto part = [&](int off, int len) { return std::vector<S>(xs.begin() + off, xs.begin() + off + len); };
    r.params = exec_view<Kokkos::View<S*, M>>(exec, part(0, n), n);
    r.in.row_map = exec_view<Kokkos::View<std::int64_t*, M>>(exec, d.c.indptr, n + 1);
    r.in.entries = exec_view<Kokkos::View<std::int32_t*, M>>(exec, d.c.indices, nnz);
    std::vector<S> counts(d.c.values.begin(), d.c.values.end());
    r.in.counts = exec_view<Kokkos::View<S*, M>>(exec, counts, nnz);
    r.in.n_genes = g;
    r.in.q = exec_view<Kokkos::View<S*, M>>(exec, part(n, nnz), nnz);
    r.in.q_sum = exec_view<Kokkos::View<S*, M>>(exec, part(n + nnz, n), n);
    r.in.ambient = exec_view<Kokkos::View<S*, M>>(exec, part(2 * n + nnz, g), g);
    if (use_mask) r.in.mask = exec_view<Kokkos::View<std::uint8_t*, M>>(exec, d.mask, n);
    r.out = r.op.allocate_outputs(r.in, exec);
    r.ws = r.op.allocate_workspace(r.in);
    r.op.forward(exec, r.params, r.in, r.out, r.ws);
    exec.fence();
    return r;
  }
  template <class Out, class Conv>
  static Vec outputs(const Out& out, Conv conv) {
    Vec y = flatten(out.corrected, conv), a = flatten(out.nll, conv), b = flatten(out.rho, conv);
    y.insert(y.end(), a.begin(), a.end());
    y.insert(y.end(), b.begin(), b.end());
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
  /// Jᵀȳ in scalar S (double or float), gradients returned as double.
  template <class S = double>
  Vec adjoint_as(const Vec& x, const Vec& ybar) const {
    auto r = run_forward<S>(x, [&](std::size_t i) { return static_cast<S>(x[i]); });
    const Exec exec;
    const int n = N(), nnz = d.nnz(), g = G();
    auto seg = [&](int off, int len) { return std::vector<S>(ybar.begin() + off, ybar.begin() + off + len); };
    typename AmbientRemoval<S, Exec>::OutputGrads dout{
        exec_view<Kokkos::View<S*, M>>(exec, seg(0, nnz), nnz),
        exec_view<Kokkos::View<S*, M>>(exec, seg(nnz, n), n),
        exec_view<Kokkos::View<S*, M>>(exec, seg(nnz + n, n), n)};
    Kokkos::View<S*, M> dq(Kokkos::view_alloc("DiffBio::test::dq", exec), nnz),
        dQ(Kokkos::view_alloc("DiffBio::test::dQ", exec), n),
        da(Kokkos::view_alloc("DiffBio::test::da", exec), g);
    Kokkos::View<double*, M> dp(Kokkos::view_alloc("DiffBio::test::dp", exec), n);
    r.op.adjoint(exec, r.params, r.in, r.ws, dout, {dq, dQ, da}, dp);
    Vec out = flatten(dp);
    for (const auto& v : {flatten(dq), flatten(dQ), flatten(da)}) out.insert(out.end(), v.begin(), v.end());
    return out;
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const { return adjoint_as<double>(x, ybar); }
  /// Forward in scalar S, outputs as double.
  template <class S>
  Vec forward_as(const Vec& x) const {
    auto r = run_forward<S>(x, [&](std::size_t i) { return static_cast<S>(x[i]); });
    return outputs(r.out, [](S v) { return static_cast<double>(v); });
  }
  Differentiable differentiable(const Vec& x0) const {
    return {std::string("AmbientRemoval") + (cfg.hard ? "[hard]" : ""), x0,
            [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }
};

// -------------------------------------------------------------------------- DoubletScorer

/// N real + M simulated points in D dims around a few centres; exact kNN lists of the real
/// points (host), one neighbour slot removed (−1) and the given rows masked.
struct DoubletData {
  int N, M, D, k;
  Vec emb;
  std::vector<int> nbr;
  std::vector<std::uint8_t> mask;
  DoubletData(int N_, int M_, int D_, int k_, std::uint64_t seed, std::vector<int> masked = {})
      : N(N_), M(M_), D(D_), k(k_) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> nd(0, 1);
    const int NT = N + M;
    emb.resize(static_cast<std::size_t>(NT) * D);
    for (int i = 0; i < NT; ++i)
      for (int c = 0; c < D; ++c) emb[i * D + c] = (i % 3) * 1.5 + nd(gen);
    nbr.assign(static_cast<std::size_t>(N) * k, -1);
    for (int i = 0; i < N; ++i) {
      std::vector<std::pair<double, int>> cand;
      for (int j = 0; j < NT; ++j) {
        if (j == i) continue;
        double s = 0;
        for (int c = 0; c < D; ++c) s += (emb[i * D + c] - emb[j * D + c]) * (emb[i * D + c] - emb[j * D + c]);
        cand.emplace_back(s, j);
      }
      std::sort(cand.begin(), cand.end());
      for (int j = 0; j < k; ++j) nbr[i * k + j] = cand[j].second;
    }
    if (N > 2) nbr[2 * k + 1] = -1;  // an absent neighbour slot
    mask.assign(N, 1);
    for (int i : masked) mask[i] = 0;
  }
};

template <class Exec>
struct DoubletCase {
  using M = typename Exec::memory_space;
  DoubletData d;
  DoubletScorerConfig cfg;
  ReductionMode mode;

  DoubletCase(DoubletData data, bool hard, bool weighted = true, ReductionMode m = {})
      : d(std::move(data)), mode(m) {
    cfg.k = d.k;
    cfg.hard = hard;
    cfg.distance_weighted = weighted;
    cfg.learn_distance_tau = true;
    cfg.prior_count = 1.0;
  }
  int NT() const { return d.N + d.M; }
  /// x = [emb (NT·D), t, log s, log τ_d]
  Vec point(double t = 0.3, double s = 0.2, double td = 0.7) const {
    Vec x = d.emb;
    x.push_back(t);
    x.push_back(std::log(s));
    x.push_back(std::log(td));
    return x;
  }

  template <class S>
  struct Run {
    DoubletScorer<S, Exec> op;
    typename DoubletScorer<S, Exec>::Inputs in;
    typename DoubletScorer<S, Exec>::Outputs out;
    typename DoubletScorer<S, Exec>::Workspace ws;
    Kokkos::View<S*, M> params;
  };
  template <class S, class Make>
  Run<S> run_forward(const Vec& x, Make make) const {
    Run<S> r{DoubletScorer<S, Exec>(cfg), {}, {}, {}, {}};
    const Exec exec;
    const int ne = NT() * d.D;
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    r.in.emb = exec_view<Kokkos::View<S**, Kokkos::LayoutRight, M>>(
        exec, std::vector<S>(xs.begin(), xs.begin() + ne), NT(), d.D);
    r.in.n_real = d.N;
    r.in.neighbors = exec_view<Kokkos::View<int**, Kokkos::LayoutRight, M>>(exec, d.nbr, d.N, d.k);
    r.in.mask = exec_view<Kokkos::View<std::uint8_t*, M>>(exec, d.mask, d.N);
    r.params = exec_view<Kokkos::View<S*, M>>(exec, std::vector<S>(xs.begin() + ne, xs.end()), 3);
    r.out = r.op.allocate_outputs(r.in, exec);
    r.ws = r.op.allocate_workspace(r.in);
    r.op.forward(exec, r.params, r.in, r.out, r.ws);
    return r;
  }
  template <class Out, class Conv>
  static Vec outputs(const Out& out, Conv conv) {
    Vec y = flatten(out.score, conv), b = flatten(out.prob, conv);
    y.insert(y.end(), b.begin(), b.end());
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
  template <class S = double>
  Vec adjoint_as(const Vec& x, const Vec& ybar) const {
    auto r = run_forward<S>(x, [&](std::size_t i) { return static_cast<S>(x[i]); });
    const Exec exec;
    const int N = d.N;
    typename DoubletScorer<S, Exec>::OutputGrads dout{
        exec_view<Kokkos::View<S*, M>>(exec, std::vector<S>(ybar.begin(), ybar.begin() + N), N),
        exec_view<Kokkos::View<S*, M>>(exec, std::vector<S>(ybar.begin() + N, ybar.end()), N)};
    Kokkos::View<S**, Kokkos::LayoutRight, M> de(Kokkos::view_alloc("DiffBio::test::de", exec), NT(), d.D);
    Kokkos::View<double*, M> dp(Kokkos::view_alloc("DiffBio::test::dp", exec), 3);
    r.op.adjoint(exec, r.params, r.in, r.ws, dout, {de}, dp, mode);
    Vec g = flatten(de), gp = flatten(dp);
    g.insert(g.end(), gp.begin(), gp.end());
    return g;
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const { return adjoint_as<double>(x, ybar); }
  template <class S>
  Vec forward_as(const Vec& x) const {
    auto r = run_forward<S>(x, [&](std::size_t i) { return static_cast<S>(x[i]); });
    return outputs(r.out, [](S v) { return static_cast<double>(v); });
  }
  Differentiable differentiable(const Vec& x0) const {
    return {std::string("DoubletScorer") + (cfg.hard ? "[hard]" : "") + (cfg.distance_weighted ? "" : "[uniform]"),
            x0, [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }
};

}  // namespace test
}  // namespace diffbio

#endif
