// SPDX-License-Identifier: BSD-3-Clause
// VariantClassifier on the backend this binary is compiled for: finite differences + Taylor,
// dot-product test (dual forward), ADOL-C oracle on a plain serial reference, gemm path vs
// portable path, backend vs Serial, float vs double, masked rows, the += contract, deterministic
// mode, and a classifier trained by Adam on softmax cross-entropy to 100% training accuracy.
#include <DiffBio_AdolcOracle.hpp>
#include <DiffBio_Loss.hpp>
#include <DiffBio_Optimizer.hpp>
#include <DiffBio_RefVariant.hpp>
#include <DiffBio_TestBackend.hpp>

#include "DiffBio_VariantClassifierCases.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace diffbio;
using namespace diffbio::test;

namespace {

using Exec = TEST_EXECSPACE;
using M = Exec::memory_space;

void expect_all_checks(const Differentiable& f, bool taylor = true) {
  auto fd = check_finite_differences(f);
  EXPECT_TRUE(fd.passed) << fd.detail;
  if (taylor) {  // relu: a step of 1e-2 along a random direction crosses kinks (slope 1 there)
    auto ty = taylor_test(f);
    EXPECT_TRUE(ty.passed) << ty.detail;
  }
  auto dp = dot_product_test(f);
  EXPECT_TRUE(dp.passed) << dp.detail;
}

const Activation all_activations[] = {Activation::relu, Activation::tanh, Activation::softplus};

int act_code(Activation a) { return a == Activation::relu ? 0 : a == Activation::tanh ? 1 : 2; }

}  // namespace

TEST(VariantClassifier, ParameterLayoutAndInitialisation) {
  VariantClassifierConfig cfg;
  cfg.n_features = 10;
  cfg.hidden = {7, 5};
  cfg.n_classes = 3;
  VariantClassifier<double, Exec> op(cfg);
  EXPECT_EQ(op.n_params(), 7 * 10 + 7 + 5 * 7 + 5 + 3 * 5 + 3);
  EXPECT_EQ(op.weight_offset(1), 77);
  EXPECT_EQ(op.bias_offset(1), 77 + 35);
  ParameterLayout layout;
  const ParamBlock blk = op.declare(layout);
  EXPECT_EQ(blk.size, static_cast<std::size_t>(op.n_params()));
  EXPECT_EQ(blk.name, "variant_classifier/mlp_weights_biases");
  const auto p1 = op.initial_params(7), p2 = op.initial_params(7), p3 = op.initial_params(8);
  EXPECT_EQ(p1, p2);
  EXPECT_NE(p1, p3);
  // He initialisation: first-layer weights have variance 2/fan_in; biases are zero.
  cfg.hidden = {400};
  VariantClassifier<double, Exec> wide(cfg);
  const auto p = wide.initial_params(1);
  double s2 = 0;
  for (int e = 0; e < 400 * 10; ++e) s2 += p[e] * p[e];
  EXPECT_NEAR(s2 / 4000, 0.2, 0.02);
  for (int o = 0; o < 400; ++o) EXPECT_EQ(p[wide.bias_offset(0) + o], 0.0);
}

TEST(VariantClassifier, GradientKitPasses) {
  for (Activation act : all_activations)
    for (bool blas : {true, false}) {
      ClassifierCase<Exec> c(ClassifierData(6, 5, 11, {2}), {5, 4}, 3, act);
      c.cfg.use_blas = blas;
      expect_all_checks(c.differentiable(c.point()), act != Activation::relu);
    }
}

TEST(VariantClassifier, GradientKitPassesWithoutHiddenLayersAndWithoutMask) {
  ClassifierCase<Exec> c(ClassifierData(5, 4, 12), {}, 2, Activation::tanh);
  c.use_mask = false;
  expect_all_checks(c.differentiable(c.point()));
  ClassifierCase<Exec> deep(ClassifierData(4, 3, 13), {4, 3, 5}, 4, Activation::softplus);
  deep.use_mask = false;
  expect_all_checks(deep.differentiable(deep.point()));
}

