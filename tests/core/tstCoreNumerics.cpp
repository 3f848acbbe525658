// SPDX-License-Identifier: BSD-3-Clause
// Core numerics: smooth max / softmax / soft threshold / soft assignment (values, derivatives,
// ±inf and fully masked rows), counter-based RNG, deterministic reductions, losses, optimisers,
// schedules, the parameter buffer and the pipeline's reverse order. Runs on TEST_EXECSPACE.
#include <DiffBio_Dual.hpp>
#include <DiffBio_GradCheck.hpp>
#include <DiffBio_Loss.hpp>
#include <DiffBio_Optimizer.hpp>
#include <DiffBio_Pipeline.hpp>
#include <DiffBio_Random.hpp>
#include <DiffBio_Schedule.hpp>
#include <DiffBio_SegmentSum.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <DiffBio_TestBackend.hpp>
#include <DiffBio_TestViews.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace diffbio;
using namespace diffbio::test;
using M = TEST_MEMSPACE;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

/// Evaluates smooth_max and its weights for a host row inside a kernel on TEST_EXECSPACE.
struct RowResult {
  double value, d_tau;
  Vec weights;
};
RowResult smooth_max_on_device(const Vec& row, double tau) {
  const int n = static_cast<int>(row.size());
  auto x = to_view<Kokkos::View<double*, M>>(row, row.size());
  Kokkos::View<double*, M> w("DiffBio::test::w", n);
  Kokkos::View<double[2], M> out("DiffBio::test::out");
  Kokkos::parallel_for(
      "DiffBio::test::smooth_max", Kokkos::RangePolicy<TEST_EXECSPACE>(0, 1), KOKKOS_LAMBDA(int) {
        auto get = [&](int i) { return x(i); };
        const double v = math::smooth_max(n, tau, get);
        out(0) = v;
        out(1) = math::smooth_max_weights(n, tau, v, get, [&](int i, double p) { w(i) = p; });
      });
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out);
  return {h(0), h(1), flatten(w)};
}
}  // namespace

TEST(SmoothMath, SmoothMaxMatchesLogSumExpAndHardLimit) {
  const Vec x = {0.3, -1.2, 2.5, 2.4};
  const double tau = 0.7;
  double ref = 0;
  for (double v : x) ref += std::exp(v / tau);
  ref = tau * std::log(ref);
  auto r = smooth_max_on_device(x, tau);
  EXPECT_NEAR(r.value, ref, 1e-14);
  double wsum = 0;
  for (double p : r.weights) wsum += p;
  EXPECT_NEAR(wsum, 1.0, 1e-14);
  // Derivatives by central differences (value w.r.t. x_i and τ).
  for (std::size_t i = 0; i < x.size(); ++i) {
    Vec xp = x, xm = x;
    xp[i] += 1e-6;
    xm[i] -= 1e-6;
    const double fd = (smooth_max_on_device(xp, tau).value - smooth_max_on_device(xm, tau).value) / 2e-6;
    EXPECT_NEAR(r.weights[i], fd, 1e-8);
  }
  const double fd_tau =
      (smooth_max_on_device(x, tau + 1e-6).value - smooth_max_on_device(x, tau - 1e-6).value) / 2e-6;
  EXPECT_NEAR(r.d_tau, fd_tau, 1e-8);
  // τ → 0 approaches max; τ = 0 is exactly max with a one-hot gradient on the first maximiser.
  EXPECT_NEAR(smooth_max_on_device(x, 1e-3).value, 2.5, 1e-9);
  auto hard = smooth_max_on_device({1.0, 3.0, 3.0, -2.0}, 0.0);
  EXPECT_EQ(hard.value, 3.0);
  EXPECT_EQ(hard.weights, (Vec{0, 1, 0, 0}));
}

