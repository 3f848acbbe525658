// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_ReadOperatorCases.hpp
/// \brief The read operators (QualityFilter, WeightedPooling, LinearHead) wrapped as
/// `Differentiable` maps for the gradient kit, on any execution space: forward and adjoint run the
/// shipped Kokkos kernels on `Exec`; the tangent runs the same forward kernel on dual numbers.
#ifndef DIFFBIO_READ_OPERATOR_CASES_HPP
#define DIFFBIO_READ_OPERATOR_CASES_HPP

#include <DiffBio_Dual.hpp>
#include <DiffBio_GradCheck.hpp>
#include <DiffBio_LinearHead.hpp>
#include <DiffBio_QualityFilter.hpp>
#include <DiffBio_TestViews.hpp>
#include <DiffBio_WeightedPooling.hpp>

#include <random>

namespace diffbio {
namespace test {

using Dual = ad::Dual<double>;

inline double dual_value(const Dual& d) { return d.v; }
inline double dual_tangent(const Dual& d) { return d.d; }

/// Seeded inputs for the read operators: qualities avoid the exact threshold (no ties), lengths
/// include a fully padded read and a length-1 read.
struct ReadCaseData {
  int B = 4, L = 6, A = 4;
  std::vector<std::uint8_t> quality;
  std::vector<int> length;
  explicit ReadCaseData(std::uint64_t seed = 5, int B_ = 4, int L_ = 6) : B(B_), L(L_) {
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<int> qd(2, 40);
    quality.resize(B * L);
    for (auto& q : quality) q = static_cast<std::uint8_t>(qd(gen));
    length.resize(B);
    for (int b = 0; b < B; ++b) length[b] = (b == 1) ? 0 : (b == 2 ? 1 : L - (b % 2));
  }
  Vec profile(std::uint64_t seed) const { return random_vector(B * L * A, seed, 0.0, 1.0); }
};

template <class Exec>
struct QualityFilterCase {
  using M = typename Exec::memory_space;
  ReadCaseData d;
  bool hard;
  ReductionMode mode;

  QualityFilterCase(ReadCaseData data, bool hard_, ReductionMode m = {})
      : d(std::move(data)), hard(hard_), mode(m) {}

  int n_profile() const { return d.B * d.L * d.A; }

  template <class S>
  struct Run {
    QualityFilter<S, Exec> op;
    typename QualityFilter<S, Exec>::Inputs in;
    typename QualityFilter<S, Exec>::Outputs out;
    Kokkos::View<S*, M> params;
  };

  /// x = [profile, θ, log s]; values and (for duals) tangents from xdot.
  template <class S, class Make>
  Run<S> run_forward(const Vec& x, Make make) const {
    Run<S> r{QualityFilter<S, Exec>(QualityFilterConfig{20, 2, hard}), {}, {}, {}};
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    std::vector<S> prof(xs.begin(), xs.begin() + n_profile());
    std::vector<S> par(xs.begin() + n_profile(), xs.end());
    r.in.quality = to_view<Kokkos::View<std::uint8_t**, M>>(d.quality, d.B, d.L);
    r.in.length = to_view<Kokkos::View<int*, M>>(d.length, d.B);
    r.in.profile = to_view<Kokkos::View<S***, M>>(prof, d.B, d.L, d.A);
    r.params = to_view<Kokkos::View<S*, M>>(par, 2);
    r.out = QualityFilter<S, Exec>::allocate_outputs(r.in);
    typename QualityFilter<S, Exec>::Workspace ws;
    r.op.forward(Exec(), r.params, r.in, r.out, ws);
    return r;
  }

