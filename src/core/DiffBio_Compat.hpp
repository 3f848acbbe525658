// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Compat.hpp
/// \brief The one place where Kokkos 3.4 and Kokkos 4.x/5.x differ for DiffBio.
///
/// Kokkos 3.4 keeps the math functions and numeric traits in Kokkos::Experimental; 4.x moved them to
/// namespace Kokkos (and later removed the Experimental aliases). Everything else DiffBio uses is the
/// API common to all three major versions.
#ifndef DIFFBIO_COMPAT_HPP
#define DIFFBIO_COMPAT_HPP

#include <Kokkos_Core.hpp>

namespace diffbio {
namespace compat {

#if KOKKOS_VERSION >= 40000
using Kokkos::cos;
using Kokkos::exp;
using Kokkos::fabs;
using Kokkos::isfinite;
using Kokkos::isinf;
using Kokkos::isnan;
using Kokkos::lgamma;
using Kokkos::log;
using Kokkos::nearbyint;
using Kokkos::log1p;
using Kokkos::sqrt;
using Kokkos::tanh;
template <class T>
KOKKOS_INLINE_FUNCTION constexpr T infinity() {
  return Kokkos::Experimental::infinity_v<T>;
}
#else
using Kokkos::Experimental::cos;
using Kokkos::Experimental::exp;
using Kokkos::Experimental::fabs;
using Kokkos::Experimental::isfinite;
using Kokkos::Experimental::isinf;
using Kokkos::Experimental::isnan;
using Kokkos::Experimental::lgamma;
using Kokkos::Experimental::log;
using Kokkos::Experimental::nearbyint;
using Kokkos::Experimental::log1p;
using Kokkos::Experimental::sqrt;
using Kokkos::Experimental::tanh;
template <class T>
KOKKOS_INLINE_FUNCTION constexpr T infinity() {
  return Kokkos::Experimental::infinity<T>::value;
}
#endif

/// Array reductions: Kokkos 3.4 calls join(volatile T*, const volatile T*); 4.x calls the
/// non-volatile form and deprecates the volatile one. Functors declare both through this macro.
#if KOKKOS_VERSION >= 40000
#define DIFFBIO_JOIN_VOLATILE
#else
#define DIFFBIO_JOIN_VOLATILE volatile
#endif

}  // namespace compat
}  // namespace diffbio

#endif