TEST(SmoothMath, InfinitiesAndMaskedRowsAreSafe) {
  // All masked (−∞): finite output 0, zero gradient.
  auto r = smooth_max_on_device({-kInf, -kInf, -kInf}, 0.5);
  EXPECT_EQ(r.value, 0.0);
  EXPECT_EQ(r.weights, (Vec{0, 0, 0}));
  EXPECT_EQ(r.d_tau, 0.0);
  // Empty row.
  EXPECT_EQ(smooth_max_on_device({}, 0.5).value, 0.0);
  // Some masked: identical to the row without them.
  auto a = smooth_max_on_device({1.0, -kInf, 2.0}, 0.5);
  auto b = smooth_max_on_device({1.0, 2.0}, 0.5);
  EXPECT_DOUBLE_EQ(a.value, b.value);
  EXPECT_EQ(a.weights[1], 0.0);
  EXPECT_DOUBLE_EQ(a.weights[2], b.weights[1]);
  // +∞ wins; weights shared by the +∞ entries; never NaN.
  auto c = smooth_max_on_device({1.0, kInf, kInf}, 0.5);
  EXPECT_EQ(c.value, kInf);
  EXPECT_EQ(c.weights, (Vec{0, 0.5, 0.5}));
  // Huge finite values do not overflow.
  auto d = smooth_max_on_device({1e300, 1e300}, 1.0);
  EXPECT_TRUE(std::isfinite(d.value));
  EXPECT_NEAR(d.weights[0], 0.5, 1e-15);
}

TEST(SmoothMath, SmoothMax2AndSoftThreshold) {
  const double a = 0.4, b = -0.3, tau = 0.25;
  auto r = math::smooth_max2(a, b, tau);
  EXPECT_NEAR(r.value, tau * std::log(std::exp(a / tau) + std::exp(b / tau)), 1e-15);
  EXPECT_NEAR(r.w_a + r.w_b, 1.0, 1e-15);
  EXPECT_NEAR(r.w_a, std::exp(a / tau) / (std::exp(a / tau) + std::exp(b / tau)), 1e-15);
  auto both_absent = math::smooth_max2(-kInf, -kInf, tau);
  EXPECT_EQ(both_absent.value, 0.0);
  EXPECT_EQ(both_absent.w_a + both_absent.w_b, 0.0);
  auto one_absent = math::smooth_max2(-kInf, 1.5, tau);
  EXPECT_EQ(one_absent.value, 1.5);
  EXPECT_EQ(one_absent.w_b, 1.0);
  auto hard = math::smooth_max2(2.0, 2.0, 0.0);
  EXPECT_EQ(hard.w_a, 1.0);  // ties go to the first argument, like a >= b ? a : b

  // Soft threshold derivatives vs finite differences, and the hard step.
  const double x = 23.0, t = 20.5, s = 2.0, h = 1e-6;
  auto st = math::soft_threshold(x, t, s);
  EXPECT_NEAR(st.d_x, (math::soft_threshold(x + h, t, s).value - math::soft_threshold(x - h, t, s).value) / (2 * h), 1e-9);
  EXPECT_NEAR(st.d_t, (math::soft_threshold(x, t + h, s).value - math::soft_threshold(x, t - h, s).value) / (2 * h), 1e-9);
  EXPECT_NEAR(st.d_s, (math::soft_threshold(x, t, s + h).value - math::soft_threshold(x, t, s - h).value) / (2 * h), 1e-9);
  EXPECT_EQ(math::soft_threshold(20.0, 20.0, 0.0).value, 1.0);  // Q ≥ θ kept
  EXPECT_EQ(math::soft_threshold(19.0, 20.0, 0.0).value, 0.0);
  EXPECT_EQ(math::soft_threshold(1e6, 0.0, 1e-3).value, 1.0);    // no overflow to NaN
  EXPECT_EQ(math::soft_threshold(-1e6, 0.0, 1e-3).value, 0.0);
  EXPECT_EQ(math::soft_threshold(-1e6, 0.0, 1e-3).d_t, 0.0);
}

