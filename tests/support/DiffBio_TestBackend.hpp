// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_TestBackend.hpp
/// \brief TEST_EXECSPACE for the backend this test binary was compiled for (see
/// cmake/DiffBio_TestHarness.cmake): the same test body is compiled once per backend.
#ifndef DIFFBIO_TEST_BACKEND_HPP
#define DIFFBIO_TEST_BACKEND_HPP

#include <Kokkos_Core.hpp>

#if defined(DIFFBIO_TEST_BACKEND_SERIAL)
using TEST_EXECSPACE = Kokkos::Serial;
#define DIFFBIO_TEST_BACKEND_NAME "serial"
#elif defined(DIFFBIO_TEST_BACKEND_OPENMP)
using TEST_EXECSPACE = Kokkos::OpenMP;
#define DIFFBIO_TEST_BACKEND_NAME "openmp"
#elif defined(DIFFBIO_TEST_BACKEND_CUDA)
using TEST_EXECSPACE = Kokkos::Cuda;
#define DIFFBIO_TEST_BACKEND_NAME "cuda"
#elif defined(DIFFBIO_TEST_BACKEND_HIP)
using TEST_EXECSPACE = Kokkos::Experimental::HIP;
#define DIFFBIO_TEST_BACKEND_NAME "hip"
#else  // host-only test binaries
using TEST_EXECSPACE = Kokkos::DefaultHostExecutionSpace;
#define DIFFBIO_TEST_BACKEND_NAME "host"
#endif
using TEST_MEMSPACE = TEST_EXECSPACE::memory_space;

#endif
