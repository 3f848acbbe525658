// SPDX-License-Identifier: BSD-3-Clause
// Verification of DifferentiablePileup on the backend this binary is compiled for: hard mode vs
// samtools mpileup on real alignments, finite differences + Taylor test, dot-product test, ADOL-C
// oracle on a plain serial reference, backend vs Serial (bitwise in deterministic mode), float vs
// double, windows vs whole region, padding / empty-window edge cases.
#include <gtest/gtest.h>

#include <DiffBio_AdolcOracle.hpp>
#include <DiffBio_RefPileup.hpp>
#include <DiffBio_TestBackend.hpp>
#include <cmath>
#include <string>

#include "DiffBio_PileupCases.hpp"
#include "DiffBio_PileupTestUtils.hpp"

using namespace diffbio;
using namespace diffbio::test;

namespace {

using M = TEST_EXECSPACE::memory_space;

void expect_all_checks(const Differentiable& f) {
  auto fd = check_finite_differences(f);
  EXPECT_TRUE(fd.passed) << fd.detail;
  auto ty = taylor_test(f);
  EXPECT_TRUE(ty.passed) << ty.detail;
  auto dp = dot_product_test(f);
  EXPECT_TRUE(dp.passed) << dp.detail;
}

PileupConfig soft(int k) {
  PileupConfig c;
  c.max_offset = k;
  return c;
}

// A real window: reads of the generated data set over a short stretch with an insertion, a
// deletion and a SNP (truth.vcf plants variants every 400 bp from 3,500).
PileupWindow real_window(int halo, const char* region = "lambda:6281-6320") {
  PileupData data;
  io::PileupOptions o;
  o.halo = halo;
  return PileupWindow::from_batch(io::read_pileup(data.bam(), "", io::parse_region(region), o));
}

}  // namespace

// ------------------------------------------------------------------------- hard mode = samtools

// Unit weights with θ_b = 13 reproduce `samtools mpileup -B -Q 13` exactly: depth, A/C/G/T/N,
// deletions, insertion marks and strands at every position of a 12 kb region. The read filters
// (flags, -q, orphans, overlap removal) are the reader's (DiffBio_Bam.hpp).
TEST(Pileup, HardModeEqualsSamtoolsMpileup) {
  PileupData data;
  DIFFBIO_REQUIRE_PILEUP_DATA(data);
  ASSERT_TRUE(have_samtools()) << "samtools (Debian package samtools) is required";
  struct Case {
    std::string opts;
    int min_mapq;
    bool overlap;
    double theta_m;  // operator threshold on MAPQ
  };
  // -q through the reader (it must precede overlap removal, as in samtools), or, without overlap
  // removal, through the operator's own θ_m step.
  for (const Case& c :
       {Case{"-Q 13 -q 20 -d 0", 20, true, -0.5}, Case{"-Q 13 -q 30 -x -d 0", 0, false, 30.0}}) {
    SCOPED_TRACE(c.opts);
    const std::string region = "lambda:3001-15000";
    io::PileupOptions o;
    o.min_mapq = c.min_mapq;
    o.overlap_removal = c.overlap;
    o.window = 4000;
    io::BamPileupReader reader(data.bam(), "", o);
    reader.set_region(region);
    PileupConfig cfg;
    cfg.hard = true;
    DifferentiablePileup<double, TEST_EXECSPACE> op(cfg);
    auto params = to_view<Kokkos::View<double*, M>>(Vec{13.0, 0.0, c.theta_m, 0.0, 0.0, 0.0}, 6);
    auto ws = op.allocate_workspace();
    PileupUploader<TEST_EXECSPACE> up;
    io::PileupBatch b;
    std::map<long, PositionCounts> ours;
    while (reader.next(b)) {
      const auto in = up.upload(TEST_EXECSPACE(), b);
      auto out = DifferentiablePileup<double, TEST_EXECSPACE>::allocate_outputs(in);
      op.forward(TEST_EXECSPACE(), params, in, out, ws);
      auto hc = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.counts);
      auto hs = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.strand);
      for (int s = 0; s < in.positions(); ++s) {
        PositionCounts pc{};
        for (int ch = 0; ch < 7; ++ch) {
          pc[kCh0 + ch] = std::lround(hc(s, ch));
          pc[kDepth] += pc[kCh0 + ch];
          EXPECT_EQ(hc(s, ch), static_cast<double>(pc[kCh0 + ch]));  // unit weights: integers
        }
        pc[kIns] = std::lround(hc(s, 7));
        pc[kFwd] = std::lround(hs(s, 0));
        pc[kRev] = std::lround(hs(s, 1));
        if (pc[kDepth] > 0) ours[b.beg + s] = pc;
      }
    }
    auto theirs = samtools_mpileup(data.bam(), region, c.opts);
    for (auto it = theirs.begin(); it != theirs.end();)
      it = it->second[kDepth] == 0 ? theirs.erase(it) : std::next(it);
    ASSERT_GT(theirs.size(), 10000u);
    EXPECT_EQ(ours.size(), theirs.size());
    long depth_total = 0;
    int bad = 0;
    for (const auto& [pos, cnt] : theirs) {
      depth_total += cnt[kDepth];
      const auto f = ours.find(pos);
      const PositionCounts mine = f == ours.end() ? PositionCounts{} : f->second;
      if (mine != cnt && bad++ < 5)
        ADD_FAILURE() << "position " << pos + 1 << ": depth " << mine[kDepth] << " vs samtools "
                      << cnt[kDepth] << " (A " << mine[1] << "/" << cnt[1] << ", C " << mine[2]
                      << "/" << cnt[2] << ", G " << mine[3] << "/" << cnt[3] << ", T " << mine[4]
                      << "/" << cnt[4] << ", del " << mine[6] << "/" << cnt[6] << ", ins "
                      << mine[8] << "/" << cnt[8] << ")";
    }
    EXPECT_EQ(bad, 0);
    EXPECT_GT(depth_total, 50000);
  }
}

