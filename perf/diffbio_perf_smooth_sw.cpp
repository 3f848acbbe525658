// SPDX-License-Identifier: BSD-3-Clause
// SmoothSmithWaterman throughput (GCUPS = 10^9 DP cells per second), with parasail measured in the
// same run on the same pairs:
//   1. hard mode (τ = 0, max-plus, float) vs parasail's fastest single-thread routine (of
//      sw/nw × striped/scan/diag × 16-bit/saturating), single thread (Kokkos::Serial) and on
//      every thread of the default execution space; scores are checked equal to parasail's;
//   2. smooth forward and forward+adjoint (float and double) on DNA read-vs-window pairs and on
//      protein pairs, as GCUPS and as a ratio to our own hard-mode forward; the share of pairs that
//      ran in probability space (the rest fell back to log space, ADJOINT.md §4) is printed;
//   3. the adjoint with every DP row stored vs checkpointed every ≈√n rows (ADJOINT.md §5).
//
// Single-thread timings (parasail, ours on Kokkos::Serial) use the calling thread's CPU clock, so
// that other load on a shared machine does not count; multi-threaded timings are wall-clock.
//
//   ./perf/diffbio_perf_smooth_sw [dna_pairs=10000] [protein_pairs=2000] [reps=3]
#include <DiffBio_SmoothSmithWaterman.hpp>

#include <parasail.h>
#include <parasail/matrices/blosum62.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <time.h>

using namespace diffbio;

