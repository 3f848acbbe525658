// SPDX-License-Identifier: BSD-3-Clause
// VAENormalizer on the backend this binary is compiled for: finite differences + Taylor,
// dot-product test (dual-number forward with a fixed ε), ADOL-C oracle on a plain serial dense
// reference, bitwise equality with Serial (BLAS and portable paths), float vs double, masks and
// padding, the counter RNG (per cell, per step, backend-independent), and a short training run on
// simulated NB data (loss decreases; the latent separates cell types better than batches).
#include <DiffBio_AdolcOracle.hpp>
#include <DiffBio_Neighbors.hpp>
#include <DiffBio_RefVAE.hpp>
#include <DiffBio_TestBackend.hpp>

#include "DiffBio_VAECases.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <unistd.h>

using namespace diffbio;
using namespace diffbio::test;

namespace {

using Exec = TEST_EXECSPACE;
using M = Exec::memory_space;

void expect_all_checks(const Differentiable& f) {
  auto fd = check_finite_differences(f, 1, 1e-5, 1e-7, 1e-5, 400);
  EXPECT_TRUE(fd.passed) << fd.detail;
  auto ty = taylor_test(f);
  EXPECT_TRUE(ty.passed) << ty.detail;
  auto dp = dot_product_test(f);
  EXPECT_TRUE(dp.passed) << dp.detail;
}

VAEConfig small_config(int H2 = 0, VAEActivation act = VAEActivation::tanh) {
  VAEConfig c;
  c.n_hidden = 5;
  c.n_hidden2 = H2;
  c.n_latent = 3;
  c.activation = act;
  c.kl_weight = 0.7;
  c.seed = 42;
  return c;
}

Vec fixed_eps(int B, int L, std::uint64_t seed) { return random_vector(std::size_t(B) * L, seed, -1.5, 1.5); }

}  // namespace

TEST(VAENormalizer, GradientKitPassesOneLayer) {
  VAECase<Exec> c(VAEData(6, 7, 2, 2, 11, 2.0), small_config());
  c.eps = fixed_eps(c.B(), 3, 5);
  c.mask = {1, 1, 0, 1, 1, 1};
  expect_all_checks(c.differentiable(c.point(), "VAE[1 layer]"));
}

TEST(VAENormalizer, GradientKitPassesTwoLayersPhiloxAndPadding) {
  VAECase<Exec> c(VAEData(7, 6, 2, 3, 12, 3.0), small_config(4));
  c.rows = {4, -1, 0, 6, 2, 2};  // a shuffled mini-batch with a padding row and a repeat
  expect_all_checks(c.differentiable(c.point(7), "VAE[2 layers, Philox eps, padded]"));
}

TEST(VAENormalizer, DotProductWithRelu) {
  // ReLU: the tangent and the adjoint take the same branch, so the dot-product test is exact.
  VAECase<Exec> c(VAEData(8, 9, 3, 2, 13, 2.0), small_config(4, VAEActivation::relu));
  c.eps = fixed_eps(c.B(), 3, 6);
  auto dp = dot_product_test(c.differentiable(c.point(9), "VAE[relu]"));
  EXPECT_TRUE(dp.passed) << dp.detail;
}

TEST(VAENormalizer, NoBatchCovariate) {
  VAECase<Exec> c(VAEData(5, 6, 0, 2, 14, 2.0), small_config());
  c.eps = fixed_eps(c.B(), 3, 7);
  expect_all_checks(c.differentiable(c.point(3), "VAE[no batches]"));
}

