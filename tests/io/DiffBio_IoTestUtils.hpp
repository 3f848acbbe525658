// SPDX-License-Identifier: BSD-3-Clause
// Shared helpers of the I/O tests: a fresh temporary directory per test, fixture-file writing,
// and the checks every user-facing error must pass (right exit code, names the file and the
// record, mentions the problem, fits on one line).
#ifndef DIFFBIO_IOTESTUTILS_HPP
#define DIFFBIO_IOTESTUTILS_HPP

#include <DiffBio_Error.hpp>

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace diffbio::test {

namespace fs = std::filesystem;

/// A new empty directory under the system temp directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string test = info ? std::string(info->test_suite_name()) + "." + info->name()
                            : std::string("io");
    // Parameterised test names contain '/', which must not become a path separator.
    for (char& c : test)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '_';
    std::random_device rd;
    for (int attempt = 0;; ++attempt) {
      path_ = fs::temp_directory_path() /
              ("diffbio-" + test + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
      if (fs::create_directory(path_)) break;
      if (attempt > 100) throw std::runtime_error("cannot create a temporary test directory");
    }
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

  /// File names in the directory, sorted: lets tests assert that nothing partial was left.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  fs::path path_;
};

/// Writes \p bytes verbatim (binary: CRLF and odd bytes stay as given).
inline void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << bytes;
  ASSERT_TRUE(f.good()) << "cannot write fixture " << p;
}

inline std::string read_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// Runs \p f, which must throw diffbio::Error, and returns the error.
template <class F>
diffbio::Error catch_error(F&& f) {
  try {
    f();
  } catch (const diffbio::Error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected diffbio::Error, got another exception: " << e.what();
    return diffbio::Error(diffbio::ExitCode::success, "");
  }
  ADD_FAILURE() << "expected diffbio::Error, nothing was thrown";
  return diffbio::Error(diffbio::ExitCode::success, "");
}

/// Checks the contract of an input error: ExitCode::input_error, message
/// "<file>: record <record>: ..." (no record part if \p record < 0) containing \p problem,
/// and a single line.
inline void expect_input_error(const diffbio::Error& e, const fs::path& file, long long record,
                               const std::string& problem) {
  const std::string msg = e.what();
  EXPECT_EQ(e.code(), diffbio::ExitCode::input_error) << msg;
  const std::string prefix =
      file.string() + (record >= 0 ? ": record " + std::to_string(record) + ": " : ": ");
  EXPECT_EQ(msg.rfind(prefix, 0), 0u) << "message does not start with '" << prefix << "': " << msg;
  EXPECT_NE(msg.find(problem), std::string::npos) << "no '" << problem << "' in: " << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "multi-line message: " << msg;
  EXPECT_EQ(msg.find('\r'), std::string::npos) << "message contains CR: " << msg;
}

}  // namespace diffbio::test

#endif
