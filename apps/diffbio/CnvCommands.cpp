// SPDX-License-Identifier: BSD-3-Clause
/// \file CnvCommands.cpp
/// \brief `diffbio cnv`: binned read depth of an indexed BAM/CRAM → copy-number segments
/// (CNVSegmentation, operators/cnv/) → BED or TSV.
///
/// Steps: (1) regions: --region (samtools syntax) or every contig of --reference, whose contigs
/// must match the BAM header (names and lengths); (2) depth per bin (DiffBio_DepthTrack.hpp:
/// mean per-base pileup depth with the pileup's read filters, --min-mapq); (3) log-ratio
/// r = log((depth + ½)/(expected + ½)) with expected = the median bin depth of the track (each
/// region/contig its own track: robust to the gains and losses it contains as long as they
/// cover less than half of it); (4) σ initialised from the data: 1.4826·MAD of consecutive
/// differences of r / √2 (insensitive to segment steps); (5) optionally --train-epochs of Adam on
/// −mean log-likelihood per bin (all parameters: means, σ, contiguity, initial state; one
/// progress line per epoch); (6) decoding: Viterbi (--hard) or posterior decoding (most probable
/// state per bin); consecutive bins of one state form a segment, scored by the mean posterior
/// of that state (always from the soft pass) and the mean log-ratio.
/// Output: BED (chrom, start 0-based, end, copy state, mean posterior, mean log-ratio, n_bins),
/// or a TSV with a header line when --out ends in .tsv; written atomically.
/// Exit codes: 2 bad option; 3 unreadable/truncated BAM, missing index, contig mismatch with the
/// reference, bad or empty region, no reads in a region; 4 output not writable; 5 non-finite.
#include "AppCommon.hpp"

#include <DiffBio_AtomicFile.hpp>
#include <DiffBio_CNVSegmentation.hpp>
#include <DiffBio_DepthTrack.hpp>
#include <DiffBio_Optimizer.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_Region.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace diffbio {
namespace app {

struct CnvOptions {
  std::string bam, reference, region, out;
  int bin = 1000;
  int min_mapq = 0;
  int states = 5;
  int ploidy = 2;
  bool hard = false;
  int train_epochs = 0;
  double lr = 0.01;
  double stay = 0.999;
  double outlier = 0.01;
};

namespace {

using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;
using Op = CNVSegmentation<double, Exec>;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const std::size_t m = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + m, v.end());
  return v[m];
}

struct Batch {
  int B = 0, T = 0;
  Op::Inputs in;
  std::vector<std::vector<double>> r;  // log-ratios per track
};

Batch make_batch(const std::vector<io::DepthTrack>& tracks, const std::string& bam) {
  Batch b;
  b.B = static_cast<int>(tracks.size());
  for (const auto& t : tracks) b.T = std::max(b.T, static_cast<int>(t.depth.size()));
  Kokkos::View<double**, Mem> track(label("cnv::track"), b.B, b.T);
  Kokkos::View<int*, Mem> length(label("cnv::length"), b.B);
  auto th = Kokkos::create_mirror_view(track);
  auto lh = Kokkos::create_mirror_view(length);
  for (int i = 0; i < b.B; ++i) {
    const auto& t = tracks[i];
    const double expected = median(t.depth);
    if (!(expected > 0))
      throw input_error(bam, -1, "region " + t.region.to_string() +
                                     ": median bin depth is 0 (no reads pass the filters)");
    std::vector<double> r(t.depth.size());
    for (std::size_t k = 0; k < r.size(); ++k) {
      r[k] = std::log((t.depth[k] + 0.5) / (expected + 0.5));
      th(i, k) = r[k];
    }
    lh(i) = static_cast<int>(r.size());
    b.r.push_back(std::move(r));
  }
  Kokkos::deep_copy(track, th);
  Kokkos::deep_copy(length, lh);
  b.in.track = track;
  b.in.length = length;
  return b;
}

// 1.4826·MAD(Δr)/√2 over all tracks: the noise of r without the steps between segments.
double robust_sigma(const Batch& b) {
  std::vector<double> d;
  for (const auto& r : b.r)
    for (std::size_t k = 1; k < r.size(); ++k) d.push_back(r[k] - r[k - 1]);
  if (d.size() < 4) return 0.2;
  const double med = median(d);
  for (auto& x : d) x = std::fabs(x - med);
  return std::max(0.02, 1.4826 * median(d) / std::sqrt(2.0));
}

