// SPDX-License-Identifier: BSD-3-Clause
/// \file main.cpp
/// \brief The `diffbio` executable: simulate labelled reads, train the quality model.
///
/// Command-line handling in three layers, in this order of precedence:
///   1. flags given on the command line,
///   2. keys of a TOML file given with --config (one table per subcommand),
///   3. built-in defaults.
/// Arguments starting with `--kokkos-` go to Kokkos::initialize only and are hidden from CLI11.
/// Exit codes are diffbio::ExitCode (see README.md); errors are one line on stderr.
#include <DiffBio_AtomicFile.hpp>
#include <DiffBio_Comm.hpp>
#include <DiffBio_Config.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_Fastq.hpp>
#include <DiffBio_HDF5.hpp>
#include <DiffBio_QualityModel.hpp>

#include "AlignCommands.hpp"
#include "AppCommon.hpp"

#include <CLI/CLI.hpp>
#include <Kokkos_Core.hpp>
#include <toml++/toml.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

using diffbio::Error;
using diffbio::ExitCode;

// ------------------------------------------------------------------------------ options

struct SimulateOptions {
  std::string out;
  std::size_t n = 2000;
  std::size_t length = 100;
  std::uint64_t seed = 1;
};

struct TrainOptions {
  std::string fastq;
  std::string out;
  std::string params_txt;
  int epochs = 10;
  std::size_t batch = 64;
  double lr = 0.05;
  std::string optimizer = "adam";
  bool deterministic = false;
  int grid_exponent = -36;
  std::uint64_t seed = 1;
  double theta = 10.0;
  double scale = 2.0;
  std::size_t block = 8;
  std::size_t chunk = 65536;  ///< FASTQ records read per chunk
};

using diffbio::app::add;
using diffbio::app::Bindings;
using diffbio::app::fmt;
using diffbio::app::log_line;

/// Applies the TOML file's tables to the subcommands' options that the command line left unset.
/// Every key is checked, including those of tables for other subcommands, so a typo never passes
/// silently.
void apply_config(const std::string& path, const std::map<std::string, Bindings*>& tables,
                  const std::string& active) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    std::string desc(e.description());
    if (where.line > 0)
      throw Error(ExitCode::usage, path + ": line " + std::to_string(where.line) + ": " + desc);
    throw Error(ExitCode::usage, path + ": " + desc);
  }
  for (const auto& [tkey, tnode] : root) {
    const std::string tname(tkey.str());
    auto it = tables.find(tname);
    if (it == tables.end() || !tnode.is_table())
      throw Error(ExitCode::usage,
                  path + ": unknown key '" + tname +
                      "' (options go in a table named after the subcommand, e.g. [train-quality])");
    for (const auto& [k, node] : *tnode.as_table()) {
      std::string name(k.str());
      for (auto& c : name)
        if (c == '_') c = '-';  // accept params_txt as well as params-txt
      const std::string full = tname + "." + std::string(k.str());
      auto b = it->second->find(name);
      if (b == it->second->end() || name == "config")
        throw Error(ExitCode::usage, path + ": unknown key '" + full + "'");
      if (tname != active) continue;
      if (b->second.option->count() > 0) continue;  // the command line wins
      try {
        b->second.set(node, full);
      } catch (const Error& e) {
        throw Error(e.code(), path + ": " + e.what());
      }
    }
  }
}

// ------------------------------------------------------------------------------ helpers

bool is_rank0(const diffbio::Comm& comm) { return comm.rank() == 0; }

std::string hexfloat(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

/// Reads the whole FASTQ in bounded chunks (FastqReader reports malformed input as one line).
std::vector<diffbio::io::FastqRecord> read_all(const std::string& path, std::size_t chunk) {
  diffbio::io::FastqReader reader(path);
  std::vector<diffbio::io::FastqRecord> all, part;
  while (reader.read_chunk(part, chunk) > 0) {
    for (auto& r : part) all.push_back(std::move(r));
  }
  return all;
}

/// Writes the final parameters as hexfloat text (exact: for bitwise comparisons), atomically.
void write_params_txt(const std::string& path, const diffbio::TrainResult& r) {
  diffbio::io::AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path());
    if (!f) throw Error(ExitCode::output_error, path + ": cannot create temporary file");
    f << "# DiffBio quality model parameters, hexfloat (C99 %a)\n";
    for (std::size_t k = 0; k < r.block_names.size(); ++k) {
      f << r.block_names[k];
      for (std::size_t i = 0; i < r.block_sizes[k]; ++i)
        f << ' ' << hexfloat(r.parameters[r.block_offsets[k] + i]);
      f << '\n';
    }
    if (!r.history.empty()) {
      f << "final_loss " << hexfloat(r.history.back().loss) << '\n';
      f << "final_accuracy " << hexfloat(r.history.back().accuracy) << '\n';
    }
    f.flush();
    if (!f) throw Error(ExitCode::output_error, path + ": write failed (disk full?)");
  }
  out.commit();
}

