// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Optimizer.hpp
/// \brief SGD (with momentum) and Adam over a model's contiguous parameter buffer: one kernel per
/// step, whatever the number of operators. State is exposed as named host vectors so it can be
/// checkpointed (HDF5) and restored bit for bit.
#ifndef DIFFBIO_OPTIMIZER_HPP
#define DIFFBIO_OPTIMIZER_HPP

#include <DiffBio_Compat.hpp>
#include <DiffBio_Parameters.hpp>

#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace diffbio {

namespace Impl {
template <class V, class G, class S>
struct SgdStep {
  V x;
  G g;
  S vel;
  double lr, momentum, scale;
  KOKKOS_INLINE_FUNCTION void operator()(const int i) const {
    const double gi = scale * static_cast<double>(g(i));
    const double v = momentum * vel(i) + gi;
    vel(i) = v;
    x(i) = static_cast<typename V::value_type>(static_cast<double>(x(i)) - lr * v);
  }
};
/// Adam on raw pointers with the bias corrections folded into two per-step constants
/// (lr_t = lr/(1−β1^t), inv_sqrt_b2 = 1/√(1−β2^t)): one division and one square root per
/// element instead of three divisions and a square root.
template <class T, class GradT>
struct AdamStep {
  T* x;
  const GradT* g;
  double *m, *v;
  double beta1, beta2, one_minus_beta1, one_minus_beta2, eps, scale, lr_t, inv_sqrt_b2;
  KOKKOS_INLINE_FUNCTION void operator()(const int i) const {
    const double gi = scale * static_cast<double>(g[i]);
    const double mi = beta1 * m[i] + one_minus_beta1 * gi;
    const double vi = beta2 * v[i] + one_minus_beta2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const double step = lr_t * mi / (compat::sqrt(vi) * inv_sqrt_b2 + eps);
    x[i] = static_cast<T>(static_cast<double>(x[i]) - step);
  }
};
}  // namespace Impl

/// Optimiser hyper-parameters (one struct for both kinds; unused fields are ignored).
struct OptimizerConfig {
  std::string kind = "adam";  ///< "adam" or "sgd"
  double learning_rate = 1e-2;
  double momentum = 0.0;       ///< sgd
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;  ///< adam
};

/// Updates x ← x − step(g·scale). `scale` turns summed gradients into means (1/N of the global
/// batch) inside the same kernel.
template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class Optimizer {
 public:
  using memory_space = typename ExecSpace::memory_space;
  using state_view = Kokkos::View<double*, memory_space>;

  Optimizer(const OptimizerConfig& cfg, std::size_t n) : cfg_(cfg) {
    if (cfg_.kind != "adam" && cfg_.kind != "sgd")
      throw Error(ExitCode::usage, "unknown optimizer '" + cfg_.kind + "' (expected adam or sgd)");
    m_ = state_view(label("optimizer::m"), n);
    v_ = state_view(label("optimizer::v"), cfg_.kind == "adam" ? n : 0);
  }

  void step(const ExecSpace& exec, const ParameterSet<Scalar, memory_space>& params,
            double grad_scale = 1.0) {
    ++t_;
    const int n = static_cast<int>(params.size());
    using V = typename ParameterSet<Scalar, memory_space>::values_view;
    using G = typename ParameterSet<Scalar, memory_space>::grads_view;
    if (cfg_.kind == "sgd") {
      Kokkos::parallel_for(label("optimizer::sgd"), Kokkos::RangePolicy<ExecSpace>(exec, 0, n),
                           Impl::SgdStep<V, G, state_view>{params.values(), params.grads(), m_,
                                                           cfg_.learning_rate, cfg_.momentum,
                                                           grad_scale});
    } else {
      const double b1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t_));
      const double b2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(t_));
      using Step = Impl::AdamStep<Scalar, typename G::value_type>;
      Kokkos::parallel_for(label("optimizer::adam"), Kokkos::RangePolicy<ExecSpace>(exec, 0, n),
                           Step{params.values().data(), params.grads().data(), m_.data(), v_.data(),
                                cfg_.beta1, cfg_.beta2, 1.0 - cfg_.beta1, 1.0 - cfg_.beta2,
                                cfg_.epsilon, grad_scale, cfg_.learning_rate / b1,
                                1.0 / std::sqrt(b2)});
    }
  }

  long long steps_taken() const { return t_; }

  /// Named state vectors for checkpoints ("m", "v", "t").
  std::map<std::string, std::vector<double>> state() const {
    std::map<std::string, std::vector<double>> s;
    s["m"] = to_host(m_);
    s["v"] = to_host(v_);
    s["t"] = {static_cast<double>(t_)};
    return s;
  }
  void load_state(const std::map<std::string, std::vector<double>>& s) {
    auto get = [&](const char* k) -> const std::vector<double>& {
      auto it = s.find(k);
      if (it == s.end())
        throw Error(ExitCode::input_error, std::string("optimizer state has no '") + k + "'");
      return it->second;
    };
    from_host(get("m"), m_);
    from_host(get("v"), v_);
    t_ = static_cast<long long>(get("t").at(0));
  }
  const OptimizerConfig& config() const { return cfg_; }

 private:
  static std::vector<double> to_host(const state_view& v) {
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
    return std::vector<double>(h.data(), h.data() + h.extent(0));
  }
  static void from_host(const std::vector<double>& src, const state_view& v) {
    if (src.size() != v.extent(0))
      throw Error(ExitCode::input_error, "optimizer state size mismatch");
    auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), v);
    for (std::size_t i = 0; i < src.size(); ++i) h(i) = src[i];
    Kokkos::deep_copy(v, h);
  }

  OptimizerConfig cfg_;
  state_view m_, v_;
  long long t_ = 0;
};

}  // namespace diffbio

#endif
