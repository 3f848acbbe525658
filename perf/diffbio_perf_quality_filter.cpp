// SPDX-License-Identifier: BSD-3-Clause
// Quality filter forward+adjoint throughput (bases/s), with the peer measured in the same run:
// a plain parallel copy of the same data (quality + profile in, weight + filtered out), i.e. the
// memory-bandwidth bound for an operator that touches every byte once. Prints the ratio.
//
//   ./perf/diffbio_perf_quality_filter [reads=20000] [length=150] [reps=7]
#include <DiffBio_QualityFilter.hpp>
#include <DiffBio_Random.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace diffbio;
using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;

template <class F>
double median_seconds(int reps, F&& f) {
  std::vector<double> t;
  f();  // warm-up (first touch, page faults)
  for (int r = 0; r < reps; ++r) {
    Kokkos::fence();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    Kokkos::fence();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

template <class S>
void run(int B, int L, int reps, const char* name) {
  const int A = 4;
  Kokkos::View<std::uint8_t**, Mem> q(label("perf::quality"), B, L);
  Kokkos::View<S***, Mem> x(label("perf::profile"), B, L, A);
  Kokkos::View<int*, Mem> len(label("perf::length"), B);
  Kokkos::parallel_for(
      label("perf::fill"), Kokkos::RangePolicy<Exec>(0, B * L), KOKKOS_LAMBDA(const int i) {
        const int b = i / L, p = i % L;
        CounterRng rng(7, static_cast<std::uint64_t>(b));
        q(b, p) = static_cast<std::uint8_t>(2 + 39 * rng.uniform(p));
        x(b, p, (b + p) % A) = S(1);
        if (p == 0) len(b) = L;
      });
  QualityFilter<S, Exec> op;
  typename QualityFilter<S, Exec>::Inputs in{q, x, len};
  auto out = QualityFilter<S, Exec>::allocate_outputs(in);
  typename QualityFilter<S, Exec>::Workspace ws;
  Kokkos::View<S*, Mem> params(label("perf::params"), 2);
  Kokkos::View<double*, Mem> dparams(label("perf::dparams"), 2);
  {
    auto h = Kokkos::create_mirror_view(params);
    h(0) = S(20);
    h(1) = S(std::log(2.0));
    Kokkos::deep_copy(params, h);
  }
  Kokkos::View<S***, Mem> dx(label("perf::dprofile"), B, L, A);
  typename QualityFilter<S, Exec>::OutputGrads dout{out.weight, out.filtered};  // any seeds

  const double t_fwd = median_seconds(reps, [&] { op.forward(Exec(), params, in, out, ws); });
  const double t_adj = median_seconds(reps, [&] { op.adjoint(Exec(), params, in, ws, dout, {dx}, dparams); });

  // The peer: copy the same bytes the forward reads into same-sized outputs.
  Kokkos::View<std::uint8_t**, Mem> q2(label("perf::quality_copy"), B, L);
  Kokkos::View<S***, Mem> x2(label("perf::profile_copy"), B, L, A);
  const double t_copy = median_seconds(reps, [&] {
    Kokkos::parallel_for(
        label("perf::copy"), Kokkos::RangePolicy<Exec>(0, B * L), KOKKOS_LAMBDA(const int i) {
          const int b = i / L, p = i % L;
          q2(b, p) = q(b, p);
          for (int a = 0; a < A; ++a) x2(b, p, a) = x(b, p, a);
        });
  });
  const double bases = static_cast<double>(B) * L;
  std::printf("%-6s %8d x %4d  fwd %8.3f Gbases/s  adj %8.3f Gbases/s  fwd+adj %8.3f Gbases/s  "
              "copy %8.3f Gbases/s  ratio(fwd+adj / copy) %.3f\n",
              name, B, L, bases / t_fwd * 1e-9, bases / t_adj * 1e-9,
              bases / (t_fwd + t_adj) * 1e-9, bases / t_copy * 1e-9, t_copy / (t_fwd + t_adj));
}

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard guard(argc, argv);
  const int B = argc > 1 ? std::atoi(argv[1]) : 20000;
  const int L = argc > 2 ? std::atoi(argv[2]) : 150;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 7;
  std::printf("DiffBio quality filter vs memory copy of the same data; %s, concurrency %d\n",
              Exec::name(), Exec().concurrency());
  run<float>(B, L, reps, "float");
  run<double>(B, L, reps, "double");
  return 0;
}