namespace {

struct Pairs {
  std::vector<std::string> x, y;
  int A = 4;
  bool protein = false;
  double cells() const {
    double c = 0;
    for (std::size_t k = 0; k < x.size(); ++k) c += double(x[k].size()) * double(y[k].size());
    return c;
  }
};

/// DNA: windows of `wlen` bases of a random genome, reads of `rlen` bases inside them with ~2%
/// substitutions and occasional indels (the read-vs-reference-window step of a mapper).
Pairs dna_pairs(int n, int rlen, int wlen, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_int_distribution<int> base(0, 3);
  std::uniform_real_distribution<double> u(0, 1);
  const char* acgt = "ACGT";
  std::string genome(200000, 'A');
  for (auto& c : genome) c = acgt[base(g)];
  Pairs p;
  for (int k = 0; k < n; ++k) {
    const std::size_t w0 = static_cast<std::size_t>(u(g) * (genome.size() - wlen - 1));
    const std::string win = genome.substr(w0, wlen);
    std::size_t r0 = static_cast<std::size_t>(u(g) * (wlen - rlen - 10));
    std::string read;
    while (static_cast<int>(read.size()) < rlen && r0 < win.size()) {
      const double r = u(g);
      if (r < 0.003) { ++r0; continue; }                      // deletion
      if (r < 0.006) { read.push_back(acgt[base(g)]); continue; }  // insertion
      read.push_back(r < 0.026 ? acgt[base(g)] : win[r0]);   // substitution
      ++r0;
    }
    while (static_cast<int>(read.size()) < rlen) read.push_back(acgt[base(g)]);
    p.x.push_back(read);
    p.y.push_back(win);
  }
  return p;
}

/// Protein: random sequences with amino-acid background frequencies; `identity` < 0.1 gives
/// unrelated pairs, otherwise y is a mutated copy of x (homologs).
Pairs protein_pairs(int n, int len, double identity, std::uint64_t seed) {
  const char* aa = "ARNDCQEGHILKMFPSTWYV";
  const double freq[20] = {7.4, 5.2, 4.5, 5.3, 2.5, 3.4, 5.4, 7.4, 2.6, 6.8,
                           9.9, 5.8, 2.5, 4.7, 3.9, 5.7, 5.1, 1.3, 3.2, 7.3};
  std::mt19937_64 g(seed);
  std::discrete_distribution<int> pick(freq, freq + 20);
  std::uniform_real_distribution<double> u(0, 1);
  Pairs p;
  p.A = 24;
  p.protein = true;
  for (int k = 0; k < n; ++k) {
    std::string x(len, 'A'), y;
    for (auto& c : x) c = aa[pick(g)];
    if (identity < 0.1) {
      y.assign(len, 'A');
      for (auto& c : y) c = aa[pick(g)];
    } else {
      for (int i = 0; i < len && static_cast<int>(y.size()) < len; ++i) {
        const double r = u(g);
        if (r < 0.02) continue;
        if (r < 0.04) y.push_back(aa[pick(g)]);
        y.push_back(u(g) < identity ? x[i] : aa[pick(g)]);
      }
      while (static_cast<int>(y.size()) < len) y.push_back(aa[pick(g)]);
    }
    p.x.push_back(x);
    p.y.push_back(y);
  }
  return p;
}

double thread_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

/// Median over `reps` runs after a warm-up; `cpu`: thread CPU time (single-thread runs).
template <class F>
double median_seconds(int reps, F&& f, bool cpu = false) {
  std::vector<double> t;
  f();  // warm-up
  for (int r = 0; r < reps; ++r) {
    Kokkos::fence();
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = thread_cpu_seconds();
    f();
    Kokkos::fence();
    t.push_back(cpu ? thread_cpu_seconds() - c0
                    : std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// ---------------------------------------------------------------- parasail

using ParasailFn = parasail_result_t* (*)(const char*, const int, const char*, const int, const int,
                                          const int, const parasail_matrix_t*);
struct ParasailBest {
  std::string name;
  double seconds = 1e300;
  std::vector<int> scores;
};

ParasailBest parasail_fastest(const Pairs& p, bool local, int open, int ext,
                              const parasail_matrix_t* m, int reps) {
  const std::pair<const char*, ParasailFn> sw[] = {
      {"sw_striped_16", parasail_sw_striped_16}, {"sw_scan_16", parasail_sw_scan_16},
      {"sw_diag_16", parasail_sw_diag_16},       {"sw_striped_sat", parasail_sw_striped_sat},
      {"sw_scan_sat", parasail_sw_scan_sat}};
  const std::pair<const char*, ParasailFn> nw[] = {
      {"nw_striped_16", parasail_nw_striped_16}, {"nw_scan_16", parasail_nw_scan_16},
      {"nw_diag_16", parasail_nw_diag_16},       {"nw_striped_sat", parasail_nw_striped_sat},
      {"nw_scan_sat", parasail_nw_scan_sat}};
  ParasailBest best;
  for (int v = 0; v < 5; ++v) {
    const auto& fn = local ? sw[v] : nw[v];
    std::vector<int> sc(p.x.size());
    const double t = median_seconds(reps, [&] {
      for (std::size_t k = 0; k < p.x.size(); ++k) {
        parasail_result_t* r = fn.second(p.x[k].c_str(), static_cast<int>(p.x[k].size()),
                                         p.y[k].c_str(), static_cast<int>(p.y[k].size()), open, ext, m);
        sc[k] = parasail_result_get_score(r);
        parasail_result_free(r);
      }
    }, /*cpu=*/true);
    if (t < best.seconds) {
      best.seconds = t;
      best.name = fn.first;
      best.scores = sc;
    }
  }
  return best;
}

// ---------------------------------------------------------------- ours

template <class S, class Exec>
struct Bench {
  using M = typename Exec::memory_space;
  using Op = SmoothSmithWaterman<S, Exec>;
  Op op;
  typename Op::Inputs in;
  typename Op::Outputs out;
  typename Op::Workspace ws;
  Kokkos::View<S*, M> params;
  Kokkos::View<double*, M> dparams;
  Kokkos::View<S*, M> seed;

  Bench(const Pairs& p, SmoothSmithWatermanConfig cfg) : op(cfg) {
    const int B = static_cast<int>(p.x.size());
    int Lx = 1, Ly = 1;
    for (int b = 0; b < B; ++b) {
      Lx = std::max(Lx, static_cast<int>(p.x[b].size()));
      Ly = std::max(Ly, static_cast<int>(p.y[b].size()));
    }
    Kokkos::View<std::uint8_t**, M> xi(label("perf::x"), B, Lx), yi(label("perf::y"), B, Ly);
    Kokkos::View<int*, M> xl(label("perf::xl"), B), yl(label("perf::yl"), B);
    auto hx = Kokkos::create_mirror_view(xi);
    auto hy = Kokkos::create_mirror_view(yi);
    auto hxl = Kokkos::create_mirror_view(xl);
    auto hyl = Kokkos::create_mirror_view(yl);
    for (int b = 0; b < B; ++b) {
      const auto ex = p.protein ? encode_protein(p.x[b]) : encode_dna(p.x[b]);
      const auto ey = p.protein ? encode_protein(p.y[b]) : encode_dna(p.y[b]);
      for (std::size_t i = 0; i < ex.size(); ++i) hx(b, i) = ex[i];
      for (std::size_t j = 0; j < ey.size(); ++j) hy(b, j) = ey[j];
      hxl(b) = static_cast<int>(ex.size());
      hyl(b) = static_cast<int>(ey.size());
    }
    Kokkos::deep_copy(xi, hx);
    Kokkos::deep_copy(yi, hy);
    Kokkos::deep_copy(xl, hxl);
    Kokkos::deep_copy(yl, hyl);
    in.x_index = xi;
    in.y_index = yi;
    in.x_length = xl;
    in.y_length = yl;
    out = op.allocate_outputs(in);
    ws = op.allocate_workspace(in);
    const auto init = op.initial_params();
    params = Kokkos::View<S*, M>(label("perf::params"), init.size());
    auto hp = Kokkos::create_mirror_view(params);
    for (std::size_t k = 0; k < init.size(); ++k) hp(k) = static_cast<S>(init[k]);
    Kokkos::deep_copy(params, hp);
    dparams = Kokkos::View<double*, M>(label("perf::dparams"), init.size());
    seed = Kokkos::View<S*, M>(label("perf::seed"), B);
    Kokkos::deep_copy(seed, S(1));
  }
  void forward() { op.forward(Exec(), params, in, out, ws); }
  void adjoint() { op.adjoint(Exec(), params, in, ws, {seed}, {}, dparams); }
  double prob_share() {
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), ws.path);
    double n = 0;
    for (std::size_t b = 0; b < h.extent(0); ++b) n += h(b) == 0;
    return n / static_cast<double>(h.extent(0));
  }
  std::vector<double> scores() {
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.score);
    return std::vector<double>(h.data(), h.data() + h.extent(0));
  }
};

SmoothSmithWatermanConfig config(const Pairs& p, bool local, bool hard, double tau, int open,
                                 int ext) {
  SmoothSmithWatermanConfig c;
  c.alphabet_size = p.A;
  c.substitution = p.protein ? blosum62(24) : dna_substitution(4, 2, -3);
  c.local = local;
  c.hard = hard;
  c.temperature = tau;
  c.gap_open = open;
  c.gap_extend = ext;
  return c;
}

void hard_vs_parasail(const char* what, const Pairs& p, bool local, int open, int ext,
                      const parasail_matrix_t* m, int reps) {
  const double cells = p.cells();
  const ParasailBest best = parasail_fastest(p, local, open, ext, m, reps);
  Bench<float, Kokkos::Serial> one(p, config(p, local, true, 1, open, ext));
  const double t1 = median_seconds(reps, [&] { one.forward(); }, /*cpu=*/true);
  Bench<float, Kokkos::DefaultExecutionSpace> all(p, config(p, local, true, 1, open, ext));
  const double ta = median_seconds(reps, [&] { all.forward(); });
  const auto s1 = one.scores();
  int bad = 0;
  for (std::size_t k = 0; k < s1.size(); ++k) bad += s1[k] != best.scores[k];
  std::printf("%-34s %s  parasail %-15s %7.3f GCUPS | ours 1 thread %7.3f GCUPS (ratio %.2f) | "
              "ours %d threads %7.3f GCUPS | score mismatches %d\n",
              what, local ? "sw" : "nw", best.name.c_str(), cells / best.seconds * 1e-9,
              cells / t1 * 1e-9, best.seconds / t1, Kokkos::DefaultExecutionSpace().concurrency(),
              cells / ta * 1e-9, bad);
}

/// Smooth forward and forward+adjoint: one thread (Kokkos::Serial, thread CPU time) and all
/// threads (default execution space, wall-clock); the ratio is to our hard-mode forward, same
/// thread count.
template <class S>
void smooth(const char* what, const Pairs& p, bool local, double tau, int open, int ext, int reps,
            const char* sname) {
  using Exec = Kokkos::DefaultExecutionSpace;
  const double cells = p.cells();
  Bench<S, Kokkos::Serial> h1(p, config(p, local, true, 1, open, ext));
  const double th1 = median_seconds(reps, [&] { h1.forward(); }, true);
  Bench<S, Kokkos::Serial> b1(p, config(p, local, false, tau, open, ext));
  const double tf1 = median_seconds(reps, [&] { b1.forward(); }, true);
  const double ta1 = median_seconds(reps, [&] { b1.adjoint(); }, true);
  Bench<S, Exec> b(p, config(p, local, false, tau, open, ext));
  const double tf = median_seconds(reps, [&] { b.forward(); });
  const double ta = median_seconds(reps, [&] { b.adjoint(); });
  std::printf("%-34s %s %-6s tau %.2g prob-space %5.1f%% | 1 thread: hard fwd %5.3f, smooth fwd %5.3f,"
              " fwd+adj %5.3f GCUPS, fwd+adj/hard %.3f | %d threads: fwd+adj %5.3f GCUPS\n",
              what, local ? "sw" : "nw", sname, tau, 100 * b.prob_share(), cells / th1 * 1e-9,
              cells / tf1 * 1e-9, cells / (tf1 + ta1) * 1e-9, th1 / (tf1 + ta1),
              Exec().concurrency(), cells / (tf + ta) * 1e-9);
}

template <class S>
void checkpoint_choice(const char* what, const Pairs& p, int reps) {
  using Exec = Kokkos::Serial;
  const double cells = p.cells();
  for (int k : {1, 0}) {
    auto c = config(p, true, false, 1.0, p.protein ? 11 : 5, p.protein ? 1 : 2);
    c.checkpoint_interval = k;
    c.store_all_bytes = k == 1 ? (std::size_t(1) << 40) : std::size_t(1);
    Bench<S, Exec> b(p, c);
    b.forward();
    const double ta = median_seconds(reps, [&] { b.adjoint(); }, true);
    const int Lx = static_cast<int>(b.in.x_index.extent(1)), Ly = static_cast<int>(b.in.y_index.extent(1));
    std::printf("%-34s 1 thread, adjoint %s (k = %d): %7.3f GCUPS\n", what,
                k == 1 ? "store all rows   " : "checkpoint ~sqrt(n)",
                b.op.checkpoint_interval(Lx, Ly, 64 / static_cast<int>(sizeof(double)), sizeof(double)),
                cells / ta * 1e-9);
  }
}

}  // namespace

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard guard(argc, argv);
  const int n_dna = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int n_prot = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 3;
  std::printf("DiffBio SmoothSmithWaterman; %s, concurrency %d; lanes per group: double %d, float %d"
#if defined(__AVX512F__)
              "; AVX-512"
#elif defined(__AVX2__)
              "; AVX2"
#endif
              "\n",
              Kokkos::DefaultExecutionSpace::name(), Kokkos::DefaultExecutionSpace().concurrency(),
              64 / static_cast<int>(sizeof(double)), 64 / static_cast<int>(sizeof(float)));

  const Pairs dna = dna_pairs(n_dna, 150, 400, 1);
  const Pairs unrel = protein_pairs(n_prot, 300, 0.0, 2);
  const Pairs homol = protein_pairs(n_prot, 300, 0.5, 3);
  parasail_matrix_t* dm = parasail_matrix_create("ACGT", 2, -3);
  const Pairs dna_small = dna_pairs(std::min(n_dna, 4000), 150, 400, 4);

  std::printf("\n-- hard mode (tau = 0) vs parasail, same pairs, float scores\n");
  hard_vs_parasail("DNA 150x400 (+2/-3, gaps 5/2)", dna_small, true, 5, 2, dm, reps);
  hard_vs_parasail("DNA 150x400 (+2/-3, gaps 5/2)", dna_small, false, 5, 2, dm, reps);
  hard_vs_parasail("protein 300x300 (BLOSUM62, 11/1)", homol, true, 11, 1, &parasail_blosum62, reps);
  hard_vs_parasail("protein 300x300 (BLOSUM62, 11/1)", homol, false, 11, 1, &parasail_blosum62, reps);

  std::printf("\n-- smooth forward + adjoint\n");
  smooth<float>("DNA reads 150 vs windows 400", dna, true, 1.0, 5, 2, reps, "float");
  smooth<double>("DNA reads 150 vs windows 400", dna, true, 1.0, 5, 2, reps, "double");
  smooth<float>("protein 300x300 unrelated", unrel, true, 1.0, 11, 1, reps, "float");
  smooth<float>("protein 300x300 homologs (50% id)", homol, true, 1.0, 11, 1, reps, "float");
  smooth<float>("protein 300x300 homologs (50% id)", homol, true, 4.0, 11, 1, reps, "float");
  smooth<float>("protein 300x300 unrelated", unrel, false, 1.0, 11, 1, reps, "float");

  std::printf("\n-- adjoint memory: every row stored vs checkpoints (double, local, tau 1, 1 thread)\n");
  checkpoint_choice<double>("DNA 150x400", dna_small, reps);
  checkpoint_choice<double>("protein 300x300 unrelated", unrel, reps);
  parasail_matrix_free(dm);
  return 0;
}