TEST(VariantClassifier, AdolcOracleAgrees) {
  for (Activation act : all_activations)
    for (bool blas : {true, false}) {
      ClassifierCase<Exec> c(ClassifierData(7, 6, 14, {0, 5}), {8, 6}, 3, act);
      c.cfg.use_blas = blas;
      const Vec x = c.point(4);
      const Vec y = c.forward(x);
      const Vec ybar = random_vector(y.size(), 99);
      std::vector<int> dims{c.d.F, 8, 6, 3};
      auto ref = [&](const auto& xs) {
        return reference::mlp(xs, c.d.mask, c.d.B, dims, act_code(act));
      };
      const auto oracle = adolc_vjp(ref, x, ybar);
      auto fw = compare(y, oracle.y, 1e-12, 1e-14, "forward vs serial reference");
      EXPECT_TRUE(fw.passed) << fw.detail;
      auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-10, 1e-12, "adjoint vs ADOL-C");
      EXPECT_TRUE(bw.passed) << bw.detail;
    }
}

TEST(VariantClassifier, GemmPathEqualsPortablePath) {
  for (Activation act : all_activations) {
    const ClassifierData data(300, 20, 15, {3, 150});
    ClassifierCase<Exec> blas(data, {32, 16}, 3, act), portable(data, {32, 16}, 3, act);
    portable.cfg.use_blas = false;
    const Vec x = blas.point(5);
    const Vec ybar = random_vector(blas.forward(x).size(), 12);
    auto fw = compare(blas.forward(x), portable.forward(x), 1e-12, 1e-14, "forward: gemm vs portable");
    EXPECT_TRUE(fw.passed) << fw.detail;
    auto bw = compare(blas.adjoint(x, ybar), portable.adjoint(x, ybar), 1e-12, 1e-13,
                      "adjoint: gemm vs portable");
    EXPECT_TRUE(bw.passed) << bw.detail;
  }
}

TEST(VariantClassifier, BackendEqualsSerialBitwise) {
  // Both paths run the same kernels and the same BLAS on both host backends.
  const ClassifierData data(500, 12, 16, {1, 250, 499});
  for (bool blas : {false, true})
    for (bool det : {false, true}) {
      ReductionMode mode;
      mode.deterministic = det;
      ClassifierCase<Exec> here(data, {16, 8}, 3, Activation::tanh, mode);
      ClassifierCase<Kokkos::Serial> serial(data, {16, 8}, 3, Activation::tanh, mode);
      here.cfg.use_blas = serial.cfg.use_blas = blas;
      const Vec x = here.point(6);
      const Vec ybar = random_vector(here.forward(x).size(), 5);
      EXPECT_TRUE(bitwise_equal(here.forward(x), serial.forward(x))) << "blas " << blas;
      EXPECT_TRUE(bitwise_equal(here.adjoint(x, ybar), serial.adjoint(x, ybar)))
          << "blas " << blas << " det " << det;
    }
}

TEST(VariantClassifier, DeterministicModeIsIndependentOfChunking) {
  const ClassifierData data(400, 9, 17, {7});
  ReductionMode det;
  det.deterministic = true;
  ClassifierCase<Exec> a(data, {10}, 3, Activation::relu, det), b(data, {10}, 3, Activation::relu, det),
      fast(data, {10}, 3, Activation::relu);
  b.cfg.chunk_rows = 7;
  const Vec x = a.point(7);
  const Vec ybar = random_vector(a.forward(x).size(), 6);
  const Vec ga = a.adjoint(x, ybar), gb = b.adjoint(x, ybar), gf = fast.adjoint(x, ybar);
  EXPECT_TRUE(bitwise_equal(ga, gb));
  // The price: at most half a grid quantum per row in each parameter sum.
  auto q = compare(ga, gf, 1e-13, 400 * std::ldexp(1.0, -36), "deterministic vs fast");
  EXPECT_TRUE(q.passed) << q.detail;
}

