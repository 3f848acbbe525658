// SPDX-License-Identifier: BSD-3-Clause
// NormalizeLog1p on the backend this binary is compiled for: scanpy's normalize_total + log1p
// (computed by numpy in pca_peer.py) on the same counts, finite differences + Taylor, dot-product
// test (Dual forward), ADOL-C oracle on a plain serial reference, bitwise equality with Serial,
// float vs double, empty/masked rows, size factors, non-finite detection.
#include <DiffBio_AdolcOracle.hpp>
#include <DiffBio_NormalizeLog1p.hpp>
#include <DiffBio_RefNormalization.hpp>
#include <DiffBio_TestBackend.hpp>

#include "DiffBio_NormalizationTestUtils.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

using namespace diffbio;
using namespace diffbio::test;

namespace {

using Exec = TEST_EXECSPACE;
using M = Exec::memory_space;

/// x = [values (nnz), size factors (N, with_sf only), log t] → y = values (nnz).
template <class E>
struct NormCase {
  using EM = typename E::memory_space;
  io::CsrMatrix<double> m;
  bool with_sf = false;
  Vec size_factors;
  std::vector<std::uint8_t> mask;
  NormalizeLog1pConfig cfg;
  ReductionMode mode;

  NormCase(io::CsrMatrix<double> counts, bool sf, bool learn = true) : m(std::move(counts)), with_sf(sf) {
    cfg.learn_target_sum = learn;
    if (sf)
      for (std::int64_t i = 0; i < m.n_rows; ++i) size_factors.push_back(0.5 + 0.25 * (i % 5));
  }
  int nnz() const { return static_cast<int>(m.nnz()); }
  int N() const { return static_cast<int>(m.n_rows); }