TEST(Pileup, HardModeHasZeroParameterGradient) {
  PileupConfig cfg;
  cfg.hard = true;
  cfg.max_offset = 1;
  PileupCase<TEST_EXECSPACE> c(PileupWindow::synthetic(3, 20, 1), cfg);
  const Vec x = c.point(1);
  const Vec y = c.forward(x);
  const Vec g = c.adjoint(x, random_vector(y.size(), 2));
  for (double v : g) EXPECT_EQ(v, 0.0);
}

// ------------------------------------------------------------------------- gradients

TEST(Pileup, GradientKitPassesWithoutOffsets) {
  PileupCase<TEST_EXECSPACE> c(PileupWindow::synthetic(5, 24, 0), soft(0));
  expect_all_checks(c.differentiable(c.point(11)));
}

TEST(Pileup, GradientKitPassesWithSoftOffsets) {
  PileupCase<TEST_EXECSPACE> c(PileupWindow::synthetic(6, 24, 2), soft(2));
  expect_all_checks(c.differentiable(c.point(12)));
}

TEST(Pileup, GradientKitPassesOnRealAlignments) {
  PileupData data;
  DIFFBIO_REQUIRE_PILEUP_DATA(data);
  PileupCase<TEST_EXECSPACE> c(real_window(3), soft(1));
  expect_all_checks(c.differentiable(c.point(13)));
}

TEST(Pileup, AdolcOracleAgrees) {
  for (int k : {0, 2}) {
    SCOPED_TRACE("k = " + std::to_string(k));
    PileupCase<TEST_EXECSPACE> c(PileupWindow::synthetic(7 + k, 18, 3), soft(k));
    const Vec x = c.point(14);
    const Vec y = c.forward(x);
    const Vec ybar = random_vector(y.size(), 99);
    auto ref = [&](const auto& xs) {
      return reference::pileup(xs, c.d.offsets, c.d.entries, c.d.halo, k, false);
    };
    const auto oracle = adolc_vjp(ref, x, ybar);
    auto fw = compare(y, oracle.y, 1e-13, 1e-13, "forward vs serial reference");
    EXPECT_TRUE(fw.passed) << fw.detail;
    auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-10, 1e-12, "adjoint vs ADOL-C");
    EXPECT_TRUE(bw.passed) << bw.detail;
  }
}

