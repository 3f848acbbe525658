// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_FastExp.hpp
/// \brief fast_exp: a branch-free, inlinable e^x for float and double, the same on host and device.
///
/// libm's exp is an opaque scalar call (≈ 12 cycles here) that g++ does not vectorise without
/// -ffast-math, while the smooth operators need one per cell of a DP table or per softmax entry.
/// x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite, the split constants of fdlibm), e^r by its Taylor
/// polynomial (degree 13 for double, 7 for float; truncation below 0.1 ulp), times 2^n assembled
/// in the exponent bits. Within 2 ulp of the correctly rounded e^x on [−708, 709] (double) /
/// [−87, 88] (float). Below that range the result is exactly 0 (the true value is below 2^−1021 /
/// 2^−125); above it the argument is clamped (a finite 2^1023-scale / 2^127-scale value instead of
/// +inf: callers rescale before they get there). Used by the Smith-Waterman kernels and, with
/// SIMD versions computing identical operations in the same order, by the single-cell softmax.
#ifndef DIFFBIO_FAST_EXP_HPP
#define DIFFBIO_FAST_EXP_HPP

#include <Kokkos_Core.hpp>

#include <cstdint>
#include <cstring>

namespace diffbio {

struct FastExpConstD {
  static constexpr double lo = -708.0, hi = 709.0, log2e = 1.4426950408889634074;
  static constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  static constexpr double shifter = 6755399441055744.0;  // 1.5·2^52: adding it rounds to integer
};
struct FastExpConstF {
  static constexpr float lo = -87.0f, hi = 88.0f, log2e = 1.44269504088896341f;
  static constexpr float ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187045e-06f;
  static constexpr float shifter = 12582912.0f;  // 1.5·2^23
};

KOKKOS_INLINE_FUNCTION double fast_exp(double x) {
  using C = FastExpConstD;
  const double xc = x < C::lo ? C::lo : (x > C::hi ? C::hi : x);
  const double t = xc * C::log2e + C::shifter;
  const double n = t - C::shifter;
  const double r = (xc - n * C::ln2_hi) - n * C::ln2_lo;
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  std::int64_t bits;
  std::memcpy(&bits, &t, sizeof bits);
  const std::int64_t e = (bits - 0x4338000000000000LL + 1023) * (std::int64_t(1) << 52);
  double scale;
  std::memcpy(&scale, &e, sizeof scale);
  return x < C::lo ? 0.0 : p * scale;
}

KOKKOS_INLINE_FUNCTION float fast_exp(float x) {
  using C = FastExpConstF;
  const float xc = x < C::lo ? C::lo : (x > C::hi ? C::hi : x);
  const float t = xc * C::log2e + C::shifter;
  const float n = t - C::shifter;
  const float r = (xc - n * C::ln2_hi) - n * C::ln2_lo;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  std::int32_t bits;
  std::memcpy(&bits, &t, sizeof bits);
  const std::int32_t e = (bits - 0x4B400000 + 127) * (std::int32_t(1) << 23);
  float scale;
  std::memcpy(&scale, &e, sizeof scale);
  return x < C::lo ? 0.0f : p * scale;
}

}  // namespace diffbio

#endif
