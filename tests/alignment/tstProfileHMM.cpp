// SPDX-License-Identifier: BSD-3-Clause
// Verification of ProfileHMM on the backend this binary is compiled for:
//   - gradient kit (finite differences, Taylor, dot-product with the dual-number forward) in all
//     four Plan7 modes, smooth and hard, residue and profile input;
//   - ADOL-C oracle on the plain serial log-space reference;
//   - backend vs Serial, float vs double, += contract, padding and length-1 sequences;
//   - posterior decoding: rows sum to one, hard mode is the Viterbi path, consistency with counts;
//   - agreement with HMMER 3 on Pfam models and real proteins: hmmsearch's bit scores (Forward)
//     and HMMER's library (Viterbi, glocal modes, posterior decoding).
#include <DiffBio_AdolcOracle.hpp>
#include <DiffBio_TestBackend.hpp>

#include "DiffBio_HmmerTestData.hpp"
#include "DiffBio_ProfileHMMCases.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

using namespace diffbio;
using namespace diffbio::test;

namespace {

const Plan7Mode kModes[] = {Plan7Mode::multilocal, Plan7Mode::unilocal, Plan7Mode::multiglocal,
                            Plan7Mode::uniglocal};

void expect_all_checks(const Differentiable& f, bool hard = false) {
  auto fd = check_finite_differences(f);
  EXPECT_TRUE(fd.passed) << fd.detail;
  if (!hard) {  // the Viterbi score is piecewise linear: Taylor remainders are at rounding level
    auto ty = taylor_test(f);
    EXPECT_TRUE(ty.passed) << ty.detail;
  }
  auto dp = dot_product_test(f);
  EXPECT_TRUE(dp.passed) << dp.detail;
}

using Exec = TEST_EXECSPACE;
using Mem = Exec::memory_space;

}  // namespace

// ------------------------------------------------------------------------- gradients

TEST(ProfileHMM, GradientKitPassesInEveryMode) {
  for (Plan7Mode m : kModes)
    for (double tau : {1.0, 0.6}) {
      ProfileHMMCase<Exec> c(HmmCaseData(3), m, tau, false);
      expect_all_checks(c.differentiable(c.point(11)));
    }
}

TEST(ProfileHMM, GradientKitPassesForProfileInput) {
  for (Plan7Mode m : {Plan7Mode::multilocal, Plan7Mode::uniglocal}) {
    ProfileHMMCase<Exec> c(HmmCaseData(4), m, 1.0, true);
    expect_all_checks(c.differentiable(c.point(12)));
  }
}

TEST(ProfileHMM, ViterbiGradientIsPathCounts) {
  // τ = 0: piecewise linear in the parameters; away from ties finite differences are exact.
  for (Plan7Mode m : kModes) {
    ProfileHMMCase<Exec> c(HmmCaseData(5), m, 0.0, false);
    expect_all_checks(c.differentiable(c.point(13)), /*hard=*/true);
    // Every transition gradient of a single sequence's Viterbi score is an integer count (the
    // emission ones are too, except through the fractional weights of degenerate codes).
    const Vec x = c.point(13);
    Vec ybar(2 * c.d.B, 0.0);
    ybar[0] = 1.0;
    const Vec g = c.adjoint(x, ybar);
    for (int i = 0; i < 8 * c.d.M; ++i) EXPECT_EQ(g[i], std::nearbyint(g[i])) << "slot " << i;
  }
}

