// SPDX-License-Identifier: BSD-3-Clause
#include "AlignCommands.hpp"

#include <DiffBio_AlignTrainer.hpp>
#include <DiffBio_AtomicFile.hpp>
#include <DiffBio_Config.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_Fasta.hpp>
#ifdef DIFFBIO_ENABLE_HDF5
#include <DiffBio_HDF5.hpp>
#endif

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace diffbio {
namespace app {

namespace {

void say(const Comm& comm, const std::string& line) {
  if (comm.rank() != 0) return;
  std::printf("[diffbio] %s\n", line.c_str());
  std::fflush(stdout);
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

SmoothSmithWatermanConfig make_config(const std::string& mode, int A, bool hard, double tau,
                                      double open, double extend) {
  if (mode != "local" && mode != "global")
    throw Error(ExitCode::usage, "--mode must be local or global, got '" + mode + "'");
  if (!hard && !(tau > 0)) throw Error(ExitCode::usage, "--tau must be > 0 (or use --hard)");
  SmoothSmithWatermanConfig cfg;
  cfg.alphabet_size = A;
  cfg.local = mode == "local";
  cfg.hard = hard;
  cfg.temperature = hard ? 1.0 : tau;
  const bool dna = A == 5;
  cfg.gap_open = open >= 0 ? open : (dna ? 5.0 : 11.0);
  cfg.gap_extend = extend >= 0 ? extend : (dna ? 2.0 : 1.0);
  return cfg;
}

/// Reads parameters written by train-align; checks the alphabet matches.
std::vector<double> load_params(const std::string& path, int A) {
#ifdef DIFFBIO_ENABLE_HDF5
  auto f = io::H5File::open_read(path);
  const char* name = "smooth_sw/substitution_gaps";
  if (!f.has(name)) throw input_error(path, -1, std::string("no dataset '") + name + "' (not written by train-align?)");
  const auto p = f.read_dataset_double(name);
  const std::size_t expect = static_cast<std::size_t>(A) * A + 2;
  if (p.size() != expect)
    throw input_error(path, -1, "dataset '" + std::string(name) + "' has " + std::to_string(p.size()) +
                                    " values, alphabet of " + std::to_string(A) + " letters needs " +
                                    std::to_string(expect));
  return p;
#else
  (void)A;
  throw Error(ExitCode::usage, path + ": this diffbio was built without HDF5; --params needs it");
#endif
}

}  // namespace

int run_align(const AlignOptions& o, const Comm& comm) {
  if (o.fasta.empty()) throw Error(ExitCode::usage, "align: --fasta is required");
  if (o.out.empty()) throw Error(ExitCode::usage, "align: --out is required");
  const auto a = io::read_fasta(o.fasta);
  const auto b = o.fasta_y.empty() ? std::vector<io::FastaRecord>{} : io::read_fasta(o.fasta_y);
  std::vector<std::string> all;
  for (const auto& r : a) all.push_back(r.sequence);
  for (const auto& r : b) all.push_back(r.sequence);
  const int A = alphabet_size_for(o.alphabet, all);

  AlignPairs pairs;
  pairs.alphabet_size = A;
  auto add = [&](const io::FastaRecord& x, const io::FastaRecord& y) {
    pairs.name_x.push_back(x.name);
    pairs.name_y.push_back(y.name);
    pairs.x.push_back(encode_sequence(x.sequence, A));
    pairs.y.push_back(encode_sequence(y.sequence, A));
  };
  if (o.pairing == "pairs") {
    if (b.empty()) {
      if (a.size() % 2 != 0)
        throw input_error(o.fasta, static_cast<long long>(a.size()),
                          "odd number of records: --pairing pairs aligns records 1&2, 3&4, ...");
      for (std::size_t k = 0; k + 1 < a.size(); k += 2) add(a[k], a[k + 1]);
    } else {
      if (a.size() != b.size())
        throw input_error(o.fasta_y, -1, "has " + std::to_string(b.size()) + " records, " + o.fasta +
                                             " has " + std::to_string(a.size()) + " (pairs need equal counts)");
      for (std::size_t k = 0; k < a.size(); ++k) add(a[k], b[k]);
    }
  } else if (o.pairing == "query-vs-db") {
    if (b.empty()) throw Error(ExitCode::usage, "align: --pairing query-vs-db needs --fasta-y (the database)");
    for (const auto& q : a)
      for (const auto& d : b) add(q, d);
  } else {
    throw Error(ExitCode::usage, "--pairing must be pairs or query-vs-db, got '" + o.pairing + "'");
  }

  auto cfg = make_config(o.mode, A, o.hard, o.tau, o.gap_open, o.gap_extend);
  std::vector<double> params = o.params.empty() ? SmoothSmithWaterman<double>(cfg).initial_params()
                                                : load_params(o.params, A);
  if (o.params.empty()) {
    // initial_params already holds the gap values of cfg
  } else {
    if (o.gap_open >= 0) params[static_cast<std::size_t>(A) * A] = o.gap_open;
    if (o.gap_extend >= 0) params[static_cast<std::size_t>(A) * A + 1] = o.gap_extend;
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<double>> post;
  const bool want_post = !o.posterior_out.empty();
  const auto scores = align_scores(cfg, params, pairs, want_post ? &post : nullptr, o.batch);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cells = 0;
  for (std::size_t k = 0; k < pairs.size(); ++k) cells += double(pairs.x[k].size()) * pairs.y[k].size();
  say(comm, "align: " + std::to_string(pairs.size()) + " pairs, " + (o.hard ? "hard" : "smooth") +
                " " + o.mode + ", " + std::to_string(cells / secs * 1e-9) + " GCUPS");
  if (comm.rank() != 0) return 0;

  io::AtomicOutput out(o.out);
  {
    std::ofstream f(out.temp_path());
    f << "query\ttarget\tscore\n";
    char buf[64];
    for (std::size_t k = 0; k < pairs.size(); ++k) {
      std::snprintf(buf, sizeof buf, "%.6f", scores[k]);
      f << pairs.name_x[k] << '\t' << pairs.name_y[k] << '\t' << buf << '\n';
    }
    if (!f) throw Error(ExitCode::output_error, o.out + ": write failed");
  }
  out.commit();
  if (want_post) {
#ifdef DIFFBIO_ENABLE_HDF5
    auto f = io::H5File::create(o.posterior_out);
    for (std::size_t k = 0; k < pairs.size(); ++k) {
      const std::string name = "posterior/" + std::to_string(k);
      f.write_dataset(name, post[k], {pairs.x[k].size(), pairs.y[k].size()});
      f.write_attribute(name, "query", pairs.name_x[k]);
      f.write_attribute(name, "target", pairs.name_y[k]);
      f.write_attribute(name, "score", scores[k]);
    }
    f.write_attribute("/", "mode", o.mode);
    f.write_attribute("/", "hard", static_cast<std::int64_t>(o.hard));
    f.write_attribute("/", "tau", cfg.temperature);
    f.close_and_commit();
#else
    throw Error(ExitCode::usage, o.posterior_out + ": built without HDF5; --posterior-out needs it");
#endif
  }
  say(comm, "align: wrote " + o.out + (want_post ? " and " + o.posterior_out : std::string()));
  return 0;
}

int run_train_align(const TrainAlignOptions& o, const Comm& comm) {
  const auto files = split_commas(o.stockholm);
  if (files.empty()) throw Error(ExitCode::usage, "train-align: --stockholm is required");
  std::vector<io::Msa> msas;
  std::vector<std::string> seqs;
  for (const auto& f : files) {
    msas.push_back(io::read_stockholm(f));
    for (const auto& r : msas.back().rows) seqs.push_back(r);
  }
  for (auto& s : seqs)
    s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return io::is_gap(c); }), s.end());
  const int A = alphabet_size_for(o.alphabet, seqs);
  const AlignPairs all = pairs_from_msas(msas, A, o.partners, 10);
  AlignPairs train, val, test;
  split_pairs(all, o.train_fraction, o.validation_fraction, o.seed, train, val, test);
  if (train.size() == 0 || val.size() == 0 || test.size() == 0)
    throw Error(ExitCode::usage, "train-align: too few reference pairs (" + std::to_string(all.size()) +
                                     ") for a train/validation/test split");
  auto cfg = make_config(o.mode, A, false, o.tau, o.gap_open, o.gap_extend);
  std::vector<double> init = SmoothSmithWaterman<double>(cfg).initial_params();
  if (o.init == "poor") {
    std::fill(init.begin(), init.begin() + A * A, 0.0);
    for (int a = 0; a < A; ++a) init[a * A + a] = 1.0;
    init[A * A] = 2.0;
    init[A * A + 1] = 1.0;
  } else if (o.init != "blosum62") {
    throw Error(ExitCode::usage, "--init must be blosum62 or poor, got '" + o.init + "'");
  }
  say(comm, "train-align: " + std::to_string(all.size()) + " reference pairs (train " +
                std::to_string(train.size()) + ", validation " + std::to_string(val.size()) +
                ", test " + std::to_string(test.size()) + "), init " + o.init);
  AlignTrainConfig tc;
  tc.epochs = o.epochs;
  tc.batch = o.batch;
  tc.learning_rate = o.lr;
  tc.seed = o.seed;
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = train_alignment(cfg, init, train, val, test, tc, [&](const AlignEpoch& e) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "epoch %d/%d loss=%.4f train_acc=%.3f val_acc=%.3f elapsed=%.1fs",
                  e.epoch, o.epochs, e.loss, e.train_accuracy, e.validation_accuracy,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    say(comm, buf);
  });
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "held-out accuracy (hard alignment): test %.3f -> %.3f, validation %.3f -> %.3f "
                "(best epoch %d)",
                r.test_before, r.test_after, r.validation_before, r.validation_after, r.best_epoch);
  say(comm, buf);
  if (comm.rank() != 0 || o.out.empty()) return 0;
#ifdef DIFFBIO_ENABLE_HDF5
  auto f = io::H5File::create(o.out);
  f.write_dataset("smooth_sw/substitution_gaps", r.params);
  f.write_attribute("/", "alphabet_size", static_cast<std::int64_t>(A));
  f.write_attribute("/", "mode", o.mode);
  f.write_attribute("/", "tau", o.tau);
  f.write_attribute("/", "init", o.init);
  f.write_attribute("/", "test_accuracy_before", r.test_before);
  f.write_attribute("/", "test_accuracy_after", r.test_after);
  f.write_attribute("/", "validation_accuracy_before", r.validation_before);
  f.write_attribute("/", "validation_accuracy_after", r.validation_after);
  f.write_attribute("/", "best_epoch", static_cast<std::int64_t>(r.best_epoch));
  f.write_attribute("/", "diffbio_version", DIFFBIO_VERSION_STRING);
  f.close_and_commit();
  say(comm, "train-align: wrote " + o.out);
#else
  throw Error(ExitCode::usage, o.out + ": this diffbio was built without HDF5; --out needs it");
#endif
  return 0;
}

}  // namespace app
}  // namespace diffbio
