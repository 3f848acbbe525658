// SPDX-License-Identifier: BSD-3-Clause
/// \file CallCommands.cpp
/// \brief `diffbio call` (apply a trained variant caller → VCF), `diffbio call train` (train it
/// jointly with the differentiable pileup) and `diffbio call eval` (precision / recall / F1 of any
/// VCF against a truth VCF). TOML tables [call], [call-train], [call-eval].
///
/// Exit codes (diffbio::ExitCode): 0 success; 2 usage (bad option or value, missing --bam ...);
/// 3 input error (unreadable/truncated BAM or CRAM, missing .bai/.crai or .fai, a contig of the
/// region absent from the BAM or the reference, an empty or out-of-contig region, a malformed
/// truth VCF, a model file that is not a caller model); 4 output error (cannot write the VCF or
/// model); 5 numerical (non-finite gradient); 6 MPI. Every error is one line on stderr, and the VCF
/// and model are written atomically, so a failed run leaves no partial file.
#include "AppCommon.hpp"

#include <DiffBio_Region.hpp>
#include <DiffBio_VariantCaller.hpp>
#include <DiffBio_Vcf.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>

namespace diffbio {
namespace app {
namespace {

struct ReadOptions {
  std::string bam, reference, region, bed;
  int min_mapq = 0, min_baseq = 0, max_depth = 0;
  int min_alt_count = 2;
  double min_alt_fraction = 0.05, min_single_fraction = 0.2;
};

struct CallOptions : ReadOptions {
  std::string model, out, sample = "sample", truth;
};

struct TrainOptions : ReadOptions {
  std::string truth, out, eval_region, eval_bed, eval_bam, eval_truth, init_model;
  int epochs = 400, window = 0, hidden = 16, max_offset = 1, eval_every = 1, checkpoint_every = 0;
  double lr = 0.02;
  std::uint64_t seed = 1;
  bool freeze_upstream = false, pileup_hard = false;
  std::string activation = "tanh";
};

struct EvalOptions {
  std::string calls, truth, region, bed;
};

void add_read_options(Command& c, ReadOptions& o) {
  add(c, "bam", o.bam, "indexed BAM or CRAM");
  add(c, "reference", o.reference, "indexed reference FASTA (.fai)");
  add(c, "region", o.region, "comma-separated regions chr:beg-end (1-based, inclusive)");
  add(c, "bed", o.bed, "BED file of regions (0-based) instead of / in addition to --region");
  add(c, "min-mapq", o.min_mapq, "skip reads with MAPQ below this (samtools -q)");
  add(c, "min-baseq", o.min_baseq, "drop bases with BQ below this (samtools -Q; 0: keep all)");
  add(c, "max-depth", o.max_depth, "depth cap per position (samtools -d; 0: none; reported)");
  add(c, "min-alt-count", o.min_alt_count, "candidate: reads of the best alt allele");
  add(c, "min-alt-fraction", o.min_alt_fraction, "candidate: and its fraction of the depth");
  add(c, "min-single-fraction", o.min_single_fraction,
      "candidate: one read suffices at this fraction (low depth)");
}

std::vector<io::Region> regions_of(const std::string& list, const std::string& bed,
                                   const std::string& source) {
  std::vector<io::Region> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(io::parse_region(item, source));
  if (!bed.empty())
    for (auto& r : io::read_bed(bed)) out.push_back(r);
  return out;
}

io::PileupOptions pileup_options(const ReadOptions& o) {
  if (o.min_mapq < 0 || o.min_baseq < 0 || o.max_depth < 0)
    throw Error(ExitCode::usage, "--min-mapq, --min-baseq and --max-depth must be >= 0");
  io::PileupOptions p;
  p.min_mapq = o.min_mapq;
  p.min_baseq = o.min_baseq;
  p.max_depth = o.max_depth;
  return p;
}

CandidateConfig candidate_config(const ReadOptions& o) {
  if (o.min_alt_count < 1 || !(o.min_alt_fraction >= 0) || !(o.min_single_fraction >= 0))
    throw Error(ExitCode::usage, "candidate thresholds must be positive");
  return {o.min_alt_count, o.min_alt_fraction, o.min_single_fraction};
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<CandidateRegion> load_regions(const ReadOptions& o, const std::vector<io::Region>& rs,
                                          int halo, const Comm& comm, const char* what) {
  std::vector<CandidateRegion> out;
  const auto po = pileup_options(o);
  const auto cc = candidate_config(o);
  std::size_t n = 0;
  long long capped = 0;
  for (const auto& r : rs) {
    out.push_back(find_candidates(o.bam, o.reference, r, po, cc, halo));
    n += out.back().candidates.size();
    capped += static_cast<long long>(out.back().batch.capped);
  }
  log_line(comm, std::string(what) + ": " + std::to_string(rs.size()) + " region(s), " +
                     std::to_string(n) + " candidate sites" +
                     (o.max_depth > 0 ? ", " + std::to_string(capped) + " reads dropped by --max-depth " +
                                            std::to_string(o.max_depth)
                                      : std::string()));
  return out;
}

std::string metrics_line(const CallMetrics& m) { return m.summary(); }

int run_call(const CallOptions& o, const Comm& comm) {
  if (o.model.empty() || o.bam.empty() || o.reference.empty() || o.out.empty())
    throw Error(ExitCode::usage, "call: --model, --bam, --reference and --out are required");
  const auto rs = regions_of(o.region, o.bed, o.bam);
  if (rs.empty()) throw Error(ExitCode::usage, "call: --region or --bed is required");
  const auto t0 = std::chrono::steady_clock::now();
  // Several models (comma-separated): their posteriors are averaged (a seed ensemble).
  std::vector<CallerModel> models;
  int halo = 0;
  for (const auto& path : split_list(o.model)) {
    models.push_back(load_caller_model(path));
    halo = std::max({halo, models.back().config.window, models.back().config.pileup.max_offset});
  }
  if (models.empty()) throw Error(ExitCode::usage, "call: --model is empty");
  std::vector<io::VcfVariant> truth;
  if (!o.truth.empty()) truth = io::read_vcf(o.truth);
  auto regions = load_regions(o, rs, halo, comm, "call");
  std::vector<io::VcfCall> calls;
  std::vector<io::Region> resolved;
  for (const auto& R : regions) {
    const auto c = predict_calls(models, R);
    calls.insert(calls.end(), c.begin(), c.end());
    resolved.push_back(R.region);
  }
  if (comm.rank() == 0) io::write_calls_vcf(o.out, o.reference, o.sample, calls, "diffbio call");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log_line(comm, "call: wrote " + std::to_string(calls.size()) + " records to " + o.out + " in " +
                     fmt("%.2f", secs) + " s");
  if (!truth.empty())
    log_line(comm, "call: vs truth: " + metrics_line(evaluate_calls(as_variants(calls), truth, resolved)));
  return 0;
}

int run_call_train(const TrainOptions& o, const Comm& comm) {
  if (o.bam.empty() || o.reference.empty() || o.truth.empty())
    throw Error(ExitCode::usage, "call train: --bam, --reference and --truth are required");
  // Several samples may be trained on together: --bam a.bam,b.bam --truth a.vcf.gz,b.vcf.gz.
  const auto bams = split_list(o.bam);
  const auto truths = split_list(o.truth);
  if (bams.size() != truths.size())
    throw Error(ExitCode::usage, "call train: --bam and --truth need the same number of files (" +
                                     std::to_string(bams.size()) + " vs " +
                                     std::to_string(truths.size()) + ")");
  const auto rs = regions_of(o.region, o.bed, bams[0]);
  if (rs.empty()) throw Error(ExitCode::usage, "call train: --region or --bed is required");
  const auto es = regions_of(o.eval_region, o.eval_bed, bams[0]);
  if (o.max_offset < 0 || o.max_offset > 4)
    throw Error(ExitCode::usage, "--max-offset must be in [0, 4]");
  if (!(o.lr > 0)) throw Error(ExitCode::usage, "--lr must be > 0");
  if (o.epochs < 0) throw Error(ExitCode::usage, "--epochs must be >= 0");
  CallerModelConfig mc;
  mc.window = o.window;
  mc.hidden = o.hidden;
  mc.activation = o.activation;
  mc.pileup.max_offset = o.max_offset;
  mc.pileup.hard = o.pileup_hard;
  // --init-model resumes from a checkpoint (its architecture wins over the options above).
  CallerModel model = o.init_model.empty() ? initial_caller_model(mc, o.seed) : load_caller_model(o.init_model);
  if (!o.init_model.empty()) mc = model.config;
  const int halo = std::max(mc.window, mc.pileup.max_offset);
  std::vector<std::vector<io::VcfVariant>> truth_sets;
  for (const auto& t : truths) truth_sets.push_back(io::read_vcf(t));
  std::vector<CandidateRegion> train;
  std::vector<const std::vector<io::VcfVariant>*> train_truth;
  std::size_t missed = 0;
  for (std::size_t i = 0; i < bams.size(); ++i) {
    ReadOptions ro = o;
    ro.bam = bams[i];
    auto part = load_regions(ro, rs, halo, comm, "call train");
    for (auto& R : part) {
      missed += static_cast<std::size_t>(label_candidates(R, truth_sets[i]));
      train.push_back(std::move(R));
      train_truth.push_back(&truth_sets[i]);
    }
  }
  std::size_t counts[n_genotype_classes] = {0, 0, 0, 0, 0};
  for (const auto& R : train)
    for (const auto& c : R.candidates) ++counts[c.label];
  log_line(comm, "call train: labels ref " + std::to_string(counts[0]) + ", het SNP " +
                     std::to_string(counts[1]) + ", hom SNP " + std::to_string(counts[2]) +
                     ", het indel " + std::to_string(counts[3]) + ", hom indel " +
                     std::to_string(counts[4]) + "; truth sites without a candidate " +
                     std::to_string(missed));
  // Held-out: --eval-bam/--eval-truth, by default the first training sample.
  std::vector<CandidateRegion> held;
  std::vector<io::VcfVariant> held_truth;
  if (!es.empty()) {
    ReadOptions ro = o;
    ro.bam = o.eval_bam.empty() ? bams[0] : o.eval_bam;
    held_truth = o.eval_truth.empty() ? truth_sets[0] : io::read_vcf(o.eval_truth);
    held = load_regions(ro, es, halo, comm, "call train (held-out)");
  }
  auto held_metrics = [&](const CallerModel& m) {
    std::vector<io::VcfVariant> calls;
    std::vector<io::Region> where;
    for (const auto& R : held) {
      const auto v = as_variants(predict_calls(m, R));
      calls.insert(calls.end(), v.begin(), v.end());
      where.push_back(R.region);
    }
    return evaluate_calls(calls, held_truth, where);
  };
  const std::vector<double> upstream0 = model.block(model.block_names[0]);
  CallMetrics before;
  if (!held.empty()) {
    before = held_metrics(model);
    log_line(comm, "held-out before training: " + metrics_line(before));
  }
  CallerTrainConfig tc;
  tc.epochs = o.epochs;
  tc.optimizer.learning_rate = o.lr;
  tc.freeze_upstream = o.freeze_upstream;
  tc.seed = o.seed;
  tc.eval_every = o.eval_every;
  tc.checkpoint_every = o.out.empty() ? 0 : o.checkpoint_every;
  const auto checkpoint = [&](int epoch, const CallerModel& m) {
    if (comm.rank() != 0) return;
    save_caller_model(o.out, m, {{"epochs", double(epoch)}, {"freeze_upstream", double(o.freeze_upstream)}});
    log_line(comm, "call train: checkpoint (epoch " + std::to_string(epoch) + ") written to " + o.out);
  };
  train_variant_caller(model, train, train_truth, tc, comm, [&](const CallerEpoch& e) {
    std::string line = "epoch " + std::to_string(e.epoch) + "/" + std::to_string(e.epochs) +
                       " loss=" + fmt("%.5f", e.loss);
    if (e.evaluated)
      line += " precision=" + fmt("%.4f", e.train.all.precision()) +
              " recall=" + fmt("%.4f", e.train.all.recall()) + " F1=" + fmt("%.4f", e.train.all.f1()) +
              " (SNP F1 " + fmt("%.4f", e.train.snp.f1()) + ", indel F1 " +
              fmt("%.4f", e.train.indel.f1()) + ")";
    line += " elapsed=" + fmt("%.1f", e.elapsed_seconds) + "s";
    log_line(comm, line);
  }, checkpoint);
  const auto upstream = model.block(model.block_names[0]);
  std::string moved = "upstream " + model.block_names[0] +
                      " [theta_b, log_a, theta_m, log_c, gamma, logits -k..k]:";
  for (std::size_t i = 0; i < upstream.size(); ++i)
    moved += " " + fmt("%.3f", upstream0[i]) + "->" + fmt("%.3f", upstream[i]);
  log_line(comm, moved);
  std::vector<std::pair<std::string, double>> attrs{{"epochs", double(o.epochs)},
                                                    {"freeze_upstream", double(o.freeze_upstream)}};
  if (!held.empty()) {
    const auto after = held_metrics(model);
    log_line(comm, "held-out after training: " + metrics_line(after));
    attrs.push_back({"heldout_snp_f1", after.snp.f1()});
    attrs.push_back({"heldout_indel_f1", after.indel.f1()});
    attrs.push_back({"heldout_genotype_concordance", after.genotype_concordance()});
    attrs.push_back({"heldout_snp_f1_before", before.snp.f1()});
    attrs.push_back({"heldout_indel_f1_before", before.indel.f1()});
  }
  if (comm.rank() == 0 && !o.out.empty()) {
    save_caller_model(o.out, model, attrs);
    log_line(comm, "call train: wrote " + o.out);
  }
  return 0;
}

int run_call_eval(const EvalOptions& o, const Comm& comm) {
  if (o.calls.empty() || o.truth.empty())
    throw Error(ExitCode::usage, "call eval: --calls and --truth are required");
  const auto rs = regions_of(o.region, o.bed, o.calls);
  const auto calls = io::read_vcf(o.calls, rs);
  const auto truth = io::read_vcf(o.truth, rs);
  const auto m = evaluate_calls(calls, truth, rs);
  log_line(comm, "eval: " + metrics_line(m));
  if (comm.rank() == 0) {
    std::printf("snp_f1=%.4f indel_f1=%.4f snp_precision=%.4f snp_recall=%.4f "
                "indel_precision=%.4f indel_recall=%.4f gt_concordance=%.4f\n",
                m.snp.f1(), m.indel.f1(), m.snp.precision(), m.snp.recall(), m.indel.precision(),
                m.indel.recall(), m.genotype_concordance());
    std::fflush(stdout);
  }
  return 0;
}

void add_call_commands(CLI::App& app, CommandList& list) {
  auto co = std::make_shared<CallOptions>();
  auto* call_cli = app.add_subcommand(
      "call", "apply a trained variant caller: BAM/CRAM + FASTA + region/BED -> VCF (GT GQ PL AD DP QUAL)");
  auto& c = new_command(list, call_cli, "call");
  add(c, "model", co->model, "HDF5 model written by `diffbio call train` (comma-separated: posteriors averaged)");
  add(c, "out", co->out, "output VCF (.vcf or .vcf.gz; written atomically, sorted)");
  add(c, "sample", co->sample, "sample name of the VCF column");
  add(c, "truth", co->truth, "optional truth VCF: print precision/recall/F1 of the calls");
  add_read_options(c, *co);
  c.run = [co](const Comm& comm) { return run_call(*co, comm); };

  auto to = std::make_shared<TrainOptions>();
  auto& t = new_command(list, call_cli->add_subcommand(
                                  "train", "train pileup weighting, soft positions and classifier jointly"),
                        "call-train");
  add_read_options(t, *to);  // --bam may list several BAMs (samples) here
  add(t, "truth", to->truth, "truth VCF/VCF.gz/BCF per --bam, comma-separated (normalised, diploid GT)");
  add(t, "out", to->out, "HDF5 model to write (atomic)");
  add(t, "eval-region", to->eval_region, "held-out regions evaluated before and after training");
  add(t, "eval-bed", to->eval_bed, "held-out regions as BED");
  add(t, "eval-bam", to->eval_bam, "BAM of the held-out regions (default: the first --bam)");
  add(t, "eval-truth", to->eval_truth, "truth of the held-out BAM (default: the first --truth)");
  add(t, "epochs", to->epochs, "full-batch Adam steps");
  add(t, "lr", to->lr, "Adam learning rate");
  add(t, "seed", to->seed, "classifier initialisation seed");
  add(t, "window", to->window, "features from positions p-w..p+w");
  add(t, "hidden", to->hidden, "hidden units of the MLP");
  add(t, "activation", to->activation, "tanh, relu or softplus");
  add(t, "max-offset", to->max_offset, "soft position assignment over -k..k (0: off)");
  add(t, "freeze-upstream", to->freeze_upstream, "train the classifier only (ablation)");
  add(t, "pileup-hard", to->pileup_hard, "hard pileup (unit weights, no gradient upstream)");
  add(t, "eval-every", to->eval_every, "precision/recall on the training regions every N epochs (0: last)");
  add(t, "checkpoint-every", to->checkpoint_every, "write the model to --out every N epochs (atomic; 0: at the end only)");
  add(t, "init-model", to->init_model, "start from this model (a checkpoint) instead of a new one");
  t.run = [to](const Comm& comm) { return run_call_train(*to, comm); };

  auto eo = std::make_shared<EvalOptions>();
  auto& e = new_command(list, call_cli->add_subcommand("eval", "compare a VCF with a truth VCF"), "call-eval");
  add(e, "calls", eo->calls, "VCF/BCF to evaluate");
  add(e, "truth", eo->truth, "truth VCF");
  add(e, "region", eo->region, "comma-separated regions (1-based)");
  add(e, "bed", eo->bed, "BED of regions");
  e.run = [eo](const Comm& comm) { return run_call_eval(*eo, comm); };
}

static RegisterCommands reg_call(&add_call_commands);

}  // namespace
}  // namespace app
}  // namespace diffbio