void write_params_h5(const std::string& path, const diffbio::TrainResult& r,
                     const TrainOptions& o, int ranks, std::size_t n_reads) {
#ifdef DIFFBIO_ENABLE_HDF5
  auto f = diffbio::io::H5File::create(path);
  for (std::size_t k = 0; k < r.block_names.size(); ++k) {
    const auto v = r.block(r.block_names[k]);
    f.write_dataset(r.block_names[k], v);
  }
  std::vector<double> loss, acc, train_loss, theta, scale;
  for (const auto& e : r.history) {
    loss.push_back(e.loss);
    acc.push_back(e.accuracy);
    train_loss.push_back(e.train_loss);
    theta.push_back(e.theta);
    scale.push_back(e.scale);
  }
  f.write_dataset("history/loss", loss);
  f.write_dataset("history/accuracy", acc);
  f.write_dataset("history/train_loss", train_loss);
  f.write_dataset("history/theta", theta);
  f.write_dataset("history/scale", scale);
  f.write_attribute("/", "theta", r.theta);
  f.write_attribute("/", "s", r.scale);
  f.write_attribute("/", "final_loss", r.history.empty() ? 0.0 : r.history.back().loss);
  f.write_attribute("/", "accuracy", r.history.empty() ? 0.0 : r.history.back().accuracy);
  f.write_attribute("/", "diffbio_version", DIFFBIO_VERSION_STRING);
  f.write_attribute("/", "fastq", o.fastq);
  f.write_attribute("/", "n_reads", static_cast<std::int64_t>(n_reads));
  f.write_attribute("/", "epochs", static_cast<std::int64_t>(o.epochs));
  f.write_attribute("/", "batch", static_cast<std::int64_t>(o.batch));
  f.write_attribute("/", "lr", o.lr);
  f.write_attribute("/", "optimizer", o.optimizer);
  f.write_attribute("/", "deterministic", static_cast<std::int64_t>(o.deterministic ? 1 : 0));
  f.write_attribute("/", "grid_exponent", static_cast<std::int64_t>(o.grid_exponent));
  f.write_attribute("/", "seed", static_cast<std::int64_t>(o.seed));
  f.write_attribute("/", "initial_theta", o.theta);
  f.write_attribute("/", "initial_scale", o.scale);
  f.write_attribute("/", "block", static_cast<std::int64_t>(o.block));
  f.write_attribute("/", "ranks", static_cast<std::int64_t>(ranks));
  f.write_attribute("/", "steps", static_cast<std::int64_t>(r.steps));
  f.close_and_commit();
#else
  (void)r;
  (void)o;
  (void)ranks;
  (void)n_reads;
  throw Error(ExitCode::usage, path + ": this diffbio was built without HDF5; --out needs it");
#endif
}

// ------------------------------------------------------------------------------ commands

int run_simulate(const SimulateOptions& o, const diffbio::Comm& comm) {
  if (o.out.empty()) throw Error(ExitCode::usage, "simulate-reads: --out is required");
  if (o.length == 0) throw Error(ExitCode::usage, "simulate-reads: --length must be >= 1");
  diffbio::run_collectively(comm, [&] {
    // Only rank 0 writes: the data are the same on every rank by construction.
    if (!is_rank0(comm)) return;
    const auto sim = diffbio::simulate_labelled_reads(o.n, o.length, o.seed, 0);
    diffbio::io::write_fastq(o.out, sim.records);
  });
  log_line(comm, "simulate-reads: wrote " + std::to_string(o.n) + " reads of " +
                     std::to_string(o.length) + " bp to " + o.out);
  return 0;
}