  Vec forward(const Vec& x) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    Vec y = flatten(r.out.weight), f = flatten(r.out.filtered);
    y.insert(y.end(), f.begin(), f.end());
    return y;
  }
  Vec tangent(const Vec& x, const Vec& xdot) const {
    auto r = run_forward<Dual>(x, [&](std::size_t i) { return Dual(x[i], xdot[i]); });
    Vec y = flatten(r.out.weight, dual_tangent), f = flatten(r.out.filtered, dual_tangent);
    y.insert(y.end(), f.begin(), f.end());
    return y;
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    Vec dw(ybar.begin(), ybar.begin() + d.B * d.L), df(ybar.begin() + d.B * d.L, ybar.end());
    typename QualityFilter<double, Exec>::OutputGrads dout{
        to_view<Kokkos::View<double**, M>>(dw, d.B, d.L),
        to_view<Kokkos::View<double***, M>>(df, d.B, d.L, d.A)};
    Kokkos::View<double***, M> dx("DiffBio::test::dx", d.B, d.L, d.A);
    Kokkos::View<double*, M> dp("DiffBio::test::dp", 2);
    typename QualityFilter<double, Exec>::Workspace ws;
    r.op.adjoint(Exec(), r.params, r.in, ws, dout, {dx}, dp, mode);
    Vec g = flatten(dx), gp = flatten(dp);
    g.insert(g.end(), gp.begin(), gp.end());
    return g;
  }
  Differentiable differentiable(const Vec& x0) const {
    return {std::string("QualityFilter") + (hard ? "[hard]" : ""), x0,
            [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }
  Vec point(std::uint64_t seed, double theta = 20.3, double scale = 3.0) const {
    Vec x = d.profile(seed);
    x.push_back(theta);
    x.push_back(std::log(scale));
    return x;
  }
};

template <class Exec>
struct PoolingCase {
  using M = typename Exec::memory_space;
  ReadCaseData d;
  double eps = 1e-6;
  explicit PoolingCase(ReadCaseData data) : d(std::move(data)) {}
  int nf() const { return d.B * d.L * d.A; }

  template <class S, class Make>
  auto run(const Vec& x, Make make) const {
    WeightedPooling<S, Exec> op(eps);
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    typename WeightedPooling<S, Exec>::Inputs in{
        to_view<Kokkos::View<S***, M>>(std::vector<S>(xs.begin(), xs.begin() + nf()), d.B, d.L, d.A),
        to_view<Kokkos::View<S**, M>>(std::vector<S>(xs.begin() + nf(), xs.end()), d.B, d.L),
        to_view<Kokkos::View<int*, M>>(d.length, d.B)};
    auto out = WeightedPooling<S, Exec>::allocate_outputs(in);
    auto ws = WeightedPooling<S, Exec>::allocate_workspace(in);
    op.forward(Exec(), in, out, ws);
    return std::make_tuple(op, in, out, ws);
  }
  Vec forward(const Vec& x) const {
    return flatten(std::get<2>(run<double>(x, [&](std::size_t i) { return x[i]; })).pooled);
  }
  Vec tangent(const Vec& x, const Vec& xd) const {
    return flatten(std::get<2>(run<Dual>(x, [&](std::size_t i) { return Dual(x[i], xd[i]); })).pooled,
                   dual_tangent);
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const {
    auto [op, in, out, ws] = run<double>(x, [&](std::size_t i) { return x[i]; });
    Kokkos::View<double***, M> df("DiffBio::test::df", d.B, d.L, d.A);
    Kokkos::View<double**, M> dw("DiffBio::test::dw", d.B, d.L);
    op.adjoint(Exec(), in, out, ws, {to_view<Kokkos::View<double**, M>>(ybar, d.B, d.A)}, {df, dw});
    Vec g = flatten(df), gw = flatten(dw);
    g.insert(g.end(), gw.begin(), gw.end());
    return g;
  }
  Differentiable differentiable(const Vec& x0) const {
    return {"WeightedPooling", x0, [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }
  Vec point(std::uint64_t seed) const {
    Vec x = random_vector(nf(), seed, 0.0, 1.0), w = random_vector(d.B * d.L, seed + 1, 0.05, 1.0);
    x.insert(x.end(), w.begin(), w.end());
    return x;
  }
};

template <class Exec>
struct LinearHeadCase {
  using M = typename Exec::memory_space;
  int B = 5, F = 4, C = 3;
  ReductionMode mode;
  int n_params() const { return C * F + C; }

  template <class S, class Make>
  auto run(const Vec& x, Make make) const {
    LinearHead<S, Exec> op(F, C);
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    typename LinearHead<S, Exec>::Inputs in{
        to_view<Kokkos::View<S**, M>>(std::vector<S>(xs.begin(), xs.begin() + B * F), B, F)};
    auto params = to_view<Kokkos::View<S*, M>>(std::vector<S>(xs.begin() + B * F, xs.end()), n_params());
    auto out = op.allocate_outputs(in);
    typename LinearHead<S, Exec>::Workspace ws;
    op.forward(Exec(), params, in, out, ws);
    return std::make_tuple(op, in, out, params);
  }
  Vec forward(const Vec& x) const {
    return flatten(std::get<2>(run<double>(x, [&](std::size_t i) { return x[i]; })).logits);
  }
  Vec tangent(const Vec& x, const Vec& xd) const {
    return flatten(std::get<2>(run<Dual>(x, [&](std::size_t i) { return Dual(x[i], xd[i]); })).logits,
                   dual_tangent);
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const {
    auto [op, in, out, params] = run<double>(x, [&](std::size_t i) { return x[i]; });
    Kokkos::View<double**, M> dx("DiffBio::test::dx", B, F);
    Kokkos::View<double*, M> dp("DiffBio::test::dp", n_params());
    typename LinearHead<double, Exec>::Workspace ws;
    op.adjoint(Exec(), params, in, ws, {to_view<Kokkos::View<double**, M>>(ybar, B, C)}, {dx}, dp,
               mode);
    Vec g = flatten(dx), gp = flatten(dp);
    g.insert(g.end(), gp.begin(), gp.end());
    return g;
  }
  Differentiable differentiable(const Vec& x0) const {
    return {"LinearHead", x0, [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }
  Vec point(std::uint64_t seed) const { return random_vector(B * F + n_params(), seed); }
};

}  // namespace test
}  // namespace diffbio

#endif