TEST(ProfileHMM, AdolcOracleAgrees) {
  short tag = 1;
  for (Plan7Mode m : kModes)
    for (double tau : {1.0, 0.0})
      for (bool prof : {false, true}) {
        ProfileHMMCase<Exec> c(HmmCaseData(6), m, tau, prof);
        const Vec x = c.point(14);
        const Vec y = c.forward(x);
        Vec ybar = random_vector(y.size(), 99);
        auto ref = [&](const auto& xs) { return c.reference(xs); };
        // Reference output = scores only; fold the bits seed into it (bits = (score − null)/ln 2).
        Vec ybar_s(ybar.begin(), ybar.begin() + c.d.B);
        for (int b = 0; b < c.d.B; ++b) ybar_s[b] += ybar[c.d.B + b] / std::log(2.0);
        const auto oracle = adolc_vjp(ref, x, ybar_s, tag++);
        const std::string what = c.differentiable(x).name;
        auto fw = compare(Vec(y.begin(), y.begin() + c.d.B), oracle.y, 1e-12, 1e-12,
                          what + ": forward vs serial reference");
        EXPECT_TRUE(fw.passed) << fw.detail;
        for (int b = 0; b < c.d.B; ++b) {
          const double bits =
              c.d.length[b] == 0
                  ? 0.0
                  : (oracle.y[b] - ProfileHMM<double, Exec>::null1(c.d.length[b])) / std::log(2.0);
          EXPECT_NEAR(y[c.d.B + b], bits, 1e-11) << what << " bits of sequence " << b;
        }
        auto bw =
            compare(c.adjoint(x, ybar), oracle.xbar, 1e-10, 1e-12, what + ": adjoint vs ADOL-C");
        EXPECT_TRUE(bw.passed) << bw.detail;
      }
}

// ------------------------------------------------------------------------- backends, types

TEST(ProfileHMM, BackendEqualsSerial) {
  ReductionMode det;
  det.deterministic = true;
  for (bool prof : {false, true}) {
    HmmCaseData data(7, 9, 37, 30);  // 37 sequences: several lane groups and a ragged last one
    ProfileHMMCase<Exec> here(data, Plan7Mode::multilocal, 1.0, prof, det);
    ProfileHMMCase<Kokkos::Serial> serial(data, Plan7Mode::multilocal, 1.0, prof, det);
    const Vec x = here.point(15);
    const Vec ybar = random_vector(2 * data.B, 5);
    // Each score is computed by one work item with the same arithmetic: bitwise equal.
    EXPECT_TRUE(bitwise_equal(here.forward(x), serial.forward(x)));
    EXPECT_TRUE(bitwise_equal(here.adjoint(x, ybar), serial.adjoint(x, ybar)));
    // Posterior decoding too.
    auto ph = here.run_forward<double>(
        x, [&](std::size_t i) { return x[i]; }, true);
    auto ps = serial.run_forward<double>(
        x, [&](std::size_t i) { return x[i]; }, true);
    EXPECT_TRUE(bitwise_equal(flatten(ph.out.match_posterior), flatten(ps.out.match_posterior)));
    EXPECT_TRUE(bitwise_equal(flatten(ph.out.flank_posterior), flatten(ps.out.flank_posterior)));
    ProfileHMMCase<Exec> fast(data, Plan7Mode::multilocal, 1.0, prof);
    // Deterministic mode rounds each sequence's contribution to the 2^-36 grid.
    auto cmp = compare(fast.adjoint(x, ybar), serial.adjoint(x, ybar), 1e-11,
                       data.B * std::ldexp(1.0, -36), "fast mode vs serial deterministic");
    EXPECT_TRUE(cmp.passed) << cmp.detail;
  }
}