TEST(SmoothMath, SoftAssignmentAndSoftmaxAdjoint) {
  const Vec d2 = {4.0, 1.0, 2.5, kInf};  // last centre masked
  const double tau = 0.8;
  Vec p(4);
  math::soft_assignment(4, tau, [&](int k) { return d2[k]; }, [&](int k, double v) { p[k] = v; });
  double z = 0;
  for (int k = 0; k < 3; ++k) z += std::exp(-d2[k] / tau);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(p[k], std::exp(-d2[k] / tau) / z, 1e-15);
  EXPECT_EQ(p[3], 0.0);
  Vec hard(4);
  math::soft_assignment(4, 0.0, [&](int k) { return d2[k]; }, [&](int k, double v) { hard[k] = v; });
  EXPECT_EQ(hard, (Vec{0, 1, 0, 0}));

  // softmax_adjoint against finite differences of ⟨p̄, softmax(x/τ)⟩.
  const Vec x = {0.2, -0.5, 1.1};
  const Vec pbar = {0.3, -1.0, 0.7};
  auto phi = [&](const Vec& xv, double t) {
    Vec w(3);
    auto get = [&](int i) { return xv[i]; };
    const double v = math::smooth_max(3, t, get);
    math::smooth_max_weights(3, t, v, get, [&](int i, double q) { w[i] = q; });
    return dot(w, pbar);
  };
  Vec pw(3);
  {
    auto get = [&](int i) { return x[i]; };
    const double v = math::smooth_max(3, tau, get);
    math::smooth_max_weights(3, tau, v, get, [&](int i, double q) { pw[i] = q; });
  }
  Vec xbar(3);
  const double tbar = math::softmax_adjoint(
      3, tau, [&](int i) { return x[i]; }, [&](int i) { return pw[i]; },
      [&](int i) { return pbar[i]; }, [&](int i, double v) { xbar[i] = v; });
  for (int i = 0; i < 3; ++i) {
    Vec xp = x, xm = x;
    xp[i] += 1e-6;
    xm[i] -= 1e-6;
    EXPECT_NEAR(xbar[i], (phi(xp, tau) - phi(xm, tau)) / 2e-6, 1e-8);
  }
  EXPECT_NEAR(tbar, (phi(x, tau + 1e-6) - phi(x, tau - 1e-6)) / 2e-6, 1e-8);
}

TEST(SmoothMath, DualNumbersCarryExactDerivatives) {
  using D = ad::Dual<double>;
  const D x(0.7, 1.0);
  const D y = math::sigmoid(x) * math::exp(x) + math::log1p(x);
  const double s = 1 / (1 + std::exp(-0.7));
  EXPECT_NEAR(y.d, s * (1 - s) * std::exp(0.7) + s * std::exp(0.7) + 1 / 1.7, 1e-15);
}

TEST(Random, CounterBasedStreamsAreReproducibleAndIndependentOfThreads) {
  const int n = 4096;
  Kokkos::View<double*, M> u("DiffBio::test::u", n), g("DiffBio::test::g", n);
  Kokkos::parallel_for(
      "DiffBio::test::rng", Kokkos::RangePolicy<TEST_EXECSPACE>(0, n), KOKKOS_LAMBDA(int i) {
        CounterRng rng(1234, static_cast<std::uint64_t>(i));
        u(i) = rng.uniform(7);
        g(i) = rng.normal(8);
      });
  const Vec hu = flatten(u), hg = flatten(g);
  double mean = 0, var = 0, gm = 0, gv = 0;
  for (int i = 0; i < n; ++i) {
    // Same (seed, stream, counter) on the host gives the same bits.
    CounterRng rng(1234, static_cast<std::uint64_t>(i));
    ASSERT_EQ(hu[i], rng.uniform(7));
    ASSERT_GT(hu[i], 0.0);
    ASSERT_LT(hu[i], 1.0);
    mean += hu[i];
    var += hu[i] * hu[i];
    gm += hg[i];
    gv += hg[i] * hg[i];
  }
  mean /= n;
  var = var / n - mean * mean;
  EXPECT_NEAR(mean, 0.5, 0.02);
  EXPECT_NEAR(var, 1.0 / 12, 0.01);
  EXPECT_NEAR(gm / n, 0.0, 0.06);
  EXPECT_NEAR(gv / n, 1.0, 0.08);
  EXPECT_NE(CounterRng(1234, 0).uniform(1), CounterRng(1235, 0).uniform(1));
  EXPECT_NE(CounterRng(1234, 0).uniform(1), CounterRng(1234, 1).uniform(1));
}

