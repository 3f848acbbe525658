// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_VariantClassifier.hpp
/// \brief VariantClassifier: a small multilayer perceptron from per-candidate features [B×F] to
/// genotype logits [B×C] (e.g. hom-ref / het / hom-alt).
///
/// With layer sizes d_0 = F, d_1..d_{L−1} = hidden, d_L = C and h_0 = x:
///
///   z_l = h_l W_lᵀ + b_l,   h_{l+1} = act(z_l)   (l < L−1),    logits = h_{L−1} W_{L−1}ᵀ + b_{L−1}
///
/// act ∈ {relu, tanh, softplus}; no activation after the last layer (logits feed a softmax loss).
///
/// Parameter layout (one block of n_params() values): for l = 0..L−1 in order, W_l
/// (d_{l+1} × d_l, row-major: W_l[o][i] at offset weight_offset(l) + o·d_l + i), then b_l
/// (d_{l+1}, at bias_offset(l)). initial_params(seed): W ~ N(0, g/d_l) from the Philox counter RNG
/// (g = 2 for relu/softplus (He), 1 for tanh (LeCun)), stream = layer, counter = entry; b = 0.
///
/// Rows with mask 0 get logits 0 and no gradient; their features are never read (padding may hold
/// anything, NaN included: the forward works on a copy with those rows zeroed).
///
/// Performance: the three B×d×d' contractions per layer — z = h Wᵀ, the input adjoint h̄ = z̄ W and
/// the weight gradient W̄ += z̄ᵀ h — go through KokkosBlas::gemm when Kokkos Kernels is available and
/// Scalar is float or double (`use_blas`, default on). The weight gradient is summed in double:
/// directly for double, and for float on double copies of z̄ and h. Otherwise (dual numbers of the
/// tangent tests, use_blas = false, deterministic mode) portable kernels compute the same sums.
///
/// Determinism: per-row outputs are computed by one work item each in a fixed order. Parameter
/// gradients off the gemm path are summed per fixed chunk of rows (chunk size a function of B only)
/// and the chunks in order: bitwise identical for any thread count. ReductionMode::deterministic
/// rounds every row's contribution to the 2^e grid and never uses gemm for the weight gradient,
/// so sums are exact (independent of the split of rows over MPI ranks); the exactness bound is
/// checked per gradient component.
///
/// Derivation of the adjoint: ADJOINT.md in this folder.
#ifndef DIFFBIO_VARIANT_CLASSIFIER_HPP
#define DIFFBIO_VARIANT_CLASSIFIER_HPP

#include <DiffBio_Config.hpp>
#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_Random.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <impl/DiffBio_VariantKernels.hpp>

