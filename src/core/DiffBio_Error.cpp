// SPDX-License-Identifier: BSD-3-Clause
#include <DiffBio_Error.hpp>

namespace diffbio {

Error input_error(const std::string& file, long long record, const std::string& problem) {
  std::string msg = file;
  if (record >= 0) msg += ": record " + std::to_string(record);
  msg += ": " + problem;
  return Error(ExitCode::input_error, msg);
}

}  // namespace diffbio
