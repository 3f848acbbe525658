// SPDX-License-Identifier: BSD-3-Clause
// VAENormalizer training throughput (cells/s: one epoch of shuffled mini-batches, forward +
// adjoint + Adam, float) with the PyTorch peer (perf/vae_torch.py, Debian python3-torch) timed in
// the same run on the same data (written to temporary files) with the same architecture,
// mini-batch size, optimiser and thread count. Prints the ratio (torch s/epoch ÷ ours; > 1 means
// faster than PyTorch).
//
//   ./perf/diffbio_perf_vae [cells=20000] [genes=2000] [density=0.05] [hidden=128] [latent=10]
//                           [batch=128] [epochs=2]
//
// Both sides: relu encoder layer on [log1p(x); batch one-hot], μ/log σ², reparameterisation,
// decoder softmax, library-scaled NB likelihood with gene-wise θ, KL; 2 batches; the best of
// `epochs` timed epochs after a warm-up. Threads: Kokkos' (--kokkos-threads=N) for us, OpenBLAS
// gets the same number, torch.set_num_threads(the same). Run on an idle machine (perf/README.md).
#include <DiffBio_VAENormalizer.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#ifdef DIFFBIO_PERF_OPENBLAS
extern "C" void openblas_set_num_threads(int num_threads);
#endif
#ifndef DIFFBIO_PERF_PYTHON
#define DIFFBIO_PERF_PYTHON "python3"
#endif
#ifndef DIFFBIO_PERF_VAE_TORCH
#define DIFFBIO_PERF_VAE_TORCH "vae_torch.py"
#endif

using namespace diffbio;
using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;

namespace {

struct Csr {
  std::vector<std::int64_t> indptr{0};
  std::vector<std::int32_t> indices;
  std::vector<float> data;
  std::vector<int> batch;
};

/// Counts at the given density: each entry present with probability `density`, value 1 +
/// geometric(0.5) (mean 2), cell i in batch i % 2.
Csr simulate(int N, int G, double density) {
  Csr m;
  std::mt19937_64 gen(12345);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::geometric_distribution<int> geo(0.5);
  for (int i = 0; i < N; ++i) {
    for (int g = 0; g < G; ++g)
      if (u(gen) < density) {
        m.indices.push_back(g);
        m.data.push_back(static_cast<float>(1 + geo(gen)));
      }
    m.indptr.push_back(static_cast<std::int64_t>(m.indices.size()));
    m.batch.push_back(i % 2);
  }
  return m;
}

template <class T>
void write(const std::string& f, const std::vector<T>& v) {
  std::ofstream(f, std::ios::binary)
      .write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
}

template <class V, class T>
V to_device(const std::vector<T>& h) {
  V v(Kokkos::view_alloc(Kokkos::WithoutInitializing, "DiffBio::perf::csr"), h.size());
  Kokkos::View<const T*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>> hv(h.data(), h.size());
  Kokkos::deep_copy(v, hv);
  return v;
}

}  // namespace

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard guard(argc, argv);
  std::vector<std::string> pos;
  for (int a = 1; a < argc; ++a)
    if (std::string(argv[a]).rfind("--", 0) != 0) pos.push_back(argv[a]);
  auto arg = [&](std::size_t k, double d) { return pos.size() > k ? std::atof(pos[k].c_str()) : d; };
  const int N = static_cast<int>(arg(0, 20000)), G = static_cast<int>(arg(1, 2000));
  const double density = arg(2, 0.05);
  const int H = static_cast<int>(arg(3, 128)), L = static_cast<int>(arg(4, 10)),
            B = static_cast<int>(arg(5, 128)), epochs = static_cast<int>(arg(6, 2));
  const int threads = Exec().concurrency();
#ifdef DIFFBIO_PERF_OPENBLAS
  openblas_set_num_threads(threads);
#endif
  const Csr m = simulate(N, G, density);
  std::printf("%d cells x %d genes, %.1f%% stored (%zu), hidden %d, latent %d, batch %d; %s, %d threads\n",
              N, G, 100.0 * m.data.size() / (double(N) * G), m.data.size(), H, L, B, Exec::name(), threads);

  VAEConfig cfg;
  cfg.n_genes = G;
  cfg.n_batches = 2;
  cfg.n_hidden = H;
  cfg.n_latent = L;
  VAETrainConfig tc;
  tc.batch_size = B;
  tc.learning_rate = 1e-3;
  VAENormalizer<float, Exec>::Inputs in;
  in.row_map = to_device<Kokkos::View<std::int64_t*, Mem>>(m.indptr);
  in.entries = to_device<Kokkos::View<std::int32_t*, Mem>>(m.indices);
  in.values = to_device<Kokkos::View<float*, Mem>>(m.data);
  in.batch = to_device<Kokkos::View<int*, Mem>>(m.batch);
  {  // warm-up on the first 8 mini-batches' cells
    VAETrainer<float, Exec> warm(cfg, tc);
    auto w = in;
    const int nw = std::min(N, 8 * B);
    w.row_map = Kokkos::subview(in.row_map, std::make_pair(0, nw + 1));
    warm.train_epoch(Exec(), w);
  }
  VAETrainer<float, Exec> trainer(cfg, tc);
  double best = 1e300, loss = 0;
  for (int e = 0; e < epochs; ++e) {
    const auto t0 = std::chrono::steady_clock::now();
    loss = trainer.train_epoch(Exec(), in);
    Exec().fence();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("DiffBio VAENormalizer<float>: %.3f s/epoch, %.0f cells/s (mean loss %.2f)\n", best,
              N / best, loss);

  const std::string prefix = "/tmp/diffbio_perf_vae_" + std::to_string(::getpid());
  write(prefix + "_indptr.bin", m.indptr);
  write(prefix + "_indices.bin", m.indices);
  write(prefix + "_data.bin", m.data);
  write(prefix + "_batch.bin", m.batch);
  const std::string out = prefix + "_out.txt";
  const std::string cmd = "OMP_NUM_THREADS=" + std::to_string(threads) + " '" + DIFFBIO_PERF_PYTHON +
                          "' '" + DIFFBIO_PERF_VAE_TORCH + "' " + prefix + " " + std::to_string(N) +
                          " " + std::to_string(G) + " 2 " + std::to_string(H) + " " +
                          std::to_string(L) + " " + std::to_string(B) + " " + std::to_string(epochs) +
                          " " + std::to_string(threads) + " > " + out;
  const int rc = std::system(cmd.c_str());
  double t_torch = -1, loss_torch = 0;
  if (rc == 0) std::ifstream(out) >> t_torch >> loss_torch;
  for (const char* s : {"_indptr.bin", "_indices.bin", "_data.bin", "_batch.bin", "_out.txt"})
    std::remove((prefix + s).c_str());
  if (t_torch <= 0) {
    std::printf("PyTorch peer unavailable (python3-torch, python3-scipy); no ratio\n");
    return 0;
  }
  std::printf("PyTorch float32:             %.3f s/epoch, %.0f cells/s (mean loss %.2f)\n", t_torch,
              N / t_torch, loss_torch);
  std::printf("ratio (PyTorch time / DiffBio time): %.2f\n", t_torch / best);
  return 0;
}