struct SegmentOut {
  std::string chrom;
  std::int64_t beg, end;
  int state;
  double posterior, log_ratio;
  int n_bins;
};

}  // namespace

int run_cnv(const CnvOptions& o, const Comm& comm) {
  if (o.bam.empty()) throw Error(ExitCode::usage, "cnv: --bam is required");
  if (o.reference.empty()) throw Error(ExitCode::usage, "cnv: --reference is required");
  if (o.out.empty()) throw Error(ExitCode::usage, "cnv: --out is required");
  if (o.bin <= 0) throw Error(ExitCode::usage, "cnv: --bin must be > 0");
  if (o.states < 2 || o.states > 16) throw Error(ExitCode::usage, "cnv: --states must be in [2, 16]");
  if (o.ploidy < 1 || o.ploidy >= o.states)
    throw Error(ExitCode::usage, "cnv: --ploidy must be in [1, states)");
  if (!(o.stay > 0 && o.stay < 1)) throw Error(ExitCode::usage, "cnv: --stay must be in (0, 1)");
  if (!(o.outlier >= 0 && o.outlier < 1))
    throw Error(ExitCode::usage, "cnv: --outlier must be in [0, 1)");
  if (o.train_epochs < 0) throw Error(ExitCode::usage, "cnv: --train-epochs must be >= 0");

  // (1) regions; the contig check against the reference runs in both modes.
  std::vector<io::Region> regions = io::whole_contig_regions(o.bam, o.reference);
  if (!o.region.empty()) regions = {io::parse_region(o.region, o.bam)};
  // (2) depth
  io::DepthTrackOptions dopt;
  dopt.bin = o.bin;
  dopt.pileup.min_mapq = o.min_mapq;
  io::PileupStats stats;
  const auto tracks = io::read_depth_tracks(o.bam, o.reference, regions, dopt, &stats);
  if (tracks.empty()) throw input_error(o.bam, -1, "no region to segment");
  std::size_t n_bins = 0;
  for (const auto& t : tracks) n_bins += t.depth.size();
  log_line(comm, "cnv: " + std::to_string(tracks.size()) + " track(s), " + std::to_string(n_bins) +
                     " bins of " + std::to_string(o.bin) + " bp; reads: " + stats.summary());
  // (3)-(4)
  Batch batch = make_batch(tracks, o.bam);
  CNVSegmentationConfig cfg;
  cfg.n_states = o.states;
  cfg.ploidy = o.ploidy;
  cfg.init_stay = o.stay;
  cfg.outlier_prob = o.outlier;
  cfg.init_sigma = robust_sigma(batch);
  Op soft(cfg);
  ParameterLayout layout;
  const ParamBlock block = soft.declare(layout);
  ParameterSet<double, Mem> params(layout, "cnv");
  params.set_block(block, soft.initial_params());
  auto out = soft.allocate_outputs(batch.in);
  Op::Workspace ws;
  const Exec exec;
  auto total_loglik = [&]() {
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.loglik);
    double s = 0;
    for (int i = 0; i < batch.B; ++i) s += h(i);
    if (!std::isfinite(s))
      throw Error(ExitCode::numerical, "cnv: non-finite log-likelihood");
    return s;
  };
  // (5) unsupervised training: maximise the log-likelihood (loss = −loglik per bin).
  if (o.train_epochs > 0) {
    OptimizerConfig oc;
    oc.learning_rate = o.lr;
    Optimizer<double, Exec> adam(oc, params.size());
    Kokkos::View<double*, Mem> seed(label("cnv::d_loglik"), batch.B);
    Kokkos::deep_copy(seed, -1.0 / static_cast<double>(n_bins));
    for (int e = 1; e <= o.train_epochs; ++e) {
      soft.forward(exec, params.values(block), batch.in, out, ws);
      const double loss = -total_loglik() / static_cast<double>(n_bins);
      params.zero_grads(exec);
      soft.adjoint(exec, params.values(block), batch.in, ws, {{}, seed}, {}, params.grads(block));
      adam.step(exec, params);
      const auto p = params.get_block(block);
      char buf[160];
      std::snprintf(buf, sizeof buf, "epoch %d/%d loss=%.6f sigma=%.4f stay=%.6f", e,
                    o.train_epochs, loss, std::exp(p[soft.log_sigma_index()]),
                    1.0 / (1.0 + std::exp(-p[soft.stay_logit_index()])));
      log_line(comm, buf);
    }
  }
  // (6) decoding: soft pass for the scores; Viterbi for the states if --hard.
  soft.forward(exec, params.values(block), batch.in, out, ws);
  const double ll = total_loglik();
  auto post = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.posterior);
  auto path = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.path);
  if (o.hard) {
    CNVSegmentationConfig hc = cfg;
    hc.temperature = 0;
    Op viterbi(hc);
    auto hout = viterbi.allocate_outputs(batch.in);
    Op::Workspace hws;
    viterbi.forward(exec, params.values(block), batch.in, hout, hws);
    Kokkos::deep_copy(path, hout.path);
  }
  std::vector<SegmentOut> segs;
  for (int i = 0; i < batch.B; ++i) {
    const auto& t = tracks[i];
    const int n = static_cast<int>(t.depth.size());
    for (int k = 0; k < n;) {
      int e = k;
      double ps = 0, rs = 0;
      while (e < n && path(i, e) == path(i, k)) {
        ps += post(i, e, path(i, k));
        rs += batch.r[i][e];
        ++e;
      }
      segs.push_back({t.region.contig, t.bin_beg(k), t.bin_end(e - 1), path(i, k),
                      ps / (e - k), rs / (e - k), e - k});
      k = e;
    }
  }
  int n_cnv = 0;
  for (const auto& s : segs) n_cnv += s.state != o.ploidy;
  log_line(comm, "cnv: " + std::string(o.hard ? "Viterbi" : "posterior") + " decoding, " +
                     std::to_string(segs.size()) + " segments (" + std::to_string(n_cnv) +
                     " not at copy " + std::to_string(o.ploidy) + "), log-likelihood " +
                     fmt("%.3f", ll));
  if (comm.rank() != 0) return 0;
  const bool tsv = o.out.size() >= 4 && o.out.compare(o.out.size() - 4, 4, ".tsv") == 0;
  io::AtomicOutput file(o.out);
  {
    std::ofstream f(file.temp_path());
    if (tsv) f << "chrom\tstart\tend\tcopy_state\tmean_posterior\tmean_log_ratio\tn_bins\n";
    char buf[128];
    for (const auto& s : segs) {
      std::snprintf(buf, sizeof buf, "\t%lld\t%lld\t%d\t%.4f\t%.4f\t%d\n",
                    static_cast<long long>(s.beg), static_cast<long long>(s.end), s.state,
                    s.posterior, s.log_ratio, s.n_bins);
      f << s.chrom << buf;
    }
    f.close();
    if (!f) throw Error(ExitCode::output_error, o.out + ": write failed");
  }
  file.commit();
  log_line(comm, "cnv: wrote " + o.out);
  return 0;
}

