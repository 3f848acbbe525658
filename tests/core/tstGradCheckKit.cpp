// SPDX-License-Identifier: BSD-3-Clause
// The kit must *catch* wrong adjoints: feed it deliberately broken ones and require failures.
#include <DiffBio_AdolcOracle.hpp>
#include <DiffBio_ReadOperatorCases.hpp>
#include <DiffBio_RefReadOperators.hpp>
#include <DiffBio_TestBackend.hpp>

#include <gtest/gtest.h>

using namespace diffbio;
using namespace diffbio::test;

namespace {
Differentiable with_broken_adjoint(Differentiable f, const std::string& how) {
  auto good = f.adjoint;
  f.name += "[" + how + "]";
  if (how == "scaled") {  // a missing factor, e.g. a forgotten 1/s: 1 % off in one parameter
    f.adjoint = [good](const Vec& x, const Vec& yb) {
      Vec g = good(x, yb);
      g[g.size() - 2] *= 1.01;
      return g;
    };
  } else if (how == "transposed") {  // an indexing bug: two input gradients swapped
    f.adjoint = [good](const Vec& x, const Vec& yb) {
      Vec g = good(x, yb);
      std::swap(g[0], g[5]);
      return g;
    };
  } else if (how == "sign") {  // a sign error in the softness gradient
    f.adjoint = [good](const Vec& x, const Vec& yb) {
      Vec g = good(x, yb);
      g.back() = -g.back();
      return g;
    };
  }
  return f;
}
}  // namespace

TEST(GradCheckKit, CorrectAdjointPassesEveryCheck) {
  QualityFilterCase<TEST_EXECSPACE> c(ReadCaseData(31), false);
  const auto f = c.differentiable(c.point(1));
  EXPECT_TRUE(check_finite_differences(f).passed);
  EXPECT_TRUE(taylor_test(f).passed);
  EXPECT_TRUE(dot_product_test(f).passed);
}

TEST(GradCheckKit, CatchesWrongAdjoints) {
  QualityFilterCase<TEST_EXECSPACE> c(ReadCaseData(31), false);
  const Vec x = c.point(1);
  const auto good = c.differentiable(x);
  for (const char* how : {"scaled", "transposed", "sign"}) {
    const auto bad = with_broken_adjoint(good, how);
    const auto fd = check_finite_differences(bad);
    EXPECT_FALSE(fd.passed) << how << ": " << fd.detail;
    const auto dp = dot_product_test(bad);
    EXPECT_FALSE(dp.passed) << how << ": " << dp.detail;
    const auto ty = taylor_test(bad);
    EXPECT_FALSE(ty.passed) << how << ": " << ty.detail;
    EXPECT_LT(ty.error, 1.5) << "a wrong gradient leaves an O(h) Taylor remainder";
    // ...and the independent ADOL-C oracle disagrees with it too.
    const Vec ybar = random_vector(good.forward(x).size(), 17);
    auto ref = [&](const auto& xs) {
      return reference::quality_filter(xs, c.d.quality, c.d.length, c.d.B, c.d.L, c.d.A, false);
    };
    const auto oracle = adolc_vjp(ref, x, ybar);
    EXPECT_FALSE(compare(bad.adjoint(x, ybar), oracle.xbar, 1e-10, 1e-13, how).passed) << how;
  }
}

TEST(GradCheckKit, TaylorSlopeIsTwoForCorrectGradient) {
  QualityFilterCase<TEST_EXECSPACE> c(ReadCaseData(32), false);
  const auto ty = taylor_test(c.differentiable(c.point(2)));
  EXPECT_NEAR(ty.error, 2.0, 0.2) << ty.detail;
}