int run_train(const TrainOptions& o, const diffbio::Comm& comm) {
  if (o.fastq.empty())
    throw Error(ExitCode::usage, "train-quality: --fastq is required (or fastq in [train-quality])");
  if (o.out.empty() && o.params_txt.empty())
    throw Error(ExitCode::usage,
                "train-quality: --out (HDF5) and/or --params-txt is required (or out / params-txt "
                "in [train-quality])");
  if (o.chunk == 0) throw Error(ExitCode::usage, "train-quality: --chunk must be >= 1");
#ifndef DIFFBIO_ENABLE_HDF5
  if (!o.out.empty())
    throw Error(ExitCode::usage,
                "this diffbio was built without HDF5; use --params-txt instead of --out");
#endif
  diffbio::TrainConfig cfg;
  cfg.epochs = o.epochs;
  cfg.batch_size = o.batch;
  cfg.optimizer.kind = o.optimizer;
  cfg.optimizer.learning_rate = o.lr;
  cfg.seed = o.seed;
  cfg.deterministic = o.deterministic;
  cfg.grid_exponent = o.grid_exponent;
  cfg.theta = o.theta;
  cfg.scale = o.scale;
  cfg.block = o.block;
  diffbio::check_train_config(cfg);
  // Fail before the (possibly long) training if an output cannot be created: AtomicOutput checks
  // the target's directory without creating anything.
  diffbio::run_collectively(comm, [&] {
    if (!is_rank0(comm)) return;
    if (!o.out.empty()) diffbio::io::AtomicOutput probe_h5(o.out);
    if (!o.params_txt.empty()) diffbio::io::AtomicOutput probe_txt(o.params_txt);
  });

  // Every rank reads the file itself (it needs all reads for the shuffled minibatches). Errors are
  // normally the same everywhere; run_collectively also covers a file only some ranks can read.
  diffbio::io::ReadBatch reads;
  std::vector<int> labels;
  diffbio::run_collectively(comm, [&] {
    const auto records = read_all(o.fastq, o.chunk);
    labels = diffbio::labels_from_headers(records, o.fastq);
    reads = diffbio::io::pack_reads(records);
  });
  const int threads = Kokkos::DefaultExecutionSpace().concurrency();
  log_line(comm, "train-quality: " + std::to_string(reads.n_reads) + " reads (max " +
                     std::to_string(reads.max_len) + " bp), " + std::to_string(comm.size()) +
                     " rank(s) x " + std::to_string(threads) + " thread(s), " +
                     (o.deterministic ? "deterministic" : "fast") + " mode");

  const auto result = diffbio::train_quality_model(
      cfg, reads, labels, comm, [&](const diffbio::EpochStats& s) {
        log_line(comm, "epoch " + std::to_string(s.epoch) + "/" + std::to_string(s.epochs) +
                           " loss=" + fmt("%.4f", s.loss) + " acc=" + fmt("%.4f", s.accuracy) +
                           " theta=" + fmt("%.3f", s.theta) + " s=" + fmt("%.3f", s.scale) +
                           " elapsed=" + fmt("%.2f", s.elapsed_seconds) + "s");
      });

  diffbio::run_collectively(comm, [&] {
    if (!is_rank0(comm)) return;
    if (!o.out.empty()) write_params_h5(o.out, result, o, comm.size(), reads.n_reads);
    if (!o.params_txt.empty()) write_params_txt(o.params_txt, result);
  });
  std::string written = o.out;
  if (!o.params_txt.empty()) written += (written.empty() ? "" : " and ") + o.params_txt;
  log_line(comm, "train-quality: wrote " + written);
  return 0;
}

void print_error(const diffbio::Comm* comm, const std::string& what) {
  // Failures are collective (run_collectively), so one rank reporting suffices.
  if (comm == nullptr || comm->rank() == 0) {
    std::string line = what;
    for (auto& c : line)
      if (c == '\n' || c == '\r') c = ' ';  // the contract is one line per error
    std::fprintf(stderr, "diffbio: error: %s\n", line.c_str());
    std::fflush(stderr);
  }
}

}  // namespace

