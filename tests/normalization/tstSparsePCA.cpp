// SPDX-License-Identifier: BSD-3-Clause
// DifferentiablePCA (SparsePCA) on the backend this binary is compiled for: fit() against
// sklearn.decomposition.PCA(svd_solver='full') on the densified matrix (components with sklearn's
// exact sign, explained variance, transform), finite differences + Taylor, dot-product test (Dual
// forward), ADOL-C oracle on a plain serial reference, bitwise equality with Serial, float vs
// double, empty and masked rows, deterministic reduction mode, a changed pattern.
#include <DiffBio_AdolcOracle.hpp>
#include <DiffBio_RefNormalization.hpp>
#include <DiffBio_SparsePCA.hpp>
#include <DiffBio_TestBackend.hpp>

#include "DiffBio_NormalizationTestUtils.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

using namespace diffbio;
using namespace diffbio::test;

namespace {

using Exec = TEST_EXECSPACE;
using M = Exec::memory_space;

/// x = [values (nnz), W (G·K), μ (G)] → Y (N·K).
template <class E>
struct PcaCase {
  using EM = typename E::memory_space;
  io::CsrMatrix<double> m;
  int K;
  std::vector<std::uint8_t> mask;
  SparsePCAConfig cfg;
  ReductionMode mode;
  Vec W0, mu0;

  PcaCase(io::CsrMatrix<double> x, int k) : m(std::move(x)), K(k) {
    cfg.n_genes = static_cast<int>(m.n_cols);
    cfg.n_components = K;
    cfg.learn_mean = true;
    W0 = random_vector(static_cast<std::size_t>(m.n_cols) * K, 41);
    mu0 = random_vector(static_cast<std::size_t>(m.n_cols), 42, 0.0, 1.0);
  }
  int nnz() const { return static_cast<int>(m.nnz()); }
  int G() const { return static_cast<int>(m.n_cols); }
  int N() const { return static_cast<int>(m.n_rows); }

