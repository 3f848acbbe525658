// SPDX-License-Identifier: BSD-3-Clause
// Consumer of an installed DiffBio (see CMakeLists.txt next to this file). It uses one header
// generated at configure time (DiffBio_Config.hpp), one installed source header plus a symbol
// compiled into the library (DiffBio_Error.hpp / input_error), and a Kokkos kernel, so the
// include paths, the library and Kokkos' compile/link flags all have to arrive through
// DiffBio::diffbio for this to build and pass.
#include <DiffBio_Config.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_QualityFilter.hpp>
#include <DiffBio_Random.hpp>

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

  // An operator from the installed headers: the hard quality filter keeps Q >= 20 only.
  using Exec = Kokkos::DefaultExecutionSpace;
  using Mem = Exec::memory_space;
  Kokkos::View<std::uint8_t**, Mem> q("DiffBio::install::q", 1, 4);
  Kokkos::View<double***, Mem> x("DiffBio::install::x", 1, 4, 4);
  Kokkos::View<int*, Mem> len("DiffBio::install::len", 1);
  Kokkos::parallel_for("DiffBio::install::fill", Kokkos::RangePolicy<Exec>(0, 4), KOKKOS_LAMBDA(const int p) {
    q(0, p) = static_cast<std::uint8_t>(10 * p);  // 0, 10, 20, 30
    x(0, p, p) = 1.0;
    if (p == 0) len(0) = 4;
  });
  diffbio::QualityFilter<double, Exec> qf(diffbio::QualityFilterConfig{20.0, 2.0, /*hard=*/true});
  diffbio::QualityFilter<double, Exec>::Inputs in{q, x, len};
  auto out = qf.allocate_outputs(in);
  diffbio::QualityFilter<double, Exec>::Workspace ws;
  Kokkos::View<double*, Mem> params("DiffBio::install::params", 2);
  Kokkos::deep_copy(params, 20.0);
  qf.forward(Exec(), params, in, out, ws);
  auto w = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.weight);
  const bool filter_ok = w(0, 0) == 0 && w(0, 1) == 0 && w(0, 2) == 1 && w(0, 3) == 1;
  const double u = diffbio::CounterRng(1, 2).uniform(3);  // Random123 include path exported
  const bool rng_ok = u > 0 && u < 1;

  std::printf("DiffBio %s, Kokkos execution space %s: sum=%ld (expected %ld), error message: %s\n",
              DIFFBIO_VERSION_STRING, Kokkos::DefaultExecutionSpace::name(), sum, expected, e.what());
  return (sum == expected && error_ok && filter_ok && rng_ok) ? 0 : 1;
}
