// SPDX-License-Identifier: BSD-3-Clause
// ProfileHMM throughput (DP cells per second, cells = M × L summed over the database) against
// HMMER 3's hmmsearch with all filters off (--max) on the same model and database, measured in
// the same run. hmmsearch is timed as a subprocess; its start-up (process, model and database
// open, profile set-up) is measured on a one-sequence database and subtracted.
//
//   ./perf/diffbio_perf_profile_hmm [model.hmm] [copies=40] [reps=3] [real|shuffled]
//
// The database is every protein of Debian's hmmer-examples tutorial (the Pkinase and fn3 seed
// domains, 45 globins, sevenless, HBB_HUMAN, PAX8_HUMAN: 184 sequences, 28 020 residues) repeated
// `copies` times; `shuffled` permutes the residues of every copy (seeded), which keeps lengths
// and composition but removes the homologues, so hmmsearch spends less time on domain
// definition. hmmsearch runs with --cpu 0 (one thread) when Kokkos has one thread and with
// --cpu <threads> otherwise; run with --kokkos-threads=1 for the single-core comparison.
// Both wall-clock and CPU time are reported: on a shared machine the CPU-time ratio is steadier.
#include <DiffBio_HmmerFile.hpp>
#include <DiffBio_ProfileHMM.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace diffbio;
using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;

namespace {

struct Seq {
  std::string name, seq;
};

const std::string kExamples = "/usr/share/doc/hmmer/examples";

std::vector<Seq> read_fasta(const std::string& path) {
  std::ifstream f(path);
  std::vector<Seq> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    if (line[0] == '>') {
      std::istringstream is(line.substr(1));
      Seq s;
      is >> s.name;
      out.push_back(s);
    } else if (!out.empty()) {
      for (char c : line)
        if (std::isalpha(static_cast<unsigned char>(c))) out.back().seq += c;
    }
  }
  return out;
}

std::vector<Seq> read_stockholm(const std::string& path) {
  std::ifstream f(path);
  std::vector<Seq> out;
  std::map<std::string, std::size_t> idx;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#' || line.rfind("//", 0) == 0) continue;
    std::istringstream is(line);
    std::string n, a;
    if (!(is >> n >> a)) continue;
    auto it = idx.find(n);
    if (it == idx.end()) {
      it = idx.emplace(n, out.size()).first;
      out.push_back({n, ""});
    }
    for (char c : a)
      if (std::isalpha(static_cast<unsigned char>(c)))
        out[it->second].seq += static_cast<char>(std::toupper(c));
  }
  return out;
}

std::vector<Seq> read_uniprot(const std::string& path) {
  std::ifstream f(path);
  std::vector<Seq> out;
  std::string line;
  bool in_seq = false;
  while (std::getline(f, line)) {
    if (line.rfind("ID ", 0) == 0) {
      std::istringstream is(line.substr(2));
      Seq s;
      is >> s.name;
      out.push_back(s);
    } else if (line.rfind("SQ ", 0) == 0) {
      in_seq = true;
    } else if (line.rfind("//", 0) == 0) {
      in_seq = false;
    } else if (in_seq && !out.empty()) {
      for (char c : line)
        if (std::isalpha(static_cast<unsigned char>(c))) out.back().seq += c;
    }
  }
  return out;
}

std::vector<Seq> example_proteins() {
  std::vector<Seq> db;
  auto add = [&](std::vector<Seq> v) { db.insert(db.end(), v.begin(), v.end()); };
  add(read_stockholm(kExamples + "/tutorial/Pkinase.sto"));
  add(read_stockholm(kExamples + "/tutorial/fn3.sto"));
  add(read_fasta(kExamples + "/tutorial/globins45.fa"));
  add(read_uniprot(kExamples + "/tutorial/7LESS_DROME"));
  add(read_fasta(kExamples + "/tutorial/HBB_HUMAN"));
  add(read_fasta(kExamples + "/testsuite/PAX8_HUMAN"));
  return db;
}