TEST(VariantClassifier, FloatMatchesDouble) {
  for (bool blas : {true, false}) {
    const ClassifierData data(200, 10, 18, {4});
    ClassifierCase<Exec> c(data, {16, 16}, 3, Activation::relu);
    c.cfg.use_blas = blas;
    const Vec x = c.point(8);
    const Vec yd = c.forward(x);
    const Vec ybar = random_vector(yd.size(), 8);
    const Vec gd = c.adjoint(x, ybar);

    VariantClassifier<float, Exec> op(c.cfg);
    const Exec exec;
    typename VariantClassifier<float, Exec>::Inputs in{
        exec_view<Kokkos::View<float**, Kokkos::LayoutRight, M>>(exec, data.X, data.B, data.F),
        exec_view<Kokkos::View<std::uint8_t*, M>>(exec, data.mask, data.B)};
    auto params = exec_view<Kokkos::View<float*, M>>(exec, Vec(x.begin() + c.nx(), x.end()), c.np());
    auto out = op.allocate_outputs(in);
    auto ws = op.allocate_workspace(in);
    op.forward(exec, params, in, out, ws);
    Kokkos::View<float**, Kokkos::LayoutRight, M> dx("dx", data.B, data.F);
    Kokkos::View<double*, M> dp("dp", c.np());
    op.adjoint(exec, params, in, ws,
               {exec_view<Kokkos::View<float**, Kokkos::LayoutRight, M>>(exec, ybar, data.B, 3)},
               {dx}, dp);
    auto fw = compare(flatten(out.logits), yd, 1e-4, 1e-5, "float forward");
    EXPECT_TRUE(fw.passed) << fw.detail;
    Vec gf = flatten(dx), gpf = flatten(dp);
    gf.insert(gf.end(), gpf.begin(), gpf.end());
    auto bw = compare(gf, gd, 1e-3, 1e-4, "float gradients");
    EXPECT_TRUE(bw.passed) << bw.detail << " blas " << blas;
  }
}

TEST(VariantClassifier, MaskedRowsGiveZerosAndNoGradient) {
  for (bool blas : {true, false}) {
    // An all-masked batch of NaN padding: finite zero logits and all-zero gradients.
    ClassifierData all(12, 5, 19);
    for (auto& v : all.X) v = std::nan("");
    all.mask.assign(12, 0);
    ClassifierCase<Exec> c(all, {6}, 3, Activation::softplus);
    c.cfg.use_blas = blas;
    const Vec x = c.point();
    const Vec y = c.forward(x);
    for (double v : y) EXPECT_EQ(v, 0.0);
    const Vec g = c.adjoint(x, Vec(y.size(), 1.0));
    for (double v : g) EXPECT_EQ(v, 0.0);
    // Partly masked: the masked rows' logits are 0 and their input gradient entries are 0.
    ClassifierCase<Exec> p(ClassifierData(9, 5, 20, {0, 4, 8}), {6}, 3, Activation::tanh);
    p.cfg.use_blas = blas;
    const Vec xp = p.point();
    const Vec yp = p.forward(xp);
    const Vec gp = p.adjoint(xp, random_vector(yp.size(), 3));
    for (int b : {0, 4, 8}) {
      for (int k = 0; k < 3; ++k) EXPECT_EQ(yp[b * 3 + k], 0.0);
      for (int f = 0; f < 5; ++f) EXPECT_EQ(gp[b * 5 + f], 0.0);
    }
    for (double v : gp) EXPECT_TRUE(std::isfinite(v));
  }
}

TEST(VariantClassifier, AdjointAccumulatesIntoBothGradients) {
  for (bool blas : {true, false}) {
    ClassifierCase<Exec> c(ClassifierData(10, 4, 21, {3}), {5}, 3, Activation::tanh);
    c.cfg.use_blas = blas;
    const Vec x = c.point();
    auto r = c.run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    const Exec exec;
    const Vec ybar = random_vector(30, 4);
    auto dy = exec_view<Kokkos::View<double**, Kokkos::LayoutRight, M>>(exec, ybar, 10, 3);
    const Vec once = c.adjoint(x, ybar);
    auto dx = exec_view<Kokkos::View<double**, Kokkos::LayoutRight, M>>(exec, Vec(40, 0.5), 10, 4);
    auto dp = exec_view<Kokkos::View<double*, M>>(exec, Vec(c.np(), -0.25), c.np());
    r.op.adjoint(exec, r.params, r.in, r.ws, {dy}, {dx}, dp);
    r.op.adjoint(exec, r.params, r.in, r.ws, {dy}, {dx}, dp);
    Vec twice = flatten(dx), gp = flatten(dp);
    twice.insert(twice.end(), gp.begin(), gp.end());
    for (std::size_t i = 0; i < once.size(); ++i) {
      const double init = i < 40 ? 0.5 : -0.25;
      EXPECT_NEAR(twice[i], init + 2 * once[i], 1e-12 * (1 + std::fabs(once[i]))) << i;
    }
    // An empty d_features is skipped; the parameter gradient is unchanged by that.
    Kokkos::View<double*, M> dp2("dp2", c.np());
    r.op.adjoint(exec, r.params, r.in, r.ws, {dy}, {}, dp2);
    const Vec g2 = flatten(dp2);
    for (int i = 0; i < c.np(); ++i) EXPECT_NEAR(g2[i], once[40 + i], 1e-13 * (1 + std::fabs(g2[i])));
  }
}

