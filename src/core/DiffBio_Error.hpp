// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Error.hpp
/// \brief Host-side errors with a documented process exit code.
///
/// Every user-facing failure (bad file, bad record, bad option) is thrown as diffbio::Error, whose
/// what() is one line naming the file, the record and the problem. apps/ map Error::code() to the
/// process exit status; the table is in README.md ("Exit codes"). Never thrown inside kernels.
#ifndef DIFFBIO_ERROR_HPP
#define DIFFBIO_ERROR_HPP

#include <stdexcept>
#include <string>

namespace diffbio {

/// Process exit codes of the diffbio executable (documented in README.md).
enum class ExitCode : int {
  success = 0,
  usage = 2,          ///< bad command line or configuration file
  input_error = 3,    ///< malformed or unreadable input file (FASTQ, HDF5, ...)
  output_error = 4,   ///< cannot write an output or checkpoint
  numerical = 5,      ///< a NaN/inf or an exactness guard tripped during a run
  parallel = 6,       ///< MPI or backend set-up failure
  internal = 70       ///< a bug: an invariant of DiffBio itself was violated
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

/// An input-file error: "<file>: record <n>: <problem>" (record < 0 omits the record part).
Error input_error(const std::string& file, long long record, const std::string& problem);

}  // namespace diffbio

/// Precondition check on the host: throws diffbio::Error(internal) naming the failed condition.
#define DIFFBIO_EXPECTS(cond, msg)                                                       \
  do {                                                                                   \
    if (!(cond))                                                                         \
      throw ::diffbio::Error(::diffbio::ExitCode::internal,                              \
                             std::string("DiffBio: precondition failed: ") + (msg));     \
  } while (0)

#endif