void write_fasta(const std::string& path, const std::vector<Seq>& db) {
  std::ofstream f(path);
  for (const auto& s : db) {
    f << '>' << s.name << '\n';
    for (std::size_t i = 0; i < s.seq.size(); i += 60) f << s.seq.substr(i, 60) << '\n';
  }
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU seconds (user + system) of this process, or of its waited-for children.
double cpu_seconds(int who) {
  rusage u{};
  getrusage(who, &u);
  return u.ru_utime.tv_sec + 1e-6 * u.ru_utime.tv_usec + u.ru_stime.tv_sec +
         1e-6 * u.ru_stime.tv_usec;
}

/// Median wall-clock and median CPU seconds of `reps` runs. On a shared machine the CPU time is
/// the steadier measure (it does not count time the threads spent waiting for a core).
struct Timing {
  double wall = 0, cpu = 0;
};

template <class F>
Timing median_time(int reps, int who, F&& f) {
  std::vector<double> w, c;
  for (int r = 0; r < reps; ++r) {
    Kokkos::fence();
    const double t0 = now(), c0 = cpu_seconds(who);
    f();
    Kokkos::fence();
    w.push_back(now() - t0);
    c.push_back(cpu_seconds(who) - c0);
  }
  std::sort(w.begin(), w.end());
  std::sort(c.begin(), c.end());
  return {w[w.size() / 2], c[c.size() / 2]};
}

Timing time_command(const std::string& cmd, int reps) {
  return median_time(reps, RUSAGE_CHILDREN, [&] {
    const int st = std::system(cmd.c_str());
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      std::fprintf(stderr, "command failed: %s\n", cmd.c_str());
      std::exit(1);
    }
  });
}

template <class S>
void run_operator(const char* tname, const io::HmmerModel& model, const std::vector<Seq>& db,
                  double cells, int reps, const Timing& t_hmmer) {
  ProfileHMMConfig cfg;  // multilocal, τ = 1: the Forward score hmmsearch computes
  auto op = ProfileHMM<S, Exec>::from_hmmer(model, cfg);
  const int B = static_cast<int>(db.size());
  int L = 0;
  for (const auto& s : db) L = std::max<int>(L, static_cast<int>(s.seq.size()));
  std::vector<int> len(B);
  Kokkos::View<std::uint8_t**, Mem> res(label("perf::residues"), B, L);
  auto hres = Kokkos::create_mirror_view(res);
  for (int b = 0; b < B; ++b) {
    const auto c = model.alphabet.encode(db[b].seq, db[b].name);
    for (std::size_t i = 0; i < c.size(); ++i) hres(b, i) = c[i];
    len[b] = static_cast<int>(c.size());
  }
  Kokkos::deep_copy(res, hres);
  Kokkos::View<int*, Mem> length(label("perf::length"), B), order(label("perf::order"), B);
  auto hl = Kokkos::create_mirror_view(length);
  auto ho = Kokkos::create_mirror_view(order);
  const auto o = ProfileHMM<S, Exec>::length_order(len);
  for (int b = 0; b < B; ++b) {
    hl(b) = len[b];
    ho(b) = o[b];
  }
  Kokkos::deep_copy(length, hl);
  Kokkos::deep_copy(order, ho);
  typename ProfileHMM<S, Exec>::Inputs in;
  in.residues = res;
  in.length = length;
  in.order = order;
  const auto p = op.initial_params();
  Kokkos::View<S*, Mem> params(label("perf::params"), p.size());
  auto hp = Kokkos::create_mirror_view(params);
  for (std::size_t i = 0; i < p.size(); ++i) hp(i) = static_cast<S>(p[i]);
  Kokkos::deep_copy(params, hp);
  auto out = op.allocate_outputs(in);
  typename ProfileHMM<S, Exec>::Workspace ws;
  Kokkos::View<double*, Mem> dparams(label("perf::dparams"), op.n_params());
  Kokkos::View<S*, Mem> seed(label("perf::seed"), B);
  Kokkos::deep_copy(seed, S(1));

  op.forward(Exec(), params, in, out, ws);  // warm-up, first touch
  const Timing t_fwd =
      median_time(reps, RUSAGE_SELF, [&] { op.forward(Exec(), params, in, out, ws); });
  op.adjoint(Exec(), params, in, ws, {seed, {}}, {}, dparams);
  const Timing t_adj = median_time(reps, RUSAGE_SELF, [&] {
    op.adjoint(Exec(), params, in, ws, {seed, {}}, {}, dparams);
  });
  const Timing t_fb{t_fwd.wall + t_adj.wall, t_fwd.cpu + t_adj.cpu};
  auto line = [&](const char* what, const Timing& t) {
    std::printf(
        "%-7s %-16s wall %7.3f s %10.3e cells/s ratio %6.2fx | cpu %7.3f s %10.3e cells/cpu-s "
        "ratio %6.2fx\n",
        tname, what, t.wall, cells / t.wall, t_hmmer.wall / t.wall, t.cpu, cells / t.cpu,
        t_hmmer.cpu / t.cpu);
  };
  line("forward", t_fwd);
  line("forward+backward", t_fb);
}

}  // namespace