TEST(ProfileHMM, FloatMatchesDouble) {
  HmmCaseData data(8, 12, 20, 40);
  ProfileHMMCase<Exec> c(data, Plan7Mode::multilocal, 1.0, false);
  const Vec x = c.point(16);
  const Vec yd = c.forward(x);
  Vec ybar(yd.size(), 0.0);
  for (int b = 0; b < data.B; ++b) ybar[b] = 1.0;
  const Vec gd = c.adjoint(x, ybar);

  ProfileHMMConfig cfg;
  ProfileHMM<float, Exec> op(data.M, data.bg, cfg, data.code_w);
  typename ProfileHMM<float, Exec>::Inputs in;
  in.residues = to_view<Kokkos::View<std::uint8_t**, Mem>>(data.residues, data.B, data.L);
  in.length = to_view<Kokkos::View<int*, Mem>>(data.length, data.B);
  auto params = to_view<Kokkos::View<float*, Mem>>(x, x.size());
  auto out = op.allocate_outputs(in);
  typename ProfileHMM<float, Exec>::Workspace ws;
  op.forward(Exec(), params, in, out, ws);
  Kokkos::View<float*, Mem> ds("ds", data.B);
  Kokkos::deep_copy(ds, 1.0f);
  Kokkos::View<double*, Mem> dp("dp", op.n_params());
  op.adjoint(Exec(), params, in, ws, {ds, {}}, {}, dp);
  // float parameters, double accumulation: scores to float rounding of the inputs.
  auto fw =
      compare(flatten(out.score), Vec(yd.begin(), yd.begin() + data.B), 1e-5, 1e-5, "float scores");
  EXPECT_TRUE(fw.passed) << fw.detail;
  auto bw = compare(flatten(dp), gd, 1e-4, 1e-5, "float gradients");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(ProfileHMM, AdjointAccumulates) {
  ProfileHMMCase<Exec> c(HmmCaseData(9), Plan7Mode::multilocal, 1.0, true);
  const Vec x = c.point(17);
  const Vec ybar = random_vector(2 * c.d.B, 4);
  const Vec once = c.adjoint(x, ybar);
  // Same buffers twice: the contract is +=.
  auto r = c.run_forward<double>(x, [&](std::size_t i) { return x[i]; });
  typename ProfileHMM<double, Exec>::OutputGrads dout{
      to_view<Kokkos::View<double*, Mem>>(Vec(ybar.begin(), ybar.begin() + c.d.B), c.d.B), {}};
  Vec ys(2 * c.d.B, 0.0);
  for (int b = 0; b < c.d.B; ++b) ys[b] = ybar[b];
  const Vec ref = c.adjoint(x, ys);
  Kokkos::View<double*, Mem> dp("dp", c.n_params());
  Kokkos::View<double***, Mem> dq("dq", c.d.B, c.d.L, c.d.K);
  r.op.adjoint(Exec(), r.params, r.in, r.ws, dout, {dq}, dp);
  r.op.adjoint(Exec(), r.params, r.in, r.ws, dout, {dq}, dp);
  Vec twice = flatten(dq), tp = flatten(dp);
  twice.insert(twice.end(), tp.begin(), tp.end());
  ASSERT_EQ(twice.size(), ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i)
    EXPECT_NEAR(twice[i], 2 * ref[i], 1e-12 * (1 + std::fabs(ref[i])));
  (void)once;
}

namespace {

struct PosteriorRun {
  Vec match, insert, flank;  // [B×L×M], [B×L], [B×L]
};

template <class E>
PosteriorRun posteriors(const ProfileHMMCase<E>& c, const Vec& x) {
  auto r = c.template run_forward<double>(
      x, [&](std::size_t i) { return x[i]; }, true);
  return {flatten(r.out.match_posterior), flatten(r.out.insert_posterior),
          flatten(r.out.flank_posterior)};
}

}  // namespace

namespace {
std::vector<std::string>& seen_labels() {
  static std::vector<std::string> names;
  return names;
}
void on_kernel(const char* name, const std::uint32_t, std::uint64_t*) {
  seen_labels().emplace_back(name);
}
void on_alloc(const Kokkos::Profiling::SpaceHandle, const char* name, const void*,
              const std::uint64_t) {
  seen_labels().emplace_back(name);
}
}  // namespace

TEST(ProfileHMM, EveryKernelAndAllocationIsLabelledDiffBio) {
  namespace KT = Kokkos::Tools::Experimental;
  seen_labels().clear();
  KT::set_begin_parallel_for_callback(on_kernel);
  KT::set_begin_parallel_reduce_callback(on_kernel);
  KT::set_allocate_data_callback(on_alloc);
  for (bool prof : {false, true})
    for (double tau : {1.0, 0.0}) {
      ProfileHMMCase<Exec> c(HmmCaseData(31), Plan7Mode::multilocal, tau, prof);
      const Vec x = c.point(3);
      c.adjoint(x, c.forward(x));
      posteriors(c, x);
    }
  KT::set_begin_parallel_for_callback(nullptr);
  KT::set_begin_parallel_reduce_callback(nullptr);
  KT::set_allocate_data_callback(nullptr);
  int ours = 0;
  for (const auto& n : seen_labels()) {
    if (n.rfind("DiffBio::", 0) == 0) {
      ours += n.find("ProfileHMM") != std::string::npos;
      continue;
    }
    // Kokkos' helpers carry the View label in brackets; raw reduction scratch is unlabeled.
    EXPECT_TRUE(n.rfind("Kokkos::", 0) == 0 || n.empty() || n == "[unlabeled]")
        << "label '" << n << "'";
  }
  EXPECT_GT(ours, 10);
}

// ------------------------------------------------------------------------- padding, posteriors

TEST(ProfileHMM, EmptyAndLengthOneSequences) {
  for (Plan7Mode m : kModes)
    for (double tau : {1.0, 0.0}) {
      HmmCaseData data(10);
      data.length = {0, 1, 0, 1, 7};
      ProfileHMMCase<Exec> c(data, m, tau, true);
      const Vec x = c.point(18);
      const Vec y = c.forward(x);
      const Vec yr = c.reference(x);
      for (int b = 0; b < data.B; ++b) {
        if (data.length[b] == 0) {
          EXPECT_EQ(y[b], 0.0);
          EXPECT_EQ(y[data.B + b], 0.0);
        } else {
          EXPECT_NEAR(y[b], yr[b], 1e-12);
        }
      }
      const Vec g = c.adjoint(x, Vec(y.size(), 1.0));
      for (double v : g) EXPECT_TRUE(std::isfinite(v));
      // Profile gradient of padding positions and of empty sequences is exactly zero.
      for (int b = 0; b < data.B; ++b)
        for (int p = data.length[b]; p < data.L; ++p)
          for (int a = 0; a < data.K; ++a) EXPECT_EQ(g[(b * data.L + p) * data.K + a], 0.0);
    }
  // All-padding batch.
  HmmCaseData data(11);
  data.length.assign(data.B, 0);
  ProfileHMMCase<Exec> c(data, Plan7Mode::multilocal, 1.0, false);
  const Vec x = c.point(19);
  for (double v : c.forward(x)) EXPECT_EQ(v, 0.0);
  for (double v : c.adjoint(x, Vec(2 * data.B, 1.0))) EXPECT_EQ(v, 0.0);
}

TEST(ProfileHMM, PosteriorRowsSumToOne) {
  for (Plan7Mode m : kModes)
    for (double tau : {1.0, 0.0}) {
      HmmCaseData data(12, 6, 9, 25);
      ProfileHMMCase<Exec> c(data, m, tau, false);
      const Vec x = c.point(20);
      const auto p = posteriors(c, x);
      for (int b = 0; b < data.B; ++b)
        for (int i = 0; i < data.length[b]; ++i) {
          double s = p.insert[b * data.L + i] + p.flank[b * data.L + i];
          for (int k = 0; k < data.M; ++k) {
            const double v = p.match[(b * data.L + i) * data.M + k];
            EXPECT_GE(v, -1e-15);
            if (tau == 0.0) {
              EXPECT_TRUE(v == 0.0 || v == 1.0) << "hard posterior " << v;
            }
            s += v;
          }
          EXPECT_NEAR(s, 1.0, 1e-12) << "sequence " << b << " residue " << i;
        }
    }
}

TEST(ProfileHMM, PosteriorsAreTheEmissionCounts) {
  // Σ_i P(M_k emits i) = Σ_a ∂V/∂s^M_ka (expected emissions of M_k) for every node and sequence.
  HmmCaseData data(13, 6, 6, 20);
  ProfileHMMCase<Exec> c(data, Plan7Mode::multiglocal, 1.0, false);
  const Vec x = c.point(21);
  const auto p = posteriors(c, x);
  for (int b = 0; b < data.B; ++b) {
    Vec ybar(2 * data.B, 0.0);
    ybar[b] = 1.0;
    const Vec g = c.adjoint(x, ybar);
    for (int k = 1; k <= data.M; ++k) {
      double post = 0, grad = 0;
      for (int i = 0; i < data.length[b]; ++i) post += p.match[(b * data.L + i) * data.M + k - 1];
      for (int a = 0; a < data.K; ++a) grad += g[data.M * 8 + (k - 1) * data.K + a];
      EXPECT_NEAR(post, grad, 1e-12);
    }
  }
}

TEST(ProfileHMM, SmoothApproachesViterbiAsTemperatureVanishes) {
  HmmCaseData data(14, 6, 6, 20);
  ProfileHMMCase<Exec> hard(data, Plan7Mode::multilocal, 0.0, false);
  const Vec x = hard.point(22);
  const Vec yh = hard.forward(x);
  // V_τ = τ·log Σ_paths e^{S/τ} decreases with τ towards max S = V_0, and
  // 0 <= V_τ − V_0 <= τ·log(#paths) with #paths < 3^(L·M) here.
  Vec prev(data.B, 1e300);
  for (double tau : {0.5, 0.2, 0.05, 0.02}) {
    ProfileHMMCase<Exec> soft(data, Plan7Mode::multilocal, tau, false);
    const Vec ys = soft.forward(x);
    for (int b = 0; b < data.B; ++b) {
      if (data.length[b] == 0) continue;
      EXPECT_GE(ys[b] - yh[b], -1e-9) << "tau " << tau;
      EXPECT_LE(ys[b] - yh[b], tau * data.L * data.M * std::log(3.0)) << "tau " << tau;
      EXPECT_LT(ys[b], prev[b]) << "tau " << tau;
      prev[b] = ys[b];
    }
  }
  ProfileHMMCase<Exec> tiny(data, Plan7Mode::multilocal, 1e-3, false);
  const auto e = [&] {
    try {
      tiny.forward(x);
    } catch (const Error& err) {
      return std::string(err.what());
    }
    return std::string();
  }();
  EXPECT_NE(e.find("temperature"), std::string::npos) << "tau = 1e-3 must be refused: " << e;
}

// ------------------------------------------------------------------------- HMMER

namespace {

struct Batch {
  std::vector<std::uint8_t> codes;
  std::vector<int> length;
  int L = 0;
};

Batch encode_batch(const std::vector<SeqRecord>& db, const io::HmmerAlphabet& alpha) {
  Batch bt;
  for (const auto& s : db) bt.L = std::max<int>(bt.L, static_cast<int>(s.seq.size()));
  bt.codes.assign(db.size() * bt.L, 0);
  for (std::size_t i = 0; i < db.size(); ++i) {
    const auto c = alpha.encode(db[i].seq, db[i].name);
    std::copy(c.begin(), c.end(), bt.codes.begin() + i * bt.L);
    bt.length.push_back(static_cast<int>(c.size()));
  }
  return bt;
}

/// Scores (nats) and bit scores of every sequence of `db` under a .hmm model.
std::pair<Vec, Vec> operator_scores(const io::HmmerModel& model, const std::vector<SeqRecord>& db,
                                    Plan7Mode mode, double tau) {
  ProfileHMMConfig cfg;
  cfg.mode = mode;
  cfg.temperature = tau;
  auto op = ProfileHMM<double, Exec>::from_hmmer(model, cfg);
  const Batch bt = encode_batch(db, model.alphabet);
  typename ProfileHMM<double, Exec>::Inputs in;
  const int B = static_cast<int>(db.size());
  in.residues = to_view<Kokkos::View<std::uint8_t**, Mem>>(bt.codes, B, bt.L);
  in.length = to_view<Kokkos::View<int*, Mem>>(bt.length, B);
  in.order = to_view<Kokkos::View<int*, Mem>>(ProfileHMM<double, Exec>::length_order(bt.length), B);
  auto params = to_view<Kokkos::View<double*, Mem>>(op.initial_params(), op.n_params());
  auto out = op.allocate_outputs(in);
  typename ProfileHMM<double, Exec>::Workspace ws;
  op.forward(Exec(), params, in, out, ws);
  return {flatten(out.score), flatten(out.bits)};
}

// Unique per process: ctest runs the OpenMP binary at 1 and 2 threads concurrently.
std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "diffbio_hmm_" DIFFBIO_TEST_BACKEND_NAME "_" +
         std::to_string(::getpid()) + "_" + name;
}

std::string oracle_binary() { return DIFFBIO_HMMER_ORACLE; }

}  // namespace

