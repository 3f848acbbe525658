// SPDX-License-Identifier: BSD-3-Clause
// H5File: round trips of every dataset and attribute type through nested groups, one-line
// input errors for files that are not (or no longer) HDF5, and no leftovers from failed writes.
#include <DiffBio_Config.hpp>

#ifdef DIFFBIO_ENABLE_HDF5

#include <DiffBio_HDF5.hpp>

#include "DiffBio_IoTestUtils.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <limits>

namespace {

using diffbio::ExitCode;
using diffbio::io::H5File;
using diffbio::test::catch_error;
using diffbio::test::expect_input_error;
using diffbio::test::TempDir;
using diffbio::test::write_bytes;
using Dims = std::vector<std::size_t>;
using Names = std::vector<std::string>;

// A small but complete file: what the round-trip and corruption tests start from.
void write_sample(const std::string& path) {
  H5File f = H5File::create(path);
  f.write_dataset("/params/theta", std::vector<double>{1.5, -2.25, 3e-300, 0.0, 1e300, -0.0},
                  {2, 3});
  f.write_dataset("params/nested/deep/w", std::vector<float>{0.5f, -1.25f, 3.0e38f});
  f.write_dataset("/counts",
                  std::vector<std::int64_t>{0, -1, std::numeric_limits<std::int64_t>::max(),
                                            std::numeric_limits<std::int64_t>::min()});
  f.write_dataset("/meta/names", std::vector<std::string>{"read/1", "", "üñí©ødé", "x y"});
  f.write_dataset("/empty", std::vector<double>{});
  f.write_attribute("/", "format", "diffbio-test");
  f.write_attribute("/", "version", 3);  // int literal -> int64 overload
  f.write_attribute("/params/theta", "learning_rate", 0.125);
  f.write_attribute("/params/theta", "step", std::int64_t{-42});
  f.write_attribute("/new/group", "note", std::string("created on demand"));
  f.write_attribute("/", "version", 4);  // attributes are replaced, not duplicated
  f.close_and_commit();
}

TEST(HDF5, RoundTrip) {
  TempDir dir;
  const std::string path = (dir / "sample.h5").string();
  write_sample(path);
  EXPECT_EQ(dir.entries(), Names{"sample.h5"});  // temporary renamed away

  const H5File f = H5File::open_read(path);
  EXPECT_FALSE(f.writable());
  EXPECT_TRUE(f.has("/"));
  EXPECT_TRUE(f.has("/params"));
  EXPECT_TRUE(f.has("params/theta"));
  EXPECT_TRUE(f.has("/params/nested/deep"));
  EXPECT_TRUE(f.has("/new/group"));
  EXPECT_FALSE(f.has("/nope"));
  EXPECT_FALSE(f.has("/nope/deeper"));
  EXPECT_FALSE(f.has("/params/theta/child"));  // a dataset has no children

  Dims dims;
  EXPECT_EQ(f.read_dataset_double("/params/theta", &dims),
            (std::vector<double>{1.5, -2.25, 3e-300, 0.0, 1e300, -0.0}));
  EXPECT_EQ(dims, (Dims{2, 3}));
  EXPECT_EQ(f.dataset_dims("/params/theta"), (Dims{2, 3}));

  EXPECT_EQ(f.read_dataset_float("/params/nested/deep/w", &dims),
            (std::vector<float>{0.5f, -1.25f, 3.0e38f}));
  EXPECT_EQ(dims, Dims{3});
  // float -> double is exact, so the double reader sees the same values.
  EXPECT_EQ(f.read_dataset_double("/params/nested/deep/w"),
            (std::vector<double>{0.5, -1.25, static_cast<double>(3.0e38f)}));

  EXPECT_EQ(f.read_dataset_int64("/counts"),
            (std::vector<std::int64_t>{0, -1, std::numeric_limits<std::int64_t>::max(),
                                       std::numeric_limits<std::int64_t>::min()}));
  EXPECT_EQ(f.read_dataset_string("/meta/names", &dims),
            (std::vector<std::string>{"read/1", "", "üñí©ødé", "x y"}));
  EXPECT_EQ(dims, Dims{4});
  EXPECT_TRUE(f.read_dataset_double("/empty", &dims).empty());
  EXPECT_EQ(dims, Dims{0});

  EXPECT_EQ(f.read_attribute_string("/", "format"), "diffbio-test");
  EXPECT_EQ(f.read_attribute_int64("/", "version"), 4);
  EXPECT_EQ(f.read_attribute_double("/params/theta", "learning_rate"), 0.125);
  EXPECT_EQ(f.read_attribute_int64("/params/theta", "step"), -42);
  EXPECT_EQ(f.read_attribute_double("/params/theta", "step"), -42.0);  // int -> double is fine
  EXPECT_EQ(f.read_attribute_string("new/group", "note"), "created on demand");
  EXPECT_TRUE(f.has_attribute("/params/theta", "step"));
  EXPECT_FALSE(f.has_attribute("/params/theta", "nope"));
  EXPECT_FALSE(f.has_attribute("/nope", "step"));
}

TEST(HDF5, MultiDimensionalShapes) {
  TempDir dir;
  const std::string path = (dir / "shapes.h5").string();
  std::vector<double> cube(2 * 3 * 4);
  for (std::size_t i = 0; i < cube.size(); ++i) cube[i] = static_cast<double>(i);
  {
    H5File f = H5File::create(path);
    f.write_dataset("/cube", cube, {2, 3, 4});
    f.write_dataset("/grid", std::vector<std::string>{"a", "b", "c", "d"}, {2, 2});
    f.close_and_commit();
  }
  const H5File f = H5File::open_read(path);
  Dims dims;
  EXPECT_EQ(f.read_dataset_double("/cube", &dims), cube);  // row-major order preserved
  EXPECT_EQ(dims, (Dims{2, 3, 4}));
  EXPECT_EQ(f.read_dataset_string("/grid", &dims), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(dims, (Dims{2, 2}));
}

TEST(HDF5, CommitReplacesAnExistingFile) {
  TempDir dir;
  const std::string path = (dir / "f.h5").string();
  write_sample(path);
  {
    H5File f = H5File::create(path);
    f.write_dataset("/only", std::vector<double>{7.0});
    // Until the commit, readers still see the old, complete file.
    EXPECT_TRUE(H5File::open_read(path).has("/params/theta"));
    f.close_and_commit();
  }
  const H5File f = H5File::open_read(path);
  EXPECT_FALSE(f.has("/params"));
  EXPECT_EQ(f.read_dataset_double("/only"), std::vector<double>{7.0});
  EXPECT_EQ(dir.entries(), Names{"f.h5"});
}

// ---- bad input files: one-line input_error, nothing from HDF5 on stderr ----------------------

void expect_open_fails(const std::filesystem::path& path, const std::string& problem) {
  ::testing::internal::CaptureStderr();
  const diffbio::Error e = catch_error([&] { H5File::open_read(path.string()); });
  const std::string printed = ::testing::internal::GetCapturedStderr();
  expect_input_error(e, path, -1, problem);
  EXPECT_EQ(printed, "") << "HDF5 printed its error stack";
}

TEST(HDF5, GarbageFileIsNotHDF5) {
  TempDir dir;
  write_bytes(dir / "garbage.h5", "@r1\nACGT\n+\nIIII\n");
  expect_open_fails(dir / "garbage.h5", "not an HDF5 file");
  write_bytes(dir / "empty.h5", "");
  expect_open_fails(dir / "empty.h5", "not an HDF5 file");
}

TEST(HDF5, MissingFile) {
  TempDir dir;
  expect_open_fails(dir / "absent.h5", "cannot open file");
}

TEST(HDF5, TruncatedFile) {
  TempDir dir;
  const auto path = dir / "cut.h5";
  write_sample(path.string());
  const auto full = std::filesystem::file_size(path);
  // Cut in the middle (signature and superblock survive, the rest is gone) and inside the
  // signature itself; both must be clean one-line input errors.
  std::filesystem::resize_file(path, full / 2);
  expect_open_fails(path, "cannot open HDF5 file (truncated or corrupt?)");
  std::filesystem::resize_file(path, 4);
  expect_open_fails(path, "not an HDF5 file");
}

TEST(HDF5, CorruptInteriorIsAOneLineInputError) {
  TempDir dir;
  const auto path = dir / "corrupt.h5";
  {
    H5File f = H5File::create(path.string());
    for (int i = 0; i < 50; ++i)
      f.write_dataset("/d" + std::to_string(i), std::vector<double>(100, 1.0));
    f.close_and_commit();
  }
  {
    // Overwrite metadata after the superblock: the file still opens, lookups must fail cleanly.
    std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(800);
    const std::string junk(2000, '\xAB');
    io.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  ::testing::internal::CaptureStderr();
  const diffbio::Error e = catch_error([&] {
    const H5File f = H5File::open_read(path.string());
    for (int i = 0; i < 50; ++i) f.read_dataset_double("/d" + std::to_string(i));
  });
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  expect_input_error(e, path, -1, "corrupt");
}

TEST(HDF5, ReadErrorsNameFileAndDataset) {
  TempDir dir;
  const auto path = dir / "s.h5";
  write_sample(path.string());
  const H5File f = H5File::open_read(path.string());
  expect_input_error(catch_error([&] { f.read_dataset_double("/params/missing"); }), path, -1,
                     "dataset '/params/missing' not found");
  expect_input_error(catch_error([&] { f.read_dataset_double("/params"); }), path, -1,
                     "'/params' is a group, not a dataset");
  expect_input_error(catch_error([&] { f.read_dataset_double("/meta/names"); }), path, -1,
                     "dataset '/meta/names' holds string values, cannot read them as double");
  expect_input_error(catch_error([&] { f.read_dataset_int64("/params/theta"); }), path, -1,
                     "holds floating-point values, cannot read them as int64");
  expect_input_error(catch_error([&] { f.read_dataset_string("/counts"); }), path, -1,
                     "holds integer values, cannot read them as strings");
  expect_input_error(catch_error([&] { f.read_attribute_double("/", "nope"); }), path, -1,
                     "attribute 'nope' of '/' not found");
  expect_input_error(catch_error([&] { f.read_attribute_int64("/params/theta", "learning_rate"); }),
                     path, -1, "holds a floating-point value, cannot read it as int64");
  expect_input_error(catch_error([&] { f.read_attribute_double("/", "format"); }), path, -1,
                     "holds a string value");
}

// ---- failed writes leave nothing -------------------------------------------------------------

TEST(HDF5, AbandonedFileLeavesNothing) {
  TempDir dir;
  {
    H5File f = H5File::create((dir / "out.h5").string());
    f.write_dataset("/x", std::vector<double>{1, 2, 3});
    EXPECT_EQ(dir.entries().size(), 1u);  // only the temporary exists while writing
    EXPECT_FALSE(std::filesystem::exists(dir / "out.h5"));
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(HDF5, FailedWriteLeavesNoFile) {
  TempDir dir;
  const auto path = dir / "out.h5";
  const diffbio::Error e = catch_error([&] {
    H5File f = H5File::create(path.string());
    f.write_dataset("/params/theta", std::vector<double>{1, 2});
    f.write_dataset("/params/theta", std::vector<double>{3, 4});  // duplicate name
    f.close_and_commit();
  });
  EXPECT_EQ(e.code(), ExitCode::output_error);
  const std::string msg = e.what();
  EXPECT_EQ(msg.rfind(path.string() + ": dataset '/params/theta': already exists", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_TRUE(dir.entries().empty());
}

TEST(HDF5, DatasetCannotHoldChildren) {
  TempDir dir;
  const auto path = dir / "out.h5";
  H5File f = H5File::create(path.string());
  f.write_dataset("/a", std::vector<double>{1});
  const diffbio::Error e = catch_error([&] { f.write_dataset("/a/b", std::vector<double>{2}); });
  EXPECT_EQ(e.code(), ExitCode::output_error);
  EXPECT_EQ(std::string(e.what()),
            path.string() + ": dataset '/a/b': cannot create it inside '/a', which is not a group");
  EXPECT_FALSE(f.has("/a/b"));
}

TEST(HDF5, FailedWriteKeepsThePreviousFile) {
  TempDir dir;
  const auto path = dir / "out.h5";
  write_sample(path.string());
  const diffbio::Error e = catch_error([&] {
    H5File f = H5File::create(path.string());
    f.write_dataset("/x", std::vector<double>{1, 2, 3}, {2, 2});  // dims do not match the data
  });
  EXPECT_EQ(e.code(), ExitCode::internal);  // a caller bug, not an I/O condition
  EXPECT_NE(std::string(e.what()).find("dims [2, 2] do not match the 3 values"),
            std::string::npos)
      << e.what();
  EXPECT_TRUE(H5File::open_read(path.string()).has("/params/theta"));
  EXPECT_EQ(dir.entries(), Names{"out.h5"});
}

TEST(HDF5, CreateInMissingDirectoryIsOutputError) {
  TempDir dir;
  const auto path = dir / "missing" / "out.h5";
  const diffbio::Error e = catch_error([&] { H5File::create(path.string()); });
  EXPECT_EQ(e.code(), ExitCode::output_error);
  EXPECT_EQ(std::string(e.what()).rfind(path.string() + ": ", 0), 0u) << e.what();
}

TEST(HDF5, WritingAReadOnlyFileIsAPreconditionError) {
  TempDir dir;
  const auto path = dir / "s.h5";
  write_sample(path.string());
  H5File f = H5File::open_read(path.string());
  EXPECT_EQ(catch_error([&] { f.write_dataset("/y", std::vector<double>{1}); }).code(),
            ExitCode::internal);
}

TEST(HDF5, MovedFileStaysUsable) {
  TempDir dir;
  const std::string path = (dir / "m.h5").string();
  H5File a = H5File::create(path);
  H5File b = std::move(a);
  EXPECT_FALSE(a.is_open());
  b.write_dataset("/v", std::vector<std::int64_t>{5});
  b.close_and_commit();
  EXPECT_EQ(H5File::open_read(path).read_dataset_int64("/v"), std::vector<std::int64_t>{5});
  EXPECT_EQ(dir.entries(), Names{"m.h5"});
}

}  // namespace

#endif  // DIFFBIO_ENABLE_HDF5