TEST(Pileup, AdolcOracleAgreesOnRealAlignments) {
  PileupData data;
  DIFFBIO_REQUIRE_PILEUP_DATA(data);
  PileupCase<TEST_EXECSPACE> c(real_window(2, "lambda:7081-7130"), soft(2));
  const Vec x = c.point(15);
  const Vec y = c.forward(x);
  const Vec ybar = random_vector(y.size(), 98);
  auto ref = [&](const auto& xs) {
    return reference::pileup(xs, c.d.offsets, c.d.entries, c.d.halo, 2, false);
  };
  const auto oracle = adolc_vjp(ref, x, ybar, 2);
  auto fw = compare(y, oracle.y, 1e-13, 1e-12, "forward vs serial reference");
  EXPECT_TRUE(fw.passed) << fw.detail;
  auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-10, 1e-10, "adjoint vs ADOL-C");
  EXPECT_TRUE(bw.passed) << bw.detail;
  // Hard mode against the same reference.
  PileupConfig h = soft(2);
  h.hard = true;
  PileupCase<TEST_EXECSPACE> hc(c.d, h);
  const Vec xh = {13.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  // Unit weights: integer counts and integer quality sums, exact in any summation order.
  EXPECT_TRUE(
      bitwise_equal(hc.forward(xh), reference::pileup(xh, c.d.offsets, c.d.entries, 2, 2, true)));
}

// ------------------------------------------------------------------------- backends, precision

TEST(Pileup, BackendEqualsSerialBitwiseInDeterministicMode) {
  PileupData data;
  DIFFBIO_REQUIRE_PILEUP_DATA(data);
  ReductionMode det;
  det.deterministic = true;
  // Pileup gradients sum over every base of a window (here Σ|g| ~ 1e6): a coarser grid than the
  // default 2^-36 keeps the sums in the exact range (DiffBio_GradientReduction.hpp).
  det.grid_exponent = -28;
  const PileupWindow w = real_window(2, "lambda:5001-9000");
  PileupCase<TEST_EXECSPACE> here(w, soft(2), det);
  PileupCase<Kokkos::Serial> serial(w, soft(2), det);
  const Vec x = here.point(16);
  const Vec y = here.forward(x);
  const Vec ybar = random_vector(y.size(), 5);
  // One work item per position sums its entries in CSR order: the forward is bitwise equal in
  // any mode; deterministic mode makes the parameter sums bitwise equal too.
  EXPECT_TRUE(bitwise_equal(y, serial.forward(x)));
  EXPECT_TRUE(bitwise_equal(here.adjoint(x, ybar), serial.adjoint(x, ybar)));
  PileupCase<TEST_EXECSPACE> fast(w, soft(2));
  PileupCase<Kokkos::Serial> serial_fast(w, soft(2));
  auto cmp = compare(fast.adjoint(x, ybar), serial_fast.adjoint(x, ybar), 1e-12, 1e-10,
                     "fast: backend vs serial");
  EXPECT_TRUE(cmp.passed) << cmp.detail;
  // Deterministic mode costs at most one grid quantum per row in each parameter sum.
  auto q = compare(fast.adjoint(x, ybar), serial.adjoint(x, ybar), 1e-12,
                   (w.rows() + 1) * det.quantum(), "deterministic vs fast");
  EXPECT_TRUE(q.passed) << q.detail;
}

