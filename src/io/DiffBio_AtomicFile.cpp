// SPDX-License-Identifier: BSD-3-Clause
#include <DiffBio_AtomicFile.hpp>
#include <DiffBio_Error.hpp>

#include <unistd.h>

#include <atomic>
#include <system_error>
#include <utility>

namespace diffbio::io {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void output_error(const fs::path& target, const std::string& problem) {
  throw Error(ExitCode::output_error, target.string() + ": " + problem);
}

// The pid keeps concurrent processes (e.g. MPI ranks writing into one directory) apart; the
// counter keeps several outputs of the same process to the same target apart.
std::string temp_suffix() {
  static std::atomic<unsigned long long> counter{0};
  return ".tmp." + std::to_string(static_cast<long long>(::getpid())) + "." +
         std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}

}  // namespace

AtomicOutput::AtomicOutput(fs::path target) : target_(std::move(target)) {
  if (target_.empty() || !target_.has_filename())
    output_error(target_, "cannot write: not a file path");
  // Check the directory up front: otherwise the writer would only fail later with a less
  // specific "cannot open" on the temporary file, whose name the user never asked for.
  const fs::path dir = target_.has_parent_path() ? target_.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    output_error(target_, "cannot write: directory '" + dir.string() + "' does not exist");
  if (fs::is_directory(target_, ec)) output_error(target_, "cannot write: is a directory");
  temp_ = target_;
  temp_ += temp_suffix();
}

AtomicOutput::~AtomicOutput() { abandon(); }

AtomicOutput::AtomicOutput(AtomicOutput&& other) noexcept
    : target_(std::move(other.target_)),
      temp_(std::move(other.temp_)),
      committed_(other.committed_),
      active_(other.active_) {
  other.active_ = false;
}

AtomicOutput& AtomicOutput::operator=(AtomicOutput&& other) noexcept {
  if (this != &other) {
    abandon();
    target_ = std::move(other.target_);
    temp_ = std::move(other.temp_);
    committed_ = other.committed_;
    active_ = other.active_;
    other.active_ = false;
  }
  return *this;
}

void AtomicOutput::commit() {
  DIFFBIO_EXPECTS(active_ && !committed_, "AtomicOutput::commit() called twice or after a move");
  std::error_code ec;
  if (!fs::exists(temp_, ec))
    output_error(target_, "cannot commit: temporary file '" + temp_.string() + "' was not written");
  fs::rename(temp_, target_, ec);
  if (ec) output_error(target_, "cannot rename temporary file into place: " + ec.message());
  committed_ = true;
}

void AtomicOutput::abandon() noexcept {
  if (active_ && !committed_) {
    std::error_code ec;  // best effort: a destructor path must not throw
    fs::remove(temp_, ec);
  }
  active_ = false;
}

}  // namespace diffbio::io
