// SPDX-License-Identifier: BSD-3-Clause
// SoftKMeansClustering throughput (cells/s) for one E+M step — soft (softmax assignments, then
// the assignment-weighted M-step) and hard (one Lloyd iteration) — with the peer measured in the
// same run: scikit-learn's KMeans(algorithm="lloyd") per Lloyd iteration on the same data (float64,
// written to a temporary file), one thread, run as a Python subprocess. Prints the ratios
// (sklearn time per iteration / our time per step; > 1 means faster than sklearn).
//
//   ./perf/diffbio_perf_kmeans [cells=100000] [dims=50] [k=20] [reps=15]
//
// The sklearn time per iteration is (t(fit, 25 iterations) − t(fit, 5 iterations)) / 20, best of
// three, which removes fit()'s fixed costs (input validation, centring, final inertia) that a
// single E+M step does not have; the data do not converge within 25 iterations. Ours is the best
// of `reps` steps, each from the same initial centroids. Ratios compare like with like: our float
// run with sklearn on float32 data, double with float64.
//
// Threads: Kokkos' (--kokkos-threads=N); the BLAS TPL (OpenBLAS) gets the same number
// (DIFFBIO_PERF_BLAS_THREADS overrides). With the BLAS TPL, OMP_WAIT_POLICY=passive keeps idle
// OpenMP workers from spinning against OpenBLAS' threads. Run on an idle machine (perf/README.md).
//
// Measured: perf/README.md, "Soft k-means" (same-run ratios before/after, one and two threads,
// and where the time of a soft step goes). In short (2-core AMD EPYC VM, Kokkos 3.4.1 OpenMP, no
// -march, OpenBLAS 0.3.21 Haswell kernels, g++ 12 -O3, one thread, CPU ms per step): float soft
// E+M 12.5, hard 7.4; double soft 24.5, hard 14.5; sklearn per Lloyd iteration on an idle core
// ≈ 7.3 (float32) and 11 (float64), so soft E+M is ≈ 0.6× / 0.45× sklearn: it does two gemms
// where a Lloyd iteration does one.
#include <DiffBio_SoftKMeans.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#ifdef DIFFBIO_PERF_OPENBLAS
// OpenBLAS extension, declared here as diffbio_perf_gemm does (Debian's cblas.h alternative may
// be the reference header without it).
extern "C" void openblas_set_num_threads(int num_threads);
#endif

#ifndef DIFFBIO_PERF_PYTHON
#define DIFFBIO_PERF_PYTHON "python3"
#endif

using namespace diffbio;
using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;