TEST(Pileup, FloatMatchesDouble) {
  const PileupWindow w = PileupWindow::synthetic(17, 200, 2, 30);
  PileupCase<TEST_EXECSPACE> c(w, soft(2));
  const Vec x = c.point(18);
  const Vec yd = c.forward(x);
  const Vec ybar = random_vector(yd.size(), 6);
  const Vec gd = c.adjoint(x, ybar);

  DifferentiablePileup<float, TEST_EXECSPACE> op(soft(2));
  const auto in = c.inputs();
  auto out = DifferentiablePileup<float, TEST_EXECSPACE>::allocate_outputs(in);
  auto ws = op.allocate_workspace();
  auto params = to_view<Kokkos::View<float*, M>>(x, x.size());
  op.forward(TEST_EXECSPACE(), params, in, out, ws);
  const int P = w.positions();
  typename DifferentiablePileup<float, TEST_EXECSPACE>::OutputGrads seeds{
      to_view<Kokkos::View<float**, M>>(Vec(ybar.begin(), ybar.begin() + P * 8), P, 8),
      to_view<Kokkos::View<float**, M>>(Vec(ybar.begin() + P * 8, ybar.begin() + P * 10), P, 2),
      to_view<Kokkos::View<float**, M>>(Vec(ybar.begin() + P * 10, ybar.end()), P, 2)};
  Kokkos::View<double*, M> dp("dp", x.size());
  op.adjoint(TEST_EXECSPACE(), params, in, ws, seeds, {}, dp);
  const Vec yf = PileupCase<TEST_EXECSPACE>::flat(out, [](float v) { return double(v); });
  // Float parameters are rounded (rel 6e-8) before the double-accumulated kernels run.
  auto fw = compare(yf, yd, 1e-5, 1e-6, "float forward");
  EXPECT_TRUE(fw.passed) << fw.detail;
  auto bw = compare(flatten(dp), gd, 1e-4, 1e-4, "float parameter gradients");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

// ------------------------------------------------------------------------- windows and edges

// The soft position assignment crosses window borders through the halo: streaming a region in
// windows gives bitwise the outputs of one window over the whole region.
TEST(Pileup, WindowsEqualWholeRegion) {
  PileupData data;
  DIFFBIO_REQUIRE_PILEUP_DATA(data);
  const int k = 2;
  const auto region = io::parse_region("lambda:4001-6000");
  io::PileupOptions o;
  o.halo = k;
  const PileupWindow whole = PileupWindow::from_batch(io::read_pileup(data.bam(), "", region, o));
  PileupCase<TEST_EXECSPACE> cw(whole, soft(k));
  const Vec x = cw.point(19);
  const Vec yw = cw.forward(x);
  const int Pw = whole.positions();
  o.window = 333;
  io::BamPileupReader reader(data.bam(), "", o);
  reader.set_region(region);
  io::PileupBatch b;
  int at = 0;
  while (reader.next(b)) {
    PileupCase<TEST_EXECSPACE> c(PileupWindow::from_batch(b), soft(k));
    const Vec y = c.forward(x);
    const int P = b.positions();
    for (int s = 0; s < P; ++s) {
      for (int j = 0; j < 8; ++j) ASSERT_EQ(y[s * 8 + j], yw[(at + s) * 8 + j]) << at + s;
      for (int j = 0; j < 2; ++j) {
        ASSERT_EQ(y[P * 8 + s * 2 + j], yw[Pw * 8 + (at + s) * 2 + j]);
        ASSERT_EQ(y[P * 10 + s * 2 + j], yw[Pw * 10 + (at + s) * 2 + j]);
      }
    }
    at += P;
  }
  EXPECT_EQ(at, Pw);
}

TEST(Pileup, EmptyWindowAndUncoveredPositionsGiveZeros) {
  // No reads at all (a window without coverage) and a window with no positions (only halo).
  for (int positions : {9, 0}) {
    PileupWindow w;
    w.halo = 2;
    w.offsets.assign(positions + 2 * w.halo + 1, 0);
    PileupCase<TEST_EXECSPACE> c(w, soft(2));
    const Vec x = c.point(20);
    const Vec y = c.forward(x);
    ASSERT_EQ(y.size(), static_cast<std::size_t>(positions) * 12);
    for (double v : y) EXPECT_EQ(v, 0.0);
    for (double v : c.adjoint(x, Vec(y.size(), 1.0))) EXPECT_EQ(v, 0.0);
  }
  // Rows without entries produce zero columns and receive no gradient from their seeds.
  PileupWindow w = PileupWindow::synthetic(21, 30, 0);
  PileupCase<TEST_EXECSPACE> c(w, soft(0));
  const Vec x = c.point(22);
  const Vec y = c.forward(x);
  const int P = w.positions();
  int empty = 0;
  for (int s = 0; s < P; ++s) {
    if (w.offsets[s + 1] != w.offsets[s]) continue;
    ++empty;
    for (int j = 0; j < 8; ++j) EXPECT_EQ(y[s * 8 + j], 0.0);
  }
  EXPECT_GT(empty, 2);
  Vec ybar(y.size(), 0.0);
  for (int s = 0; s < P; ++s)
    if (w.offsets[s + 1] == w.offsets[s])
      for (int j = 0; j < 8; ++j) ybar[s * 8 + j] = 1.0;
  for (double v : c.adjoint(x, ybar)) EXPECT_EQ(v, 0.0);
}

TEST(Pileup, MissingSeedsAreZeroAndAdjointAccumulates) {
  PileupCase<TEST_EXECSPACE> c(PileupWindow::synthetic(23, 16, 1), soft(1));
  const Vec x = c.point(24);
  auto r = c.run_forward<double>(x, [&](std::size_t i) { return x[i]; });
  Kokkos::View<double*, M> dp("dp", x.size());
  r.op.adjoint(TEST_EXECSPACE(), r.params, r.in, r.ws, {}, {}, dp);  // no seeds at all
  for (double v : flatten(dp)) EXPECT_EQ(v, 0.0);
  const Vec ybar = random_vector(c.forward(x).size(), 4);
  const auto seeds = c.seeds(ybar);
  r.op.adjoint(TEST_EXECSPACE(), r.params, r.in, r.ws, seeds, {}, dp);
  const Vec once = flatten(dp);
  r.op.adjoint(TEST_EXECSPACE(), r.params, r.in, r.ws, seeds, {}, dp);
  const Vec twice = flatten(dp);
  for (std::size_t k = 0; k < once.size(); ++k) EXPECT_DOUBLE_EQ(twice[k], 2 * once[k]);
  // Only the strand seed: same as a full seed vector with zeros elsewhere.
  Kokkos::View<double*, M> dp2("dp2", x.size());
  typename DifferentiablePileup<double, TEST_EXECSPACE>::OutputGrads only_strand{
      {}, seeds.d_strand, {}};
  r.op.adjoint(TEST_EXECSPACE(), r.params, r.in, r.ws, only_strand, {}, dp2);
  const int P = c.d.positions();
  Vec yb2(ybar.size(), 0.0);
  for (int i = P * 8; i < P * 10; ++i) yb2[i] = ybar[i];
  auto cmp = compare(flatten(dp2), c.adjoint(x, yb2), 1e-14, 1e-14, "strand seed only");
  EXPECT_TRUE(cmp.passed) << cmp.detail;
}

// Steep slopes with half-integer thresholds turn the soft weights into the hard steps.
TEST(Pileup, SoftApproachesHardAsSlopesGrow) {
  PileupWindow w = PileupWindow::synthetic(25, 40, 0, 12);
  PileupConfig h;
  h.hard = true;
  PileupCase<TEST_EXECSPACE> hard(w, h), sharp(w, soft(0));
  const Vec yh = hard.forward({13.0, 0.0, 20.0, 0.0, 0.0, 0.0});
  const Vec ys = sharp.forward({12.5, std::log(200.0), 19.5, std::log(200.0), 0.0, 0.0});
  auto cmp = compare(ys, yh, 0.0, 1e-12, "steep soft vs hard");
  EXPECT_TRUE(cmp.passed) << cmp.detail;
}

// With γ = 0 and a neutral ℓ the offsets spread each entry evenly; a confidently mapped read
// (large γ·MQ) stays put. Mass is conserved away from the window border.
TEST(Pileup, SoftOffsetsSpreadByMappingQuality) {
  PileupWindow w;
  w.halo = 1;
  w.offsets = {0, 0, 0, 0, 2, 2, 2, 2};  // 5 positions + halo; two entries at position 2
  w.entries = {io::pileup_entry::pack(0, false, false, 40, 0),
               io::pileup_entry::pack(0, false, false, 40, 60)};
  PileupCase<TEST_EXECSPACE> c(w, soft(1));
  // θ far below the data: weights 1. ℓ = 0, γ = 20: the MQ-60 read has p = (e^-20, 1, e^-20).
  const Vec y = c.forward({-1000.0, 0.0, -1000.0, 0.0, 20.0, 0.0, 0.0, 0.0});
  const double third = 1.0 / 3.0, tail = std::exp(-20.0) / (1.0 + 2.0 * std::exp(-20.0));
  EXPECT_NEAR(y[1 * 8 + 0], third + tail, 1e-15);
  EXPECT_NEAR(y[2 * 8 + 0], third + (1.0 - 2.0 * tail), 1e-15);
  EXPECT_NEAR(y[3 * 8 + 0], third + tail, 1e-15);
  EXPECT_EQ(y[0 * 8 + 0], 0.0);
  double mass = 0;
  for (int s = 0; s < 5; ++s) mass += y[s * 8 + 0];
  EXPECT_NEAR(mass, 2.0, 1e-14);
}
