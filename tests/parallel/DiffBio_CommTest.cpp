// SPDX-License-Identifier: BSD-3-Clause
// shard_rows (coverage, disjointness, block alignment) and the one-rank Comm path.
#include <DiffBio_Comm.hpp>
#include <DiffBio_TestBackend.hpp>
#include "DiffBio_ParallelTestUtils.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using diffbio_test::world;

TEST(ShardRows, CoversDisjointAndAligned) {
  for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 65u, 100u, 1000u}) {
    for (int size : {1, 2, 3, 4, 7}) {
      for (std::size_t block : {1u, 4u, 8u, 16u, 128u}) {
        const std::string ctx = "n=" + std::to_string(n) + " size=" + std::to_string(size) +
                                " block=" + std::to_string(block);
        std::size_t expected_begin = 0;
        std::size_t non_multiple = 0;
        for (int r = 0; r < size; ++r) {
          const auto s = diffbio::shard_rows(n, r, size, block);
          ASSERT_LE(s.begin, s.end) << ctx;
          ASSERT_LE(s.end, n) << ctx;
          if (s.empty()) continue;
          // Contiguous and in rank order: together they cover [0, n) exactly once.
          EXPECT_EQ(s.begin, expected_begin) << ctx << " rank " << r;
          expected_begin = s.end;
          EXPECT_EQ(s.begin % block, 0u) << ctx << " rank " << r;
          if (s.size() % block != 0) {
            ++non_multiple;
            EXPECT_EQ(s.end, n) << ctx << ": only the last shard may be short";
          }
        }
        EXPECT_EQ(expected_begin, n) << ctx;
        EXPECT_LE(non_multiple, 1u) << ctx;
      }
    }
  }
}

TEST(ShardRows, Balanced) {
  // 10 blocks of 4 over 3 ranks: 4, 3, 3 blocks; the last one is 2 rows short (n = 38).
  const auto a = diffbio::shard_rows(38, 0, 3, 4);
  const auto b = diffbio::shard_rows(38, 1, 3, 4);
  const auto c = diffbio::shard_rows(38, 2, 3, 4);
  EXPECT_EQ(a.begin, 0u);
  EXPECT_EQ(a.end, 16u);
  EXPECT_EQ(b.begin, 16u);
  EXPECT_EQ(b.end, 28u);
  EXPECT_EQ(c.begin, 28u);
  EXPECT_EQ(c.end, 38u);
  // More ranks than blocks: the extra ranks are empty and sit at n.
  const auto e = diffbio::shard_rows(5, 3, 4, 4);
  EXPECT_TRUE(e.empty());
  EXPECT_EQ(e.begin, 5u);
  // The first shard is the largest (the training loop sizes its buffers from it).
  for (int size : {2, 3, 5})
    for (int r = 0; r < size; ++r)
      EXPECT_LE(diffbio::shard_rows(101, r, size, 8).size(),
                diffbio::shard_rows(101, 0, size, 8).size());
}

TEST(ShardRows, RejectsBadArguments) {
  EXPECT_THROW(diffbio::shard_rows(10, 0, 0, 1), diffbio::Error);
  EXPECT_THROW(diffbio::shard_rows(10, 2, 2, 1), diffbio::Error);
  EXPECT_THROW(diffbio::shard_rows(10, -1, 2, 1), diffbio::Error);
  EXPECT_THROW(diffbio::shard_rows(10, 0, 1, 0), diffbio::Error);
}

TEST(Comm, OneRankPath) {
  auto& comm = world();
  // Test binaries are not started under mpiexec: a one-rank world with or without MPI.
  ASSERT_EQ(comm.size(), 1);
  EXPECT_EQ(comm.rank(), 0);
  comm.barrier();
  EXPECT_EQ(comm.allreduce_sum(2.5), 2.5);
  EXPECT_EQ(comm.allreduce_max(-3.0), -3.0);
  std::vector<double> v{1, 2, 3};
  comm.broadcast(v, 0);
  EXPECT_EQ(v, (std::vector<double>{1, 2, 3}));
  std::string s = "unchanged";
  comm.broadcast(s, 0);
  EXPECT_EQ(s, "unchanged");
  EXPECT_THROW(comm.broadcast(v, 1), diffbio::Error);
  const auto full = diffbio::shard_rows(17, comm.rank(), comm.size(), 4);
  EXPECT_EQ(full.begin, 0u);
  EXPECT_EQ(full.end, 17u);
}

TEST(Comm, AllreduceView) {
  auto& comm = world();
  Kokkos::View<double*, TEST_MEMSPACE> v(diffbio::label("test::v"), 5);
  Kokkos::parallel_for(diffbio::label("test::fill"), Kokkos::RangePolicy<TEST_EXECSPACE>(0, 5),
                       KOKKOS_LAMBDA(const int i) { v(i) = 0.5 * i; });
  comm.allreduce_sum(v);  // one rank: the values are unchanged, the writes are fenced
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(h(i), 0.5 * i * comm.size());
  // A contiguous subview (a parameter block) works the same way.
  comm.allreduce_sum(Kokkos::subview(v, std::make_pair(1, 3)));
}

TEST(Comm, RunCollectivelyRethrowsWithCode) {
  auto& comm = world();
  EXPECT_NO_THROW(diffbio::run_collectively(comm, [] {}));
  try {
    diffbio::run_collectively(comm, [] {
      throw diffbio::Error(diffbio::ExitCode::numerical, "boom");
    });
    FAIL() << "expected an Error";
  } catch (const diffbio::Error& e) {
    EXPECT_EQ(e.code(), diffbio::ExitCode::numerical);
    EXPECT_STREQ(e.what(), "boom");
  }
  try {
    diffbio::run_collectively(comm, [] { throw std::runtime_error("oops"); });
    FAIL() << "expected an Error";
  } catch (const diffbio::Error& e) {
    EXPECT_EQ(e.code(), diffbio::ExitCode::internal);
  }
}

}  // namespace
