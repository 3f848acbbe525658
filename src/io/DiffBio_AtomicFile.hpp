// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_AtomicFile.hpp
/// \brief All-or-nothing output files: write to a temporary sibling, then rename onto the target.
///
/// A run that fails (exception, bad input, full disk) must never leave a half-written output or
/// checkpoint that a later run could mistake for a good one. Every writer in DiffBio therefore
/// writes to `AtomicOutput::temp_path()` and calls `commit()` only once the file is complete.
/// The temporary file lives in the target's own directory so that the final rename stays on one
/// file system, where POSIX rename() atomically replaces the target.
#ifndef DIFFBIO_ATOMICFILE_HPP
#define DIFFBIO_ATOMICFILE_HPP

#include <filesystem>
#include <string>

namespace diffbio::io {

/// Owns the temporary file of one output until it is committed or abandoned.
///
/// Usage:
/// \code
///   AtomicOutput out("result.fastq");
///   std::ofstream f(out.temp_path());  // write everything, check the stream, close it
///   ...
///   out.commit();                      // result.fastq now appears, complete, in one step
/// \endcode
/// If `commit()` is never reached the destructor deletes the temporary file, so the target is
/// either untouched (an older version stays intact) or fully replaced.
///
/// Errors are thrown as diffbio::Error(ExitCode::output_error, "<target>: <problem>").
/// Not thread-safe per object; distinct objects may be used from distinct threads.
class AtomicOutput {
 public:
  /// Prepares a temporary path `<target>.tmp.<pid>.<counter>` next to \p target.
  /// Nothing is created on disk yet. Throws output_error if the target's directory does not
  /// exist or the target is a directory.
  explicit AtomicOutput(std::filesystem::path target);

  /// Removes the temporary file unless commit() succeeded. Never throws.
  ~AtomicOutput();

  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  /// Transfers ownership of the pending temporary file; \p other no longer deletes it.
  AtomicOutput(AtomicOutput&& other) noexcept;
  /// Abandons this object's own pending file (deleting it), then takes over \p other's.
  AtomicOutput& operator=(AtomicOutput&& other) noexcept;

  /// The final output path.
  const std::filesystem::path& target() const noexcept { return target_; }
  /// Where the writer must put the data before commit().
  const std::filesystem::path& temp_path() const noexcept { return temp_; }
  /// True once commit() has renamed the temporary file onto the target.
  bool committed() const noexcept { return committed_; }

  /// Atomically renames the temporary file onto the target (replacing an existing target).
  /// The writer must have flushed and closed the temporary file first. Throws output_error if
  /// the temporary file is missing or the rename fails; the temporary file is then still
  /// removed by the destructor. Calling commit() twice is a precondition violation.
  void commit();

  /// Deletes the temporary file now instead of at destruction (e.g. to free disk space early).
  void abandon() noexcept;

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  bool committed_ = false;
  bool active_ = true;  ///< false after a move-from: the object owns no file any more
};

}  // namespace diffbio::io

#endif
