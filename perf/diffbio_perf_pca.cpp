// SPDX-License-Identifier: BSD-3-Clause
// NormalizeLog1p + DifferentiablePCA at cohort scale: a random cells × genes count matrix
// (default 100k × 2k at 5 % density, 10M stored entries, float values), normalize_total + log1p,
// then fit() of the top K = 50 components (randomized subspace iteration, 10 oversamples,
// 7 iterations: sklearn's randomized defaults), one forward Y = (X − 1μᵀ)W and one adjoint. Prints
// the time of each step and the peak resident set size (VmHWM of /proc/self/status) after each.
// Then the peers on the same sizes, in the same run (pca_peer.py perf, a Python subprocess with
// its own VmHWM): scikit-learn's TruncatedSVD(algorithm="randomized", n_iter=7) on a scipy CSR
// matrix (not centred), and scanpy's centred sparse PCA method (ARPACK svds on an implicitly
// centred LinearOperator).
//
//   ./perf/diffbio_perf_pca [cells=100000] [genes=2000] [density=0.05] [k=50] [iterations=7]
//                           [--no-peer]
//
// Threads: Kokkos' (--kokkos-threads=N); the peers run with OMP/OPENBLAS_NUM_THREADS of the
// environment. Run on an idle machine (perf/README.md).
//
// Measured 2026-11-24 (2-core VM, load average ≈ 10 from parallel builds, so absolute times are
// inflated several-fold; same-run ratios are what matter), one thread everywhere, 100k × 2k,
// 10.0M stored entries, K = 50:
//   normalize + log1p 0.28 s; fit (L = 60, 7 iterations) 9.4 s; forward 0.39 s; adjoint 1.2 s;
//   peak RSS 229 MiB after fit, 232 MiB at the end (158 MiB after the data: float CSR + host copy)
//   sklearn TruncatedSVD(randomized, n_iter=7, uncentred) 9.3 s; scanpy-style centred ARPACK 9.0 s;
//   the Python process peaked at 461 MiB.
// On this random matrix (a flat noise spectrum) 7 iterations leave the Ritz values ~2 % low
// (20k cells: top σ 176.8 after 7 iterations, 180.5 after 40, ARPACK 180.9); data with
// cell-type structure converge much faster (tests/normalization/tstSparsePCA.cpp).
#include <DiffBio_NormalizeLog1p.hpp>
#include <DiffBio_SparsePCA.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#ifndef DIFFBIO_PERF_PYTHON
#define DIFFBIO_PERF_PYTHON "python3"
#endif
#ifndef DIFFBIO_PERF_PCA_PEER
#define DIFFBIO_PERF_PCA_PEER "pca_peer.py"
#endif

using namespace diffbio;
using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;

