// SPDX-License-Identifier: BSD-3-Clause
// The quality model's data generator, label parsing and one-rank training properties. The
// multi-rank determinism is checked end to end by the `mpi` tests in tests.cmake.
#include <DiffBio_QualityModel.hpp>
#include <DiffBio_TestBackend.hpp>
#include "DiffBio_ParallelTestUtils.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

using diffbio_test::world;

TEST(SimulateReads, ReadDependsOnlyOnSeedAndGlobalIndex) {
  const auto all = diffbio::simulate_labelled_reads(50, 30, 7, 0);
  const auto head = diffbio::simulate_labelled_reads(20, 30, 7, 0);
  const auto tail = diffbio::simulate_labelled_reads(30, 30, 7, 20);
  ASSERT_EQ(all.records.size(), 50u);
  for (std::size_t i = 0; i < 50; ++i) {
    const auto& r = i < 20 ? head.records[i] : tail.records[i - 20];
    const int y = i < 20 ? head.labels[i] : tail.labels[i - 20];
    EXPECT_EQ(all.records[i].name, r.name);
    EXPECT_EQ(all.records[i].sequence, r.sequence);
    EXPECT_EQ(all.records[i].quality, r.quality);
    EXPECT_EQ(all.labels[i], y);
  }
  // Another seed gives other reads.
  const auto other = diffbio::simulate_labelled_reads(50, 30, 8, 0);
  int same = 0;
  for (std::size_t i = 0; i < 50; ++i) same += other.records[i].sequence == all.records[i].sequence;
  EXPECT_LT(same, 5);
}

TEST(SimulateReads, Statistics) {
  const auto sim = diffbio::simulate_labelled_reads(2000, 100, 3, 0);
  double ones = 0, gc_hi[2] = {0, 0}, n_hi[2] = {0, 0}, low = 0, total = 0;
  for (std::size_t i = 0; i < sim.records.size(); ++i) {
    const int y = sim.labels[i];
    ones += y;
    const auto& r = sim.records[i];
    EXPECT_EQ(diffbio::parse_label_token(r.name), y);
    for (std::size_t p = 0; p < r.sequence.size(); ++p) {
      const int q = r.quality[p] - 33;
      ASSERT_TRUE((q >= 25 && q <= 40) || (q >= 2 && q <= 14)) << q;
      ++total;
      if (q < 20) {
        ++low;
        continue;
      }
      n_hi[y] += 1;
      gc_hi[y] += (r.sequence[p] == 'G' || r.sequence[p] == 'C');
    }
  }
  EXPECT_NEAR(ones / 2000, 0.5, 0.05);
  EXPECT_NEAR(low / total, 0.3, 0.01);
  EXPECT_NEAR(gc_hi[1] / n_hi[1], 0.65, 0.01);
  EXPECT_NEAR(gc_hi[0] / n_hi[0], 0.35, 0.01);
}

TEST(Labels, ParseToken) {
  EXPECT_EQ(diffbio::parse_label_token("r1 label=1"), 1);
  EXPECT_EQ(diffbio::parse_label_token("r1 foo=2 label=0 bar"), 0);
  EXPECT_EQ(diffbio::parse_label_token("r1"), -1);
  EXPECT_EQ(diffbio::parse_label_token("label=1"), -1);  // the identifier is not a comment token
  EXPECT_EQ(diffbio::parse_label_token("r1 label=2"), -2);
  EXPECT_EQ(diffbio::parse_label_token("r1 label="), -2);
}

TEST(Labels, MissingLabelNamesFileAndRecord) {
  std::vector<diffbio::io::FastqRecord> recs(3);
  recs[0].name = "a label=1";
  recs[1].name = "b label=0";
  recs[2].name = "c";
  try {
    diffbio::labels_from_headers(recs, "x.fastq");
    FAIL() << "expected an input error";
  } catch (const diffbio::Error& e) {
    EXPECT_EQ(e.code(), diffbio::ExitCode::input_error);
    EXPECT_NE(std::string(e.what()).find("x.fastq: record 3"), std::string::npos) << e.what();
  }
  recs[2].name = "c label=1";
  EXPECT_EQ(diffbio::labels_from_headers(recs, "x.fastq"), (std::vector<int>{1, 0, 1}));
}

