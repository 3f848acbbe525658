// SPDX-License-Identifier: BSD-3-Clause
// SingleCellSimulator: sparsity, library sizes, ground truth, NB moments, and that a cell is the
// same cell whatever row block (and scratch size) it is generated in.
#include <DiffBio_SingleCellSimulator.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

using namespace diffbio;

SingleCellSimConfig small(std::int64_t cells = 1500, std::int64_t genes = 2000) {
  SingleCellSimConfig c;
  c.n_cells = cells;
  c.n_genes = genes;
  c.seed = 5;
  return c;
}

TEST(SingleCellSimulator, DefaultsGiveAboutFivePercentDensity) {
  const SingleCellSimulator sim(small());
  const auto m = sim.rows(0, sim.n_cells());
  EXPECT_EQ(m.check(), "");
  const double density = static_cast<double>(m.nnz()) / static_cast<double>(m.n_rows * m.n_cols);
  EXPECT_GT(density, 0.035);
  EXPECT_LT(density, 0.07);
  for (std::int64_t r = 0; r < m.n_rows; ++r)  // columns sorted, counts positive integers
    for (auto e = m.row_begin(r); e < m.row_end(r); ++e) {
      EXPECT_GT(m.data[e], 0.0f);
      EXPECT_EQ(m.data[e], std::floor(m.data[e]));
      if (e > m.row_begin(r)) EXPECT_LT(m.indices[e - 1], m.indices[e]);
    }
}

TEST(SingleCellSimulator, LibrarySizesFollowTheTruth) {
  // E[Σ_g x_ig] = L_i (profiles and the ambient are simplices): the mean ratio is 1 within
  // sampling error; library sizes vary log-normally (sd of log ≈ library_log_sd + batch depth).
  const SingleCellSimulator sim(small(3000, 1000));
  const auto m = sim.rows(0, sim.n_cells());
  double ratio = 0, lsum = 0, lsq = 0;
  for (std::int64_t i = 0; i < m.n_rows; ++i) {
    double n = 0;
    for (auto e = m.row_begin(i); e < m.row_end(i); ++e) n += m.data[e];
    const auto c = sim.cell(i);
    ratio += n / c.library;
    const double l = std::log(c.library);
    lsum += l;
    lsq += l * l;
  }
  ratio /= static_cast<double>(m.n_rows);
  EXPECT_NEAR(ratio, 1.0, 0.02);
  const double mean = lsum / m.n_rows, sd = std::sqrt(lsq / m.n_rows - mean * mean);
  EXPECT_NEAR(mean, sim.config().library_log_mean, 0.15);
  EXPECT_GT(sd, 0.3);
  EXPECT_LT(sd, 0.7);
}

TEST(SingleCellSimulator, TruthIsComplete) {
  auto cfg = small(4000, 300);
  cfg.doublet_rate = 0.06;
  const SingleCellSimulator sim(cfg);
  std::vector<int> type_count(static_cast<std::size_t>(cfg.n_types)), batch_count(static_cast<std::size_t>(cfg.n_batches));
  int doublets = 0;
  for (std::int64_t i = 0; i < sim.n_cells(); ++i) {
    const auto c = sim.cell(i);
    ASSERT_GE(c.type, 0);
    ASSERT_LT(c.type, cfg.n_types);
    ASSERT_GE(c.batch, 0);
    ASSERT_LT(c.batch, cfg.n_batches);
    EXPECT_GE(c.contamination, cfg.contamination_min);
    EXPECT_LE(c.contamination, cfg.contamination_max);
    ++type_count[c.type];
    ++batch_count[c.batch];
    if (c.doublet) {
      ++doublets;
      EXPECT_NE(c.partner_type, c.type);
      EXPECT_GE(c.partner_type, 0);
    } else {
      EXPECT_EQ(c.partner_type, -1);
    }
  }
  EXPECT_NEAR(doublets / 4000.0, 0.06, 0.015);
  for (int k = 0; k < cfg.n_types; ++k) EXPECT_NEAR(type_count[k] / 4000.0, sim.type_weight(k), 0.03);
  for (int b = 0; b < cfg.n_batches; ++b) EXPECT_NEAR(batch_count[b] / 4000.0, 1.0 / cfg.n_batches, 0.03);
  // profiles and ambient profiles are simplices; marker genes are up in their type
  for (int b = 0; b < cfg.n_batches; ++b) {
    double a = 0;
    for (int g = 0; g < 300; ++g) a += sim.ambient(b, g);
    EXPECT_NEAR(a, 1.0, 1e-12);
    for (int k = 0; k < cfg.n_types; ++k) {
      double p = 0;
      for (int g = 0; g < 300; ++g) p += sim.profile(k, b, g);
      EXPECT_NEAR(p, 1.0, 1e-12);
    }
  }
  int markers = 0, higher = 0;
  for (int g = 0; g < 300; ++g) {
    const int k = sim.marker_of(g);
    if (k < 0) continue;
    ++markers;
    higher += sim.profile(k, 0, g) > sim.profile((k + 1) % cfg.n_types, 0, g) ? 1 : 0;
  }
  EXPECT_GT(higher, 0.9 * markers);  // modules may overlap, so not every single gene
  EXPECT_GT(markers, 100);
#ifdef DIFFBIO_ENABLE_HDF5
  const auto obs = sim.obs(10, 20);
  EXPECT_EQ(obs.n_rows(), 10u);
  for (const char* col : {"cell_type", "batch", "is_doublet", "contamination", "true_library_size", "doublet_partner_type"})
    EXPECT_NE(obs.find(col), nullptr) << col;
  EXPECT_EQ(obs.find("cell_type")->integer[3], sim.cell(13).type);
  EXPECT_EQ(sim.var().n_rows(), 300u);
#endif
}