// hmmsearch's per-sequence bit score with --max (all filters off) and --nonull2 (no composition
// bias correction) is (Forward − null1)/ln 2, printed to 0.1 bit — or, rarely, the sum of its
// domain scores when that is larger (p7_pipeline's "sum_score override"); see
// ADJOINT_ProfileHMM.md. Both are checked, the override through --domtblout.
TEST(ProfileHMM, ForwardBitScoresMatchHmmsearch) {
  if (!have_command("hmmsearch"))
    FAIL() << "hmmsearch (Debian package hmmer) is required: run cmake/setup-deps.sh";
  if (!file_exists(hmmer_tutorial("Pkinase.hmm")))
    FAIL() << "the Pfam example models (Debian package hmmer-examples) are required: run "
              "cmake/setup-deps.sh";
  const auto db = protein_test_database();
  const std::string fasta = temp_path("db.fa");
  write_fasta(fasta, db);
  int compared_total = 0, overridden_total = 0;
  double worst = 0;
  for (const char* name : {"Pkinase", "fn3", "globins4"}) {
    const std::string hmm = hmmer_tutorial(std::string(name) + ".hmm");
    const std::string tbl = temp_path(std::string(name) + ".tbl");
    const std::string dtbl = temp_path(std::string(name) + ".domtbl");
    run_command("hmmsearch --max --nonull2 -T -1000 --domT -1000 --cpu 0 -o /dev/null --tblout " +
                tbl + " --domtblout " + dtbl + " " + hmm + " " + fasta);
    const auto hits = parse_tblout(tbl);
    const auto doms = parse_domtblout(dtbl);
    const auto model = io::read_hmmer3_model(hmm);
    const auto [score, bits] = operator_scores(model, db, Plan7Mode::multilocal, 1.0);
    int compared = 0, overridden = 0;
    for (std::size_t i = 0; i < db.size(); ++i) {
      auto it = hits.find(db[i].name);
      if (it == hits.end()) continue;  // no domain found: hmmsearch does not report it
      ++compared;
      EXPECT_EQ(it->second.bias, 0.0) << "--nonull2 must leave no bias";
      const double reported = it->second.score;
      // printed with %.1f: |ours − printed| <= 0.05 plus float rounding inside HMMER
      if (std::fabs(bits[i] - reported) <= 0.05 + 2e-3) {
        worst = std::max(worst, std::fabs(bits[i] - reported));
        continue;
      }
      // sum_score override: Σ_{domains, envsc > 0} envsc + (n − Ld)·log(n/(n+3)), envsc from the
      // domain bit scores (each printed to 0.1 bit).
      const int n = static_cast<int>(db[i].seq.size());
      const double null = ProfileHMM<double, Exec>::null1(n);
      double sum = 0;
      int Ld = 0, nd = 0;
      auto dit = doms.find(db[i].name);
      if (dit != doms.end())
        for (const auto& d : dit->second) {
          const double envsc = d.score * std::log(2.0) + null;
          if (envsc > 0) {
            sum += envsc;
            Ld += d.env_to - d.env_from + 1;
            ++nd;
          }
        }
      sum += (n - Ld) * std::log(static_cast<double>(n) / (n + 3));
      const double pre2 = (sum - null) / std::log(2.0);
      const bool is_override =
          Ld > 0 && reported > bits[i] && std::fabs(pre2 - reported) <= 0.05 * (nd + 1) + 2e-3;
      EXPECT_TRUE(is_override) << name << " / " << db[i].name << ": operator " << bits[i]
                               << " bits, hmmsearch " << reported;
      overridden += is_override;
    }
    EXPECT_GT(compared, 100) << name << ": too few sequences reported by hmmsearch";
    compared_total += compared;
    overridden_total += overridden;
    std::remove(tbl.c_str());
    std::remove(dtbl.c_str());
  }
  std::printf(
      "[ hmmsearch ] %d per-sequence bit scores compared (worst |diff| %.3f bit vs the printed "
      "0.1-bit value), %d sum-score overrides\n",
      compared_total, worst, overridden_total);
  std::remove(fasta.c_str());
}