TEST(GradientReduction, DeterministicSumsDoNotDependOnOrder) {
  // Sum the same contributions in two different orders: deterministic mode is bitwise equal,
  // and within one quantum per term of the exact sum.
  const int n = 10000;
  const Vec vals = random_vector(n, 77, -3.0, 3.0);
  auto v = to_view<Kokkos::View<double*, M>>(vals, n);
  ReductionMode det;
  det.deterministic = true;
  Kokkos::View<double*, M> fwd("DiffBio::test::fwd", 1), rev("DiffBio::test::rev", 1);
  reduce_rows_into(TEST_EXECSPACE(), "test::fwd", n, fwd, det,
                   KOKKOS_LAMBDA(int i, const Impl::GradientSink& s) { s.add(0, v(i)); });
  reduce_rows_into(TEST_EXECSPACE(), "test::rev", n, rev, det,
                   KOKKOS_LAMBDA(int i, const Impl::GradientSink& s) { s.add(0, v(n - 1 - i)); });
  const double a = flatten(fwd)[0], b = flatten(rev)[0];
  EXPECT_TRUE(bitwise_equal({a}, {b}));
  long double exact = 0;
  for (double x : vals) exact += x;
  EXPECT_NEAR(a, static_cast<double>(exact), n * det.quantum());
  // Host-side sequential sums of the quantised terms in any order give the same bits too.
  double s1 = 0, s2 = 0;
  for (int i = 0; i < n; ++i) s1 += std::nearbyint(vals[i] / det.quantum()) * det.quantum();
  for (int i = n - 1; i >= 0; --i) s2 += std::nearbyint(vals[i] / det.quantum()) * det.quantum();
  EXPECT_EQ(s1, a);
  EXPECT_EQ(s2, a);
}

TEST(GradientReduction, NonFiniteAndOutOfRangeAreErrors) {
  Kokkos::View<double*, M> out("DiffBio::test::out", 1);
  ReductionMode fast;
  EXPECT_THROW(reduce_rows_into(TEST_EXECSPACE(), "test::nan", 3, out, fast,
                                KOKKOS_LAMBDA(int i, const Impl::GradientSink& s) {
                                  s.add(0, i == 1 ? std::nan("") : 1.0);
                                }),
               Error);
  ReductionMode det;
  det.deterministic = true;
  try {
    reduce_rows_into(TEST_EXECSPACE(), "test::big", 4, out, det,
                     KOKKOS_LAMBDA(int, const Impl::GradientSink& s) { s.add(0, 1e5); });
    FAIL() << "expected an exact-range error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::numerical);
  }
}

// ------------------------------------------------------------------------- losses

namespace {
/// A loss as a Differentiable map (x = inputs, y = [loss]) for the finite-difference check.
template <class Fn>
Differentiable loss_differentiable(const std::string& name, Vec x0, Fn fn) {
  Differentiable f;
  f.name = name;
  f.x0 = std::move(x0);
  f.forward = [fn](const Vec& x) {
    Vec g(x.size(), 0.0);
    return Vec{fn(x, g)};
  };
  f.adjoint = [fn](const Vec& x, const Vec& yb) {
    Vec g(x.size(), 0.0);
    fn(x, g);
    for (auto& e : g) e *= yb[0];
    return g;
  };
  return f;
}
}  // namespace