void add_cnv_commands(CLI::App& app, CommandList& list) {
  auto o = std::make_shared<CnvOptions>();
  auto& c = new_command(
      list,
      app.add_subcommand("cnv", "Copy-number segments from binned read depth (HMM over copy "
                                "states; posterior or Viterbi decoding) -> BED/TSV"),
      "cnv");
  add(c, "bam", o->bam, "indexed BAM/CRAM");
  add(c, "reference", o->reference,
      "indexed reference FASTA (.fai); its contigs must match the BAM header");
  add(c, "region", o->region, "one region chr[:beg-end] (1-based); default: every contig");
  add(c, "bin", o->bin, "bin width in bp");
  add(c, "min-mapq", o->min_mapq, "skip reads with mapping quality below this");
  add(c, "states", o->states, "copy states 0..states-1");
  add(c, "ploidy", o->ploidy, "normal copy number");
  add(c, "hard", o->hard, "Viterbi decoding (default: posterior decoding)");
  add(c, "train-epochs", o->train_epochs,
      "Adam epochs maximising the log-likelihood (0: keep the initial parameters)");
  add(c, "lr", o->lr, "Adam learning rate for --train-epochs");
  add(c, "stay", o->stay, "initial probability of staying in a copy state from bin to bin");
  add(c, "outlier", o->outlier, "probability of an outlier bin (robust emission)");
  add(c, "out", o->out, "output segments: BED, or TSV with a header if the name ends in .tsv");
  c.run = [o](const Comm& comm) { return run_cnv(*o, comm); };
}

static RegisterCommands reg_cnv(&add_cnv_commands);

}  // namespace app
}  // namespace diffbio
