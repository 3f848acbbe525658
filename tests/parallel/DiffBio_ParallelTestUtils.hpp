// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_ParallelTestUtils.hpp
/// \brief The one Comm of a test process.
#ifndef DIFFBIO_PARALLEL_TEST_UTILS_HPP
#define DIFFBIO_PARALLEL_TEST_UTILS_HPP

#include <DiffBio_Comm.hpp>

namespace diffbio_test {

/// MPI can be initialised only once per process, and a test binary started by hand runs all its
/// tests in one process, so every test shares this Comm. It is destroyed after main() returns,
/// i.e. after Kokkos::finalize, which is the order MPI needs.
inline diffbio::Comm& world() {
  static diffbio::Comm comm;
  return comm;
}

}  // namespace diffbio_test

#endif