int main(int argc, char* argv[]) {
  // Split Kokkos' arguments off before CLI11 sees the command line.
  std::vector<std::string> kokkos_args{argc > 0 ? argv[0] : "diffbio"};
  std::vector<std::string> cli_args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--kokkos-", 0) == 0)
      kokkos_args.push_back(a);
    else
      cli_args.push_back(a);
  }

  std::unique_ptr<diffbio::Comm> comm;
  try {
    comm = std::make_unique<diffbio::Comm>();
  } catch (const Error& e) {
    print_error(nullptr, e.what());
    return static_cast<int>(e.code());
  }

  CLI::App app{"DiffBio: differentiable bioinformatics operators (version " DIFFBIO_VERSION_STRING
               ").\nKokkos options (--kokkos-threads=N, --kokkos-help, ...) are passed through; "
               "use the --kokkos-name=value form.",
               "diffbio"};
  app.require_subcommand(1);
  app.fallthrough();  // --config may follow the subcommand name
  std::string config;
  app.add_option("--config", config,
                 "TOML file with one table per subcommand ([train-quality], [align], ...; nested "
                 "commands join names with -, e.g. [call-train]); command-line flags override its values")
      ->check(CLI::ExistingFile);
  app.set_version_flag("--version", DIFFBIO_VERSION_STRING);

  // Every subcommand is a Command; those of other files register themselves (AppCommon.hpp).
  diffbio::app::CommandList commands;
  SimulateOptions sim;
  auto& sim_c = diffbio::app::new_command(
      commands,
      app.add_subcommand("simulate-reads",
                         "Write labelled synthetic reads as FASTQ (label=0|1 in the "
                         "header comment; GC-rich reads have label 1)"),
      "simulate-reads");
  auto* sim_cmd = sim_c.cli;
  auto& sim_b = sim_c.bindings;
  sim_c.run = [&sim](const diffbio::Comm& c) { return run_simulate(sim, c); };
  add(sim_cmd, sim_b, "out", sim.out, "output FASTQ path (written atomically)");
  add(sim_cmd, sim_b, "n", sim.n, "number of reads");
  add(sim_cmd, sim_b, "length", sim.length, "read length (bp)");
  add(sim_cmd, sim_b, "seed", sim.seed, "random seed (read i depends only on seed and i)");

  TrainOptions tr;
  auto& tr_c = diffbio::app::new_command(
      commands,
      app.add_subcommand(
          "train-quality",
          "Train QualityFilter -> WeightedPooling -> LinearHead on labelled FASTQ reads (MPI data "
          "parallel when launched with mpiexec); rank 0 writes the parameters to HDF5"),
      "train-quality");
  auto* tr_cmd = tr_c.cli;
  auto& tr_b = tr_c.bindings;
  tr_c.run = [&tr](const diffbio::Comm& c) { return run_train(tr, c); };
  add(tr_cmd, tr_b, "fastq", tr.fastq, "input FASTQ with a label=0|1 token in every header");
  add(tr_cmd, tr_b, "out", tr.out,
      "output HDF5 file with the learned parameters (atomic; needs an HDF5 build)");
  add(tr_cmd, tr_b, "params-txt", tr.params_txt,
      "optional: also write the parameters as hexfloat text (bitwise comparisons)");
  add(tr_cmd, tr_b, "epochs", tr.epochs, "passes over the data");
  add(tr_cmd, tr_b, "batch", tr.batch, "global minibatch size (summed over ranks)");
  add(tr_cmd, tr_b, "lr", tr.lr, "learning rate");
  add(tr_cmd, tr_b, "optimizer", tr.optimizer, "adam or sgd");
  add(tr_cmd, tr_b, "deterministic", tr.deterministic,
      "bitwise reproducible for any rank/thread count (grid-exact gradient sums)");
  add(tr_cmd, tr_b, "grid-exponent", tr.grid_exponent, "deterministic grid q = 2^e");
  add(tr_cmd, tr_b, "seed", tr.seed, "minibatch shuffling seed");
  add(tr_cmd, tr_b, "theta", tr.theta, "initial quality threshold theta (Phred)");
  add(tr_cmd, tr_b, "scale", tr.scale, "initial softness s (Phred units, > 0)");
  add(tr_cmd, tr_b, "block", tr.block, "shard block: rows per rank come in multiples of this");
  add(tr_cmd, tr_b, "chunk", tr.chunk, "FASTQ records read per chunk");

  diffbio::app::AlignOptions al;
  auto& al_c = diffbio::app::new_command(
      commands,
      app.add_subcommand("align",
                         "Score sequence pairs with SmoothSmithWaterman (hard = classic affine-gap "
                         "Smith-Waterman / Needleman-Wunsch); TSV scores, optional HDF5 posteriors"),
      "align");
  auto* al_cmd = al_c.cli;
  auto& al_b = al_c.bindings;
  al_c.run = [&al](const diffbio::Comm& c) { return diffbio::app::run_align(al, c); };
  add(al_cmd, al_b, "fasta", al.fasta, "FASTA: pairs (records 1&2, 3&4, ...) or the queries");
  add(al_cmd, al_b, "fasta-y", al.fasta_y, "optional FASTA: second sequence of each pair, or the database");
  add(al_cmd, al_b, "pairing", al.pairing, "pairs or query-vs-db");
  add(al_cmd, al_b, "out", al.out, "output TSV (query, target, score), written atomically");
  add(al_cmd, al_b, "posterior-out", al.posterior_out, "optional HDF5 with the expected alignment of each pair");
  add(al_cmd, al_b, "params", al.params, "optional HDF5 of learned parameters from train-align");
  add(al_cmd, al_b, "mode", al.mode, "local or global");
  add(al_cmd, al_b, "alphabet", al.alphabet, "dna, protein or auto");
  add(al_cmd, al_b, "hard", al.hard, "tau = 0: the classic max-plus score");
  add(al_cmd, al_b, "tau", al.tau, "temperature of the smooth max");
  add(al_cmd, al_b, "gap-open", al.gap_open, "cost of a gap of length 1 (default DNA 5, protein 11)");
  add(al_cmd, al_b, "gap-extend", al.gap_extend, "cost of each further gap position (default DNA 2, protein 1)");
  add(al_cmd, al_b, "batch", al.batch, "pairs per device batch");

  diffbio::app::TrainAlignOptions ta;
  auto& ta_c = diffbio::app::new_command(
      commands,
      app.add_subcommand("train-align",
                         "Learn the substitution matrix and gap penalties from reference "
                         "alignments (Stockholm MSAs); reports held-out alignment accuracy "
                         "before and after"),
      "train-align");
  auto* ta_cmd = ta_c.cli;
  auto& ta_b = ta_c.bindings;
  ta_c.run = [&ta](const diffbio::Comm& c) { return diffbio::app::run_train_align(ta, c); };
  add(ta_cmd, ta_b, "stockholm", ta.stockholm, "comma-separated Stockholm files");
  add(ta_cmd, ta_b, "out", ta.out, "output HDF5 with the learned parameters (atomic)");
  add(ta_cmd, ta_b, "init", ta.init, "blosum62 (DNA: +2/-3) or poor (identity matrix, weak gaps)");
  add(ta_cmd, ta_b, "mode", ta.mode, "local or global");
  add(ta_cmd, ta_b, "alphabet", ta.alphabet, "dna, protein or auto");
  add(ta_cmd, ta_b, "tau", ta.tau, "temperature");
  add(ta_cmd, ta_b, "gap-open", ta.gap_open, "initial gap open (default DNA 5, protein 11)");
  add(ta_cmd, ta_b, "gap-extend", ta.gap_extend, "initial gap extend (default DNA 2, protein 1)");
  add(ta_cmd, ta_b, "epochs", ta.epochs, "passes over the training pairs");
  add(ta_cmd, ta_b, "batch", ta.batch, "pairs per minibatch");
  add(ta_cmd, ta_b, "lr", ta.lr, "Adam learning rate");
  add(ta_cmd, ta_b, "seed", ta.seed, "seed of the split and the shuffling");
  add(ta_cmd, ta_b, "partners", ta.partners, "reference pairs per MSA row");
  add(ta_cmd, ta_b, "train-fraction", ta.train_fraction, "fraction of pairs for training");
  add(ta_cmd, ta_b, "validation-fraction", ta.validation_fraction, "fraction for validation (rest: test)");

  for (auto setup : diffbio::app::command_setups()) setup(app, commands);

  try {
    // CLI11 wants argv order with the program name dropped; parse() takes them reversed.
    std::vector<std::string> rev(cli_args.rbegin(), cli_args.rend());
    app.parse(rev);
  } catch (const CLI::CallForHelp& e) {
    if (comm->rank() == 0) return app.exit(e);
    return 0;
  } catch (const CLI::CallForAllHelp& e) {
    if (comm->rank() == 0) return app.exit(e);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    if (comm->rank() == 0) return app.exit(e);
    return 0;
  } catch (const CLI::ParseError& e) {
    print_error(comm.get(), e.what());
    return static_cast<int>(ExitCode::usage);
  }

  try {
    // The deepest parsed command runs (`diffbio call train` is "call train", not "call").
    diffbio::app::Command* active = nullptr;
    for (auto& c : commands)
      if (c->cli->parsed() && c->cli->get_subcommands().empty()) active = c.get();
    if (active == nullptr) throw Error(ExitCode::usage, "no subcommand given (see --help)");
    if (!config.empty()) {
      std::map<std::string, Bindings*> tables;
      for (auto& c : commands) tables[c->table] = &c->bindings;
      apply_config(config, tables, active->table);
    }

    // Kokkos is initialised only once the command line is known to be good (no thread pools for
    // --help or usage errors), and finalised before Comm finalises MPI.
    int kargc = static_cast<int>(kokkos_args.size());
    std::vector<char*> kargv;
    for (auto& s : kokkos_args) kargv.push_back(s.data());
    kargv.push_back(nullptr);
    Kokkos::initialize(kargc, kargv.data());
    int rc = 0;
    try {
      rc = active->run(*comm);
    } catch (...) {
      Kokkos::finalize();
      throw;
    }
    Kokkos::finalize();
    return rc;
  } catch (const Error& e) {
    print_error(comm.get(), e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    print_error(comm.get(), std::string("internal error: ") + e.what());
    return static_cast<int>(ExitCode::internal);
  }
}