// Type-restricted genes are off (× off_expression relative to their own type, batch and
// marker effects aside) in every other type, so their counts there are ambient RNA only.
TEST(SingleCellSimulator, RestrictedGenesAreOffInOtherTypes) {
  auto cfg = small(0, 3000);
  cfg.markers_per_type = 0;  // no marker fold changes: off genes differ only by off_expression
  const SingleCellSimulator sim(cfg);
  int restricted = 0;
  for (int g = 0; g < 3000; ++g) {
    const int k = sim.restricted_to(g);
    if (k < 0) continue;
    ++restricted;
    ASSERT_LT(k, cfg.n_types);
    const int j = (k + 1) % cfg.n_types;
    // profiles are normalised per type: compare ratios to an unrestricted reference gene
    int ref = 0;
    while (sim.restricted_to(ref) >= 0) ++ref;
    const double rk = sim.profile(k, 0, g) / sim.profile(k, 0, ref);
    const double rj = sim.profile(j, 0, g) / sim.profile(j, 0, ref);
    EXPECT_NEAR(rj / rk, cfg.off_expression, 1e-9 * cfg.off_expression) << "gene " << g;
  }
  EXPECT_NEAR(restricted / 3000.0, cfg.restricted_fraction, 0.02);
  cfg.restricted_fraction = 0;
  const SingleCellSimulator none(cfg);
  for (int g = 0; g < 3000; ++g) ASSERT_EQ(none.restricted_to(g), -1);
}

TEST(SingleCellSimulator, NegativeBinomialMoments) {
  // One type, one batch, no contamination, no doublets, equal libraries: counts of gene g are
  // NB(L p_g, θ_g): check mean and variance μ + μ²/θ over many cells for a few expressed genes.
  SingleCellSimConfig cfg = small(6000, 200);
  cfg.n_types = 1;
  cfg.n_batches = 1;
  cfg.doublet_rate = 0;
  cfg.contamination_min = cfg.contamination_max = 0;
  cfg.library_log_sd = 0;
  cfg.batch_depth_sd = 0;
  cfg.library_log_mean = std::log(2000.0);
  const SingleCellSimulator sim(cfg);
  const auto m = sim.rows(0, cfg.n_cells);
  std::vector<double> s1(200, 0.0), s2(200, 0.0);
  for (std::int64_t i = 0; i < m.n_rows; ++i)
    for (auto e = m.row_begin(i); e < m.row_end(i); ++e) {
      s1[m.indices[e]] += m.data[e];
      s2[m.indices[e]] += static_cast<double>(m.data[e]) * m.data[e];
    }
  int checked = 0;
  for (int g = 0; g < 200; ++g) {
    const double mu = 2000.0 * sim.profile(0, 0, g);
    if (mu < 0.5) continue;  // too few counts for a tight moment check
    const double n = static_cast<double>(cfg.n_cells);
    const double mean = s1[g] / n, var = s2[g] / n - mean * mean;
    const double expect_var = mu + mu * mu / sim.dispersion(g);
    EXPECT_NEAR(mean / mu, 1.0, 6 * std::sqrt(expect_var / n) / mu + 0.01) << "gene " << g;
    EXPECT_NEAR(var / expect_var, 1.0, 0.15) << "gene " << g << " mu " << mu;
    ++checked;
  }
  EXPECT_GT(checked, 10);  // including large means (gamma-Poisson path)
}