// HMMER's own library (the oracle program): unrounded scores of p7_GViterbi (exact max-plus) in
// all four modes, p7_ForwardParser (what hmmsearch uses) in the local modes and p7_GForward
// (table-driven logsum, ~1e-4 nats per cell of bias) in the glocal ones.
TEST(ProfileHMM, ViterbiAndForwardMatchHmmerLibrary) {
  const std::string oracle = oracle_binary();
  if (oracle.empty())
    FAIL() << "the HMMER library oracle was not built (HMMER's libhmmer/libeasel not found at "
              "configure time): run cmake/setup-deps.sh and reconfigure";
  const auto db = protein_test_database();
  const std::string fasta = temp_path("oracle_db.fa");
  write_fasta(fasta, db);
  const char* mode_names[] = {"fs", "sw", "ls", "s"};
  double worst_vit = 0, worst_fwd = 0, worst_gfwd_rel = 0;
  for (const char* name : {"Pkinase", "globins4"}) {
    const std::string hmm = hmmer_tutorial(std::string(name) + ".hmm");
    const auto model = io::read_hmmer3_model(hmm);
    for (int mi = 0; mi < 4; ++mi) {
      const Plan7Mode mode = kModes[mi];
      const auto orc =
          parse_oracle(run_command(oracle + " " + hmm + " " + fasta + " " + mode_names[mi]));
      ASSERT_EQ(orc.size(), db.size());
      const auto vit = operator_scores(model, db, mode, 0.0).first;
      const auto fwd = operator_scores(model, db, mode, 1.0).first;
      for (std::size_t i = 0; i < db.size(); ++i) {
        const auto& o = orc.at(db[i].name);
        // float profile scores and float DP inside HMMER: ~1e-6 relative per term
        const double tol = 2e-3 + 2e-6 * (std::fabs(o.viterbi) + db[i].seq.size());
        EXPECT_NEAR(vit[i], o.viterbi, tol)
            << name << " " << mode_names[mi] << " Viterbi " << db[i].name;
        worst_vit = std::max(worst_vit, std::fabs(vit[i] - o.viterbi));
        if (mi < 2) {
          EXPECT_NEAR(fwd[i], o.forward, tol)
              << name << " " << mode_names[mi] << " Forward " << db[i].name;
          worst_fwd = std::max(worst_fwd, std::fabs(fwd[i] - o.forward));
        } else {
          // p7_GForward's table logsum overestimates each log-sum by < 1e-3·|d/dx log(1+e^-x)|;
          // the error grows with the number of cells but stays far below 0.05 bit per 100 aa.
          const double gtol = 0.02 + 2e-4 * db[i].seq.size();
          EXPECT_NEAR(fwd[i], o.gforward, gtol)
              << name << " " << mode_names[mi] << " Forward " << db[i].name;
          worst_gfwd_rel =
              std::max(worst_gfwd_rel, std::fabs(fwd[i] - o.gforward) / db[i].seq.size());
        }
        EXPECT_NEAR((ProfileHMM<double, Exec>::null1(o.L)), o.null1, 1e-5);
      }
    }
  }
  std::printf(
      "[ HMMER lib ] worst |Viterbi| diff %.2e nats, |Forward (local)| %.2e nats, "
      "glocal p7_GForward diff %.2e nats/residue\n",
      worst_vit, worst_fwd, worst_gfwd_rel);
  std::remove(fasta.c_str());
}

