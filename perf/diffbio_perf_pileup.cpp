// SPDX-License-Identifier: BSD-3-Clause
// DifferentiablePileup throughput in aligned bases/s — BAM decoding, read selection, CSR build,
// upload, forward and adjoint all included — against `samtools mpileup` on the same BAM and region
// in the same run (the samtools subprocess is timed end to end, output to /dev/null). Aligned
// bases = Σ over the region of samtools' depth column (checked equal to ours). Reported: wall
// time (median of reps) and CPU time; "per core" = aligned bases per CPU second, the fair
// comparison with single-threaded samtools on a shared machine (OpenMP threads that spin at
// barriers count as busy, so it is pessimistic for us).
//
//   ./perf/diffbio_perf_pileup [bam] [region] [window=100000] [reps=5] [hts_threads=0]
//
// Without a BAM, tests/data/pileup/make_pileup_data.sh makes one (100,000 read pairs on lambda,
// ~360x; ~15 s once, cached next to the executable). Both sides use the same read selection:
// samtools -B -Q 0 -d 0 (no BAQ, every base, no cap) and PileupOptions{min_baseq = 0}.
#include <sys/resource.h>
#include <time.h>

#include <DiffBio_Bam.hpp>
#include <DiffBio_Pileup.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace diffbio;
using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU seconds of this process (all threads) and of finished child processes.
double process_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
double children_cpu() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Σ depth of `samtools mpileup` over the region (the aligned bases both sides process).
long long samtools_depth_sum(const std::string& cmd) {
  FILE* f = popen((cmd + " | awk '{ s += $4 } END { printf \"%d\\n\", s }'").c_str(), "r");
  if (!f) return -1;
  long long s = -1;
  if (std::fscanf(f, "%lld", &s) != 1) s = -1;
  pclose(f);
  return s;
}

struct Times {
  double total = 0, cpu = 0, read = 0, upload = 0, forward = 0, adjoint = 0;
  std::uint64_t entries = 0;
  double checksum = 0;
};

template <class S>
Times run_ours(const std::string& bam, const std::string& region, const io::PileupOptions& opt,
               const PileupConfig& cfg) {
  Times t;
  const auto t0 = Clock::now();
  const double c0 = process_cpu();
  io::BamPileupReader reader(bam, "", opt);
  reader.set_region(region);
  DifferentiablePileup<S, Exec> op(cfg);
  auto ws = op.allocate_workspace();
  Kokkos::View<S*, Mem> params(label("perf::pileup_params"), op.n_params());
  Kokkos::View<double*, Mem> dparams(label("perf::pileup_dparams"), op.n_params());
  {
    const auto init = op.initial_params();
    auto h = Kokkos::create_mirror_view(params);
    for (int i = 0; i < op.n_params(); ++i) h(i) = S(init[i]);
    Kokkos::deep_copy(params, h);
  }
  PileupUploader<Exec> up;
  typename DifferentiablePileup<S, Exec>::Outputs out;
  io::PileupBatch b;
  for (;;) {
    auto ts = Clock::now();
    if (!reader.next(b)) break;
    t.read += seconds_since(ts);
    ts = Clock::now();
    const auto in = up.upload(Exec(), b);
    t.upload += seconds_since(ts);
    if (out.counts.extent(0) != static_cast<std::size_t>(in.positions()))
      out = DifferentiablePileup<S, Exec>::allocate_outputs(in);
    ts = Clock::now();
    op.forward(Exec(), params, in, out, ws);
    Exec().fence();
    t.forward += seconds_since(ts);
    ts = Clock::now();
    // Any seeds will do: the outputs themselves.
    op.adjoint(Exec(), params, in, ws, {out.counts, out.strand, out.quality}, {}, dparams);
    t.adjoint += seconds_since(ts);
  }
  t.total = seconds_since(t0);
  t.cpu = process_cpu() - c0;
  t.entries = reader.stats().entries;
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), dparams);
  for (int i = 0; i < op.n_params(); ++i) t.checksum += std::fabs(h(i));
  return t;
}