TEST(SingleCellSimulator, ChunkInvariant) {
  auto cfg = small(700, 500);
  const SingleCellSimulator whole(cfg);
  cfg.scratch_rows = 37;
  const SingleCellSimulator chunked(cfg);
  const auto a = whole.rows(0, 700);
  for (std::int64_t b0 : {0, 123, 400}) {
    const std::int64_t b1 = std::min<std::int64_t>(700, b0 + 251);
    const auto part = chunked.rows(b0, b1);
    EXPECT_EQ(part.first_row, b0);
    for (std::int64_t r = 0; r < part.n_rows; ++r) {
      const auto ga = a.row_begin(b0 + r), gb = part.row_begin(r);
      ASSERT_EQ(a.row_end(b0 + r) - ga, part.row_end(r) - gb) << "row " << b0 + r;
      for (std::int64_t e = 0; e < part.row_end(r) - gb; ++e) {
        EXPECT_EQ(a.indices[ga + e], part.indices[gb + e]);
        EXPECT_EQ(a.data[ga + e], part.data[gb + e]);
      }
    }
  }
  // another seed gives another matrix
  cfg.seed = 6;
  EXPECT_NE(SingleCellSimulator(cfg).rows(0, 50).data, whole.rows(0, 50).data);
}

TEST(SingleCellSimulator, EmptyDropletsHoldOnlyAmbientRna) {
  auto cfg = small(400, 800);
  const SingleCellSimulator plain(cfg);
  cfg.n_empty = 3000;
  cfg.scratch_rows = 129;
  const SingleCellSimulator sim(cfg);
  ASSERT_EQ(sim.n_barcodes(), 3400);
  // the cells are the same cells with or without empty droplets
  EXPECT_EQ(sim.rows(0, 400).data, plain.rows(0, 400).data);
  EXPECT_EQ(sim.rows(0, 400).indices, plain.rows(0, 400).indices);
  // truth: type NA, contamination 1, library in [min, max], batch in range
  std::vector<double> per_batch(static_cast<std::size_t>(cfg.n_batches), 0.0);
  for (std::int64_t i = 400; i < 3400; ++i) {
    const auto c = sim.cell(i);
    ASSERT_TRUE(c.empty);
    EXPECT_FALSE(c.doublet);
    EXPECT_EQ(c.type, -1);
    EXPECT_EQ(c.contamination, 1.0);
    EXPECT_GE(c.library, cfg.empty_library_min);
    EXPECT_LE(c.library, cfg.empty_library_max);
    per_batch[static_cast<std::size_t>(c.batch)] += 1;
  }
  for (double n : per_batch) EXPECT_GT(n, 800);
  EXPECT_FALSE(sim.cell(399).empty);
  // counts: Poisson(L a_b): the pooled empties of batch 0 follow that channel's ambient profile,
  // and their UMIs follow the expected libraries
  const auto m = sim.rows(400, 3400);
  EXPECT_EQ(m.check(), "");
  std::vector<double> pooled(static_cast<std::size_t>(cfg.n_genes), 0.0);
  double umis = 0, expected = 0, pooled_total = 0;
  for (std::int64_t r = 0; r < m.n_rows; ++r) {
    const auto c = sim.cell(400 + r);
    expected += c.library;
    for (auto e = m.row_begin(r); e < m.row_end(r); ++e) {
      umis += m.data[e];
      if (c.batch == 0) pooled[static_cast<std::size_t>(m.indices[e])] += m.data[e], pooled_total += m.data[e];
    }
  }
  EXPECT_NEAR(umis / expected, 1.0, 0.03);
  double tv = 0;  // total variation distance between the pooled empties and the true ambient
  for (std::int64_t g = 0; g < cfg.n_genes; ++g) tv += 0.5 * std::fabs(pooled[g] / pooled_total - sim.ambient(0, g));
  EXPECT_LT(tv, 0.1) << "pooled UMIs " << pooled_total;
  // a cell's profile is far from the ambient (the test above would notice a wrong profile)
  double tv_cell = 0;
  for (std::int64_t g = 0; g < cfg.n_genes; ++g) tv_cell += 0.5 * std::fabs(sim.profile(0, 0, g) - sim.ambient(0, g));
  EXPECT_GT(tv_cell, 0.1);
#ifdef DIFFBIO_ENABLE_HDF5
  const auto obs = sim.obs(398, 402);
  const auto* e = obs.find("is_empty");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->integer, (std::vector<std::int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(obs.find("cell_type")->integer[2], -1);
  EXPECT_EQ(obs.index[2].rfind("empty0-", 0), 0u);
#endif
}

TEST(SingleCellSimulator, RejectsBadConfigurations) {
  auto c = small();
  c.n_genes = 0;
  EXPECT_THROW(SingleCellSimulator{c}, Error);
  c = small();
  c.n_types = 1;  // doublets need two types
  EXPECT_THROW(SingleCellSimulator{c}, Error);
  c = small();
  c.contamination_min = 0.3;
  c.contamination_max = 0.2;
  EXPECT_THROW(SingleCellSimulator{c}, Error);
  c = small();
  c.n_empty = -1;
  EXPECT_THROW(SingleCellSimulator{c}, Error);
  c = small();
  c.empty_library_min = 0;
  EXPECT_THROW(SingleCellSimulator{c}, Error);
}

}  // namespace