namespace {

/// Best of \p reps timed calls (after a warm-up): like the sklearn side's best of three, the
/// minimum is the least disturbed by other load on a shared machine.
template <class F>
double best_seconds(int reps, F&& f) {
  std::vector<double> t;
  f();  // warm-up (first touch, page faults)
  for (int r = 0; r < reps; ++r) {
    Kokkos::fence();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    Kokkos::fence();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return *std::min_element(t.begin(), t.end());
}

const char* kSklearnScript = R"PY(
import sys, time
import numpy as np
from threadpoolctl import threadpool_limits
from sklearn.cluster import KMeans
x_path, n, d, c_path, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
X64 = np.fromfile(x_path, dtype="<f8").reshape(n, d)
init64 = np.fromfile(c_path, dtype="<f8").reshape(k, d)
def per_iteration(X, init):
    def fit_time(iters):
        best = None
        for _ in range(3):
            km = KMeans(n_clusters=k, init=init, n_init=1, algorithm="lloyd", tol=0.0, max_iter=iters)
            t0 = time.perf_counter(); km.fit(X); t = time.perf_counter() - t0
            assert km.n_iter_ == iters, f"converged after {km.n_iter_} iterations"
            best = t if best is None else min(best, t)
        return best
    t5, t25 = fit_time(5), fit_time(25)
    return (t25 - t5) / 20, t25 / 25
with threadpool_limits(limits=1):
    d64 = per_iteration(X64, init64)
    d32 = per_iteration(X64.astype(np.float32), init64.astype(np.float32))
print(repr(d64[0]), repr(d64[1]), repr(d32[0]), repr(d32[1]))
)PY";

/// sklearn seconds per Lloyd iteration: {float64 differential, float64 fit/n_iter, float32
/// differential, float32 fit/n_iter}; all < 0 if the peer is unavailable.
std::vector<double> sklearn_seconds_per_iteration(const std::vector<double>& X,
                                                  const std::vector<double>& init, int N, int D,
                                                  int K) {
  const std::string dir = "/tmp/diffbio_perf_kmeans_" + std::to_string(::getpid());
  const std::string xf = dir + "_X.bin", cf = dir + "_init.bin", pf = dir + "_peer.py",
                    of = dir + "_out.txt";
  std::ofstream(xf, std::ios::binary)
      .write(reinterpret_cast<const char*>(X.data()), static_cast<std::streamsize>(X.size() * 8));
  std::ofstream(cf, std::ios::binary)
      .write(reinterpret_cast<const char*>(init.data()), static_cast<std::streamsize>(init.size() * 8));
  std::ofstream(pf) << kSklearnScript;
  const std::string cmd = std::string("OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 '") +
                          DIFFBIO_PERF_PYTHON + "' " + pf + " " + xf + " " + std::to_string(N) +
                          " " + std::to_string(D) + " " + cf + " " + std::to_string(K) + " > " + of;
  const int rc = std::system(cmd.c_str());
  std::vector<double> t(4, -1.0);
  if (rc == 0) {
    std::ifstream f(of);
    for (auto& v : t) f >> v;
  }
  for (const auto& f : {xf, cf, pf, of}) std::remove(f.c_str());
  return t;
}

template <class S>
std::pair<double, double> run(const std::vector<double>& Xh, const std::vector<double>& Ch, int N,
                              int D, int K, int reps) {
  Kokkos::View<S**, Kokkos::LayoutRight, Mem> x(label("perf::x"), N, D);
  {
    auto h = Kokkos::create_mirror_view(x);
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < D; ++j) h(i, j) = static_cast<S>(Xh[static_cast<std::size_t>(i) * D + j]);
    Kokkos::deep_copy(x, h);
  }
  double t_soft = 0, t_hard = 0;
  for (bool hard : {false, true}) {
    SoftKMeansConfig cfg;
    cfg.n_clusters = K;
    cfg.n_features = D;
    cfg.tau = 1.0;
    cfg.hard = hard;
    SoftKMeansClustering<S, Exec> op(cfg);
    typename SoftKMeansClustering<S, Exec>::Inputs in{x, {}};
    auto out = op.allocate_outputs(in, /*with_labels=*/false);
    auto ws = op.allocate_workspace(in);
    Kokkos::View<S*, Mem> params(label("perf::params"), op.n_params());
    const auto p0 = op.initial_params(Ch);
    auto reset = [&] {
      auto h = Kokkos::create_mirror_view(params);
      for (int c = 0; c < op.n_params(); ++c) h(c) = static_cast<S>(p0[static_cast<std::size_t>(c)]);
      Kokkos::deep_copy(params, h);
    };
    reset();
    // One E+M step from the same centroids each repetition (reset is outside the timing).
    std::vector<double> t;
    for (int r = 0; r <= reps; ++r) {
      reset();
      Kokkos::fence();
      const auto t0 = std::chrono::steady_clock::now();
      op.forward(Exec(), params, in, out, ws);
      op.m_step(Exec(), in, out.assign, ws, params);
      Kokkos::fence();
      if (r > 0) t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    (hard ? t_hard : t_soft) = *std::min_element(t.begin(), t.end());
    // What was timed computed the right thing: assignment rows sum to 1 (one-hot when hard) and
    // the new centroids are finite.
    {
      auto P = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.assign);
      auto c = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), params);
      double worst = 0;
      for (int i = 0; i < N; ++i) {
        double s = 0;
        for (int k = 0; k < K; ++k) s += static_cast<double>(P(i, k));
        worst = std::max(worst, std::fabs(s - 1.0));
      }
      bool finite = true;
      for (int q = 0; q < op.n_params(); ++q) finite = finite && std::isfinite(static_cast<double>(c(q)));
      if (worst > 1e-4 || !finite) {
        std::fprintf(stderr, "check failed: max |row sum - 1| = %g, finite centroids %d\n", worst,
                     static_cast<int>(finite));
        std::exit(1);
      }
    }
    if (!hard) {
      // Adjoint (informational): seeds on the energy only.
      reset();
      op.forward(Exec(), params, in, out, ws);
      typename SoftKMeansClustering<S, Exec>::OutputGrads dout{{}, {}, out.energy};
      Kokkos::View<double*, Mem> dp(label("perf::dparams"), op.n_params());
      Kokkos::View<S**, Kokkos::LayoutRight, Mem> dx(label("perf::dx"), N, D);
      const double t_adj = best_seconds(reps, [&] { op.adjoint(Exec(), params, in, ws, dout, {dx}, dp); });
      std::printf("%-6s adjoint  %8.2f ms  %8.3g cells/s (x and parameter gradients)\n",
                  std::is_same<S, float>::value ? "float" : "double", t_adj * 1e3, N / t_adj);
    }
  }
  return {t_soft, t_hard};
}

}  // namespace

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard guard(argc, argv);
  const int N = argc > 1 ? std::atoi(argv[1]) : 100000;
  const int D = argc > 2 ? std::atoi(argv[2]) : 50;
  const int K = argc > 3 ? std::atoi(argv[3]) : 20;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 15;
  // Uniform points in the unit cube: no cluster structure, so Lloyd's algorithm keeps moving for
  // well over 25 iterations (the sklearn timing needs that), and soft assignments with τ = 1 are
  // genuinely soft (d_ik − min_k d_ik is O(1) for D = 50).
  std::mt19937_64 gen(42);
  std::uniform_real_distribution<double> ud(0.0, 1.0);
  std::vector<double> X(static_cast<std::size_t>(N) * D), init(static_cast<std::size_t>(K) * D);
  for (auto& v : X) v = ud(gen);
  for (int k = 0; k < K; ++k)  // init: K data rows, as KMeans(init="random") would pick
    for (int j = 0; j < D; ++j)
      init[static_cast<std::size_t>(k) * D + j] = X[static_cast<std::size_t>(k) * (N / K) * D + j];

