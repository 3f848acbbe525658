// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Pipeline.hpp
/// \brief An operator-level tape: stages run forward in order and their adjoints in reverse.
///
/// There is no tape of scalar operations: each stage is a whole operator whose forward and
/// hand-derived adjoint are Kokkos kernels. A stage is a pair of host closures that capture the Views
/// they read and write (inputs, outputs, workspace, gradient buffers); the Pipeline only orders them.
/// Host closures are fine here: they launch kernels, they are never called inside one.
#ifndef DIFFBIO_PIPELINE_HPP
#define DIFFBIO_PIPELINE_HPP

#include <Kokkos_Core.hpp>

#include <functional>
#include <string>
#include <vector>

namespace diffbio {

class Pipeline {
 public:
  struct Stage {
    std::string name;
    std::function<void()> forward;
    std::function<void()> adjoint;  ///< accumulates (+=) into the captured gradient Views
  };

  /// Appends a stage; stages run forward in the order added.
  Pipeline& add(std::string name, std::function<void()> forward, std::function<void()> adjoint) {
    stages_.push_back(Stage{std::move(name), std::move(forward), std::move(adjoint)});
    return *this;
  }

  /// Runs every forward in order.
  void forward() const {
    for (const auto& s : stages_) {
      Kokkos::Profiling::pushRegion("DiffBio::" + s.name + "::forward");
      s.forward();
      Kokkos::Profiling::popRegion();
    }
  }
  /// Runs every adjoint in reverse order (the reverse sweep). The caller seeds the gradient of
  /// the last stage's outputs (usually through a loss) and zeroes parameter gradients beforehand.
  void adjoint() const {
    for (auto it = stages_.rbegin(); it != stages_.rend(); ++it) {
      if (!it->adjoint) continue;
      Kokkos::Profiling::pushRegion("DiffBio::" + it->name + "::adjoint");
      it->adjoint();
      Kokkos::Profiling::popRegion();
    }
  }
  const std::vector<Stage>& stages() const { return stages_; }

 private:
  std::vector<Stage> stages_;
};

}  // namespace diffbio

#endif
