// SPDX-License-Identifier: BSD-3-Clause
// Consumer of an installed DiffBio (see CMakeLists.txt next to this file). It uses one header
// generated at configure time (DiffBio_Config.hpp), one installed source header plus a symbol
// compiled into the library (DiffBio_Error.hpp / input_error), and a Kokkos kernel, so the
// include paths, the library and Kokkos' compile/link flags all have to arrive through
// DiffBio::diffbio for this to build and pass.
#include <DiffBio_Config.hpp>
#include <DiffBio_Error.hpp>

#include <Kokkos_Core.hpp>

#include <cstdio>
#include <string>

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard guard(argc, argv);

  // Sum of 0..n-1 on the default execution space; exact in integers.
  const long n = 1000;
  long sum = 0;
  Kokkos::parallel_reduce(
      "diffbio_install_test", Kokkos::RangePolicy<>(0, n), KOKKOS_LAMBDA(const long i, long& s) { s += i; }, sum);
  const long expected = n * (n - 1) / 2;

  // Links against a function defined in the DiffBio library, not just headers.
  const diffbio::Error e = diffbio::input_error("reads.fastq", 7, "truncated record");
  const bool error_ok = e.code() == diffbio::ExitCode::input_error && std::string(e.what()).find("reads.fastq") != std::string::npos;

  std::printf("DiffBio %s, Kokkos execution space %s: sum=%ld (expected %ld), error message: %s\n",
              DIFFBIO_VERSION_STRING, Kokkos::DefaultExecutionSpace::name(), sum, expected, e.what());
  return (sum == expected && error_ok) ? 0 : 1;
}