TEST(VAENormalizer, AdolcOracleAgrees) {
  for (int H2 : {0, 4}) {
    VAECase<Exec> c(VAEData(6, 8, 2, 2, 15, 2.5), small_config(H2));
    c.eps = fixed_eps(c.B(), 3, 8);
    c.mask = {1, 0, 1, 1, 1, 1};
    const Vec x = c.point(11);
    const Vec y = c.forward(x);
    const Vec ybar = random_vector(y.size(), 99);
    reference::VAEShape s{c.d.N, c.d.G, c.d.NB, 5, H2, 3, 0.7};
    auto ref = [&](const auto& ps) {
      return reference::vae_loss(ps, s, c.d.dense, c.d.batch, c.eps, c.mask);
    };
    const auto oracle = adolc_vjp(ref, x, ybar);
    auto fw = compare(y, oracle.y, 1e-11, 1e-12, "forward vs serial reference");
    EXPECT_TRUE(fw.passed) << fw.detail;
    auto bw = compare(c.adjoint(x, ybar), oracle.xbar, 1e-9, 1e-11, "adjoint vs ADOL-C");
    EXPECT_TRUE(bw.passed) << bw.detail;
  }
}

TEST(VAENormalizer, BackendEqualsSerialBitwise) {
  // Every kernel writes each element from one work item in a fixed order: the result does not
  // depend on the backend or the thread count (here both are host spaces, so the BLAS is shared).
  VAEData data(40, 30, 2, 3, 16, 3.0);
  VAECase<Exec> c(data, small_config(6, VAEActivation::relu));
  VAECase<Kokkos::Serial> s(data, small_config(6, VAEActivation::relu));
  c.rows = s.rows = {3, 7, -1, 11, 0, 39, 25, 18, 2, 9};
  c.mask = s.mask = {1, 1, 1, 1, 0, 1, 1, 1, 1, 1};
  const Vec x = c.point(21);
  const Vec ybar = random_vector(std::size_t(c.B()) * 4, 31);
  for (bool blas : {false, true}) {
    EXPECT_TRUE(bitwise_equal(c.run_all<double>(x, ybar, blas), s.run_all<double>(x, ybar, blas)))
        << "double, blas " << blas;
    EXPECT_TRUE(bitwise_equal(c.run_all<float>(x, ybar, blas), s.run_all<float>(x, ybar, blas)))
        << "float, blas " << blas;
  }
}

TEST(VAENormalizer, BlasAndPortablePathsAgreeAndFloatIsClose) {
  VAEData data(30, 25, 2, 3, 17, 3.0);
  VAECase<Exec> c(data, small_config(6));
  c.eps = fixed_eps(c.B(), 3, 9);
  const Vec x = c.point(22);
  const Vec ybar = random_vector(std::size_t(c.B()) * 4, 32);
  const Vec d_port = c.run_all<double>(x, ybar, false), d_blas = c.run_all<double>(x, ybar, true);
  auto r = compare(d_port, d_blas, 1e-11, 1e-12, "double: portable vs BLAS");
  EXPECT_TRUE(r.passed) << r.detail;
  auto f = compare(c.run_all<float>(x, ybar, true), d_blas, 2e-3, 2e-4, "float vs double");
  EXPECT_TRUE(f.passed) << f.detail;
}