#ifdef DIFFBIO_PERF_OPENBLAS
  // The BLAS TPL gets Kokkos' thread count unless DIFFBIO_PERF_BLAS_THREADS says otherwise.
  const char* bt = std::getenv("DIFFBIO_PERF_BLAS_THREADS");
  openblas_set_num_threads(bt ? std::atoi(bt) : Exec().concurrency());
#endif
  SoftKMeansConfig probe;
  probe.n_clusters = K;
  probe.n_features = D;
  const bool blas = SoftKMeansClustering<double, Exec>(probe).blas_path(
      Kokkos::View<double*, Mem>(label("perf::probe"), static_cast<std::size_t>(K) * D + 1));
  std::printf("DiffBio soft k-means E+M step vs scikit-learn KMeans (lloyd) per iteration\n");
  std::printf("%d cells x %d dims, k = %d; %s, concurrency %d; contractions: %s; sklearn: 1 thread\n",
              N, D, K, Exec::name(), Exec().concurrency(),
              blas ? "KokkosBlas::gemm" : "DiffBio kernels");
  const auto sk = sklearn_seconds_per_iteration(X, init, N, D, K);
  if (sk[0] > 0)
    std::printf("sklearn KMeans, ms per Lloyd iteration (differential; fit/n_iter): float64 %.2f "
                "(%.2f), float32 %.2f (%.2f)\n",
                sk[0] * 1e3, sk[1] * 1e3, sk[2] * 1e3, sk[3] * 1e3);
  else
    std::printf("sklearn KMeans: unavailable (%s with scikit-learn and threadpoolctl needed)\n",
                DIFFBIO_PERF_PYTHON);
  // Ratios compare like with like: our float step with sklearn on float32 data, double with
  // float64 (sklearn computes in the dtype of X).
  auto report = [&](const char* name, std::pair<double, double> t, double sk_iter) {
    std::printf("%-6s soft E+M %8.2f ms  %8.3g cells/s", name, t.first * 1e3, N / t.first);
    if (sk_iter > 0) std::printf("  ratio(sklearn iter / ours) %.2f", sk_iter / t.first);
    std::printf("\n%-6s hard E+M %8.2f ms  %8.3g cells/s", name, t.second * 1e3, N / t.second);
    if (sk_iter > 0) std::printf("  ratio %.2f", sk_iter / t.second);
    std::printf("\n");
  };
  report("float", run<float>(X, init, N, D, K, reps), sk[2]);
  report("double", run<double>(X, init, N, D, K, reps), sk[0]);
  return 0;
}
