// SPDX-License-Identifier: BSD-3-Clause
/// \file tstFastExp.cpp
/// \brief fast_exp (src/core/DiffBio_FastExp.hpp) against std::exp over its whole documented range,
/// both signs (the Smith-Waterman kernels also pass positive arguments), and at the edges.
#include <DiffBio_FastExp.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace {

template <class T>
double ulps(T got, double ref) {
  const T r = static_cast<T>(ref);
  const double ulp = static_cast<double>(std::nextafter(r, std::numeric_limits<T>::infinity()) - r);
  return std::fabs(static_cast<double>(got) - ref) / ulp;
}

TEST(FastExp, WithinTwoUlpOverTheRange) {
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<double> ud(-708.0, 709.0), uf(-87.0, 88.0), small(-1.0, 1.0);
  double worst_d = 0, worst_f = 0;
  for (int i = 0; i < 200000; ++i) {
    const double x = (i % 2) ? ud(gen) : small(gen);
    worst_d = std::max(worst_d, ulps(diffbio::fast_exp(x), std::exp(x)));
    const float xf = static_cast<float>((i % 2) ? uf(gen) : small(gen));
    worst_f = std::max(worst_f, ulps(diffbio::fast_exp(xf), std::exp(static_cast<double>(xf))));
  }
  EXPECT_LE(worst_d, 2.0);
  EXPECT_LE(worst_f, 2.0);
}

TEST(FastExp, EdgesAreExactOrClampedNeverNaN) {
  EXPECT_EQ(diffbio::fast_exp(0.0), 1.0);
  EXPECT_EQ(diffbio::fast_exp(0.0f), 1.0f);
  EXPECT_EQ(diffbio::fast_exp(-709.0), 0.0);  // below the range: exactly 0
  EXPECT_EQ(diffbio::fast_exp(-std::numeric_limits<double>::infinity()), 0.0);
  EXPECT_EQ(diffbio::fast_exp(-88.0f), 0.0f);
  EXPECT_EQ(diffbio::fast_exp(-std::numeric_limits<float>::infinity()), 0.0f);
  // Above the range the argument is clamped: finite, and equal to e^hi.
  const double big = diffbio::fast_exp(1000.0);
  EXPECT_TRUE(std::isfinite(big));
  EXPECT_EQ(big, diffbio::fast_exp(709.0));
  const float bigf = diffbio::fast_exp(1000.0f);
  EXPECT_TRUE(std::isfinite(bigf));
  EXPECT_EQ(bigf, diffbio::fast_exp(88.0f));
  // Monotone across the reduction boundaries (n changes at odd multiples of ln2/2).
  for (int k = -40; k <= 40; ++k) {
    const double b = (k + 0.5) * 0.6931471805599453;
    EXPECT_LE(diffbio::fast_exp(std::nextafter(b, -1e9)), diffbio::fast_exp(std::nextafter(b, 1e9)));
  }
}

}  // namespace
