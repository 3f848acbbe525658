// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Types.hpp
/// \brief Scalar traits (accumulation type), View aliases and the label convention.
#ifndef DIFFBIO_TYPES_HPP
#define DIFFBIO_TYPES_HPP

#include <Kokkos_Core.hpp>

#include <string>
#include <type_traits>

namespace diffbio {

/// Type used to accumulate sums of `Scalar`: float sums lose digits after ~1e4 terms, so they are
/// accumulated in double (Kokkos Kernels' habit). Other scalars (double, forward-mode duals used in
/// tests) accumulate in themselves.
template <class Scalar>
struct accum_type {
  using type = Scalar;
};
template <>
struct accum_type<float> {
  using type = double;
};
template <class Scalar>
using accum_t = typename accum_type<Scalar>::type;

/// Every Kokkos label DiffBio creates starts with "DiffBio::" so Kokkos-Tools profiles are
/// attributable (ArborX convention); tests check the prefix.
inline std::string label(const std::string& what) { return "DiffBio::" + what; }

/// Index type for batch, position and feature counts.
using index_t = int;

}  // namespace diffbio

#endif
