// SPDX-License-Identifier: BSD-3-Clause
// The trainable variant caller (src/training/DiffBio_VariantCaller, src/io/DiffBio_Vcf) on the
// small simulated data set of tests/data/call/make_call_data.sh (20 kb of lambda, 30×; training
// half [0, 10000), held-out half [10000, 20000)):
//  - VCF reading and writing (sorted, atomic, accepted by `bcftools view`), malformed VCFs;
//  - candidates cover every truth site, indel alleles normalised as the truth is;
//  - evaluation arithmetic;
//  - the joint backward pass pileup → CandidateFeatures → classifier against central finite
//    differences of the loss, for pileup and classifier parameters;
//  - training: the held-out F1 improves over the untrained start and reaches a floor, next to
//    bcftools on the same held-out half.
#include <gtest/gtest.h>

#include <DiffBio_Comm.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_VariantCaller.hpp>
#include <DiffBio_Vcf.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

namespace {

using namespace diffbio;
namespace fs = std::filesystem;

const std::string data_dir = DIFFBIO_CALL_DATA_DIR;
const std::string bam = data_dir + "/reads.bam";
const std::string ref = data_dir + "/ref.fa";
const std::string truth_path = data_dir + "/truth.vcf.gz";

io::Region train_region() { return io::parse_region("lambda:1-10000"); }
io::Region test_region() { return io::parse_region("lambda:10001-20000"); }

fs::path temp_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("diffbio-call-test-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

Error catch_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "expected a diffbio::Error";
  return Error(ExitCode::internal, "none");
}

// ---- VCF --------------------------------------------------------------------------------------

TEST(CallVcf, ReadsTruthWithDosages) {
  const auto t = io::read_vcf(truth_path);
  ASSERT_GT(t.size(), 60u);
  int het = 0, hom = 0, indel = 0;
  for (const auto& v : t) {
    EXPECT_EQ(v.contig, "lambda");
    het += v.dosage == 1;
    hom += v.dosage == 2;
    indel += v.is_indel();
  }
  EXPECT_EQ(het + hom, static_cast<int>(t.size()));
  EXPECT_GT(het, 10);
  EXPECT_GT(hom, 10);
  EXPECT_GT(indel, 10);
  // Region filter
  const auto part = io::read_vcf(truth_path, {train_region()});
  for (const auto& v : part) EXPECT_LT(v.pos, 10000);
  EXPECT_LT(part.size(), t.size());
}

TEST(CallVcf, WritesSortedAtomicValidVcf) {
  const auto d = temp_dir("write");
  std::vector<io::VcfCall> calls(3);
  calls[0] = {"lambda", 500, "A", "G", 1, 30.5, 20, {30, 0, 40}, {5, 6}, 11};
  calls[1] = {"lambda", 100, "ACG", "A", 2, 50, 40, {60, 40, 0}, {0, 12}, 12};
  calls[2] = {"lambda", 300, "T", "TCC", 1, 12, 10, {12, 0, 30}, {7, 3}, 10};
  const std::string out = (d / "calls.vcf").string();
  io::write_calls_vcf(out, ref, "sim", calls, "test");
  for (const auto& e : fs::directory_iterator(d))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  const auto back = io::read_vcf(out);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].pos, 100);
  EXPECT_EQ(back[1].pos, 300);
  EXPECT_EQ(back[2].pos, 500);
  EXPECT_EQ(back[0].dosage, 2);
  EXPECT_EQ(back[1].alt, "TCC");
  std::ifstream f(out);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (const char* h : {"##fileformat=VCFv4.2", "##source=DiffBio", "##reference=", "##contig=<ID=lambda,length=20000>",
                        "##FORMAT=<ID=GT", "##FORMAT=<ID=GQ", "##FORMAT=<ID=PL", "##FORMAT=<ID=AD", "##FORMAT=<ID=DP",
                        "##INFO=<ID=DP", "GT:GQ:PL:AD:DP\t0/1:20:30,0,40:5,6:11"})
    EXPECT_NE(text.find(h), std::string::npos) << h;
  // bcftools (Debian) must accept it.
  const std::string cmd = "bcftools view " + out + " > /dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  // .gz output is bgzipped and indexable.
  const std::string gz = (d / "calls.vcf.gz").string();
  io::write_calls_vcf(gz, ref, "sim", calls);
  EXPECT_EQ(std::system(("bcftools index -t " + gz + " > /dev/null 2>&1").c_str()), 0);
  fs::remove_all(d);
}

