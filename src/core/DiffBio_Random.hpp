// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Random.hpp
/// \brief Deterministic counter-based random numbers usable inside kernels (Random123 Philox4x32-10).
///
/// A draw is a pure function of (seed, stream, counter): no state is shared between threads, so
/// results do not depend on the thread count, the backend or the rank that draws them. Use `stream`
/// for the entity (global read or cell index) and `counter` for the use (step × uses per step + k).
#ifndef DIFFBIO_RANDOM_HPP
#define DIFFBIO_RANDOM_HPP

#include <Kokkos_Core.hpp>
#include <Random123/philox.h>

#include <cstdint>

#include <DiffBio_Compat.hpp>

namespace diffbio {

class CounterRng {
 public:
  KOKKOS_INLINE_FUNCTION CounterRng(std::uint64_t seed, std::uint64_t stream)
      : key_{{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}},
        stream_(stream) {}

  /// Four independent 32-bit words for `counter`.
  KOKKOS_INLINE_FUNCTION r123::Philox4x32::ctr_type bits(std::uint64_t counter) const {
    r123::Philox4x32 rng;
    r123::Philox4x32::ctr_type ctr = {{static_cast<std::uint32_t>(counter),
                                        static_cast<std::uint32_t>(counter >> 32),
                                        static_cast<std::uint32_t>(stream_),
                                        static_cast<std::uint32_t>(stream_ >> 32)}};
    return rng(ctr, key_);
  }

  /// Uniform double in (0, 1) (never 0 or 1, so log() of it is finite), 53 random bits.
  KOKKOS_INLINE_FUNCTION double uniform(std::uint64_t counter) const {
    const auto r = bits(counter);
    const std::uint64_t hi = (static_cast<std::uint64_t>(r[0]) << 21) ^ (r[1] >> 11);  // 53 bits
    return (static_cast<double>(hi) + 0.5) * (1.0 / 9007199254740992.0);
  }

  /// Standard normal by Box–Muller on two uniforms of the same counter.
  KOKKOS_INLINE_FUNCTION double normal(std::uint64_t counter) const {
    const auto r = bits(counter);
    const double u1 = (static_cast<double>((static_cast<std::uint64_t>(r[0]) << 21) ^ (r[1] >> 11)) + 0.5) *
                      (1.0 / 9007199254740992.0);
    const double u2 = (static_cast<double>((static_cast<std::uint64_t>(r[2]) << 21) ^ (r[3] >> 11)) + 0.5) *
                      (1.0 / 9007199254740992.0);
    constexpr double two_pi = 6.283185307179586476925286766559;
    using compat::log;
    using compat::sqrt;
    return sqrt(-2.0 * log(u1)) * compat::cos(two_pi * u2);
  }

 private:
  r123::Philox4x32::key_type key_;
  std::uint64_t stream_;
};

}  // namespace diffbio

#endif