int main(int argc, char* argv[]) {
  Kokkos::ScopeGuard guard(argc, argv);
  const std::string hmm = argc > 1 ? argv[1] : kExamples + "/tutorial/Pkinase.hmm";
  const int copies = argc > 2 ? std::atoi(argv[2]) : 40;
  const int reps = argc > 3 ? std::atoi(argv[3]) : 3;
  const bool shuffled = argc > 4 && std::string(argv[4]) == "shuffled";
  const auto model = io::read_hmmer3_model(hmm);
  const auto proteins = example_proteins();
  if (proteins.empty()) {
    std::fprintf(stderr, "no example proteins: install the Debian package hmmer-examples\n");
    return 1;
  }
  std::vector<Seq> db;
  std::mt19937_64 gen(12345);
  for (int c = 0; c < copies; ++c)
    for (const auto& s : proteins) {
      db.push_back({s.name + "_" + std::to_string(c), s.seq});
      if (shuffled) std::shuffle(db.back().seq.begin(), db.back().seq.end(), gen);
    }
  double residues = 0;
  for (const auto& s : db) residues += s.seq.size();
  const double cells = residues * model.M;

  const int threads = Exec().concurrency();
  const std::string dir = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  const std::string tag = std::to_string(::getpid());
  const std::string fa = dir + "/diffbio_perf_hmm_db_" + tag + ".fa";
  const std::string one = dir + "/diffbio_perf_hmm_one_" + tag + ".fa";
  write_fasta(fa, db);
  write_fasta(one, {db.front()});
  const std::string hs = "hmmsearch --max --cpu " + std::to_string(threads == 1 ? 0 : threads) +
                         " -o /dev/null --tblout /dev/null " + hmm + " ";
  std::printf(
      "DiffBio ProfileHMM vs HMMER hmmsearch --max; model %s (M = %d), %zu %s sequences, "
      "%.0f residues, %.3e cells; %s, concurrency %d, lanes %d\n",
      model.name.c_str(), model.M, db.size(), shuffled ? "shuffled" : "real", residues, cells,
      Exec::name(), threads, ProfileHMM<double, Exec>::lanes);
  if (std::system("command -v hmmsearch >/dev/null 2>&1") != 0) {
    std::fprintf(stderr, "hmmsearch not found: install the Debian package hmmer\n");
    return 1;
  }
  const Timing t_start = time_command(hs + one, reps);
  const Timing t_all = time_command(hs + fa, reps);
  const Timing t_hmmer{t_all.wall - t_start.wall, t_all.cpu - t_start.cpu};
  std::printf(
      "hmmsearch --max --cpu %d: wall %.3f s total, %.3f s start-up (1 sequence), %.3f s "
      "search %10.3e cells/s | cpu %.3f s search %10.3e cells/cpu-s\n",
      threads == 1 ? 0 : threads, t_all.wall, t_start.wall, t_hmmer.wall, cells / t_hmmer.wall,
      t_hmmer.cpu, cells / t_hmmer.cpu);
  std::printf("(ratio = hmmsearch time / DiffBio time: > 1 means DiffBio is faster)\n");
  run_operator<float>("float", model, db, cells, reps, t_hmmer);
  run_operator<double>("double", model, db, cells, reps, t_hmmer);
  std::remove(fa.c_str());
  std::remove(one.c_str());
  return 0;
}