TEST(CallVcf, MalformedInputsAreOneLineInputErrors) {
  const auto d = temp_dir("malformed");
  auto write = [&](const std::string& name, const std::string& body) {
    std::ofstream(d / name) << body;
    return (d / name).string();
  };
  const std::string header =
      "##fileformat=VCFv4.2\n##contig=<ID=lambda,length=20000>\n"
      "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
      "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tsim\n";
  struct Case {
    std::string name, body, expect;
  };
  const std::vector<Case> cases{
      {"bad_ref.vcf", header + "lambda\t10\t.\tA\tG\t.\t.\t.\tGT\t0/1\nlambda\t20\t.\tX!\tG\t.\t.\t.\tGT\t0/1\n", "record 2"},
      {"bad_gt.vcf", header + "lambda\t10\t.\tA\tG\t.\t.\t.\tGT\t0/3\n", "record 1"},
      {"bad_pos.vcf", header + "lambda\tten\t.\tA\tG\t.\t.\t.\tGT\t0/1\n", "record 1"},
      {"no_header.vcf", "lambda\t10\t.\tA\tG\t.\t.\t.\n", ""},
      {"empty.vcf", "", ""},
  };
  for (const auto& c : cases) {
    const std::string p = write(c.name, c.body);
    const Error e = catch_error([&] { io::read_vcf(p); });
    EXPECT_EQ(e.code(), ExitCode::input_error) << c.name << ": " << e.what();
    const std::string msg = e.what();
    EXPECT_NE(msg.find(c.name), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  const Error e = catch_error([&] { io::read_vcf((d / "missing.vcf").string()); });
  EXPECT_EQ(e.code(), ExitCode::input_error);
  fs::remove_all(d);
}

// ---- candidates, labels, evaluation -----------------------------------------------------------

TEST(CallCandidates, CoverTruthAndMatchIndelAlleles) {
  const auto truth = io::read_vcf(truth_path);
  auto R = find_candidates(bam, ref, train_region(), {}, {}, 2);
  ASSERT_GT(R.candidates.size(), 40u);
  EXPECT_EQ(label_candidates(R, truth), 0) << "a truth site has no candidate at 30x";
  std::map<std::int64_t, const io::VcfVariant*> at;
  for (const auto& v : truth) at[v.pos] = &v;
  int indels = 0, matched = 0, variants = 0;
  for (const auto& c : R.candidates) {
    if (c.label != gt_ref) ++variants;
    if (c.label < gt_het_indel) continue;
    ++indels;
    const auto* v = at.at(c.pos);
    matched += (c.indel_ref == v->ref && c.indel_alt == v->alt);
  }
  EXPECT_GT(indels, 8);
  EXPECT_GE(matched, indels - 1) << "indel alleles from the CIGAR walk, left-aligned like bcftools norm";
  EXPECT_EQ(variants, static_cast<int>(io::read_vcf(truth_path, {R.region}).size()));
}

// The genotype likelihoods (host feature columns): at 30x the most likely genotype of a truth SNP
// is its truth genotype and a non-variant candidate is most likely 0/0; the indel likelihoods are
// the binomial closed form of (depth, reads with the allele) with a 1 % per-read error.
TEST(CallCandidates, GenotypeLikelihoodsAgreeWithTruthAt30x) {
  const auto truth = io::read_vcf(truth_path);
  auto R = find_candidates(bam, ref, train_region(), {}, {}, 2);
  label_candidates(R, truth);
  auto argmax = [](const std::array<double, 3>& ll) {
    return static_cast<int>(std::max_element(ll.begin(), ll.end()) - ll.begin());
  };
  int snps = 0, snp_right = 0, refs = 0, ref_right = 0, indels = 0;
  for (const auto& c : R.candidates) {
    for (double x : c.snp_gl) ASSERT_TRUE(std::isfinite(x));
    if (c.label == gt_het_snp || c.label == gt_hom_snp) {
      ++snps;
      snp_right += argmax(c.snp_gl) == (c.label == gt_het_snp ? 1 : 2);
    } else if (c.label == gt_ref && c.ref_base != 'N') {
      ++refs;
      ref_right += argmax(c.snp_gl) == 0;
    }
    if (!c.indel_alt.empty()) {
      ++indels;
      const int n = c.depth, k = std::min(c.indel_count, c.depth);
      const double e = 0.01;
      EXPECT_NEAR(c.indel_gl[0], k * std::log(e) + (n - k) * std::log(1 - e), 1e-9);
      EXPECT_NEAR(c.indel_gl[1], n * std::log(0.5), 1e-9);
      EXPECT_NEAR(c.indel_gl[2], k * std::log(1 - e) + (n - k) * std::log(e), 1e-9);
    } else {
      for (double x : c.indel_gl) EXPECT_EQ(x, 0.0);
    }
  }
  ASSERT_GT(snps, 20);
  ASSERT_GT(refs, 5);
  EXPECT_GE(snp_right, snps - 1);
  EXPECT_GE(ref_right, refs * 8 / 10);
  EXPECT_GT(indels, 8);
}

TEST(CallEvaluate, CountsTpFpFnAndGenotypes) {
  std::vector<io::VcfVariant> truth{{"c", 10, "A", "G", 1, 0}, {"c", 20, "AT", "A", 2, 0},
                                    {"c", 30, "C", "CTT", 1, 0}, {"c", 99, "A", "T", 1, 0}};
  std::vector<io::VcfVariant> calls{{"c", 10, "A", "G", 2, 0},        // TP, wrong genotype
                                    {"c", 20, "ATT", "AT", 2, 0},     // TP after trimming
                                    {"c", 40, "G", "T", 1, 0},        // FP
                                    {"c", 99, "A", "T", 1, 0}};       // outside the region
  const auto m = evaluate_calls(calls, truth, {io::Region{"c", 0, 50}});
  EXPECT_EQ(m.snp.tp, 1);
  EXPECT_EQ(m.snp.fp, 1);
  EXPECT_EQ(m.snp.fn, 0);
  EXPECT_EQ(m.indel.tp, 1);
  EXPECT_EQ(m.indel.fn, 1);
  EXPECT_EQ(m.indel.fp, 0);
  EXPECT_DOUBLE_EQ(m.genotype_concordance(), 0.5);
  EXPECT_DOUBLE_EQ(m.snp.f1(), 2.0 / 3.0);
}

// ---- the joint gradient ------------------------------------------------------------------------

TEST(CallJointGradient, MatchesFiniteDifferencesThroughAllOperators) {
  const auto truth = io::read_vcf(truth_path);
  CallerModelConfig mc;
  mc.window = 1;
  mc.hidden = 6;
  mc.pileup.max_offset = 1;
  std::vector<CandidateRegion> regions{
      find_candidates(bam, ref, io::parse_region("lambda:2001-3500"), {}, {}, 2)};
  label_candidates(regions[0], truth);
  ASSERT_GT(regions[0].candidates.size(), 10u);
  CallerModel m = initial_caller_model(mc, 3);
  std::vector<double> g;
  const double l0 = caller_loss_and_gradient(m, regions, &g);
  ASSERT_TRUE(std::isfinite(l0));
  // Pileup block: θ_b, log a, θ_m, log c, γ, ℓ_{-1}, ℓ_0, ℓ_1; then some classifier weights.
  std::vector<std::size_t> idx{0, 1, 2, 3, 4, 5, 6, 7, 8, 30, m.parameters.size() - 1};
  for (std::size_t i : idx) {
    const double h = 1e-5 * std::max(1.0, std::abs(m.parameters[i]));
    CallerModel p = m, q = m;
    p.parameters[i] += h;
    q.parameters[i] -= h;
    const double fd = (caller_loss_and_gradient(p, regions, nullptr) -
                       caller_loss_and_gradient(q, regions, nullptr)) / (2 * h);
    EXPECT_NEAR(g[i], fd, 1e-6 + 1e-4 * std::abs(fd)) << "parameter " << i;
  }
  // The upstream gradient is not trivially zero (the loss reaches the pileup).
  double up = 0;
  for (int i = 0; i < 8; ++i) up += std::abs(g[static_cast<std::size_t>(i)]);
  EXPECT_GT(up, 1e-6);
  // Frozen upstream: pileup block exactly zero, classifier block unchanged.
  std::vector<double> gf;
  caller_loss_and_gradient(m, regions, &gf, /*freeze_upstream=*/true);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(gf[static_cast<std::size_t>(i)], 0.0);
  for (std::size_t i = 8; i < g.size(); ++i) EXPECT_NEAR(gf[i], g[i], 1e-12);
}

// ---- training on the small data set -----------------------------------------------------------

double bcftools_f1(const fs::path& dir, double* snp_f1, double* indel_f1) {
  const std::string out = (dir / "bcftools.vcf.gz").string();
  const std::string cmd = "bcftools mpileup -f " + ref + " -r lambda:10001-20000 " + bam +
                          " 2>/dev/null | bcftools call -mv 2>/dev/null | bcftools norm -f " + ref +
                          " -Oz -o " + out + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return -1;
  const auto m = evaluate_calls(io::read_vcf(out), io::read_vcf(truth_path), {test_region()});
  *snp_f1 = m.snp.f1();
  *indel_f1 = m.indel.f1();
  return m.all.f1();
}

TEST(CallTraining, ImprovesHeldOutF1AndReachesFloor) {
  static Comm comm;  // one-rank world (test binaries are not started under mpiexec)
  const auto truth = io::read_vcf(truth_path);
  CallerModelConfig mc;  // window 0, hidden 16, soft pileup with k = 1
  std::vector<CandidateRegion> train{find_candidates(bam, ref, train_region(), {}, {}, 1)};
  label_candidates(train[0], truth);
  const CandidateRegion held = find_candidates(bam, ref, test_region(), {}, {}, 1);
  auto held_f1 = [&](const CallerModel& m) {
    return evaluate_calls(as_variants(predict_calls(m, held)), truth, {held.region});
  };
  // The untrained start of the issue: hard pileup + untrained head.
  CallerModelConfig hard = mc;
  hard.pileup.hard = true;
  const auto before = held_f1(initial_caller_model(hard, 1));
  CallerModel m = initial_caller_model(mc, 1);
  const auto upstream0 = m.block(m.block_names[0]);
  CallerTrainConfig tc;
  tc.epochs = 300;
  tc.optimizer.learning_rate = 0.02;
  tc.eval_every = 300;
  const auto hist = train_variant_caller(m, train, {&truth}, tc, comm);
  ASSERT_EQ(hist.size(), 300u);
  EXPECT_LT(hist.back().loss, 0.5 * hist.front().loss);
  const auto after = held_f1(m);
  double b_snp = 0, b_indel = 0;
  const auto d = temp_dir("train");
  const double b_all = bcftools_f1(d, &b_snp, &b_indel);
  std::printf("held-out: untrained %s\n          trained   %s\n          bcftools  F1 %.4f (SNP %.4f, indel %.4f)\n",
              before.summary().c_str(), after.summary().c_str(), b_all, b_snp, b_indel);
  EXPECT_GT(after.all.f1(), before.all.f1() + 0.3);
  // Floors (measured: SNP 1.0, indel ≥ 0.95 on this data); bcftools' held-out F1 minus a small
  // margin, since 10 kb hold only ~50 variants (one site is 2 % of F1).
  EXPECT_GE(after.snp.f1(), 0.95);
  EXPECT_GE(after.indel.f1(), 0.85);
  EXPECT_GE(after.genotype_concordance(), 0.9);
  if (b_all >= 0) EXPECT_GE(after.all.f1(), b_all - 0.03);
  // Joint training moved the upstream parameters.
  const auto upstream = m.block(m.block_names[0]);
  double moved = 0;
  for (std::size_t i = 0; i < upstream.size(); ++i) moved += std::abs(upstream[i] - upstream0[i]);
  EXPECT_GT(moved, 0.1);
  // Checkpoint round trip gives the same calls.
  const std::string h5 = (d / "model.h5").string();
  save_caller_model(h5, m);
  const CallerModel back = load_caller_model(h5);
  EXPECT_EQ(back.parameters, m.parameters);
  EXPECT_EQ(predict_calls(back, held).size(), predict_calls(m, held).size());
  // A seed ensemble calls from the mean posteriors: {m, m} is m; {m, untrained} calls exactly the
  // sites whose averaged P(ref) is below 1/2 (and that have an allele to report).
  const auto single = predict_calls(m, held);
  const auto twice = predict_calls(std::vector<CallerModel>{m, m}, held);
  ASSERT_EQ(twice.size(), single.size());
  for (std::size_t i = 0; i < single.size(); ++i) {
    EXPECT_EQ(twice[i].pos, single[i].pos);
    EXPECT_EQ(twice[i].alt, single[i].alt);
    EXPECT_EQ(twice[i].dosage, single[i].dosage);
  }
  const CallerModel u = initial_caller_model(mc, 7);
  const auto pm = caller_posteriors(m, held), pu = caller_posteriors(u, held);
  std::set<std::int64_t> expect_sites;
  for (std::size_t b = 0; b < held.candidates.size(); ++b)
    if (0.5 * (pm[b * n_genotype_classes] + pu[b * n_genotype_classes]) < 0.5)
      expect_sites.insert(held.candidates[b].pos);
  const auto mixed = predict_calls(std::vector<CallerModel>{m, u}, held);
  ASSERT_FALSE(mixed.empty());
  for (const auto& c : mixed) EXPECT_EQ(expect_sites.count(c.pos), 1u) << c.pos;
  EXPECT_GE(mixed.size(), expect_sites.size() * 9 / 10);  // only sites without an allele drop out
  EXPECT_THROW(predict_calls(std::vector<CallerModel>{}, held), Error);
  fs::remove_all(d);
}

TEST(CallInputs, BadFilesAndRegionsAreInputErrors) {
  const auto d = temp_dir("inputs");
  // Missing index
  fs::copy_file(bam, d / "noindex.bam");
  Error e = catch_error([&] { find_candidates((d / "noindex.bam").string(), ref, train_region(), {}, {}, 1); });
  EXPECT_EQ(e.code(), ExitCode::input_error) << e.what();
  // Contig absent from the reference / BAM
  e = catch_error([&] { find_candidates(bam, ref, io::parse_region("chrX:1-100"), {}, {}, 1); });
  EXPECT_EQ(e.code(), ExitCode::input_error) << e.what();
  // Empty region
  e = catch_error([&] { find_candidates(bam, ref, io::parse_region("lambda:200-100"), {}, {}, 1); });
  EXPECT_EQ(e.code(), ExitCode::input_error) << e.what();
  // Not a model
  std::ofstream(d / "junk.h5") << "junk";
  e = catch_error([&] { load_caller_model((d / "junk.h5").string()); });
  EXPECT_EQ(e.code(), ExitCode::input_error) << e.what();
  fs::remove_all(d);
}

}  // namespace
