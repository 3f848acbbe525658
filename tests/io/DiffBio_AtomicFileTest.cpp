// SPDX-License-Identifier: BSD-3-Clause
// AtomicOutput: a committed output appears complete under its name, an abandoned one leaves no
// trace, and an existing target survives until the replacement is committed.
#include <DiffBio_AtomicFile.hpp>

#include "DiffBio_IoTestUtils.hpp"

#include <gtest/gtest.h>

#include <optional>

namespace {

using diffbio::ExitCode;
using diffbio::io::AtomicOutput;
using diffbio::test::catch_error;
using diffbio::test::read_bytes;
using diffbio::test::TempDir;
using diffbio::test::write_bytes;
using Names = std::vector<std::string>;

TEST(AtomicOutput, TempPathIsASiblingOfTheTarget) {
  TempDir dir;
  AtomicOutput a(dir / "out.txt");
  AtomicOutput b(dir / "out.txt");
  EXPECT_EQ(a.target(), dir / "out.txt");
  EXPECT_EQ(a.temp_path().parent_path(), dir.path());
  EXPECT_EQ(a.temp_path().filename().string().rfind("out.txt.tmp.", 0), 0u) << a.temp_path();
  EXPECT_NE(a.temp_path(), b.temp_path());  // two writers of one target do not collide
  EXPECT_TRUE(dir.entries().empty());       // nothing is created before the writer writes
}

TEST(AtomicOutput, CommitMovesTheFileIntoPlace) {
  TempDir dir;
  {
    AtomicOutput out(dir / "out.txt");
    write_bytes(out.temp_path(), "complete");
    EXPECT_FALSE(std::filesystem::exists(dir / "out.txt"));  // invisible until commit
    out.commit();
    EXPECT_TRUE(out.committed());
  }
  EXPECT_EQ(read_bytes(dir / "out.txt"), "complete");
  EXPECT_EQ(dir.entries(), Names{"out.txt"});
}

TEST(AtomicOutput, AbandonedOutputLeavesNothing) {
  TempDir dir;
  {
    AtomicOutput out(dir / "out.txt");
    write_bytes(out.temp_path(), "partial");
    EXPECT_EQ(dir.entries().size(), 1u);
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AtomicOutput, ExceptionDuringWriteLeavesNothing) {
  TempDir dir;
  try {
    AtomicOutput out(dir / "out.txt");
    write_bytes(out.temp_path(), "partial");
    throw std::runtime_error("simulated failure");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AtomicOutput, ExistingTargetSurvivesUntilCommit) {
  TempDir dir;
  write_bytes(dir / "out.txt", "old");
  {
    AtomicOutput out(dir / "out.txt");
    write_bytes(out.temp_path(), "new but abandoned");
  }
  EXPECT_EQ(read_bytes(dir / "out.txt"), "old");
  {
    AtomicOutput out(dir / "out.txt");
    write_bytes(out.temp_path(), "new");
    EXPECT_EQ(read_bytes(dir / "out.txt"), "old");
    out.commit();
  }
  EXPECT_EQ(read_bytes(dir / "out.txt"), "new");
  EXPECT_EQ(dir.entries(), Names{"out.txt"});
}

TEST(AtomicOutput, ExplicitAbandon) {
  TempDir dir;
  AtomicOutput out(dir / "out.txt");
  write_bytes(out.temp_path(), "x");
  out.abandon();
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AtomicOutput, MoveTransfersOwnership) {
  TempDir dir;
  std::optional<AtomicOutput> outer;
  {
    AtomicOutput inner(dir / "out.txt");
    write_bytes(inner.temp_path(), "moved");
    outer.emplace(std::move(inner));
  }  // the moved-from object must not delete the file
  EXPECT_EQ(dir.entries().size(), 1u);
  outer->commit();
  EXPECT_EQ(read_bytes(dir / "out.txt"), "moved");
  outer.reset();
  EXPECT_EQ(dir.entries(), Names{"out.txt"});
}

TEST(AtomicOutput, CommitWithoutDataIsOutputError) {
  TempDir dir;
  AtomicOutput out(dir / "out.txt");
  const diffbio::Error e = catch_error([&] { out.commit(); });
  EXPECT_EQ(e.code(), ExitCode::output_error);
  const std::string msg = e.what();
  EXPECT_EQ(msg.rfind((dir / "out.txt").string() + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find("was not written"), std::string::npos) << msg;
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AtomicOutput, MissingDirectoryIsOutputError) {
  TempDir dir;
  const auto target = dir / "missing" / "out.txt";
  const diffbio::Error e = catch_error([&] { AtomicOutput out(target); });
  EXPECT_EQ(e.code(), ExitCode::output_error);
  const std::string msg = e.what();
  EXPECT_EQ(msg.rfind(target.string() + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(AtomicOutput, DirectoryTargetIsOutputError) {
  TempDir dir;
  const diffbio::Error e = catch_error([&] { AtomicOutput out(dir.path()); });
  EXPECT_EQ(e.code(), ExitCode::output_error);
  EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
}

}  // namespace