TEST(VAENormalizer, MaskedAndPaddingRowsAreInert) {
  // Masked/padding rows give zero outputs and leave the gradient exactly as if they were absent.
  VAEData data(12, 10, 2, 2, 18, 2.0);
  VAECase<Exec> a(data, small_config(4)), b(data, small_config(4));
  a.rows = {5, -1, 2, 8, 11};
  a.mask = {1, 1, 1, 0, 1};
  b.rows = {5, 2, 11};
  a.eps = {0.1, -0.2, 0.3, 0, 0, 0, 0.5, 0.6, -0.7, 9, 9, 9, -1.1, 1.2, 0.13};
  b.eps = {0.1, -0.2, 0.3, 0.5, 0.6, -0.7, -1.1, 1.2, 0.13};
  const Vec x = a.point(23);
  Vec ya(5 * 4, 0.0), yb(3 * 4, 0.0);
  const double seeds[3] = {0.7, -1.3, 0.4};
  const int pos[3] = {0, 2, 4};
  for (int k = 0; k < 3; ++k) {
    ya[pos[k]] = yb[k] = seeds[k];
    for (int l = 0; l < 3; ++l) ya[5 + pos[k] * 3 + l] = yb[3 + k * 3 + l] = 0.1 * (l + 1) * seeds[k];
  }
  ya[1] = ya[3] = 5.0;  // seeds on inert rows must not matter
  const Vec ra = a.run_all<double>(x, ya, false), rb = b.run_all<double>(x, yb, false);
  for (int i : {1, 3}) {
    EXPECT_EQ(ra[i], 0.0);
    for (int l = 0; l < 3; ++l) EXPECT_EQ(ra[5 + i * 3 + l], 0.0);
  }
  for (int k = 0; k < 3; ++k) EXPECT_DOUBLE_EQ(ra[pos[k]], rb[k]);
  const std::size_t np = x.size();
  auto g = compare(Vec(ra.begin() + 20, ra.begin() + 20 + np), Vec(rb.begin() + 12, rb.begin() + 12 + np),
                   1e-13, 1e-15, "gradient with inert rows vs without");
  EXPECT_TRUE(g.passed) << g.detail;
}

TEST(VAENormalizer, CounterRngDiffersPerCellAndStepAndMatchesSerial) {
  VAEData data(200, 12, 2, 2, 19, 2.0);
  VAECase<Exec> c(data, small_config());
  VAECase<Kokkos::Serial> s(data, small_config());
  const Vec x = c.point(24);
  const Vec ybar(std::size_t(c.B()) * 4, 0.0);
  const std::size_t off = std::size_t(c.B()) * 4 + x.size();
  auto eps_of = [&](auto& cs, std::uint64_t step) {
    cs.step = step;
    const Vec all = cs.template run_all<double>(x, ybar, false);
    return Vec(all.begin() + off, all.end());
  };
  const Vec e3 = eps_of(c, 3), e4 = eps_of(c, 4);
  EXPECT_TRUE(bitwise_equal(e3, eps_of(s, 3)));
  EXPECT_TRUE(bitwise_equal(e3, eps_of(c, 3)));
  int same_cell = 0, same_step = 0;
  double m = 0, v = 0;
  for (int i = 0; i < 200; ++i)
    for (int l = 0; l < 3; ++l) {
      if (i > 0 && e3[i * 3 + l] == e3[(i - 1) * 3 + l]) ++same_cell;
      if (e3[i * 3 + l] == e4[i * 3 + l]) ++same_step;
      m += e3[i * 3 + l];
      v += e3[i * 3 + l] * e3[i * 3 + l];
    }
  EXPECT_EQ(same_cell, 0);
  EXPECT_EQ(same_step, 0);
  m /= 600;
  v = v / 600 - m * m;
  EXPECT_LT(std::fabs(m), 0.15);  // 3.7 standard errors
  EXPECT_LT(std::fabs(v - 1.0), 0.25);
  // The same cell in another mini-batch slot draws the same ε (keyed by cell id, not slot).
  VAECase<Exec> p(data, small_config());
  p.rows = {17, 3};
  p.step = 3;
  const Vec pr = p.run_all<double>(x, Vec(8, 0.0), false);
  const Vec pe(pr.begin() + 8 + x.size(), pr.end());
  for (int l = 0; l < 3; ++l) {
    EXPECT_EQ(pe[l], e3[17 * 3 + l]);
    EXPECT_EQ(pe[3 + l], e3[3 * 3 + l]);
  }
}

