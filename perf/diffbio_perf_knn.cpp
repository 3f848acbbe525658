// SPDX-License-Identifier: BSD-3-Clause
// KnnIndex (IVF, not all pairs): build and all-points self-search time for N points in D
// dimensions, k neighbours, with scikit-learn's NearestNeighbors (exact; algorithm "auto") timed
// in the same run on the same data (float64, one thread, Python subprocess), and the recall of
// our default n_probe against scikit-learn's neighbours on a sample of queries.
//
//   ./perf/diffbio_perf_knn [points=100000] [dims=30] [k=15] [clusters=50] [sample=2000]
//                           [n_probe=0 (default)] [peer=1]
//
// The data are cell-embedding-like: Gaussian clusters with different spreads. Times are the best
// of two runs (ours) / one run (sklearn: fit + kneighbors of all points). Threads: Kokkos'
// (--kokkos-threads=N); sklearn is limited to one thread (OMP/BLAS env), so compare at one thread.
#include <DiffBio_KnnIndex.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

#ifndef DIFFBIO_PERF_PYTHON
#define DIFFBIO_PERF_PYTHON "python3"
#endif

using namespace diffbio;
using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;

namespace {

const char* kSklearnScript = R"PY(
import sys, time
import numpy as np
from sklearn.neighbors import NearestNeighbors
x_path, n, d, k, sample, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
X = np.fromfile(x_path, dtype="<f8").reshape(n, d)
t0 = time.perf_counter(); c0 = time.process_time()
nn = NearestNeighbors(n_neighbors=k + 1).fit(X)
_, idx = nn.kneighbors(X)
t = time.perf_counter() - t0; c = time.process_time() - c0
with open(out, "w") as f:
    f.write("%r %r %s\n" % (t, c, nn._fit_method))
    for i in range(sample):
        row = [j for j in idx[i] if j != i][:k]
        f.write(" ".join(map(str, row)) + "\n")
)PY";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard guard(argc, argv);
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]).rfind("--kokkos", 0) != 0) args.emplace_back(argv[i]);
  const int N = args.size() > 0 ? std::stoi(args[0]) : 100000;
  const int D = args.size() > 1 ? std::stoi(args[1]) : 30;
  const int k = args.size() > 2 ? std::stoi(args[2]) : 15;
  const int C = args.size() > 3 ? std::stoi(args[3]) : 50;
  const int S = std::min(N, args.size() > 4 ? std::stoi(args[4]) : 2000);
  KnnIndexConfig cfg;
  cfg.n_probe = args.size() > 5 ? std::stoi(args[5]) : 0;
  const bool peer = args.size() > 6 ? std::stoi(args[6]) != 0 : true;

  std::mt19937_64 gen(12345);
  std::normal_distribution<double> nd(0, 1);
  std::uniform_real_distribution<double> u(0.5, 1.5);
  std::vector<double> centres(static_cast<std::size_t>(C) * D), spread(C), X(static_cast<std::size_t>(N) * D);
  for (auto& c : centres) c = 4 * nd(gen);
  for (auto& s : spread) s = u(gen);
  for (int i = 0; i < N; ++i) {
    const int c = static_cast<int>(gen() % C);
    for (int j = 0; j < D; ++j) X[static_cast<std::size_t>(i) * D + j] = centres[c * D + j] + spread[c] * nd(gen);
  }
  Kokkos::View<double**, Kokkos::LayoutRight, Mem> x(label("perf::x"), N, D);
  {
    auto h = Kokkos::create_mirror_view(x);
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < D; ++j) h(i, j) = X[static_cast<std::size_t>(i) * D + j];
    Kokkos::deep_copy(x, h);
  }
  Kokkos::View<int**, Mem> idx(label("perf::idx"), N, k);
  Kokkos::View<double**, Mem> dist(label("perf::dist"), N, k);
  double t_build = 1e30, t_search = 1e30, c_build = 1e30, c_search = 1e30;
  KnnIndex<double, Exec> index;
  for (int rep = 0; rep < 2; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    std::clock_t k0 = std::clock();
    index = KnnIndex<double, Exec>(cfg);
    index.build(Exec(), x);
    t_build = std::min(t_build, seconds_since(t0));
    c_build = std::min(c_build, double(std::clock() - k0) / CLOCKS_PER_SEC);
    t0 = std::chrono::steady_clock::now();
    k0 = std::clock();
    index.search(Exec(), x, idx, dist, true);
    Exec().fence();
    t_search = std::min(t_search, seconds_since(t0));
    c_search = std::min(c_search, double(std::clock() - k0) / CLOCKS_PER_SEC);
  }
  std::printf("KnnIndex (IVF): N=%d D=%d k=%d threads=%d lists=%d n_probe=%d: build %.3f s, "
              "search %.3f s, total %.3f s wall (process CPU: build %.3f s, search %.3f s)\n",
              N, D, k, Exec().concurrency(), index.n_lists(), index.n_probe(), t_build, t_search,
              t_build + t_search, c_build, c_search);

  {  // recall against the exact search (all lists probed) on the first queries
    const int SE = std::min(S, 500);
    KnnIndexConfig ecfg;
    ecfg.exact = true;
    ecfg.n_lists = index.n_lists();
    KnnIndex<double, Exec> exact(ecfg);
    exact.build(Exec(), x);
    Kokkos::View<int**, Mem> eidx(label("perf::eidx"), SE, k);
    Kokkos::View<double**, Mem> edist(label("perf::edist"), SE, k);
    exact.search(Exec(), Kokkos::subview(x, Kokkos::make_pair(0, SE), Kokkos::ALL), eidx, edist, true);
    auto he = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), eidx);
    auto hi = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), idx);
    long hit = 0;
    for (int i = 0; i < SE; ++i) {
      std::set<int> truth;
      for (int j = 0; j < k; ++j) truth.insert(he(i, j));
      for (int j = 0; j < k; ++j) hit += truth.count(hi(i, j));
    }
    std::printf("recall vs our exact search on %d queries = %.4f\n", SE,
                static_cast<double>(hit) / (static_cast<double>(SE) * k));
  }
  const std::string base = "/tmp/diffbio_perf_knn_" + std::to_string(::getpid());
  const std::string xf = base + "_X.bin", pf = base + "_peer.py", of = base + "_out.txt";
  std::ofstream(xf, std::ios::binary)
      .write(reinterpret_cast<const char*>(X.data()), static_cast<std::streamsize>(X.size() * 8));
  std::ofstream(pf) << kSklearnScript;
  const std::string cmd = std::string("OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 '") +
                          DIFFBIO_PERF_PYTHON + "' " + pf + " " + xf + " " + std::to_string(N) + " " +
                          std::to_string(D) + " " + std::to_string(k) + " " + std::to_string(S) + " " + of;
  const int rc = peer ? std::system(cmd.c_str()) : -1;
  if (rc != 0) {
    std::printf("scikit-learn peer unavailable (exit %d)\n", rc);
  } else {
    std::ifstream f(of);
    double t_sk = 0, c_sk = 0;
    std::string method;
    f >> t_sk >> c_sk >> method;
    auto hi = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), idx);
    long hit = 0;
    for (int i = 0; i < S; ++i) {
      std::set<int> truth;
      for (int j = 0; j < k; ++j) {
        int v;
        f >> v;
        truth.insert(v);
      }
      for (int j = 0; j < k; ++j) hit += truth.count(hi(i, j));
    }
    std::printf("sklearn NearestNeighbors (%s, 1 thread): %.3f s wall (process CPU %.3f s); ratio "
                "sklearn/ours = %.2f wall, %.2f CPU; recall of ours vs sklearn on %d queries = %.4f\n",
                method.c_str(), t_sk, c_sk, t_sk / (t_build + t_search), c_sk / (c_build + c_search), S,
                static_cast<double>(hit) / (static_cast<double>(S) * k));
  }
  for (const auto& f : {xf, pf, of}) std::remove(f.c_str());
  return 0;
}
