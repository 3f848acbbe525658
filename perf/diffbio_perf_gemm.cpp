// SPDX-License-Identifier: BSD-3-Clause
//
// diffbio_perf_gemm: the measurement behind our Kokkos Kernels configuration.
//
// Our MLP layers are C[m x n] = A[m x k] * B[k x n] on LayoutRight Views. We call KokkosBlas::gemm
// for them, so what matters is how that call performs for *our* shapes, relative to a tuned host
// BLAS (OpenBLAS) on the same data with the same number of threads. The run also prints how the
// installed Kokkos Kernels was configured (ETI, BLAS TPL) and, more to the point, what
// KokkosBlas::gemm actually dispatches to for our View types, asked from Kokkos Kernels itself.
//
// Benchmarks are not tests: this is built by the `perf` target and never registered with ctest.

#include <Kokkos_Core.hpp>
#include <KokkosBlas3_gemm.hpp>
#include <KokkosKernels_config.h>

#include <DiffBio_Config.hpp>

#include <cblas.h>

#ifdef __linux__
#include <sys/resource.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

// OpenBLAS extensions. Declared here (with C linkage, matching OpenBLAS' own declarations) rather
// than relying on which cblas.h the include path selects: Debian's cblas.h alternative may point at
// the reference CBLAS header, which lacks them, while the library we link is OpenBLAS.
extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char* openblas_get_config(void);
char* openblas_get_corename(void);
}

#ifndef DIFFBIO_PERF_KOKKOSKERNELS_VERSION
#define DIFFBIO_PERF_KOKKOSKERNELS_VERSION "unknown"
#endif

namespace {

using ExecSpace = Kokkos::DefaultExecutionSpace;
using MemSpace = ExecSpace::memory_space;

template <class T>
using Matrix = Kokkos::View<T**, Kokkos::LayoutRight, MemSpace>;

// The exact View types KokkosBlas::gemm normalises its arguments to before dispatch
// (KokkosBlas3_gemm.hpp): const unmanaged A and B, unmanaged C. Querying the spec traits with these
// tells us whether the call goes to a pre-instantiated (ETI) kernel, a BLAS TPL, or is
// instantiated from the headers in this translation unit.
template <class T>
using DispatchA =
    Kokkos::View<const T**, Kokkos::LayoutRight, Kokkos::Device<ExecSpace, MemSpace>, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
template <class T>
using DispatchC =
    Kokkos::View<T**, Kokkos::LayoutRight, Kokkos::Device<ExecSpace, MemSpace>, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

template <class T>
constexpr bool gemm_uses_eti = KokkosBlas::Impl::gemm_eti_spec_avail<DispatchA<T>, DispatchA<T>, DispatchC<T>>::value;
template <class T>
constexpr bool gemm_uses_tpl = KokkosBlas::Impl::gemm_tpl_spec_avail<DispatchA<T>, DispatchA<T>, DispatchC<T>>::value;

struct Shape {
  int m, k, n;
};

// The layer shapes of our MLPs, (m, k, n) = (batch, inputs, outputs).
const Shape kShapes[] = {{1024, 64, 32}, {4096, 256, 128}, {4096, 128, 256}, {256, 2000, 128}, {10000, 10, 64}};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

// Two thread pools share the cores: Kokkos' OpenMP team and OpenBLAS' pthreads. After a call,
// OpenBLAS' workers keep spinning for a while (OPENBLAS_THREAD_TIMEOUT, ~0.1 s by default) before
// they sleep, and would steal cycles from a Kokkos call made right after. A pause after every
// OpenBLAS block lets them park. (libgomp's spin after a Kokkos call is far shorter.)
void let_blas_pool_park() { std::this_thread::sleep_for(std::chrono::milliseconds(150)); }

struct Timings {
  double ours, blas;  // median seconds per call
};

// Median time per call of `ours` and `blas`. One warm-up call each (first touch, thread pool
// start-up), then kRounds rounds of [ours block, blas block, pause], each block ~kBlockSeconds of
// back-to-back calls. Interleaving the two in rounds exposes both to the same background load (the
// build machine is shared), and the median over all calls ignores bursts of it.
template <class F, class G>
Timings time_interleaved(F&& ours, G&& blas) {
  constexpr int kRounds = 7;
  constexpr double kBlockSeconds = 0.05;
  constexpr int kMaxPerBlock = 50;
  auto calls_per_block = [&](auto&& call) {
    auto t0 = Clock::now();
    call();
    const double first = std::max(seconds_since(t0), 1e-7);
    return std::clamp(static_cast<int>(kBlockSeconds / first), 1, kMaxPerBlock);
  };
  const int n_ours = calls_per_block(ours);
  const int n_blas = calls_per_block(blas);
  let_blas_pool_park();
  std::vector<double> t_ours, t_blas;
  for (int r = 0; r < kRounds; ++r) {
    for (int i = 0; i < n_ours; ++i) {
      const auto t0 = Clock::now();
      ours();
      t_ours.push_back(seconds_since(t0));
    }
    for (int i = 0; i < n_blas; ++i) {
      const auto t0 = Clock::now();
      blas();
      t_blas.push_back(seconds_since(t0));
    }
    let_blas_pool_park();
  }
  return {median(std::move(t_ours)), median(std::move(t_blas))};
}

// Share of the machine's CPU time used by *other* processes over an interval: all busy CPU time
// (/proc/stat) minus this process' own (getrusage, all threads). Build machines are shared; a
// timing taken while a compiler ran next to it is not a property of the kernel, so each row
// reports this and rows measured under load are flagged instead of silently mixed in.
class BackgroundLoad {
 public:
  BackgroundLoad() { sample(busy0_, own0_, wall0_); }
  // Fraction in [0, 1] of all CPUs busy with other processes since construction; < 0 if unknown.
  double fraction() const {
    double busy1, own1, wall1;
    if (!sample(busy1, own1, wall1) || busy0_ < 0) return -1;
    const double capacity = (wall1 - wall0_) * cpus();
    return capacity > 0 ? std::clamp((busy1 - busy0_ - (own1 - own0_)) / capacity, 0.0, 1.0) : -1;
  }