TEST(VAENormalizer, TrainingSeparatesCellTypesMoreThanBatches) {
  const VAEData d(600, 60, 2, 3, 20, 4.0, 0.6, 3.0);
  VAEConfig cfg;
  cfg.n_genes = d.G;
  cfg.n_batches = d.NB;
  cfg.n_hidden = 32;
  cfg.n_latent = 4;
  cfg.seed = 7;
  VAETrainConfig tc;
  tc.batch_size = 64;
  tc.learning_rate = 3e-3;
  tc.seed = 8;
  VAETrainer<float, Exec> trainer(cfg, tc, 9);
  const Exec exec;
  VAENormalizer<float, Exec>::Inputs in;
  in.row_map = exec_view<Kokkos::View<std::int64_t*, M>>(exec, d.row_map, d.row_map.size());
  in.entries = exec_view<Kokkos::View<std::int32_t*, M>>(exec, d.entries, d.entries.size());
  in.values = exec_view<Kokkos::View<float*, M>>(exec, d.values, d.values.size());
  in.batch = exec_view<Kokkos::View<int*, M>>(exec, d.batch, d.batch.size());
  const auto losses = trainer.fit(exec, in, 25);
  ASSERT_EQ(losses.size(), 25u);
  EXPECT_LT(losses.back(), 0.9 * losses.front()) << losses.front() << " -> " << losses.back();
  EXPECT_LT(losses.back(), losses[losses.size() / 2]);
  Kokkos::View<float**, Kokkos::LayoutRight, M> z("DiffBio::test::z", d.N, 4);
  trainer.embed(exec, in, z);
  auto type = exec_view<Kokkos::View<int*, M>>(exec, d.type, d.type.size());
  Kokkos::View<double*, M> samples("DiffBio::test::samples", d.N);
  const double s_type = metrics::silhouette(exec, z, type, 3, samples);
  const double s_batch = metrics::silhouette(exec, z, in.batch, 2, samples);
  EXPECT_GT(s_type, 0.2);
  EXPECT_GT(s_type, s_batch + 0.1) << "silhouette by type " << s_type << ", by batch " << s_batch;
  std::printf("VAE training: loss %.3f -> %.3f per cell; silhouette type %.3f, batch %.3f\n",
              losses.front(), losses.back(), s_type, s_batch);
}

TEST(VAENormalizer, LikelihoodEqualsScipyNbinom) {
  // The classic peer: −Σ_g scipy.stats.nbinom.logpmf(y, θ, θ/(θ+m)) with m = l·ρ taken from the
  // `normalized` output at scale l (normalized_scale = 0).
  VAEConfig cfg = small_config(0, VAEActivation::relu);
  cfg.normalized_scale = 0;
  VAECase<Exec> c(VAEData(9, 11, 2, 3, 25, 6.0), cfg);
  c.eps = fixed_eps(c.B(), 3, 10);
  const Vec x = c.point(26);
  auto r = c.run_forward<double>(x, [&](std::size_t i) { return x[i]; });
  const Vec recon = flatten(r.out.recon), m = flatten(r.out.normalized);
  const auto& o = r.op.offsets();
  const std::string in_file = ::testing::TempDir() + "diffbio_vae_nb_" + DIFFBIO_TEST_BACKEND_NAME +
                              std::to_string(::getpid()) + ".txt";
  const std::string out_file = in_file + ".out";
  {
    std::ofstream f(in_file);
    f.precision(17);
    for (int i = 0; i < c.d.N; ++i)
      for (int g = 0; g < c.d.G; ++g)
        f << i << " " << g << " " << c.d.dense[i * c.d.G + g] << " " << m[i * c.d.G + g] << " "
          << std::exp(x[o.log_theta + g]) << "\n";
  }
  const std::string cmd = std::string("'") + DIFFBIO_VAE_PYTHON + "' '" + DIFFBIO_VAE_SCRIPTS +
                          "/vae_nb_peer.py' " + in_file + " > " + out_file;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream f(out_file);
  Vec peer(c.d.N);
  for (auto& v : peer) f >> v;
  std::remove(in_file.c_str());
  std::remove(out_file.c_str());
  auto cmp = compare(recon, peer, 1e-10, 1e-10, "NB NLL vs scipy.stats.nbinom");
  EXPECT_TRUE(cmp.passed) << cmp.detail;
}