TEST(ProfileHMM, PosteriorDecodingMatchesHmmerLibrary) {
  const std::string oracle = oracle_binary();
  if (oracle.empty())
    FAIL() << "the HMMER library oracle was not built: run cmake/setup-deps.sh and reconfigure";
  const auto all = protein_test_database();
  // A kinase domain and the full-length sevenless (kinase domain in a 2554-residue protein).
  std::vector<SeqRecord> db;
  for (const auto& s : all)
    if (s.name == "CDC15_YEAST/25-272" || s.name == "7LESS_DROME") db.push_back(s);
  ASSERT_EQ(db.size(), 2u);
  const std::string fasta = temp_path("post.fa");
  write_fasta(fasta, db);
  const std::string hmm = hmmer_tutorial("Pkinase.hmm");
  const auto model = io::read_hmmer3_model(hmm);
  ProfileHMMConfig cfg;
  auto op = ProfileHMM<double, Exec>::from_hmmer(model, cfg);
  const Batch bt = encode_batch(db, model.alphabet);
  typename ProfileHMM<double, Exec>::Inputs in;
  in.residues = to_view<Kokkos::View<std::uint8_t**, Mem>>(bt.codes, 2, bt.L);
  in.length = to_view<Kokkos::View<int*, Mem>>(bt.length, 2);
  auto params = to_view<Kokkos::View<double*, Mem>>(op.initial_params(), op.n_params());
  auto out = op.allocate_outputs(in, true);
  typename ProfileHMM<double, Exec>::Workspace ws;
  op.forward(Exec(), params, in, out, ws);
  auto post = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.match_posterior);
  auto ins = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.insert_posterior);
  auto fl = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.flank_posterior);
  const int M = model.M;
  for (int b = 0; b < 2; ++b) {
    const std::string text =
        run_command(oracle + " " + hmm + " " + fasta + " fs --post '" + db[b].name + "'");
    std::istringstream is(text);
    std::string line;
    std::vector<double> theirs(static_cast<std::size_t>(bt.length[b]) * M, 0.0);
    int rows = 0;
    while (std::getline(is, line)) {
      std::istringstream ls(line);
      std::string tag;
      ls >> tag;
      if (tag == "P") {
        int i, k;
        double v;
        ls >> i >> k >> v;
        theirs[(i - 1) * M + (k - 1)] = v;
      } else if (tag == "S") {
        ++rows;
      }
    }
    ASSERT_EQ(rows, bt.length[b]);
    double worst = 0, mass = 0;
    for (int i = 0; i < bt.length[b]; ++i) {
      double s = ins(b, i) + fl(b, i);
      for (int k = 0; k < M; ++k) {
        const double mine = post(b, i, k);
        s += mine;
        mass += mine;
        worst = std::max(worst, std::fabs(mine - theirs[i * M + k]));
      }
      EXPECT_NEAR(s, 1.0, 1e-10);
    }
    // HMMER decodes in float (values < 1e-7 are not printed)
    EXPECT_LT(worst, 2e-4) << db[b].name;
    EXPECT_GT(mass, 100.0) << db[b].name << ": the kinase domain should be aligned";
    std::printf("[ HMMER lib ] %s: posterior match mass %.2f, worst |diff| vs p7_Decoding %.2e\n",
                db[b].name.c_str(), mass, worst);
  }
  std::remove(fasta.c_str());
}
