// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Schedule.hpp
/// \brief Temperature schedules τ(step): constant, exponential and linear annealing.
#ifndef DIFFBIO_SCHEDULE_HPP
#define DIFFBIO_SCHEDULE_HPP

#include <DiffBio_Error.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace diffbio {

struct TemperatureSchedule {
  enum class Kind { constant, exponential, linear };
  Kind kind = Kind::constant;
  double start = 1.0;    ///< τ at step 0
  double end = 1.0;      ///< floor (exponential) or final value (linear)
  double rate = 1.0;     ///< exponential: τ ← τ·rate per step
  long long steps = 1;   ///< linear: steps to go from start to end

  static TemperatureSchedule constant_at(double tau) { return {Kind::constant, tau, tau, 1.0, 1}; }
  static TemperatureSchedule exponential(double start, double rate, double floor) {
    return {Kind::exponential, start, floor, rate, 1};
  }
  static TemperatureSchedule linear(double start, double end, long long steps) {
    return {Kind::linear, start, end, 1.0, std::max(1LL, steps)};
  }
  static TemperatureSchedule parse_kind(const std::string& kind, double start, double end,
                                        double rate, long long steps) {
    if (kind == "constant") return constant_at(start);
    if (kind == "exponential") return exponential(start, rate, end);
    if (kind == "linear") return linear(start, end, steps);
    throw Error(ExitCode::usage, "unknown temperature schedule '" + kind +
                                     "' (expected constant, exponential or linear)");
  }

  double at(long long step) const {
    switch (kind) {
      case Kind::constant: return start;
      case Kind::exponential: return std::max(end, start * std::pow(rate, static_cast<double>(step)));
      case Kind::linear: {
        const double f = std::min(1.0, static_cast<double>(step) / static_cast<double>(steps));
        return start + f * (end - start);
      }
    }
    return start;
  }
};

}  // namespace diffbio

#endif