  template <class S>
  struct Run {
    DifferentiablePCA<S, E> op;
    typename DifferentiablePCA<S, E>::Inputs in;
    typename DifferentiablePCA<S, E>::Outputs out;
    typename DifferentiablePCA<S, E>::Workspace ws;
    Kokkos::View<S*, EM> params;
  };
  template <class S>
  typename DifferentiablePCA<S, E>::Inputs inputs(const std::vector<S>& values) const {
    const E exec;
    typename DifferentiablePCA<S, E>::Inputs in;
    in.row_map = exec_vec<std::int64_t>(exec, m.indptr);
    in.entries = exec_vec<std::int32_t>(exec, m.indices);
    in.values = exec_vec<S>(exec, values);
    if (!mask.empty()) in.mask = exec_vec<std::uint8_t>(exec, mask);
    return in;
  }
  template <class S, class Make>
  Run<S> run_forward(const Vec& x, Make make) const {
    Run<S> r{DifferentiablePCA<S, E>(cfg), {}, {}, {}, {}};
    const E exec;
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    r.in = inputs<S>(std::vector<S>(xs.begin(), xs.begin() + nnz()));
    r.params = exec_vec<S>(exec, std::vector<S>(xs.begin() + nnz(), xs.end()));
    r.out = r.op.allocate_outputs(r.in, exec);
    r.ws = r.op.allocate_workspace(r.in);
    r.op.forward(exec, r.params, r.in, r.out, r.ws);
    exec.fence();
    return r;
  }
  Vec forward(const Vec& x) const {
    return to_vec(run_forward<double>(x, [&](std::size_t i) { return x[i]; }).out.y);
  }
  Vec tangent(const Vec& x, const Vec& xd) const {
    using D = ad::Dual<double>;
    return tangents(run_forward<D>(x, [&](std::size_t i) { return D(x[i], xd[i]); }).out.y);
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    const E exec;
    Kokkos::View<double*, EM> dx(Kokkos::view_alloc("DiffBio::test::dx", exec), nnz());
    Kokkos::View<double*, EM> dp(Kokkos::view_alloc("DiffBio::test::dp", exec), r.op.n_params());
    r.op.adjoint(exec, r.params, r.in, r.ws, {exec_mat<double>(exec, ybar, N(), K)}, {dx}, dp, mode);
    Vec g = to_vec(dx), gp = to_vec(dp);
    g.insert(g.end(), gp.begin(), gp.end());
    return g;
  }
  Vec point() const {
    Vec x = m.data;
    x.insert(x.end(), W0.begin(), W0.end());
    x.insert(x.end(), mu0.begin(), mu0.end());
    return x;
  }
  Differentiable differentiable(const Vec& x0) const {
    return {"SparsePCA", x0, [this](const Vec& x) { return forward(x); },
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

template <class S, class E>
PcaFit fit_on(const PcaCase<E>& c, const SparsePCAConfig& cfg) {
  DifferentiablePCA<S, E> op(cfg);
  auto in = c.template inputs<S>(std::vector<S>(c.m.data.begin(), c.m.data.end()));
  auto ws = op.allocate_workspace(in);
  return op.fit(E(), in, ws);
}

/// The PCA tests' matrix: log-normalised counts, 6 cell types (5 well-separated components).
io::CsrMatrix<double> pca_matrix(int N = 300, int G = 80, std::uint64_t seed = 21) {
  return log_normalised(random_counts(N, G, 0.3, seed, {17, 200}, 6));
}

}  // namespace

TEST(SparsePCA, FitEqualsSklearnPCA) {
  DIFFBIO_REQUIRE_PCA_PEER();
  const auto X = pca_matrix();
  const int K = 10;
  const std::string in = scratch_path("pca.csr", DIFFBIO_TEST_BACKEND_NAME);
  const std::string out = scratch_path("pca.txt", DIFFBIO_TEST_BACKEND_NAME);
  write_csr(in, X);
  ASSERT_EQ(run_pca_peer("pca '" + in + "' " + std::to_string(K) + " '" + out + "'"), 0);
  const auto lines = read_text_lines(out);
  ASSERT_EQ(lines.size(), 6u);
  const Vec mean = parse_doubles(lines[0]), comps = parse_doubles(lines[1]),
            ev = parse_doubles(lines[2]), evr = parse_doubles(lines[3]), sv = parse_doubles(lines[4]),
            Y = parse_doubles(lines[5]);
  PcaCase<Exec> c(X, K);
  SparsePCAConfig cfg = c.cfg;
  // Components 6–10 are noise with spectral gaps of a few %: the subspace iteration reaches
  // 2e-5 after 40 iterations, 7e-10 after 80 and 1e-14 after 150 on this matrix.
  cfg.n_power_iter = 100;
  const PcaFit f = fit_on<double>(c, cfg);
  auto rm = compare(f.mean, mean, 1e-13, 1e-15, "mean_");
  EXPECT_TRUE(rm.passed) << rm.detail;
  auto re = compare(f.explained_variance, ev, 1e-9, 0, "explained_variance_");
  EXPECT_TRUE(re.passed) << re.detail;
  auto rr = compare(f.explained_variance_ratio, evr, 1e-9, 0, "explained_variance_ratio_");
  EXPECT_TRUE(rr.passed) << rr.detail;
  auto rs = compare(f.singular_values, sv, 1e-9, 0, "singular_values_");
  EXPECT_TRUE(rs.passed) << rs.detail;
  // Components with sklearn's own sign (svd_flip, u-based): no sign freedom allowed.
  auto rc = compare(f.components, comps, 0, 1e-6, "components_ (exact sign)");
  EXPECT_TRUE(rc.passed) << rc.detail;
  // transform(): the forward with W = components_ᵀ, μ = mean_.
  DifferentiablePCA<double, Exec> op(cfg);
  const Vec p = op.initial_params(f);
  Vec x = X.data;
  x.insert(x.end(), p.begin(), p.end());
  double ymax = 0;
  for (double v : Y) ymax = std::max(ymax, std::fabs(v));
  auto ry = compare(c.forward(x), Y, 0, 1e-6 * ymax, "transform");
  EXPECT_TRUE(ry.passed) << ry.detail;
  // The default 7 iterations (sklearn's randomized default) give the well-separated leading
  // components to ~1e-5 and their variances far better.
  SparsePCAConfig quick = c.cfg;
  quick.n_power_iter = 7;
  const PcaFit fq = fit_on<double>(c, quick);
  auto rq = compare(Vec(fq.components.begin(), fq.components.begin() + 3 * X.n_cols),
                    Vec(comps.begin(), comps.begin() + 3 * X.n_cols), 0, 1e-5,
                    "leading components, 7 iterations");
  EXPECT_TRUE(rq.passed) << rq.detail;
  auto rqe = compare(Vec(fq.explained_variance.begin(), fq.explained_variance.begin() + 5),
                     Vec(ev.begin(), ev.begin() + 5), 1e-7, 0, "leading variances, 7 iterations");
  EXPECT_TRUE(rqe.passed) << rqe.detail;
  std::remove(in.c_str());
  std::remove(out.c_str());
}

TEST(SparsePCA, FitInFloatMatchesDouble) {
  PcaCase<Exec> c(pca_matrix(200, 50, 22), 4);
  c.cfg.n_power_iter = 30;
  const PcaFit fd = fit_on<double>(c, c.cfg);
  const PcaFit ff = fit_on<float>(c, c.cfg);
  // The float values are the only float: the fit itself runs in double.
  auto r = compare(ff.components, fd.components, 0, 1e-5, "float components");
  EXPECT_TRUE(r.passed) << r.detail;
  auto e = compare(ff.explained_variance, fd.explained_variance, 1e-5, 0, "float variance");
  EXPECT_TRUE(e.passed) << e.detail;
}

TEST(SparsePCA, GradientKitPasses) {
  PcaCase<Exec> c(random_counts(9, 6, 0.5, 23, {4}), 3);
  c.mask.assign(9, 1);
  c.mask[2] = 0;
  expect_all_checks(c.differentiable(c.point()));
}

TEST(SparsePCA, AdolcOracleAgrees) {
  PcaCase<Exec> c(random_counts(11, 7, 0.4, 24, {3}), 3);
  c.mask.assign(11, 1);
  c.mask[8] = 0;
  const Vec x = c.point();
  const Vec y = c.forward(x);
  const Vec ybar = random_vector(y.size(), 88);
  auto ref = [&](const auto& xs) {
    return reference::pca_project(xs, c.m.indptr, c.m.indices, c.G(), c.K, c.mask);
  };
  const auto oracle = adolc_vjp(ref, x, ybar);
  auto fw = compare(y, oracle.y, 1e-12, 1e-13, "forward vs serial reference");
  EXPECT_TRUE(fw.passed) << fw.detail;
  auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-11, 1e-12, "adjoint vs ADOL-C");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(SparsePCA, BackendEqualsSerialBitwise) {
  const auto X = pca_matrix(1500, 60, 25);
  for (bool det : {false, true}) {
    PcaCase<Exec> here(X, 20);
    PcaCase<Kokkos::Serial> serial(X, 20);
    here.mode.deterministic = serial.mode.deterministic = det;
    const Vec x = here.point();
    const Vec ybar = random_vector(here.forward(x).size(), 5);
    EXPECT_TRUE(bitwise_equal(here.forward(x), serial.forward(x)));
    EXPECT_TRUE(bitwise_equal(here.adjoint(x, ybar), serial.adjoint(x, ybar))) << "det " << det;
  }
  PcaCase<Exec> here(X, 5);
  PcaCase<Kokkos::Serial> serial(X, 5);
  const PcaFit a = fit_on<double>(here, here.cfg), b = fit_on<double>(serial, serial.cfg);
  EXPECT_TRUE(bitwise_equal(a.components, b.components));
  EXPECT_TRUE(bitwise_equal(a.explained_variance, b.explained_variance));
}

TEST(SparsePCA, DeterministicModeStaysWithinTheGrid) {
  PcaCase<Exec> c(pca_matrix(400, 30, 26), 4);
  const Vec x = c.point();
  const Vec ybar = random_vector(c.forward(x).size(), 6);
  const Vec fast = c.adjoint(x, ybar);
  c.mode.deterministic = true;
  const Vec det = c.adjoint(x, ybar);
  // x̄ is not a sum over rows (unchanged); each parameter gradient is within one quantum per
  // contribution (≤ N per entry here).
  auto r = compare(det, fast, 0.0, 2 * 400 * std::ldexp(1.0, -36), "deterministic vs fast");
  EXPECT_TRUE(r.passed) << r.detail;
  const double q = std::ldexp(1.0, -36);
  for (std::size_t i = c.nnz(); i < det.size(); ++i) EXPECT_EQ(std::fmod(det[i], q), 0.0) << i;
}

TEST(SparsePCA, FloatMatchesDouble) {
  PcaCase<Exec> c(pca_matrix(300, 40, 27), 6);
  const Vec x = c.point();
  const Vec yd = c.forward(x);
  const Vec ybar = random_vector(yd.size(), 8);
  const Vec gd = c.adjoint(x, ybar);
  auto r = c.run_forward<float>(x, [&](std::size_t i) { return static_cast<float>(x[i]); });
  Kokkos::View<float*, M> dx("dx", c.nnz());
  Kokkos::View<double*, M> dp("dp", r.op.n_params());
  r.op.adjoint(Exec(), r.params, r.in, r.ws, {exec_mat<float>(Exec(), ybar, c.N(), c.K)}, {dx}, dp);
  double ymax = 0;
  for (double v : yd) ymax = std::max(ymax, std::fabs(v));
  auto fw = compare(to_vec(r.out.y), yd, 1e-5, 1e-6 * ymax, "float forward");
  EXPECT_TRUE(fw.passed) << fw.detail;
  Vec gf = to_vec(dx), gp = to_vec(dp);
  gf.insert(gf.end(), gp.begin(), gp.end());
  double gmax = 0;
  for (double v : gd) gmax = std::max(gmax, std::fabs(v));
  auto bw = compare(gf, gd, 1e-5, 1e-6 * gmax, "float gradients");
  EXPECT_TRUE(bw.passed) << bw.detail;
}

TEST(SparsePCA, EmptyRowsAreCentredAndMaskedRowsAreZero) {
  PcaCase<Exec> c(random_counts(8, 5, 0.6, 28, {1, 6}), 2);
  c.mask.assign(8, 1);
  c.mask[3] = 0;
  const Vec x = c.point();
  const Vec y = c.forward(x);
  for (int k = 0; k < 2; ++k) {
    double shift = 0;
    for (int j = 0; j < 5; ++j) shift += c.mu0[j] * c.W0[j * 2 + k];
    EXPECT_NEAR(y[1 * 2 + k], -shift, 1e-14);  // an empty cell is −μᵀW, as sklearn's transform
    EXPECT_EQ(y[3 * 2 + k], 0.0);               // masked
  }
  Vec ybar(y.size(), 0.0);
  ybar[3 * 2] = ybar[3 * 2 + 1] = 1.0;  // seed only the masked row: no gradient at all
  for (double v : c.adjoint(x, ybar)) EXPECT_EQ(v, 0.0);
}

TEST(SparsePCA, WorkspaceFollowsAChangedPattern) {
  PcaCase<Exec> a(random_counts(20, 6, 0.5, 29), 2), b(random_counts(25, 6, 0.4, 30), 2);
  DifferentiablePCA<double, Exec> op(a.cfg);
  auto ws = op.allocate_workspace({});
  const Vec p = [&] {
    Vec v = a.W0;
    v.insert(v.end(), a.mu0.begin(), a.mu0.end());
    return v;
  }();
  auto params = exec_vec<double>(Exec(), p);
  for (auto* c : {&a, &b, &a}) {
    auto in = c->inputs<double>(c->m.data);
    Kokkos::View<double*, M> dx("dx", c->nnz()), dp("dp", op.n_params());
    auto out = op.allocate_outputs(in);
    op.forward(Exec(), params, in, out, ws);
    const Vec ybar = random_vector(static_cast<std::size_t>(c->N()) * 2, 3);
    op.adjoint(Exec(), params, in, ws, {exec_mat<double>(Exec(), ybar, c->N(), 2)}, {dx}, dp);
    Vec g = to_vec(dx), gp = to_vec(dp);
    g.insert(g.end(), gp.begin(), gp.end());
    Vec x = c->m.data;
    x.insert(x.end(), p.begin(), p.end());
    auto r = compare(g, c->adjoint(x, ybar), 1e-14, 1e-15, "reused workspace");
    EXPECT_TRUE(r.passed) << r.detail;
  }
}

TEST(SparsePCA, ColumnIndexPathAgreesWithRowChunks) {
  // The column-index gather (the GPU path) against the row-chunk scatter (the host path): the
  // same sums in another order, bitwise equal once deterministic mode makes them exact.
  const auto X = pca_matrix(2500, 40, 31);  // > 1024 rows: several chunks
  PcaCase<Exec> rows(X, 7), cols(X, 7);
  rows.cfg.transpose_product = TransposeProduct::row_chunks;
  cols.cfg.transpose_product = TransposeProduct::column_index;
  rows.mask.assign(2500, 1);
  rows.mask[100] = rows.mask[2000] = 0;
  cols.mask = rows.mask;
  const Vec x = rows.point();
  const Vec ybar = random_vector(rows.forward(x).size(), 13);
  auto fast = compare(rows.adjoint(x, ybar), cols.adjoint(x, ybar), 1e-12, 1e-12, "fast mode");
  EXPECT_TRUE(fast.passed) << fast.detail;
  rows.mode.deterministic = cols.mode.deterministic = true;
  EXPECT_TRUE(bitwise_equal(rows.adjoint(x, ybar), cols.adjoint(x, ybar)));
  rows.mask.clear();
  cols.mask.clear();
  const PcaFit a = fit_on<double>(rows, rows.cfg), b = fit_on<double>(cols, cols.cfg);
  auto rc = compare(a.components, b.components, 0, 1e-10, "fit components");
  EXPECT_TRUE(rc.passed) << rc.detail;
  auto rm = compare(a.mean, b.mean, 1e-14, 1e-15, "fit mean");
  EXPECT_TRUE(rm.passed) << rm.detail;
  auto rv = compare(Vec{a.total_variance}, Vec{b.total_variance}, 1e-13, 0, "total variance");
  EXPECT_TRUE(rv.passed) << rv.detail;
  // The column-index path passes the gradient kit too.
  PcaCase<Exec> small(random_counts(9, 6, 0.5, 32, {4}), 3);
  small.cfg.transpose_product = TransposeProduct::column_index;
  small.mask.assign(9, 1);
  small.mask[5] = 0;
  expect_all_checks(small.differentiable(small.point()));
}

TEST(SparsePCA, EmptyBatchIsANoOpAndFitNeedsRows) {
  io::CsrMatrix<double> empty;
  empty.n_cols = 4;
  for (auto path : {TransposeProduct::row_chunks, TransposeProduct::column_index}) {
    PcaCase<Exec> c(empty, 2);
    c.cfg.transpose_product = path;
    const Vec x = c.point();
    EXPECT_TRUE(c.forward(x).empty());
    EXPECT_EQ(c.adjoint(x, {}), Vec(static_cast<std::size_t>(4 * 2 + 4), 0.0));
    EXPECT_THROW(fit_on<double>(c, c.cfg), Error);
  }
}