template <class S>
void row(const char* name, const std::string& bam, const std::string& region,
         const io::PileupOptions& opt, const PileupConfig& cfg, int reps, double t_samtools,
         double cpu_samtools, long long bases) {
  run_ours<S>(bam, region, opt, cfg);  // warm-up
  std::vector<Times> ts;
  for (int r = 0; r < reps; ++r) ts.push_back(run_ours<S>(bam, region, opt, cfg));
  std::sort(ts.begin(), ts.end(), [](const Times& a, const Times& b) { return a.total < b.total; });
  const Times& m = ts[ts.size() / 2];
  if (static_cast<long long>(m.entries) != bases || !std::isfinite(m.checksum))
    std::printf("  !! %s: %llu entries vs samtools %lld, gradient checksum %g\n", name,
                static_cast<unsigned long long>(m.entries), bases, m.checksum);
  const double rate = static_cast<double>(bases) / m.total;
  std::printf(
      "%-20s %7.3f s %7.2f Mb/s  cpu %6.3f s %6.2f Mb/s/core  ratio %.2f (per core %.2f)"
      "  [read+CSR %.3f upload %.3f fwd %.3f adj %.3f]\n",
      name, m.total, rate * 1e-6, m.cpu, static_cast<double>(bases) / m.cpu * 1e-6,
      t_samtools / m.total, cpu_samtools / m.cpu, m.read, m.upload, m.forward, m.adjoint);
}

}  // namespace

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard guard(argc, argv);
  std::string bam = argc > 1 ? argv[1] : "";
  const std::string region = argc > 2 ? argv[2] : "lambda";
  const int window = argc > 3 ? std::atoi(argv[3]) : 100000;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 5;
  const int hts_threads = argc > 5 ? std::atoi(argv[5]) : 0;
  if (bam.empty()) {
    const std::string dir = DIFFBIO_PILEUP_PERF_DATA_DIR;
    std::printf("making the benchmark BAM in %s ...\n", dir.c_str());
    std::fflush(stdout);
    const std::string cmd =
        std::string("bash ") + DIFFBIO_PILEUP_DATA_SCRIPT + " " + dir + " 100000 11";
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "failed: %s\n", cmd.c_str());
      return 1;
    }
    bam = dir + "/reads.bam";
  }
  const std::string samtools_cmd =
      "samtools mpileup -B -Q 0 -d 0 -r " + region + " " + bam + " 2>/dev/null";
  const long long bases = samtools_depth_sum(samtools_cmd);
  if (bases <= 0) {
    std::fprintf(stderr, "samtools mpileup failed (Debian package samtools): %s\n",
                 samtools_cmd.c_str());
    return 1;
  }
  std::vector<double> ts, cs;
  for (int r = 0; r <= reps; ++r) {
    const auto t0 = Clock::now();
    const double c0 = children_cpu();
    if (std::system((samtools_cmd + " > /dev/null").c_str()) != 0) return 1;
    if (r > 0) {  // r = 0: warm-up (page cache)
      ts.push_back(seconds_since(t0));
      cs.push_back(children_cpu() - c0);
    }
  }
  const double t_samtools = median(ts), cpu_samtools = median(cs);
  std::printf(
      "DiffBio pileup vs samtools mpileup -B -Q 0 -d 0; %s, concurrency %d, htslib threads "
      "%d\n%s  %s  window %d  aligned bases %lld\n",
      Exec::name(), Exec().concurrency(), hts_threads, bam.c_str(), region.c_str(), window, bases);
  std::printf(
      "%-20s %7.3f s %7.2f Mb/s  cpu %6.3f s %6.2f Mb/s/core  (one thread, text output to "
      "/dev/null)\n",
      "samtools mpileup", t_samtools, static_cast<double>(bases) / t_samtools * 1e-6, cpu_samtools,
      static_cast<double>(bases) / cpu_samtools * 1e-6);
  io::PileupOptions opt;
  opt.window = window;
  opt.threads = hts_threads;
  PileupConfig cfg;
  row<double>("double k=0 fwd+adj", bam, region, opt, cfg, reps, t_samtools, cpu_samtools, bases);
  row<float>("float  k=0 fwd+adj", bam, region, opt, cfg, reps, t_samtools, cpu_samtools, bases);
  cfg.max_offset = 2;
  opt.halo = 2;
  row<double>("double k=2 fwd+adj", bam, region, opt, cfg, reps, t_samtools, cpu_samtools, bases);
  row<float>("float  k=2 fwd+adj", bam, region, opt, cfg, reps, t_samtools, cpu_samtools, bases);
  return 0;
}