TEST(Loss, GradientsMatchFiniteDifferences) {
  const int B = 5, C = 3;
  const std::vector<int> labels = {0, 2, -1, 1, 2};  // row 2 is padding
  auto ce = [&](const Vec& x, Vec& g) {
    auto logits = to_view<Kokkos::View<double**, M>>(x, B, C);
    auto lab = to_view<Kokkos::View<int*, M>>(labels, B);
    Kokkos::View<double**, M> d("DiffBio::test::d", B, C);
    const double l = softmax_cross_entropy(TEST_EXECSPACE(), logits, lab, d, 1.0, {});
    g = flatten(d);
    return l;
  };
  auto f1 = loss_differentiable("softmax_cross_entropy", random_vector(B * C, 1, -2, 2), ce);
  EXPECT_TRUE(check_finite_differences(f1).passed) << check_finite_differences(f1).detail;
  Vec g;
  ce(f1.x0, g);
  for (int c = 0; c < C; ++c) EXPECT_EQ(g[2 * C + c], 0.0);  // padding row: no gradient

  const Vec targets = {1, 0, 1, -1, 0.3};
  auto bce = [&](const Vec& x, Vec& gr) {
    auto z = to_view<Kokkos::View<double*, M>>(x, B);
    auto t = to_view<Kokkos::View<double*, M>>(targets, B);
    Kokkos::View<double*, M> d("DiffBio::test::d", B);
    const double l = binary_cross_entropy_with_logits(TEST_EXECSPACE(), z, t, d, 1.0, {});
    gr = flatten(d);
    return l;
  };
  auto f2 = loss_differentiable("bce", random_vector(B, 2, -3, 3), bce);
  EXPECT_TRUE(check_finite_differences(f2).passed) << check_finite_differences(f2).detail;
  // BCE of a confident correct logit is tiny and finite, never NaN, even at |z| = 800.
  Vec gz;
  EXPECT_NEAR(bce(Vec{800, -800, 800, 0, 0}, gz), std::log(2.0), 1e-12);  // only z = 0 costs log 2
  for (double e : gz) EXPECT_TRUE(std::isfinite(e));

  const int G = 4;
  const Vec counts = {0, 3, 1, 7, 2, 0, 5, 1};
  auto pois = [&](const Vec& x, Vec& gr) {
    auto eta = to_view<Kokkos::View<double**, M>>(x, 2, G);
    auto y = to_view<Kokkos::View<double**, M>>(counts, 2, G);
    Kokkos::View<double**, M> d("DiffBio::test::d", 2, G);
    const double l = poisson_nll(TEST_EXECSPACE(), eta, y, d, 1.0, {});
    gr = flatten(d);
    return l;
  };
  auto f3 = loss_differentiable("poisson_nll", random_vector(2 * G, 3, -1, 2), pois);
  EXPECT_TRUE(check_finite_differences(f3).passed) << check_finite_differences(f3).detail;

  auto nb = [&](const Vec& x, Vec& gr) {
    auto lmu = to_view<Kokkos::View<double**, M>>(Vec(x.begin(), x.begin() + 2 * G), 2, G);
    auto lth = to_view<Kokkos::View<double*, M>>(Vec(x.begin() + 2 * G, x.end()), G);
    auto y = to_view<Kokkos::View<double**, M>>(counts, 2, G);
    Kokkos::View<double**, M> dmu("DiffBio::test::dmu", 2, G);
    Kokkos::View<double*, M> dth("DiffBio::test::dth", G);
    const double l = negative_binomial_nll(TEST_EXECSPACE(), lmu, lth, y, dmu, dth, 1.0, {});
    gr = flatten(dmu);
    const Vec t = flatten(dth);
    gr.insert(gr.end(), t.begin(), t.end());
    return l;
  };
  auto f4 = loss_differentiable("negative_binomial_nll", random_vector(3 * G, 4, -1, 2), nb);
  EXPECT_TRUE(check_finite_differences(f4).passed) << check_finite_differences(f4).detail;
  // NB with huge θ tends to Poisson.
  Vec x4(3 * G);
  for (int i = 0; i < 2 * G; ++i) x4[i] = f3.x0[i];
  for (int j = 0; j < G; ++j) x4[2 * G + j] = std::log(1e7);
  Vec gtmp;
  EXPECT_NEAR(nb(x4, gtmp), pois(f3.x0, gtmp), 1e-4);
}