  template <class S>
  struct Run {
    NormalizeLog1p<S, E> op;
    typename NormalizeLog1p<S, E>::Inputs in;
    typename NormalizeLog1p<S, E>::Outputs out;
    typename NormalizeLog1p<S, E>::Workspace ws;
    Kokkos::View<S*, EM> params;
  };
  template <class S, class Make>
  Run<S> run_forward(const Vec& x, Make make) const {
    Run<S> r{NormalizeLog1p<S, E>(cfg), {}, {}, {}, {}};
    const E exec;
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    r.in.row_map = exec_vec<std::int64_t>(exec, m.indptr);
    r.in.values = exec_vec<S>(exec, std::vector<S>(xs.begin(), xs.begin() + nnz()));
    if (with_sf)
      r.in.size_factors = exec_vec<S>(exec, std::vector<S>(xs.begin() + nnz(), xs.begin() + nnz() + N()));
    if (!mask.empty()) r.in.mask = exec_vec<std::uint8_t>(exec, mask);
    r.params = exec_vec<S>(exec, std::vector<S>{xs.back()});
    r.out = r.op.allocate_outputs(r.in, exec);
    r.ws = r.op.allocate_workspace(r.in, exec);
    r.op.forward(exec, r.params, r.in, r.out, r.ws);
    return r;
  }
  Vec forward(const Vec& x) const {
    return to_vec(run_forward<double>(x, [&](std::size_t i) { return x[i]; }).out.values);
  }
  Vec tangent(const Vec& x, const Vec& xd) const {
    using D = ad::Dual<double>;
    return tangents(run_forward<D>(x, [&](std::size_t i) { return D(x[i], xd[i]); }).out.values);
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    const E exec;
    Kokkos::View<double*, EM> dx(Kokkos::view_alloc("DiffBio::test::dx", exec), nnz());
    Kokkos::View<double*, EM> dsf(Kokkos::view_alloc("DiffBio::test::dsf", exec), with_sf ? N() : 0);
    Kokkos::View<double*, EM> dp(Kokkos::view_alloc("DiffBio::test::dp", exec), 1);
    r.op.adjoint(exec, r.params, r.in, r.ws, {exec_vec<double>(exec, ybar)}, {dx, dsf}, dp, mode);
    Vec g = to_vec(dx), gs = to_vec(dsf), gp = to_vec(dp);
    g.insert(g.end(), gs.begin(), gs.end());
    g.insert(g.end(), gp.begin(), gp.end());
    return g;
  }
  Vec point(double target = 1e4) const {
    Vec x = m.data;
    x.insert(x.end(), size_factors.begin(), size_factors.end());
    x.push_back(std::log(target));
    return x;
  }
  Differentiable differentiable(const Vec& x0) const {
    return {std::string("NormalizeLog1p") + (with_sf ? "[size factors]" : ""), x0,
            [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }
};

void expect_all_checks(const Differentiable& f) {
  auto fd = check_finite_differences(f);
  EXPECT_TRUE(fd.passed) << fd.detail;
  auto ty = taylor_test(f);
  EXPECT_TRUE(ty.passed) << ty.detail;
  auto dp = dot_product_test(f);
  EXPECT_TRUE(dp.passed) << dp.detail;
}

}  // namespace

TEST(NormalizeLog1p, EqualsScanpyArithmetic) {
  DIFFBIO_REQUIRE_PCA_PEER();
  const auto counts = random_counts(120, 40, 0.2, 31, {0, 57, 119});
  const std::string in = scratch_path("counts.csr", DIFFBIO_TEST_BACKEND_NAME);
  const std::string out = scratch_path("normalized.txt", DIFFBIO_TEST_BACKEND_NAME);
  write_csr(in, counts);
  for (const char* target : {"10000", "median"}) {
    ASSERT_EQ(run_pca_peer("normalize '" + in + "' " + target + " '" + out + "'"), 0);
    const auto lines = read_text_lines(out);
    ASSERT_EQ(lines.size(), 2u);
    const double t_peer = parse_doubles(lines[0]).at(0);
    const Vec y_peer = parse_doubles(lines[1]);
    NormCase<Exec> c(counts, false, false);
    if (std::string(target) == "median") {
      NormalizeLog1p<double, Exec> op;
      typename NormalizeLog1p<double, Exec>::Inputs din;
      din.row_map = exec_vec<std::int64_t>(Exec(), counts.indptr);
      din.values = exec_vec<double>(Exec(), counts.data);
      const double t = NormalizeLog1p<double, Exec>::median_library_size(Exec(), din);
      EXPECT_EQ(t, t_peer);
      c.cfg.target_sum = t;
    }
    const Vec y = c.forward(c.point(c.cfg.target_sum));
    // scanpy scales by 1/(s/t), we by t/s: equal up to a few ulps.
    auto r = compare(y, y_peer, 1e-14, 1e-300, std::string("vs scanpy arithmetic, target ") + target);
    EXPECT_TRUE(r.passed) << r.detail;
    // Empty rows stay exactly 0 (no NaN): their entries do not exist, and the others are finite.
    for (double v : y) EXPECT_TRUE(std::isfinite(v));
  }
  std::remove(in.c_str());
  std::remove(out.c_str());
}

TEST(NormalizeLog1p, GradientKitPasses) {
  NormCase<Exec> c(random_counts(7, 5, 0.6, 3, {2}), false);
  expect_all_checks(c.differentiable(c.point(50.0)));
}

TEST(NormalizeLog1p, GradientKitPassesWithSizeFactorsAndMask) {
  NormCase<Exec> c(random_counts(8, 5, 0.6, 4, {6}), true);
  c.mask.assign(8, 1);
  c.mask[1] = 0;
  expect_all_checks(c.differentiable(c.point(20.0)));
}

TEST(NormalizeLog1p, AdolcOracleAgrees) {
  for (bool sf : {false, true}) {
    NormCase<Exec> c(random_counts(9, 6, 0.5, 5, {4}), sf);
    c.mask.assign(9, 1);
    c.mask[7] = 0;
    const Vec x = c.point(30.0);
    const Vec y = c.forward(x);
    const Vec ybar = random_vector(y.size(), 77);
    auto ref = [&](const auto& xs) { return reference::normalize_log1p(xs, c.m.indptr, sf, c.mask); };
    const auto oracle = adolc_vjp(ref, x, ybar);
    auto fw = compare(y, oracle.y, 1e-13, 1e-15, "forward vs serial reference");
    EXPECT_TRUE(fw.passed) << fw.detail;
    auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-11, 1e-13, "adjoint vs ADOL-C");
    EXPECT_TRUE(bw.passed) << bw.detail;
  }
}

TEST(NormalizeLog1p, BackendEqualsSerialBitwise) {
  const auto counts = random_counts(2000, 60, 0.1, 6, {0, 999});
  for (bool det : {false, true}) {
    NormCase<Exec> here(counts, false);
    NormCase<Kokkos::Serial> serial(counts, false);
    here.mode.deterministic = serial.mode.deterministic = det;
    const Vec x = here.point();
    const Vec ybar = random_vector(here.forward(x).size(), 5);
    EXPECT_TRUE(bitwise_equal(here.forward(x), serial.forward(x)));
    EXPECT_TRUE(bitwise_equal(here.adjoint(x, ybar), serial.adjoint(x, ybar))) << "det " << det;
  }
}

TEST(NormalizeLog1p, FloatMatchesDouble) {
  const auto counts = random_counts(300, 50, 0.2, 7, {3});
  NormCase<Exec> c(counts, false);
  const Vec x = c.point();
  const Vec yd = c.forward(x);
  const Vec ybar = random_vector(yd.size(), 8);
  const Vec gd = c.adjoint(x, ybar);
  NormalizeLog1pConfig cfg;
  cfg.learn_target_sum = true;
  NormalizeLog1p<float, Exec> op(cfg);
  typename NormalizeLog1p<float, Exec>::Inputs in;
  in.row_map = exec_vec<std::int64_t>(Exec(), counts.indptr);
  in.values = exec_vec<float>(Exec(), counts.data);
  auto params = exec_vec<float>(Exec(), Vec{std::log(1e4)});
  auto out = op.allocate_outputs(in);
  auto ws = op.allocate_workspace(in);
  op.forward(Exec(), params, in, out, ws);
  Kokkos::View<float*, M> dx("dx", counts.nnz()), dsf;
  Kokkos::View<double*, M> dp("dp", 1);
  op.adjoint(Exec(), params, in, ws, {exec_vec<float>(Exec(), ybar)}, {dx, dsf}, dp);
  auto fw = compare(to_vec(out.values), yd, 1e-6, 1e-6, "float forward");
  EXPECT_TRUE(fw.passed) << fw.detail;
  Vec gf = to_vec(dx), gp = to_vec(dp);
  gf.insert(gf.end(), gp.begin(), gp.end());
  auto bw = compare(gf, gd, 1e-4, 1e-5, "float gradients");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(NormalizeLog1p, EmptyAndMaskedRowsGiveZerosAndNoGradient) {
  auto counts = random_counts(6, 4, 0.8, 9, {0, 5});
  // Row 3: explicit zeros only (s = 0 with stored entries).
  for (auto e = counts.row_begin(3); e < counts.row_end(3); ++e) counts.data[e] = 0.0;
  ASSERT_GT(counts.row_end(3), counts.row_begin(3));
  NormCase<Exec> c(counts, false);
  c.mask.assign(6, 1);
  c.mask[1] = 0;
  const Vec x = c.point();
  const Vec y = c.forward(x);
  const Vec g = c.adjoint(x, Vec(y.size(), 1.0));
  for (int r : {1, 3})
    for (auto e = counts.row_begin(r); e < counts.row_end(r); ++e) {
      EXPECT_EQ(y[e], 0.0);
      EXPECT_EQ(g[e], 0.0);
    }
  for (double v : y) EXPECT_TRUE(std::isfinite(v));
  for (double v : g) EXPECT_TRUE(std::isfinite(v));
}

TEST(NormalizeLog1p, FrozenTargetSumHasNoGradientAndAdjointAccumulates) {
  NormCase<Exec> c(random_counts(10, 6, 0.5, 10), false, /*learn=*/false);
  const Vec x = c.point();
  const Vec ybar = random_vector(c.forward(x).size(), 11);
  const Vec g = c.adjoint(x, ybar);
  EXPECT_EQ(g.back(), 0.0);
  // Learnt: the log t gradient is Σ ȳ z/(1+z), non-zero; x̄ identical either way.
  NormCase<Exec> l(c.m, false, true);
  const Vec gl = l.adjoint(x, ybar);
  EXPECT_NE(gl.back(), 0.0);
  EXPECT_TRUE(bitwise_equal(Vec(g.begin(), g.end() - 1), Vec(gl.begin(), gl.end() - 1)));
  // += semantics: a second adjoint into the same buffers doubles them.
  auto r = l.run_forward<double>(x, [&](std::size_t i) { return x[i]; });
  Kokkos::View<double*, M> dx("dx", l.nnz()), dsf;
  Kokkos::View<double*, M> dp("dp", 1);
  for (int rep = 0; rep < 2; ++rep)
    r.op.adjoint(Exec(), r.params, r.in, r.ws, {exec_vec<double>(Exec(), ybar)}, {dx, dsf}, dp);
  auto twice = compare(to_vec(dp), Vec{2 * gl.back()}, 1e-14, 0, "accumulated log t gradient");
  EXPECT_TRUE(twice.passed) << twice.detail;
}

TEST(NormalizeLog1p, NegativeSizeFactorRaisesNumericalError) {
  NormCase<Exec> c(random_counts(5, 4, 0.9, 12), true);
  Vec x = c.point();
  x[c.nnz() + 2] = -1.0;  // t·x/s < −1 for x > 1/t·... → log1p of a value below −1: NaN
  for (std::size_t e = 0; e < static_cast<std::size_t>(c.nnz()); ++e) x[e] = 5.0;
  try {
    c.forward(x);
    ADD_FAILURE() << "no error for a negative size factor";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::numerical);
  }
}

TEST(NormalizeLog1p, EmptyBatchIsANoOp) {
  io::CsrMatrix<double> m;
  NormCase<Exec> c(m, false);
  const Vec x = c.point();
  EXPECT_TRUE(c.forward(x).empty());
  EXPECT_EQ(c.adjoint(x, {}), Vec{0.0});
}