struct Data {
  diffbio::io::ReadBatch reads;
  std::vector<int> labels;
};
Data make_data(std::size_t n, std::size_t len) {
  auto sim = diffbio::simulate_labelled_reads(n, len, 11, 0);
  return {diffbio::io::pack_reads(sim.records), sim.labels};
}

TEST(QualityModel, FastModeLearns) {
  const auto d = make_data(400, 60);
  diffbio::TrainConfig cfg;
  cfg.epochs = 6;
  cfg.batch_size = 40;
  int calls = 0;
  const auto r = diffbio::train_quality_model(cfg, d.reads, d.labels, world(),
                                              [&](const diffbio::EpochStats&) { ++calls; });
  EXPECT_EQ(calls, 6);
  ASSERT_EQ(r.history.size(), 6u);
  EXPECT_EQ(r.steps, 60);
  EXPECT_LT(r.history.back().loss, r.history.front().loss);
  EXPECT_GT(r.history.back().accuracy, 0.8);
  // The filter moves its threshold up towards the gap between low (<= 14) and high (>= 25) Q.
  EXPECT_GT(r.theta, cfg.theta);
  EXPECT_EQ(r.parameters.size(), 7u);
  EXPECT_EQ(r.block("quality_filter/theta_log_scale").size(), 2u);
  EXPECT_EQ(r.block("linear_head/weight_bias").size(), 5u);
}

TEST(QualityModel, DeterministicIndependentOfShardBlock) {
  // One rank sees the whole minibatch whatever the block, but the buffer capacity and the padding
  // rows differ; exact grid sums must make that invisible, as they do across ranks.
  const auto d = make_data(150, 40);
  diffbio::TrainConfig cfg;
  cfg.epochs = 2;
  cfg.batch_size = 32;
  cfg.deterministic = true;
  cfg.block = 1;
  const auto a = diffbio::train_quality_model(cfg, d.reads, d.labels, world());
  cfg.block = 7;
  const auto b = diffbio::train_quality_model(cfg, d.reads, d.labels, world());
  ASSERT_EQ(a.parameters.size(), b.parameters.size());
  EXPECT_EQ(0, std::memcmp(a.parameters.data(), b.parameters.data(),
                           a.parameters.size() * sizeof(double)));
  EXPECT_EQ(a.history.back().loss, b.history.back().loss);
}

TEST(QualityModel, RejectsBadConfig) {
  const auto d = make_data(10, 20);
  diffbio::TrainConfig cfg;
  cfg.batch_size = 0;
  try {
    diffbio::train_quality_model(cfg, d.reads, d.labels, world());
    FAIL();
  } catch (const diffbio::Error& e) {
    EXPECT_EQ(e.code(), diffbio::ExitCode::usage);
  }
  cfg = {};
  cfg.scale = 0;
  EXPECT_THROW(diffbio::train_quality_model(cfg, d.reads, d.labels, world()), diffbio::Error);
}

TEST(QualityModel, DeterministicRangeGuard) {
  // With q = 2^-60 the exact range is 2^52·q = 1/256, less than one read's loss (about log 2):
  // the sums cannot be exact, and training must stop with ExitCode::numerical, not drift.
  const auto d = make_data(64, 30);
  diffbio::TrainConfig cfg;
  cfg.epochs = 1;
  cfg.batch_size = 64;
  cfg.deterministic = true;
  cfg.grid_exponent = -60;
  try {
    diffbio::train_quality_model(cfg, d.reads, d.labels, world());
    FAIL() << "expected the exact-range guard to trip";
  } catch (const diffbio::Error& e) {
    EXPECT_EQ(e.code(), diffbio::ExitCode::numerical) << e.what();
  }
}

}  // namespace