namespace {

double peak_rss_mib() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return -1;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Counts 1..19 at uniformly random positions with the given density (geometric gaps: no
/// per-position draw), sorted columns.
io::CsrMatrix<float> random_counts(std::int64_t N, int G, double density, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::geometric_distribution<int> gap(density);
  std::uniform_int_distribution<int> count(1, 19);
  io::CsrMatrix<float> m;
  m.n_rows = N;
  m.n_cols = G;
  m.indptr.reserve(static_cast<std::size_t>(N) + 1);
  const auto expect = static_cast<std::size_t>(static_cast<double>(N) * G * density * 1.01);
  m.indices.reserve(expect);
  m.data.reserve(expect);
  for (std::int64_t i = 0; i < N; ++i) {
    for (int j = gap(gen); j < G; j += 1 + gap(gen)) {
      m.indices.push_back(j);
      m.data.push_back(static_cast<float>(count(gen)));
    }
    m.indptr.push_back(static_cast<std::int64_t>(m.data.size()));
  }
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  std::vector<std::string> args;
  bool peer = true;
  for (int a = 1; a < argc; ++a) {
    const std::string s = argv[a];
    if (s == "--no-peer") peer = false;
    else if (s.rfind("--", 0) != 0) args.push_back(s);
  }
  const std::int64_t N = args.size() > 0 ? std::atoll(args[0].c_str()) : 100000;
  const int G = args.size() > 1 ? std::atoi(args[1].c_str()) : 2000;
  const double density = args.size() > 2 ? std::atof(args[2].c_str()) : 0.05;
  const int K = args.size() > 3 ? std::atoi(args[3].c_str()) : 50;
  const int n_iter = args.size() > 4 ? std::atoi(args[4].c_str()) : 7;
  std::printf("DiffBio NormalizeLog1p + SparsePCA: %lld cells x %d genes, density %.3f, K = %d, "
              "%s with %d thread(s)\n",
              static_cast<long long>(N), G, density, K, Exec::name(), Exec().concurrency());
  const double rss_start = peak_rss_mib();

  io::DeviceCsr<float, Mem> X;
  {
    auto t0 = std::chrono::steady_clock::now();
    const auto host = random_counts(N, G, density, 7);
    X = io::to_device<Mem>(host, "perf_counts");
    std::printf("  data: nnz %lld, generated + copied in %.2f s (host copy freed)\n",
                static_cast<long long>(host.nnz()), seconds_since(t0));
  }
  const double rss_data = peak_rss_mib();

  NormalizeLog1p<float, Exec> norm;
  auto nin = norm.inputs(X);
  auto nout = norm.allocate_outputs(nin);
  auto nws = norm.allocate_workspace(nin);
  Kokkos::View<float*, Mem> nparams("DiffBio::perf::norm_params", 1);
  Kokkos::deep_copy(nparams, static_cast<float>(norm.initial_params()[0]));
  auto t0 = std::chrono::steady_clock::now();
  norm.forward(Exec(), nparams, nin, nout, nws);
  Exec().fence();
  const double t_norm = seconds_since(t0);

  SparsePCAConfig cfg;
  cfg.n_genes = G;
  cfg.n_components = K;
  cfg.n_power_iter = n_iter;
  DifferentiablePCA<float, Exec> pca(cfg);
  auto pin = pca.inputs(X, nout.values);
  auto pws = pca.allocate_workspace(pin);
  // The column index is only built on the column_index path (GPUs); host runs use row chunks.
  t0 = std::chrono::steady_clock::now();
  if (!pca.use_row_chunks()) pca.prepare(pin, pws);
  const double t_index = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  const PcaFit fit = pca.fit(Exec(), pin, pws);
  const double t_fit = seconds_since(t0);
  const double rss_fit = peak_rss_mib();

  const auto p = pca.initial_params(fit);
  Kokkos::View<float*, Mem> params("DiffBio::perf::pca_params", p.size());
  {
    auto h = Kokkos::create_mirror_view(params);
    for (std::size_t i = 0; i < p.size(); ++i) h(i) = static_cast<float>(p[i]);
    Kokkos::deep_copy(params, h);
  }
  auto pout = pca.allocate_outputs(pin);
  t0 = std::chrono::steady_clock::now();
  pca.forward(Exec(), params, pin, pout, pws);
  Exec().fence();
  const double t_fwd = seconds_since(t0);
  Kokkos::View<float*, Mem> dx("DiffBio::perf::dx", X.values.extent(0));
  Kokkos::View<double*, Mem> dp("DiffBio::perf::dp", p.size());
  t0 = std::chrono::steady_clock::now();
  pca.adjoint(Exec(), params, pin, pws, {pout.y}, {dx}, dp);
  const double t_adj = seconds_since(t0);
  const double rss_end = peak_rss_mib();

  std::printf("  normalize_total + log1p forward: %.3f s\n", t_norm);
  std::printf("  transposed products by %s%s: %.3f s\n",
              pca.use_row_chunks() ? "row chunks" : "column index",
              pca.use_row_chunks() ? "" : " (host counting sort, once per pattern)", t_index);
  std::printf("  PCA fit (K = %d, L = %d, %d iterations): %.3f s\n", K,
              std::min(G, K + cfg.n_oversamples), cfg.n_power_iter, t_fit);
  std::printf("  PCA forward Y = (X - 1 mu^T) W: %.3f s   adjoint (W bar, x bar): %.3f s\n", t_fwd,
              t_adj);
  std::printf("  peak RSS (VmHWM): start %.1f MiB, after data %.1f MiB, after fit %.1f MiB, "
              "end %.1f MiB\n",
              rss_start, rss_data, rss_fit, rss_end);
  std::printf("  top singular values:");
  for (int k = 0; k < std::min(K, 5); ++k) std::printf(" %.6g", fit.singular_values[k]);
  std::printf("\n  explained variance ratio of %d components: %.4f\n", K, [&] {
    double s = 0;
    for (double v : fit.explained_variance_ratio) s += v;
    return s;
  }());

  if (peer) {
    const std::string out = "/tmp/diffbio_perf_pca_" + std::to_string(::getpid()) + ".txt";
    const std::string cmd = std::string("'") + DIFFBIO_PERF_PYTHON + "' '" + DIFFBIO_PERF_PCA_PEER +
                            "' perf " + std::to_string(N) + " " + std::to_string(G) + " " +
                            std::to_string(density) + " " + std::to_string(K) + " 7 '" + out + "'";
    t0 = std::chrono::steady_clock::now();
    const int rc = std::system(cmd.c_str());
    std::printf("  peer (python subprocess, %.1f s wall incl. data generation), exit %d:\n",
                seconds_since(t0), rc);
    std::ifstream f(out);
    for (std::string line; std::getline(f, line);) std::printf("    %s\n", line.c_str());
    std::remove(out.c_str());
  }
  return 0;
}