TEST(Loss, DigammaIsAccurate) {
  EXPECT_NEAR(math::digamma(1.0), -0.57721566490153286, 1e-13);
  EXPECT_NEAR(math::digamma(0.5), -1.9635100260214235, 1e-13);
  EXPECT_NEAR(math::digamma(10.0), 2.2517525890667211, 1e-13);
}

// ------------------------------------------------------------------------- training pieces

TEST(Optimizer, AdamAndSgdMinimiseAQuadraticAndStateRoundTrips) {
  for (const char* kind : {"adam", "sgd"}) {
    ParameterLayout layout;
    const auto blk = layout.add("quadratic/x", 3);
    ParameterSet<double, M> ps(layout, "quadratic");
    ps.set_block(blk, {3.0, -2.0, 1.0});
    OptimizerConfig cfg;
    cfg.kind = kind;
    cfg.learning_rate = std::string(kind) == "adam" ? 0.1 : 0.2;
    cfg.momentum = 0.5;
    Optimizer<double, TEST_EXECSPACE> opt(cfg, ps.size());
    auto x = ps.values();
    auto g = ps.grads();
    for (int it = 0; it < 300; ++it) {
      // f = Σ (x_i − i)², ∇ = 2(x − i)
      Kokkos::parallel_for("DiffBio::test::grad", Kokkos::RangePolicy<TEST_EXECSPACE>(0, 3),
                           KOKKOS_LAMBDA(int i) { g(i) = 2.0 * (x(i) - i); });
      opt.step(TEST_EXECSPACE(), ps);
    }
    const Vec v = ps.all_values();
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(v[i], i, 1e-2) << kind;
    // Saving and restoring state reproduces the next step bit for bit.
    Optimizer<double, TEST_EXECSPACE> copy(cfg, ps.size());
    copy.load_state(opt.state());
    ParameterSet<double, M> ps2(layout, "quadratic2");
    ps2.set_all_values(ps.all_values());
    Kokkos::deep_copy(ps2.grads(), ps.grads());
    opt.step(TEST_EXECSPACE(), ps);
    copy.step(TEST_EXECSPACE(), ps2);
    EXPECT_TRUE(bitwise_equal(ps.all_values(), ps2.all_values())) << kind;
  }
  EXPECT_THROW(Optimizer<double>(OptimizerConfig{"lbfgs"}, 3), Error);
}

TEST(Schedule, ConstantExponentialLinear) {
  EXPECT_EQ(TemperatureSchedule::constant_at(0.5).at(100), 0.5);
  auto e = TemperatureSchedule::exponential(1.0, 0.5, 0.1);
  EXPECT_DOUBLE_EQ(e.at(0), 1.0);
  EXPECT_DOUBLE_EQ(e.at(2), 0.25);
  EXPECT_DOUBLE_EQ(e.at(10), 0.1);  // floored
  auto l = TemperatureSchedule::linear(1.0, 0.0, 4);
  EXPECT_DOUBLE_EQ(l.at(1), 0.75);
  EXPECT_DOUBLE_EQ(l.at(4), 0.0);
  EXPECT_DOUBLE_EQ(l.at(40), 0.0);
  EXPECT_THROW(TemperatureSchedule::parse_kind("cosine", 1, 0, 1, 1), Error);
}