 private:
  // All online CPUs: /proc/stat's first line sums over every CPU, not just the threads we use.
  static double cpus() {
#ifdef __linux__
    return static_cast<double>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
#else
    return 1;
#endif
  }
  static bool sample(double& busy, double& own, double& wall) {
    busy = -1;
    wall = std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
#ifdef __linux__
    std::ifstream stat("/proc/stat");
    std::string cpu;
    unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;
    if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal)) return false;
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    busy = static_cast<double>(user + nice + system + irq + softirq + steal) / tick;
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    own = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    return true;
#else
    own = 0;
    return false;
#endif
  }
  double busy0_ = -1, own0_ = 0, wall0_ = 0;
};

// Deterministic fill in [-1, 1] (xorshift), so every run multiplies the same matrices.
template <class T>
void fill(const Matrix<T>& M, std::uint64_t seed) {
  std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  T* p = M.data();
  for (std::size_t i = 0; i < M.span(); ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    p[i] = static_cast<T>(static_cast<double>(s >> 11) * (2.0 / 9007199254740992.0) - 1.0);
  }
}

// Row-major C = A * B through CBLAS (float / double overloads).
void cblas_gemm(int m, int n, int k, const float* A, const float* B, float* C) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, A, k, B, n, 0.0f, C, n);
}
void cblas_gemm(int m, int n, int k, const double* A, const double* B, double* C) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, A, k, B, n, 0.0, C, n);
}

struct Row {
  Shape s;
  const char* dtype;
  double ours_gflops, blas_gflops, max_rel_err, tol, background;
  bool ok;
};

