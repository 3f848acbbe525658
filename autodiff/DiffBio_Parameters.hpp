// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Parameters.hpp
/// \brief One contiguous, labelled parameter buffer per model, with a gradient buffer of the same
/// layout, so training needs a single all-reduce and a single optimiser kernel.
///
/// Operators declare named blocks in a ParameterLayout ("quality_filter/theta", ...); the model then
/// allocates one ParameterSet and hands every operator the subviews of its own blocks. Gradients are
/// held in accum_t<Scalar> (double for float models): sums over a batch are accumulated in double and
/// the deterministic reduction mode needs exact double sums (DiffBio_GradientReduction.hpp).
#ifndef DIFFBIO_PARAMETERS_HPP
#define DIFFBIO_PARAMETERS_HPP

#include <DiffBio_Error.hpp>
#include <DiffBio_Types.hpp>

#include <string>
#include <utility>
#include <vector>

namespace diffbio {

/// A named, contiguous range [offset, offset + size) of a model's parameter buffer.
struct ParamBlock {
  std::string name;
  std::size_t offset = 0;
  std::size_t size = 0;
  std::pair<std::size_t, std::size_t> range() const { return {offset, offset + size}; }
};

/// The layout of a model's parameters: an ordered list of named blocks.
class ParameterLayout {
 public:
  /// Appends a block; names must be unique.
  ParamBlock add(const std::string& name, std::size_t size) {
    for (const auto& b : blocks_)
      DIFFBIO_EXPECTS(b.name != name, "duplicate parameter block '" + name + "'");
    ParamBlock b{name, total_, size};
    blocks_.push_back(b);
    total_ += size;
    return b;
  }
  const ParamBlock& find(const std::string& name) const {
    for (const auto& b : blocks_)
      if (b.name == name) return b;
    throw Error(ExitCode::internal, "DiffBio: no parameter block named '" + name + "'");
  }
  const std::vector<ParamBlock>& blocks() const { return blocks_; }
  std::size_t size() const { return total_; }

 private:
  std::vector<ParamBlock> blocks_;
  std::size_t total_ = 0;
};

/// Parameter values and gradients of one model in two contiguous device Views.
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
class ParameterSet {
 public:
  using scalar_type = Scalar;
  using grad_type = accum_t<Scalar>;
  using memory_space = MemorySpace;
  using values_view = Kokkos::View<Scalar*, MemorySpace>;
  using grads_view = Kokkos::View<grad_type*, MemorySpace>;

  ParameterSet() = default;
  explicit ParameterSet(ParameterLayout layout, const std::string& model_name = "model")
      : layout_(std::move(layout)),
        values_(label(model_name + "::params"), layout_.size()),
        grads_(label(model_name + "::grads"), layout_.size()) {}

  const ParameterLayout& layout() const { return layout_; }
  std::size_t size() const { return layout_.size(); }
  values_view values() const { return values_; }
  grads_view grads() const { return grads_; }

  values_view values(const ParamBlock& b) const { return Kokkos::subview(values_, b.range()); }
  grads_view grads(const ParamBlock& b) const { return Kokkos::subview(grads_, b.range()); }

  /// Sets the gradients to zero (before a new batch).
  template <class ExecSpace>
  void zero_grads(const ExecSpace& exec) const {
    Kokkos::deep_copy(exec, grads_, grad_type(0));
  }

  /// Copies host values of one block in (initialisation, loading a checkpoint).
  void set_block(const ParamBlock& b, const std::vector<double>& host) const {
    DIFFBIO_EXPECTS(host.size() == b.size, "block '" + b.name + "' has " + std::to_string(b.size) +
                                               " values, got " + std::to_string(host.size()));
    auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), values(b));
    for (std::size_t i = 0; i < b.size; ++i) h(i) = static_cast<Scalar>(host[i]);
    Kokkos::deep_copy(values(b), h);
  }
  std::vector<double> get_block(const ParamBlock& b) const { return to_host(values(b)); }
  std::vector<double> get_block_grads(const ParamBlock& b) const { return to_host(grads(b)); }
  std::vector<double> all_values() const { return to_host(values_); }
  std::vector<double> all_grads() const { return to_host(grads_); }
  void set_all_values(const std::vector<double>& host) const {
    DIFFBIO_EXPECTS(host.size() == size(), "parameter vector size mismatch");
    auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), values_);
    for (std::size_t i = 0; i < host.size(); ++i) h(i) = static_cast<Scalar>(host[i]);
    Kokkos::deep_copy(values_, h);
  }

 private:
  template <class V>
  static std::vector<double> to_host(const V& v) {
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
    std::vector<double> out(h.extent(0));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(h(i));
    return out;
  }

  ParameterLayout layout_;
  values_view values_;
  grads_view grads_;
};

}  // namespace diffbio

#endif