TEST(VariantClassifier, EmptyBatchIsANoOp) {
  ClassifierCase<Exec> c(ClassifierData(0, 4, 22), {5}, 3, Activation::relu);
  const Vec x = c.point();
  EXPECT_TRUE(c.forward(x).empty());
  const Vec g = c.adjoint(x, {});
  EXPECT_EQ(g, Vec(c.np(), 0.0));
}

namespace {

/// Trains on a separable 3-class problem (labels = argmax of a random linear map, with a margin)
/// by full-batch Adam on the mean softmax cross-entropy; returns the final training accuracy.
template <class S>
double train_separable(bool blas, int steps, double* final_loss) {
  const int B = 90, F = 4, C = 3;
  std::mt19937_64 gen(5);
  std::normal_distribution<double> nd(0.0, 1.0);
  std::vector<double> A(C * F);
  for (auto& a : A) a = nd(gen);
  std::vector<double> X;
  std::vector<int> labels;
  while (static_cast<int>(labels.size()) < B) {
    std::vector<double> x(F);
    for (auto& v : x) v = nd(gen);
    double s[C];
    for (int c = 0; c < C; ++c) {
      s[c] = 0;
      for (int f = 0; f < F; ++f) s[c] += A[c * F + f] * x[f];
    }
    const int y = static_cast<int>(std::max_element(s, s + C) - s);
    bool margin = true;
    for (int c = 0; c < C; ++c)
      if (c != y && s[y] - s[c] < 0.3) margin = false;
    if (!margin) continue;
    X.insert(X.end(), x.begin(), x.end());
    labels.push_back(y);
  }
  VariantClassifierConfig cfg;
  cfg.n_features = F;
  cfg.hidden = {16};
  cfg.n_classes = C;
  cfg.use_blas = blas;
  VariantClassifier<S, Exec> op(cfg);
  ParameterLayout layout;
  const ParamBlock blk = op.declare(layout);
  ParameterSet<S, M> params(layout);
  params.set_block(blk, op.initial_params(3));
  const Exec exec;
  typename VariantClassifier<S, Exec>::Inputs in{
      exec_view<Kokkos::View<S**, Kokkos::LayoutRight, M>>(exec, X, B, F), {}};
  auto lab = exec_view<Kokkos::View<int*, M>>(exec, labels, B);
  auto out = op.allocate_outputs(in);
  auto ws = op.allocate_workspace(in);
  Kokkos::View<S**, Kokkos::LayoutRight, M> dlogits("dlogits", B, C);
  OptimizerConfig oc;
  oc.learning_rate = 0.05;
  Optimizer<S, Exec> adam(oc, params.size());
  double loss = 0;
  for (int it = 0; it < steps; ++it) {
    op.forward(exec, params.values(blk), in, out, ws);
    Kokkos::deep_copy(exec, dlogits, S(0));
    params.zero_grads(exec);
    loss = softmax_cross_entropy(exec, out.logits, lab, dlogits, 1.0 / B, ReductionMode{}) / B;
    op.adjoint(exec, params.values(blk), in, ws, {dlogits}, {}, params.grads(blk));
    adam.step(exec, params);
  }
  op.forward(exec, params.values(blk), in, out, ws);
  const Vec y = flatten(out.logits);
  int correct = 0;
  for (int b = 0; b < B; ++b) {
    const int pred = static_cast<int>(std::max_element(y.begin() + b * C, y.begin() + (b + 1) * C) -
                                      (y.begin() + b * C));
    correct += pred == labels[b] ? 1 : 0;
  }
  if (final_loss) *final_loss = loss;
  return static_cast<double>(correct) / B;
}

}  // namespace

TEST(VariantClassifier, AdamReachesFullTrainingAccuracyOnASeparableProblem) {
  for (bool blas : {true, false}) {
    double loss0 = 0, loss = 0;
    const double acc0 = train_separable<double>(blas, 1, &loss0);
    const double acc = train_separable<double>(blas, 300, &loss);
    EXPECT_LT(acc0, 1.0) << "the untrained model must not already solve the problem";
    EXPECT_EQ(acc, 1.0) << "blas " << blas << ", final loss " << loss;
    EXPECT_LT(loss, 0.1 * loss0);
    double lossf = 0;
    EXPECT_EQ(train_separable<float>(blas, 300, &lossf), 1.0) << "float, blas " << blas;
  }
}