template <class T>
Row run_case(const Shape& s, const char* dtype) {
  Matrix<T> A("A", s.m, s.k), B("B", s.k, s.n), C("C", s.m, s.n), Cref("Cref", s.m, s.n);
  fill(A, 1000 * s.m + s.k);
  fill(B, 2000 * s.k + s.n);

  const BackgroundLoad load;
  const Timings t = time_interleaved(
      [&] {
        KokkosBlas::gemm("N", "N", T(1), A, B, T(0), C);
        Kokkos::fence();  // gemm is asynchronous with respect to the host: time to completion
      },
      [&] { cblas_gemm(s.m, s.n, s.k, A.data(), B.data(), Cref.data()); });
  const double background = load.fraction();

  // Componentwise relative error against the proper scale of each entry, (|A||B|)_ij: a backward-
  // stable gemm satisfies |C - Cref|_ij <= ~2k u (|A||B|)_ij whatever the summation order, while a
  // plain |Cref_ij| denominator would blow up on entries that cancel to near zero.
  Matrix<T> absA("absA", s.m, s.k), absB("absB", s.k, s.n), scale("scale", s.m, s.n);
  for (std::size_t i = 0; i < A.span(); ++i) absA.data()[i] = std::abs(A.data()[i]);
  for (std::size_t i = 0; i < B.span(); ++i) absB.data()[i] = std::abs(B.data()[i]);
  cblas_gemm(s.m, s.n, s.k, absA.data(), absB.data(), scale.data());
  double err = 0;
  for (std::size_t i = 0; i < C.span(); ++i) {
    const double d = std::abs(static_cast<double>(C.data()[i]) - static_cast<double>(Cref.data()[i]));
    const double sc = std::max<double>(scale.data()[i], std::numeric_limits<T>::min());
    err = std::max(err, d / sc);
  }
  const double tol = 2.0 * s.k * std::numeric_limits<T>::epsilon();

  const double flops = 2.0 * s.m * s.n * s.k;
  return {s, dtype, flops / t.ours * 1e-9, flops / t.blas * 1e-9, err, tol, background, err <= tol};
}

// Background load above which a row is flagged as not trustworthy.
constexpr double kQuiet = 0.05;

const char* yes_no(bool b) { return b ? "yes" : "no"; }

