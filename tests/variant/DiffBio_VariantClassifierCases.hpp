// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_VariantClassifierCases.hpp
/// \brief VariantClassifier wrapped as a `Differentiable` for the gradient kit on any execution
/// space: x = [features (B·F), params] → y = logits (B·C); forward and adjoint run the shipped
/// kernels on `Exec`, the tangent runs the same forward kernel on dual numbers.
#ifndef DIFFBIO_VARIANT_CLASSIFIER_CASES_HPP
#define DIFFBIO_VARIANT_CLASSIFIER_CASES_HPP

#include <DiffBio_Dual.hpp>
#include <DiffBio_GradCheck.hpp>
#include <DiffBio_TestViews.hpp>
#include <DiffBio_VariantClassifier.hpp>

#include <random>
#include <string>

namespace diffbio {
namespace test {

struct ClassifierData {
  int B = 6, F = 5;
  std::vector<double> X;
  std::vector<std::uint8_t> mask;
  ClassifierData(int B_, int F_, std::uint64_t seed, std::vector<int> masked = {}) : B(B_), F(F_) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> nd(0.0, 1.0);
    X.resize(static_cast<std::size_t>(B) * F);
    for (auto& v : X) v = nd(gen);
    mask.assign(static_cast<std::size_t>(B), 1);
    for (int b : masked) {
      mask[b] = 0;
      X[static_cast<std::size_t>(b) * F] = std::nan("");  // padding must never be read
    }
  }
};

template <class Exec>
struct ClassifierCase {
  using M = typename Exec::memory_space;
  ClassifierData d;
  VariantClassifierConfig cfg;
  ReductionMode mode;
  bool use_mask = true;

  ClassifierCase(ClassifierData data, std::vector<int> hidden, int C, Activation act,
                 ReductionMode m = {})
      : d(std::move(data)), mode(m) {
    cfg.n_features = d.F;
    cfg.hidden = std::move(hidden);
    cfg.n_classes = C;
    cfg.activation = act;
  }
  int nx() const { return d.B * d.F; }
  int np() const { return VariantClassifier<double, Exec>(cfg).n_params(); }

  template <class S>
  struct Run {
    VariantClassifier<S, Exec> op;
    typename VariantClassifier<S, Exec>::Inputs in;
    typename VariantClassifier<S, Exec>::Outputs out;
    typename VariantClassifier<S, Exec>::Workspace ws;
    Kokkos::View<S*, M> params;
  };

  template <class S, class Make>
  Run<S> run_forward(const Vec& x, Make make) const {
    Run<S> r{VariantClassifier<S, Exec>(cfg), {}, {}, {}, {}};
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    const Exec exec;
    r.in.features = exec_view<Kokkos::View<S**, Kokkos::LayoutRight, M>>(
        exec, std::vector<S>(xs.begin(), xs.begin() + nx()), d.B, d.F);
    if (use_mask) r.in.mask = exec_view<Kokkos::View<std::uint8_t*, M>>(exec, d.mask, d.B);
    r.params = exec_view<Kokkos::View<S*, M>>(exec, std::vector<S>(xs.begin() + nx(), xs.end()), np());
    r.out = r.op.allocate_outputs(r.in, exec);
    r.ws = r.op.allocate_workspace(r.in);
    r.op.forward(exec, r.params, r.in, r.out, r.ws);
    exec.fence();
    return r;
  }

  Vec forward(const Vec& x) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    return flatten(r.out.logits);
  }
  Vec tangent(const Vec& x, const Vec& xdot) const {
    auto r = run_forward<ad::Dual<double>>(
        x, [&](std::size_t i) { return ad::Dual<double>(x[i], xdot[i]); });
    return flatten(r.out.logits, [](const ad::Dual<double>& v) { return v.d; });
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    const Exec exec;
    const int C = cfg.n_classes;
    auto dy = exec_view<Kokkos::View<double**, Kokkos::LayoutRight, M>>(exec, ybar, d.B, C);
    Kokkos::View<double**, Kokkos::LayoutRight, M> dx(Kokkos::view_alloc("DiffBio::test::dx", exec),
                                                     d.B, d.F);
    Kokkos::View<double*, M> dp(Kokkos::view_alloc("DiffBio::test::dp", exec), np());
    r.op.adjoint(exec, r.params, r.in, r.ws, {dy}, {dx}, dp, mode);
    Vec g = flatten(dx), gp = flatten(dp);
    g.insert(g.end(), gp.begin(), gp.end());
    return g;
  }
  Differentiable differentiable(const Vec& x0) const {
    return {std::string("VariantClassifier") + (cfg.use_blas ? "[blas]" : "[portable]"), x0,
            [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }
  /// Features, then the operator's own initial parameters with small non-zero biases.
  Vec point(std::uint64_t seed = 3) const {
    Vec x = d.X;
    VariantClassifier<double, Exec> op(cfg);
    Vec p = op.initial_params(seed);
    const Vec jitter = random_vector(p.size(), seed + 100, -0.1, 0.1);
    for (int l = 0; l < op.n_layers(); ++l)
      for (int o = 0; o < op.layer_dims()[l + 1]; ++o)
        p[op.bias_offset(l) + o] = jitter[op.bias_offset(l) + o];
    x.insert(x.end(), p.begin(), p.end());
    return x;
  }
};

}  // namespace test
}  // namespace diffbio

#endif