#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
#include <KokkosBlas3_gemm.hpp>
#endif

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace diffbio {

struct VariantClassifierConfig {
  int n_features = 0;             ///< F
  std::vector<int> hidden = {32, 32};  ///< hidden layer widths (may be empty: a linear model)
  int n_classes = 3;              ///< C
  Activation activation = Activation::relu;
  bool use_blas = true;           ///< KokkosBlas::gemm for the contractions (float/double only)
  int chunk_rows = 0;             ///< rows per partial gradient sum (0: automatic, from B only)
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class VariantClassifier {
 public:
  using scalar_type = Scalar;
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using grad_type = accum_t<Scalar>;
  using matrix_view = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;
  using const_matrix_view = Kokkos::View<const Scalar**, Kokkos::LayoutRight, memory_space>;
  using double_matrix_view = Kokkos::View<double**, Kokkos::LayoutRight, memory_space>;

  struct Inputs {
    const_matrix_view features;                            ///< [B×F]
    Kokkos::View<const std::uint8_t*, memory_space> mask;  ///< [B] 1 = valid; empty: all valid
  };
  struct Outputs {
    matrix_view logits;  ///< [B×C]; masked rows 0
  };
  struct OutputGrads {
    const_matrix_view d_logits;  ///< [B×C]
  };
  /// Input gradient (+=); an empty d_features skips it.
  struct InputGrads {
    matrix_view d_features;
  };
  /// Kept by the forward for the adjoint (must not be modified in between); the adjoint writes
  /// only its scratch members (the Views are handles, so a const Workspace suffices).
  struct Workspace {
    const_matrix_view h0;            ///< the input the forward used (masked copy if a mask is given)
    matrix_view x_masked;            ///< [B×F] masked copy of the features (only with a mask)
    std::vector<matrix_view> z;      ///< [L−1] pre-activations [B×d_{l+1}]
    std::vector<matrix_view> a;      ///< [L−1] activations [B×d_{l+1}]
    std::vector<matrix_view> delta;  ///< adjoint scratch [L] ∂L/∂z_l [B×d_{l+1}]
    Kokkos::View<double**, memory_space> partial, partial_abs;  ///< [chunks × n_params]
    Kokkos::View<double*, memory_space> sums, sums_abs;         ///< [n_params]
    Kokkos::View<std::uint8_t*, memory_space> valid;            ///< [B] forward's mask (1 = valid)
    int rows = -1;                   ///< B the workspace was allocated for
  };

  explicit VariantClassifier(VariantClassifierConfig cfg) : cfg_(std::move(cfg)) {
    DIFFBIO_EXPECTS(cfg_.n_features > 0 && cfg_.n_classes > 0,
                    "VariantClassifier: n_features and n_classes must be positive");
    dims_.push_back(cfg_.n_features);
    for (int h : cfg_.hidden) {
      DIFFBIO_EXPECTS(h > 0, "VariantClassifier: hidden widths must be positive");
      dims_.push_back(h);
    }
    dims_.push_back(cfg_.n_classes);
    int off = 0;
    for (int l = 0; l + 1 < static_cast<int>(dims_.size()); ++l) {
      w_off_.push_back(off);
      off += dims_[l + 1] * dims_[l];
      b_off_.push_back(off);
      off += dims_[l + 1];
    }
    n_params_ = off;
  }

  const VariantClassifierConfig& config() const { return cfg_; }
  int n_params() const { return n_params_; }
  int n_features() const { return cfg_.n_features; }
  int n_classes() const { return cfg_.n_classes; }
  int n_layers() const { return static_cast<int>(dims_.size()) - 1; }
  /// d_0 = F, hidden widths, d_L = C.
  const std::vector<int>& layer_dims() const { return dims_; }
  int weight_offset(int layer) const { return w_off_[layer]; }
  int bias_offset(int layer) const { return b_off_[layer]; }

  ParamBlock declare(ParameterLayout& layout,
                     const std::string& prefix = "variant_classifier") const {
    return layout.add(prefix + "/mlp_weights_biases", static_cast<std::size_t>(n_params()));
  }

  /// He-style (LeCun for tanh) normal weights from the counter RNG, zero biases: reproducible on
  /// every machine for a given seed.
  std::vector<double> initial_params(std::uint64_t seed = 1) const {
    std::vector<double> p(static_cast<std::size_t>(n_params_), 0.0);
    const double gain = cfg_.activation == Activation::tanh ? 1.0 : 2.0;
    for (int l = 0; l < n_layers(); ++l) {
      const CounterRng rng(seed, static_cast<std::uint64_t>(l));
      const double sd = std::sqrt(gain / dims_[l]);
      for (int e = 0; e < dims_[l + 1] * dims_[l]; ++e)
        p[static_cast<std::size_t>(w_off_[l] + e)] = sd * rng.normal(static_cast<std::uint64_t>(e));
    }
    return p;
  }

  Outputs allocate_outputs(const Inputs& in, const ExecSpace& exec = ExecSpace()) const {
    return {matrix_view(Kokkos::view_alloc(label("VariantClassifier::logits"), exec),
                        in.features.extent(0), static_cast<std::size_t>(n_classes()))};
  }

  Workspace allocate_workspace(const Inputs& in) const {
    Workspace ws;
    ensure_workspace(ws, static_cast<int>(in.features.extent(0)), in.mask.extent(0) > 0);
    return ws;
  }

  /// Rows per chunk of the parameter-gradient sums: a function of B only.
  int chunk_rows(int B) const {
    if (cfg_.chunk_rows > 0) return cfg_.chunk_rows;
    const int by_count = (B + 255) / 256;  // at most 256 partial sums
    return by_count > 64 ? by_count : 64;
  }
  int n_chunks(int B) const { return B == 0 ? 0 : (B + chunk_rows(B) - 1) / chunk_rows(B); }

  /// True if the gemm path is taken for these parameters.
  template <class ParamView>
  bool blas_path(const ParamView& params) const {
#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
    return cfg_.use_blas &&
           (std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value) &&
           params.span_is_contiguous();
#else
    (void)params;
    return false;
#endif
  }

  /// Forward: logits (and the activations kept in \p ws). Non-blocking on the portable path (the
  /// gemm path fences around each gemm). Reallocates \p ws if B changed.
  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Outputs& out,
               Workspace& ws) const {
    static_assert(ParamView::rank == 1, "params is this operator's rank-1 block");
    const int B = static_cast<int>(in.features.extent(0));
    DIFFBIO_EXPECTS(static_cast<int>(in.features.extent(1)) == n_features(),
                    "VariantClassifier: features must be B x n_features");
    DIFFBIO_EXPECTS(in.mask.extent(0) == 0 || static_cast<int>(in.mask.extent(0)) == B,
                    "VariantClassifier: one mask entry per row expected");
    DIFFBIO_EXPECTS(static_cast<int>(out.logits.extent(0)) == B &&
                        static_cast<int>(out.logits.extent(1)) == n_classes(),
                    "VariantClassifier: logits must be B x n_classes");
    DIFFBIO_EXPECTS(static_cast<int>(params.extent(0)) == n_params(),
                    "VariantClassifier: params must have n_params() entries");
    const bool has_mask = in.mask.extent(0) > 0;
    ensure_workspace(ws, B, has_mask);
    copy_valid_rows(exec, in, ws);
    const bool blas = blas_path(params) && B > 0;
    const int L = n_layers();
    for (int l = 0; l < L; ++l) {
      const const_matrix_view h = l == 0 ? ws.h0 : const_matrix_view(ws.a[l - 1]);
      const bool last = l == L - 1;
      const matrix_view z = last ? out.logits : ws.z[l];
      const matrix_view a = last ? matrix_view() : ws.a[l];
      if (blas) gemm_forward(exec, params, l, h, z);
      affine_activation(exec, params, l, h, z, a, ws.valid, blas, last);
    }
  }

  /// Adjoint: d_features += ∂L/∂x, d_params += ∂L/∂[W_l, b_l] (ADJOINT.md). Uses the Workspace of
  /// the forward at the same parameters and inputs. Blocking (gradient sums are checked on the
  /// host: NaN, deterministic exactness bound).
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in,
               const Workspace& ws, const OutputGrads& d_out, const InputGrads& d_in,
               const GradView& d_params, const ReductionMode& mode = {}) const {
    static_assert(GradView::rank == 1, "d_params is this operator's rank-1 gradient block");
    const int B = static_cast<int>(in.features.extent(0));
    DIFFBIO_EXPECTS(ws.rows == B && ws.h0.extent(0) == in.features.extent(0),
                    "VariantClassifier::adjoint before forward (or with other inputs)");
    DIFFBIO_EXPECTS(static_cast<int>(d_params.extent(0)) == n_params(),
                    "VariantClassifier::adjoint: d_params must have n_params() entries");
    DIFFBIO_EXPECTS(static_cast<int>(d_out.d_logits.extent(0)) == B &&
                        static_cast<int>(d_out.d_logits.extent(1)) == n_classes(),
                    "VariantClassifier::adjoint: d_logits must be B x n_classes");
    const bool has_dx = d_in.d_features.extent(0) > 0;
    DIFFBIO_EXPECTS(!has_dx || (static_cast<int>(d_in.d_features.extent(0)) == B &&
                                static_cast<int>(d_in.d_features.extent(1)) == n_features()),
                    "VariantClassifier::adjoint: d_features must be B x n_features");
    if (B == 0) return;
    const bool blas = blas_path(params);
    const int L = n_layers();
    // 1. δ_{L−1} = z̄ of the logits (0 on masked rows).
    seed_top_delta(exec, d_out.d_logits, ws);
    // 2. Backwards through the layers: δ_{l−1} = (δ_l W_l) ⊙ act'(z_{l−1}); x̄ += δ_0 W_0.
    for (int l = L - 1; l >= 0; --l) {
      if (l > 0) {
        back_through_layer(exec, params, l, ws.delta[l], ws.delta[l - 1], blas, /*add=*/false);
        scale_by_slope(exec, ws, l - 1);
      } else if (has_dx) {
        back_through_layer(exec, params, 0, ws.delta[0], d_in.d_features, blas, /*add=*/true);
      }
    }
    // 3. Parameter gradients W̄_l += δ_lᵀ h_l, b̄_l += Σ_b δ_l (per chunk, or gemm for W̄).
    const bool blas_w = blas && !mode.deterministic && d_params.span_is_contiguous() &&
                        std::is_same<typename GradView::non_const_value_type, double>::value;
    if (blas_w) gemm_weight_grads(exec, ws, d_params);
    param_partials(exec, ws, mode, blas_w);
    finish_param_grads(exec, ws, mode, d_params, blas_w);
  }

  // ---- implementation (public only because CUDA forbids extended lambdas in private members)

  using const_weight_view = Kokkos::View<const Scalar**, Kokkos::LayoutRight, memory_space,
                                         Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
  using weight_grad_view = Kokkos::View<double**, Kokkos::LayoutRight, memory_space,
                                        Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

  void ensure_workspace(Workspace& ws, int B, bool has_mask) const {
    const int L = n_layers();
    const auto alloc = [](const std::string& what) {
      return Kokkos::view_alloc(Kokkos::WithoutInitializing, label("VariantClassifier::" + what));
    };
    if (ws.rows != B) {
      ws.z.assign(static_cast<std::size_t>(L - 1), matrix_view());
      ws.a.assign(static_cast<std::size_t>(L - 1), matrix_view());
      ws.delta.assign(static_cast<std::size_t>(L), matrix_view());
      for (int l = 0; l < L; ++l) {
        if (l + 1 < L) {
          ws.z[l] = matrix_view(alloc("z"), B, dims_[l + 1]);
          ws.a[l] = matrix_view(alloc("a"), B, dims_[l + 1]);
        }
        ws.delta[l] = matrix_view(alloc("delta"), B, dims_[l + 1]);
      }
      ws.valid = Kokkos::View<std::uint8_t*, memory_space>(alloc("valid"), B);
      const int NC = n_chunks(B);
      ws.partial = Kokkos::View<double**, memory_space>(alloc("partial"), NC, n_params_);
      ws.partial_abs = Kokkos::View<double**, memory_space>(alloc("partial_abs"), NC, n_params_);
      ws.sums = Kokkos::View<double*, memory_space>(alloc("sums"), n_params_);
      ws.sums_abs = Kokkos::View<double*, memory_space>(alloc("sums_abs"), n_params_);
      ws.x_masked = matrix_view();
      ws.rows = B;
    }
    if (has_mask && ws.x_masked.extent(0) != static_cast<std::size_t>(B))
      ws.x_masked = matrix_view(alloc("x_masked"), B, n_features());
  }

  /// ws.valid from the mask; ws.h0 = the features, or a copy with masked rows zeroed.
  void copy_valid_rows(const ExecSpace& exec, const Inputs& in, Workspace& ws) const {
    const int B = static_cast<int>(in.features.extent(0));
    const int F = n_features();
    const bool has_mask = in.mask.extent(0) > 0;
    auto mask = in.mask;
    auto valid = ws.valid;
    auto x = in.features;
    auto xm = ws.x_masked;
    Kokkos::parallel_for(
        label("VariantClassifier::mask_rows"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
        KOKKOS_LAMBDA(const int b) {
          const bool ok = !has_mask || mask(b) != 0;
          valid(b) = ok ? 1 : 0;
          if (has_mask)
            for (int f = 0; f < F; ++f) xm(b, f) = ok ? x(b, f) : Scalar(0);
        });
    ws.h0 = has_mask ? const_matrix_view(ws.x_masked) : in.features;
  }

  /// z = h W_lᵀ by gemm (blocking).
  template <class ParamView>
  void gemm_forward(const ExecSpace& exec, const ParamView& params, int l,
                    const const_matrix_view& h, const matrix_view& z) const {
#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
    if constexpr (std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value) {
      exec.fence();  // KokkosBlas::gemm (Kokkos Kernels 3.4 API) runs on the default instance
      const_weight_view W(params.data() + w_off_[l], static_cast<std::size_t>(dims_[l + 1]),
                          static_cast<std::size_t>(dims_[l]));
      KokkosBlas::gemm("N", "T", Scalar(1), h, W, Scalar(0), z);
      ExecSpace().fence();
      return;
    }
#endif
    (void)exec, (void)params, (void)l, (void)h, (void)z;
    DIFFBIO_EXPECTS(false, "VariantClassifier: BLAS path without Kokkos Kernels");
  }

  /// z(b,o) = b_o + Σ_i W(o,i) h(b,i) (the sum already in z on the gemm path), then a = act(z).
  /// Masked rows: zeros.
  template <class ParamView>
  void affine_activation(const ExecSpace& exec, const ParamView& params, int l,
                         const const_matrix_view& h, const matrix_view& z, const matrix_view& a,
                         const Kokkos::View<std::uint8_t*, memory_space>& valid, bool blas,
                         bool last) const {
    using A = grad_type;
    const int B = static_cast<int>(h.extent(0));
    const int I = dims_[l], O = dims_[l + 1];
    const int w0 = w_off_[l], b0 = b_off_[l];
    const Activation act = cfg_.activation;
    Kokkos::parallel_for(
        label("VariantClassifier::forward_layer"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B * O),
        KOKKOS_LAMBDA(const int idx) {
          const int b = idx / O, o = idx % O;
          if (!valid(b)) {
            z(b, o) = Scalar(0);
            if (!last) a(b, o) = Scalar(0);
            return;
          }
          Scalar s;
          if (blas) {
            s = z(b, o) + Scalar(params(b0 + o));
          } else {
            A acc = A(params(b0 + o));
            for (int i = 0; i < I; ++i) acc += A(params(w0 + o * I + i)) * A(h(b, i));
            s = Scalar(acc);
          }
          z(b, o) = s;
          if (!last) a(b, o) = variant_impl::activate(act, s);
        });
  }

  /// δ_{L−1} = d_logits on valid rows, 0 on masked rows.
  void seed_top_delta(const ExecSpace& exec, const const_matrix_view& dy, const Workspace& ws) const {
    const int B = static_cast<int>(dy.extent(0)), C = n_classes();
    auto delta = ws.delta[n_layers() - 1];
    auto valid = ws.valid;
    Kokkos::parallel_for(
        label("VariantClassifier::adjoint_seed"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B * C),
        KOKKOS_LAMBDA(const int idx) {
          const int b = idx / C, c = idx % C;
          delta(b, c) = valid(b) ? dy(b, c) : Scalar(0);
        });
  }

  /// out (=, or += when \p add) δ_l W_l  [B×d_l]: gemm, or a portable kernel (rows with δ = 0 are
  /// masked rows: the portable kernel leaves them untouched when adding).
  template <class ParamView>
  void back_through_layer(const ExecSpace& exec, const ParamView& params, int l,
                          const matrix_view& delta, const matrix_view& out, bool blas,
                          bool add) const {
#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
    if constexpr (std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value) {
      if (blas) {
        exec.fence();
        const_weight_view W(params.data() + w_off_[l], static_cast<std::size_t>(dims_[l + 1]),
                            static_cast<std::size_t>(dims_[l]));
        KokkosBlas::gemm("N", "N", Scalar(1), delta, W, add ? Scalar(1) : Scalar(0), out);
        ExecSpace().fence();
        return;
      }
    }
#endif
    (void)blas;
    using A = grad_type;
    const int B = static_cast<int>(delta.extent(0));
    const int I = dims_[l], O = dims_[l + 1];
    const int w0 = w_off_[l];
    Kokkos::parallel_for(
        label("VariantClassifier::adjoint_input"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B * I),
        KOKKOS_LAMBDA(const int idx) {
          const int b = idx / I, i = idx % I;
          A acc = A(0);
          for (int o = 0; o < O; ++o) acc += A(delta(b, o)) * A(params(w0 + o * I + i));
          if (add)
            out(b, i) += Scalar(acc);
          else
            out(b, i) = Scalar(acc);
        });
  }

  /// δ_l(b,j) *= act'(z_l(b,j)) (0 on masked rows).
  void scale_by_slope(const ExecSpace& exec, const Workspace& ws, int l) const {
    const int B = ws.rows, O = dims_[l + 1];
    auto delta = ws.delta[l];
    auto z = ws.z[l];
    auto a = ws.a[l];
    auto valid = ws.valid;
    const Activation act = cfg_.activation;
    Kokkos::parallel_for(
        label("VariantClassifier::adjoint_activation"),
        Kokkos::RangePolicy<ExecSpace>(exec, 0, B * O), KOKKOS_LAMBDA(const int idx) {
          const int b = idx / O, o = idx % O;
          delta(b, o) = valid(b) ? delta(b, o) * variant_impl::activation_slope(act, z(b, o), a(b, o))
                                 : Scalar(0);
        });
  }

  /// W̄_l += δ_lᵀ h_l by gemm straight into the (double, contiguous) gradient block; float: on
  /// double copies, so the sum over rows is formed in double.
  template <class GradView>
  void gemm_weight_grads(const ExecSpace& exec, const Workspace& ws, const GradView& d_params) const {
#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
    if constexpr (std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value) {
      for (int l = 0; l < n_layers(); ++l) {
        weight_grad_view dW(d_params.data() + w_off_[l], static_cast<std::size_t>(dims_[l + 1]),
                            static_cast<std::size_t>(dims_[l]));
        const const_matrix_view h = l == 0 ? ws.h0 : const_matrix_view(ws.a[l - 1]);
        if constexpr (std::is_same<Scalar, double>::value) {
          exec.fence();
          KokkosBlas::gemm("T", "N", 1.0, ws.delta[l], h, 1.0, dW);
        } else {
          // Double copies made per call (not kept in the Workspace: B×F doubles are large and
          // only this path needs them).
          const auto alloc = [](const char* what) {
            return Kokkos::view_alloc(Kokkos::WithoutInitializing, label(what));
          };
          double_matrix_view dd(alloc("VariantClassifier::delta_double"), ws.delta[l].extent(0),
                                ws.delta[l].extent(1));
          double_matrix_view hd(alloc("VariantClassifier::input_double"), h.extent(0), h.extent(1));
          Kokkos::deep_copy(exec, dd, ws.delta[l]);
          Kokkos::deep_copy(exec, hd, h);
          exec.fence();
          KokkosBlas::gemm("T", "N", 1.0, dd, hd, 1.0, dW);
        }
        ExecSpace().fence();
      }
      return;
    }
#endif
    (void)exec, (void)ws, (void)d_params;
    DIFFBIO_EXPECTS(false, "VariantClassifier: BLAS path without Kokkos Kernels");
  }

  /// Chunk partials of every parameter gradient (only the biases when \p blas_w: the weights came
  /// from gemm). One work item per (chunk, layer unit o): it walks the chunk's rows in order and
  /// adds δ_l[b,o]·h_l[b,:] into its partial row of W̄_l[o,:] (contiguous reads of h, the partial
  /// row stays in cache) and δ_l[b,o] into b̄_l[o]. Each component is thus summed over the chunk's
  /// rows in row order: the same bits for any thread count. Deterministic mode rounds each row's
  /// contribution to the grid and records Σ|contribution| per component.
  void param_partials(const ExecSpace& exec, const Workspace& ws, const ReductionMode& mode,
                      bool blas_w) const {
    const int B = ws.rows, L = n_layers();
    const int CH = chunk_rows(B), NC = n_chunks(B);
    const bool det = mode.deterministic;
    const double q = det ? mode.quantum() : 0.0;
    const double inv_q = det ? 1.0 / mode.quantum() : 0.0;
    DIFFBIO_EXPECTS(L <= max_layers, "VariantClassifier: at most 7 hidden layers");
    LayerTable t;
    int U = 0;
    for (int l = 0; l < L; ++l) {
      t.delta[l] = ws.delta[l];
      t.input[l] = l == 0 ? ws.h0 : const_matrix_view(ws.a[l - 1]);
      t.w_off[l] = w_off_[l];
      t.b_off[l] = b_off_[l];
      t.in_dim[l] = dims_[l];
      t.unit_off[l] = U;
      U += dims_[l + 1];
    }
    t.w_off[L] = n_params_;
    t.unit_off[L] = U;
    auto partial = ws.partial;
    auto partial_abs = ws.partial_abs;
    Kokkos::parallel_for(
        label("VariantClassifier::adjoint_partials"),
        Kokkos::RangePolicy<ExecSpace>(exec, 0, NC * U), KOKKOS_LAMBDA(const int idx) {
          const int ch = idx / U, u = idx % U;
          int l = 0;
          while (u >= t.unit_off[l + 1]) ++l;
          const int o = u - t.unit_off[l];
          const int I = t.in_dim[l];
          const int w0 = t.w_off[l] + o * I, bi = t.b_off[l] + o;
          const bool weights = !blas_w;
          const auto& delta = t.delta[l];
          const auto& h = t.input[l];
          if (weights)
            for (int i = 0; i < I; ++i) {
              partial(ch, w0 + i) = 0.0;
              if (det) partial_abs(ch, w0 + i) = 0.0;
            }
          double sb = 0, sab = 0;
          const int b0 = ch * CH, b1 = b0 + CH < B ? b0 + CH : B;
          for (int b = b0; b < b1; ++b) {
            const double d = static_cast<double>(delta(b, o));
            if (d == 0.0) continue;  // masked rows, inactive relu units
            if (det) {
              const double v = compat::nearbyint(d * inv_q) * q;
              sb += v;
              sab += compat::fabs(v);
              if (weights)
                for (int i = 0; i < I; ++i) {
                  const double vi =
                      compat::nearbyint(d * static_cast<double>(h(b, i)) * inv_q) * q;
                  partial(ch, w0 + i) += vi;
                  partial_abs(ch, w0 + i) += compat::fabs(vi);
                }
            } else {
              sb += d;
              if (weights)
                for (int i = 0; i < I; ++i) partial(ch, w0 + i) += d * static_cast<double>(h(b, i));
            }
          }
          partial(ch, bi) = sb;
          if (det) partial_abs(ch, bi) = sab;
        });
  }

  /// Sums the chunks in order, checks them on the host and adds them into d_params.
  template <class GradView>
  void finish_param_grads(const ExecSpace& exec, const Workspace& ws, const ReductionMode& mode,
                          const GradView& d_params, bool blas_w) const {
    const int NP = n_params_, L = n_layers();
    using Partial = Kokkos::View<double**, memory_space>;
    variant_impl::sum_chunks_in_order(exec, "VariantClassifier::adjoint_sums", ws.partial,
                                      mode.deterministic ? ws.partial_abs : Partial(), ws.sums,
                                      ws.sums_abs);
    auto hs = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), ws.sums);
    auto ha = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), ws.sums_abs);
    double worst = 0;
    std::vector<char> by_gemm(static_cast<std::size_t>(NP), 0);  // never written: not checked
    if (blas_w)
      for (int l = 0; l < L; ++l)
        for (int p = w_off_[l]; p < b_off_[l]; ++p) by_gemm[p] = 1;
    for (int p = 0; p < NP; ++p) {
      if (by_gemm[p]) continue;  // a NaN in δ shows in the bias sums as well
      if (!std::isfinite(hs(p)))
        throw Error(ExitCode::numerical, "DiffBio: non-finite gradient in VariantClassifier::adjoint");
      if (mode.deterministic) worst = ha(p) > worst ? ha(p) : worst;
    }
    if (mode.deterministic && !(worst < mode.exact_bound()))
      throw Error(ExitCode::numerical,
                  "DiffBio: deterministic reduction in VariantClassifier::adjoint exceeds its exact "
                  "range (sum |g| = " + std::to_string(worst) + "); raise the grid exponent");
    LayerTable t;
    for (int l = 0; l < L; ++l) {
      t.w_off[l] = w_off_[l];
      t.b_off[l] = b_off_[l];
    }
    t.w_off[L] = NP;
    auto sums = ws.sums;
    auto g = d_params;
    Kokkos::parallel_for(
        label("VariantClassifier::adjoint_add"), Kokkos::RangePolicy<ExecSpace>(exec, 0, NP),
        KOKKOS_LAMBDA(const int p) {
          int l = 0;
          while (p >= t.w_off[l + 1]) ++l;
          if (blas_w && p < t.b_off[l]) return;  // the gemm already added this weight gradient
          g(p) += sums(p);
        });
    exec.fence();
  }

  static constexpr int max_layers = 8;
  /// Per-layer handles for the fused parameter-gradient kernel (device-copyable).
  struct LayerTable {
    matrix_view delta[max_layers];
    const_matrix_view input[max_layers];
    int w_off[max_layers + 1] = {};
    int b_off[max_layers] = {};
    int in_dim[max_layers] = {};
    int unit_off[max_layers + 1] = {};
  };

 private:
  VariantClassifierConfig cfg_;
  std::vector<int> dims_, w_off_, b_off_;
  int n_params_ = 0;
};

}  // namespace diffbio

#endif