void print_configuration(int threads) {
  std::printf("DiffBio %s gemm benchmark\n", DIFFBIO_VERSION_STRING);
  std::printf("Kokkos %d.%d.%d, default execution space %s, concurrency %d\n", KOKKOS_VERSION / 10000,
              KOKKOS_VERSION / 100 % 100, KOKKOS_VERSION % 100, ExecSpace::name(), threads);
  std::printf("Kokkos Kernels %s (KokkosKernels_config.h):\n", DIFFBIO_PERF_KOKKOSKERNELS_VERSION);
#ifdef KOKKOSKERNELS_ETI_ONLY
  const bool eti_only = true;
#else
  const bool eti_only = false;
#endif
  bool inst_float = false, inst_double = false, inst_right = false, inst_space = false;
#ifdef KOKKOSKERNELS_INST_FLOAT
  inst_float = true;
#endif
#ifdef KOKKOSKERNELS_INST_DOUBLE
  inst_double = true;
#endif
#ifdef KOKKOSKERNELS_INST_LAYOUTRIGHT
  inst_right = true;
#endif
#if defined(KOKKOS_ENABLE_OPENMP) && defined(KOKKOSKERNELS_INST_EXECSPACE_OPENMP)
  if (std::is_same<ExecSpace, Kokkos::OpenMP>::value) inst_space = true;
#endif
#if defined(KOKKOS_ENABLE_SERIAL) && defined(KOKKOSKERNELS_INST_EXECSPACE_SERIAL)
  if (std::is_same<ExecSpace, Kokkos::Serial>::value) inst_space = true;
#endif
  bool tpl_blas = false, tpl_cublas = false, tpl_mkl = false;
#ifdef KOKKOSKERNELS_ENABLE_TPL_BLAS
  tpl_blas = true;
#endif
#ifdef KOKKOSKERNELS_ENABLE_TPL_CUBLAS
  tpl_cublas = true;
#endif
#ifdef KOKKOSKERNELS_ENABLE_TPL_MKL
  tpl_mkl = true;
#endif
  std::printf("  ETI: INST_FLOAT=%s INST_DOUBLE=%s INST_LAYOUTRIGHT=%s INST_EXECSPACE(%s)=%s ETI_ONLY=%s\n",
              yes_no(inst_float), yes_no(inst_double), yes_no(inst_right), ExecSpace::name(), yes_no(inst_space),
              yes_no(eti_only));
  std::printf("  TPLs: BLAS=%s MKL=%s CUBLAS=%s\n", yes_no(tpl_blas), yes_no(tpl_mkl), yes_no(tpl_cublas));
  // What KokkosBlas::gemm really does for our LayoutRight Views, from Kokkos Kernels' own traits.
  auto dispatch = [](bool tpl, bool eti) {
    return tpl ? "BLAS TPL" : eti ? "pre-instantiated (ETI) Kokkos kernel" : "Kokkos kernel instantiated in this TU";
  };
  std::printf("  gemm dispatch, LayoutRight float : %s\n", dispatch(gemm_uses_tpl<float>, gemm_uses_eti<float>));
  std::printf("  gemm dispatch, LayoutRight double: %s\n", dispatch(gemm_uses_tpl<double>, gemm_uses_eti<double>));
  std::printf("OpenBLAS: %s; core %s; threads %d\n", openblas_get_config(), openblas_get_corename(),
              openblas_get_num_threads());
}

}  // namespace

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard guard(argc, argv);
  const auto t_start = Clock::now();

  // Same thread count for both libraries, or the ratio would measure the thread count.
  const int threads = ExecSpace().concurrency();
  openblas_set_num_threads(threads);
  print_configuration(threads);

  std::vector<Row> rows;
  for (const Shape& s : kShapes) {
    rows.push_back(run_case<float>(s, "float"));
    rows.push_back(run_case<double>(s, "double"));
  }

  std::printf("\n| shape (m,k,n)     | dtype  | ours GFLOP/s | OpenBLAS GFLOP/s | ours/OpenBLAS | max rel err | ok | other load |\n");
  std::printf("|-------------------|--------|-------------:|-----------------:|--------------:|------------:|----|-----------:|\n");
  bool all_ok = true, all_quiet = true;
  for (const Row& r : rows) {
    char shape[32], bg[16];
    std::snprintf(shape, sizeof shape, "(%d,%d,%d)", r.s.m, r.s.k, r.s.n);
    if (r.background < 0)
      std::snprintf(bg, sizeof bg, "n/a");
    else
      std::snprintf(bg, sizeof bg, "%3.0f%%%s", 100 * r.background, r.background > kQuiet ? " (!)" : "");
    std::printf("| %-17s | %-6s | %12.2f | %16.2f | %13.2f | %11.2e | %s | %10s |\n", shape, r.dtype, r.ours_gflops,
                r.blas_gflops, r.ours_gflops / r.blas_gflops, r.max_rel_err, r.ok ? "ok" : "NO", bg);
    all_ok = all_ok && r.ok;
    all_quiet = all_quiet && r.background <= kQuiet;
  }
  std::printf("\nmax rel err = max_ij |C - C_openblas|_ij / (|A||B|)_ij; ok when <= 2 k eps.\n");
  std::printf("other load = share of all CPUs used by other processes during the row's timing; rows marked\n"
              "(!) (> %.0f%%) were measured on a busy machine: rerun before drawing conclusions from them.\n",
              100 * kQuiet);
  if (!all_quiet) std::printf("WARNING: some rows were measured under background load.\n");
  std::printf("Total time %.1f s\n", seconds_since(t_start));
  if (!all_ok) {
    std::fprintf(stderr, "error: KokkosBlas::gemm and OpenBLAS disagree beyond 2 k eps\n");
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