TEST(Parameters, OneContiguousLabelledBuffer) {
  ParameterLayout layout;
  const auto a = layout.add("op_a/w", 3);
  const auto b = layout.add("op_b/w", 2);
  EXPECT_THROW(layout.add("op_a/w", 1), Error);
  EXPECT_EQ(b.offset, 3u);
  ParameterSet<float, M> ps(layout, "m");
  ps.set_block(a, {1, 2, 3});
  ps.set_block(b, {4, 5});
  EXPECT_EQ(ps.all_values(), (Vec{1, 2, 3, 4, 5}));
  EXPECT_EQ(ps.values(b).data(), ps.values().data() + 3);  // subviews of one allocation
  EXPECT_EQ(ps.values().label(), "DiffBio::m::params");
  EXPECT_EQ(ps.grads().label(), "DiffBio::m::grads");
  static_assert(std::is_same<decltype(ps)::grad_type, double>::value, "float grads accumulate in double");
}

TEST(Pipeline, AdjointsRunInReverseOrder) {
  std::vector<std::string> trace;
  Pipeline p;
  p.add("a", [&] { trace.push_back("fa"); }, [&] { trace.push_back("ba"); });
  p.add("b", [&] { trace.push_back("fb"); }, [&] { trace.push_back("bb"); });
  p.add("c", [&] { trace.push_back("fc"); }, nullptr);  // non-differentiable stage
  p.forward();
  p.adjoint();
  EXPECT_EQ(trace, (std::vector<std::string>{"fa", "fb", "fc", "bb", "ba"}));
}

// ------------------------------------------------------------------------- segment sums

TEST(SegmentSum, ForwardCountsAndAdjointPassesTheKit) {
  // 4 segments over 9 rows, one empty segment; C = 2.
  const std::vector<int> off = {0, 3, 3, 7, 9};
  const int N = 9, C = 2, S = 4;
  auto offsets = to_view<Kokkos::View<int*, M>>(off, off.size());
  Differentiable f;
  f.name = "weighted_segment_sum";
  f.x0 = random_vector(N + N * C, 5, 0.1, 1.0);
  auto run = [=](const Vec& x) {
    auto w = to_view<Kokkos::View<double*, M>>(Vec(x.begin(), x.begin() + N), N);
    auto v = to_view<Kokkos::View<double**, M>>(Vec(x.begin() + N, x.end()), N, C);
    Kokkos::View<double**, M> out("DiffBio::test::out", S, C);
    weighted_segment_sum(TEST_EXECSPACE(), offsets, w, v, out);
    return std::make_tuple(w, v, out);
  };
  f.forward = [=](const Vec& x) { return flatten(std::get<2>(run(x))); };
  f.adjoint = [=](const Vec& x, const Vec& ybar) {
    auto [w, v, out] = run(x);
    Kokkos::View<double*, M> dw("DiffBio::test::dw", N);
    Kokkos::View<double**, M> dv("DiffBio::test::dv", N, C);
    weighted_segment_sum_adjoint(TEST_EXECSPACE(), offsets, w, v,
                                 to_view<Kokkos::View<double**, M>>(ybar, S, C), dw, dv);
    Vec g = flatten(dw), gv = flatten(dv);
    g.insert(g.end(), gv.begin(), gv.end());
    return g;
  };
  f.tangent = [=](const Vec& x, const Vec& xd) {  // bilinear: J·ẋ = seg(ẇ·v) + seg(w·v̇)
    Vec a(x), b(x);
    for (int i = 0; i < N; ++i) a[i] = xd[i];
    for (int i = N; i < N + N * C; ++i) b[i] = xd[i];
    Vec ya = f.forward(a), yb = f.forward(b);
    for (std::size_t k = 0; k < ya.size(); ++k) ya[k] += yb[k];
    return ya;
  };
  EXPECT_TRUE(check_finite_differences(f).passed) << check_finite_differences(f).detail;
  EXPECT_TRUE(dot_product_test(f).passed) << dot_product_test(f).detail;
  // Unit weights and one-hot values: the segment sum is the classic count.
  Vec x(N + N * C, 0.0);
  for (int i = 0; i < N; ++i) {
    x[i] = 1.0;
    x[N + i * C + (i % 2)] = 1.0;
  }
  const Vec counts = f.forward(x);
  EXPECT_EQ(counts, (Vec{2, 1, 0, 0, 2, 2, 1, 1}));
}
