// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SparsePCA.hpp
/// \brief DifferentiablePCA (alias SparsePCA): a learnable projection of a sparse cells × genes
/// matrix, initialised from its top principal components without densifying it.
///
/// For X [N×G] in CSR form (typically NormalizeLog1p's output) with column means μ [G]:
///
///   Y = (X − 1μᵀ) W            Y [N×K], W [G×K]
///
/// computed as Y_ik = Σ_{stored j} x_ij W_jk − (μᵀW)_k: the centring is implicit, so X is never
/// densified and memory is O(nnz + (N + G)·K).
///
/// Parameters (one block of G·K + G): W row-major (W_jk at j·K + k), then μ. μ is a parameter so
/// it travels with checkpoints and the MPI all-reduce; with `learn_mean = false` (default) it is a
/// constant set by fit() and its gradient stays 0 — in particular μ is *not* a function of X
/// (scanpy/sklearn's mean is), which keeps the adjoint local: x̄ only receives the direct term.
///
/// fit(): the top K principal components of X by randomized subspace iteration (Halko, Martinsson
/// & Tropp 2011, alg. 4.4 with Rayleigh–Ritz): a random G×L start (L = K + n_oversamples, Philox
/// normals, seed), `n_power_iter` applications of (X − 1μᵀ)ᵀ(X − 1μᵀ) with host re-orthonormalisation
/// (G×L: tiny), then the L×L projected matrix is diagonalised on the host (Jacobi). All products
/// are the two sparse kernels of impl/DiffBio_SparsePCAKernels.hpp, in double. The sign of each
/// component follows scikit-learn 1.2's svd_flip(U, Vᵀ) (u-based, used by PCA and by scanpy): the
/// entry of largest |value| of u_k = (X − 1μᵀ)v_k/σ_k (first such row) is made positive.
/// Explained variance σ_k²/(N − 1) and its ratio to the total variance Σ_j var(X_:j) (ddof 1,
/// two-pass per column) are returned as in sklearn. Mask: fit() uses every row it is given.
///
/// Adjoint (ADJOINT.md, section 2): W̄ = (X − 1μᵀ)ᵀȲ, x̄_ij = Σ_k Ȳ_ik W_jk for the *stored*
/// entries (implicit zeros are structure, not differentiable inputs), μ̄ = −W(Ȳᵀ1). The sparse
/// transpose product (also the fit's Xᵀ·B) has two deterministic, atomic-free paths
/// (SparsePCAConfig::transpose_product): on host memory, fixed row chunks scatter into private
/// G×L partials added in chunk order (≤ 64 chunks, ≤ 256 MiB of partials); on devices, a column
/// (CSC) index of the pattern, built once on the host and cached in the Workspace (keyed on the
/// row_map/entries Views, which it keeps alive: call Workspace::invalidate() after changing a
/// pattern in place), lets each (gene, component block) gather its column. Values are always read
/// from the Inputs, so they may change between calls (e.g. a learnt normalisation).
///
/// Memory: O(nnz + (N + G)·K) plus the chunk partials (C·G·K doubles) or the column index
/// (12 bytes per stored entry). fit() adds N×L + 3·G×L doubles.
///
/// Determinism: every output entry (Y_ik, W̄_jk, x̄_e, μ̄_j) is summed by one work item in a fixed
/// order, so results are bitwise identical for any thread count. ReductionMode::deterministic
/// additionally rounds every stored-entry product x_ij Ȳ_ik and every Ȳ_ik of the column sums to
/// the 2^e grid, so each gradient entry is an exactly summed multiple of q (the centring product
/// μ_j Σ_i Ȳ_ik is rounded once per call, so a different split of rows over ranks agrees to q).
/// No temperature: there is no `hard` mode (the forward is the classic PCA transform).
#ifndef DIFFBIO_SPARSE_PCA_HPP
#define DIFFBIO_SPARSE_PCA_HPP

#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_Random.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <DiffBio_SparseMatrix.hpp>
#include <impl/DiffBio_SmallDenseLinalg.hpp>
#include <impl/DiffBio_SparsePCAKernels.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace diffbio {

/// How (X − 1μᵀ)ᵀB (the adjoint's W̄ and the fit's products) is formed; both are deterministic
/// for any thread count and give the same bits in ReductionMode::deterministic.
enum class TransposeProduct {
  automatic,     ///< row_chunks when the memory space is host-accessible, else column_index
  row_chunks,    ///< fixed row chunks scatter into private G×L partials (fast on CPUs)
  column_index,  ///< gather over a cached CSC index of the pattern (no partials; for GPUs)
};

struct SparsePCAConfig {
  int n_genes = 0;           ///< G (columns of X)
  int n_components = 50;     ///< K
  bool learn_mean = false;   ///< true: μ is trained too (its gradient is accumulated)
  int n_oversamples = 10;    ///< fit(): L = K + n_oversamples random directions (sklearn's default)
  int n_power_iter = 7;      ///< fit(): subspace iterations (sklearn's 'auto' for K < 0.1·min(N, G))
  std::uint64_t seed = 0;    ///< fit(): Philox seed of the random start
  TransposeProduct transpose_product = TransposeProduct::automatic;
};

/// What fit() returns (sklearn.decomposition.PCA's fitted attributes).
struct PcaFit {
  int n_components = 0, n_genes = 0;
  std::int64_t n_samples = 0;
  std::vector<double> mean;                      ///< [G]  mean_
  std::vector<double> components;                ///< [K×G] components_ (row k = component k)
  std::vector<double> singular_values;           ///< [K]  singular_values_
  std::vector<double> explained_variance;        ///< [K]  σ²/(N − 1)
  std::vector<double> explained_variance_ratio;  ///< [K]
  double total_variance = 0;                     ///< Σ_j var(X_:j), ddof = 1
  int n_power_iter = 0;
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class DifferentiablePCA {
 public:
  using scalar_type = Scalar;
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using grad_type = accum_t<Scalar>;
  using matrix_view = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;
  using const_matrix_view = Kokkos::View<const Scalar**, Kokkos::LayoutRight, memory_space>;
  using values_view = Kokkos::View<Scalar*, memory_space>;
  using mask_view = Kokkos::View<const std::uint8_t*, memory_space>;

  /// A CSR matrix [N×G] (or a row block of one).
  struct Inputs {
    Kokkos::View<const std::int64_t*, memory_space> row_map;  ///< [N + 1]
    Kokkos::View<const std::int32_t*, memory_space> entries;  ///< [nnz] gene of each entry
    Kokkos::View<const Scalar*, memory_space> values;         ///< [nnz]
    mask_view mask;  ///< [N] 1 = valid; empty: all valid. Masked rows: Y = 0, no gradient.
  };
  struct Outputs {
    matrix_view y;  ///< [N×K]
  };
  struct OutputGrads {
    const_matrix_view d_y;  ///< [N×K]
  };
  /// Input gradients (+=); an empty d_values skips that gradient.
  struct InputGrads {
    values_view d_values;  ///< [nnz] ∂L/∂x of the stored entries
  };
  struct Workspace {
    pca_impl::CsrTranspose<memory_space> transpose;  ///< column index of the pattern (cached)
    Kokkos::View<grad_type*, memory_space> shift;    ///< [K] μᵀW
    Kokkos::View<double*, memory_space> ybar_sum;    ///< [K] Σ_i Ȳ_ik
    Kokkos::View<double**, Kokkos::LayoutRight, memory_space> wbar;  ///< [G×K] adjoint scratch
    Kokkos::View<double*, memory_space> mbar;        ///< [G] adjoint scratch
    Kokkos::View<double*, memory_space> abs_parts;   ///< deterministic-mode bounds
    /// Forget the cached column index (after modifying a pattern in place).
    void invalidate() { transpose = pca_impl::CsrTranspose<memory_space>(); }
  };

  explicit DifferentiablePCA(SparsePCAConfig cfg) : cfg_(cfg) {
    DIFFBIO_EXPECTS(cfg.n_genes >= 1 && cfg.n_components >= 1 && cfg.n_components <= cfg.n_genes,
                    "SparsePCA: need 1 <= n_components <= n_genes");
    DIFFBIO_EXPECTS(cfg.n_oversamples >= 0 && cfg.n_power_iter >= 0,
                    "SparsePCA: n_oversamples and n_power_iter must be >= 0");
  }

  /// Inputs viewing a device CSR matrix (io::to_device); \p values overrides its values (e.g.
  /// NormalizeLog1p's output on the same pattern).
  static Inputs inputs(const io::DeviceCsr<Scalar, memory_space>& m,
                       Kokkos::View<const Scalar*, memory_space> values = {}) {
    Inputs in;
    in.row_map = m.row_map;
    in.entries = m.entries;
    in.values = values.extent(0) == m.values.extent(0) && values.data() ? values : m.values;
    return in;
  }

  const SparsePCAConfig& config() const { return cfg_; }
  int n_genes() const { return cfg_.n_genes; }
  int n_components() const { return cfg_.n_components; }
  int n_params() const { return cfg_.n_genes * cfg_.n_components + cfg_.n_genes; }

  ParamBlock declare(ParameterLayout& layout, const std::string& prefix = "pca") const {
    return layout.add(prefix + "/projection_mean", static_cast<std::size_t>(n_params()));
  }
  /// [W = components_ᵀ (G×K row-major), μ = mean_].
  std::vector<double> initial_params(const PcaFit& fit) const {
    const int G = n_genes(), K = n_components();
    DIFFBIO_EXPECTS(fit.n_genes == G && fit.n_components == K,
                    "SparsePCA::initial_params: fit has other dimensions");
    std::vector<double> p(static_cast<std::size_t>(n_params()));
    for (int j = 0; j < G; ++j) {
      for (int k = 0; k < K; ++k)
        p[static_cast<std::size_t>(j * K + k)] = fit.components[static_cast<std::size_t>(k * G + j)];
      p[static_cast<std::size_t>(G * K + j)] = fit.mean[static_cast<std::size_t>(j)];
    }
    return p;
  }
  /// All zero (call fit() and initial_params(fit) for the PCA start).
  std::vector<double> initial_params() const {
    return std::vector<double>(static_cast<std::size_t>(n_params()), 0.0);
  }

  Outputs allocate_outputs(const Inputs& in, const ExecSpace& exec = ExecSpace()) const {
    return {matrix_view(Kokkos::view_alloc(label("SparsePCA::y"), exec), n_rows(in),
                        static_cast<std::size_t>(n_components()))};
  }
  Workspace allocate_workspace(const Inputs& /*in*/) const { return {}; }

  static std::size_t n_rows(const Inputs& in) {
    return in.row_map.extent(0) > 0 ? in.row_map.extent(0) - 1 : 0;
  }

  /// True if (X − 1μᵀ)ᵀB goes through row chunks (no column index needed).
  bool use_row_chunks() const {
    if (cfg_.transpose_product == TransposeProduct::automatic)
      return Kokkos::SpaceAccessibility<ExecSpace, Kokkos::HostSpace>::accessible;
    return cfg_.transpose_product == TransposeProduct::row_chunks;
  }

  /// Builds the column index of \p in's pattern if the Workspace does not hold it yet (column_index
  /// path only; the adjoint and fit call it themselves). Blocking.
  void prepare(const Inputs& in, Workspace& ws) const {
    if (!ws.transpose.matches(in.row_map, in.entries, n_genes()))
      pca_impl::build_transpose(in.row_map, in.entries, n_genes(), ws.transpose);
  }

  /// Top-K principal components of the rows of \p in (all rows, mask ignored). Blocking.
  PcaFit fit(const ExecSpace& exec, const Inputs& in, Workspace& ws) const;

  /// Y = (X − 1μᵀ)W. Non-blocking.
  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Outputs& out,
               Workspace& ws) const {
    static_assert(ParamView::rank == 1, "params is this operator's rank-1 block");
    check_inputs(in);
    const int G = n_genes(), K = n_components();
    DIFFBIO_EXPECTS(static_cast<int>(params.extent(0)) == n_params() && params.span_is_contiguous(),
                    "SparsePCA: params must be a contiguous block of G*K + G entries");
    DIFFBIO_EXPECTS(out.y.extent(0) == n_rows(in) && static_cast<int>(out.y.extent(1)) == K,
                    "SparsePCA: y must be N x K");
    if (ws.shift.extent(0) != static_cast<std::size_t>(K))
      ws.shift = Kokkos::View<grad_type*, memory_space>(
          Kokkos::view_alloc(Kokkos::WithoutInitializing, label("SparsePCA::shift")), K);
    auto W = weight_view(params);
    auto mu = mean_view(params);
    auto shift = ws.shift;
    using A = grad_type;
    Kokkos::parallel_for(
        label("SparsePCA::shift"), Kokkos::RangePolicy<ExecSpace>(exec, 0, K),
        KOKKOS_LAMBDA(const int k) {
          A s = A(0);
          for (int j = 0; j < G; ++j) s += A(mu(j)) * A(W(j, k));
          shift(k) = s;
        });
    pca_impl::centred_spmm<A>(exec, "SparsePCA::forward", in.row_map, in.entries, in.values,
                              in.mask, W, shift, out.y);
  }

  /// Adjoint: d_values += ∂L/∂x (stored entries), d_params += [W̄, μ̄ (if learn_mean)].
  /// Blocking (the gradient is checked on the host). float and double only.
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in, Workspace& ws,
               const OutputGrads& d_out, const InputGrads& d_in, const GradView& d_params,
               const ReductionMode& mode = {}) const {
    static_assert(GradView::rank == 1, "d_params is this operator's rank-1 gradient block");
    check_inputs(in);
    const int G = n_genes(), K = n_components();
    const std::size_t N = n_rows(in);
    DIFFBIO_EXPECTS(static_cast<int>(params.extent(0)) == n_params() && params.span_is_contiguous(),
                    "SparsePCA: params must be a contiguous block of G*K + G entries");
    DIFFBIO_EXPECTS(static_cast<int>(d_params.extent(0)) == n_params(),
                    "SparsePCA::adjoint: d_params must have G*K + G entries");
    DIFFBIO_EXPECTS(d_out.d_y.extent(0) == N && static_cast<int>(d_out.d_y.extent(1)) == K,
                    "SparsePCA::adjoint: d_y must be N x K");
    DIFFBIO_EXPECTS(d_in.d_values.extent(0) == 0 || d_in.d_values.extent(0) == in.values.extent(0),
                    "SparsePCA::adjoint: d_values must have nnz entries");
    const bool chunks = use_row_chunks();
    if (!chunks) prepare(in, ws);
    auto W = weight_view(params);
    auto mu = mean_view(params);
    auto dy = d_out.d_y;
    auto mask = in.mask;
    const bool has_mask = mask.extent(0) > 0;
    using A = grad_type;
    // 1. x̄_e += Σ_k Ȳ_ik W_{j_e k} (ADJOINT.md 2.3).
    if (d_in.d_values.extent(0) > 0) {
      auto rm = in.row_map;
      auto ent = in.entries;
      auto dx = d_in.d_values;
      Kokkos::parallel_for(
          label("SparsePCA::adjoint_values"),
          Kokkos::RangePolicy<ExecSpace>(exec, 0, static_cast<int>(N)), KOKKOS_LAMBDA(const int i) {
            if (has_mask && mask(i) == 0) return;
            for (std::int64_t e = rm(i); e < rm(i + 1); ++e) {
              const int j = ent(e);
              A s = A(0);
              for (int k = 0; k < K; ++k) s += A(dy(i, k)) * A(W(j, k));
              dx(e) += Scalar(s);
            }
          });
    }
    // 2. Σ_i Ȳ_ik, then W̄ = XᵀȲ − μ (1ᵀȲ) over the column index (2.1), μ̄ = −W (1ᵀȲ) (2.2).
    const double q = mode.deterministic ? mode.quantum() : 0.0;
    const int nb = (K + pca_impl::column_block - 1) / pca_impl::column_block;
    ensure_adjoint_scratch(ws, mode.deterministic ? (chunks ? G : G * nb) : 0);
    auto ysum = ws.ybar_sum;
    pca_impl::column_sums(exec, "SparsePCA::adjoint_ybar_sum", dy, mask, ysum, q);
    auto wbar = ws.wbar;
    if (chunks)
      pca_impl::scatter_spmm_t<double>(exec, "SparsePCA::adjoint_weights", in.row_map, in.entries,
                                       in.values, mask, dy, mu, ysum, wbar, q, ws.abs_parts);
    else
      pca_impl::centred_spmm_t<double>(exec, "SparsePCA::adjoint_weights", ws.transpose, in.values,
                                       mask, dy, mu, ysum, wbar, q, ws.abs_parts);
    auto mbar = ws.mbar;
    const bool learn_mean = cfg_.learn_mean;
    Kokkos::parallel_for(
        label("SparsePCA::adjoint_finish"), Kokkos::RangePolicy<ExecSpace>(exec, 0, G),
        KOKKOS_LAMBDA(const int j) {
          double m = 0;
          for (int k = 0; k < K; ++k) {
            if (q > 0) wbar(j, k) = compat::nearbyint(wbar(j, k) / q) * q;
            m -= static_cast<double>(W(j, k)) * ysum(k);
          }
          mbar(j) = learn_mean ? (q > 0 ? compat::nearbyint(m / q) * q : m) : 0.0;
        });
    // 3. Check on the host (NaN, exactness bound), then add.
    {
      auto hw = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), wbar);
      auto hm = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), mbar);
      for (int j = 0; j < G; ++j) {
        bool ok = std::isfinite(hm(j));
        for (int k = 0; k < K; ++k) ok = ok && std::isfinite(hw(j, k));
        if (!ok) throw Error(ExitCode::numerical, "DiffBio: non-finite gradient in SparsePCA::adjoint");
      }
      if (mode.deterministic) {
        auto ha = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), ws.abs_parts);
        double total = 0;
        for (std::size_t w = 0; w < ha.extent(0); ++w) total = std::max(total, ha(w));
        if (!(total < mode.exact_bound()))
          throw Error(ExitCode::numerical,
                      "DiffBio: deterministic reduction in SparsePCA::adjoint exceeds its exact "
                      "range (sum |g| = " + std::to_string(total) + "); raise the grid exponent");
      }
    }
    auto g = d_params;
    Kokkos::parallel_for(
        label("SparsePCA::adjoint_add"), Kokkos::RangePolicy<ExecSpace>(exec, 0, G * K + G),
        KOKKOS_LAMBDA(const int c) {
          if (c < G * K)
            g(c) += wbar(c / K, c % K);
          else
            g(c) += mbar(c - G * K);
        });
    exec.fence();
  }

 private:
  template <class ParamView>
  auto weight_view(const ParamView& params) const {
    using T = typename ParamView::const_value_type;
    return Kokkos::View<T**, Kokkos::LayoutRight, memory_space, Kokkos::MemoryUnmanaged>(
        params.data(), static_cast<std::size_t>(n_genes()),
        static_cast<std::size_t>(n_components()));
  }
  template <class ParamView>
  auto mean_view(const ParamView& params) const {
    using T = typename ParamView::const_value_type;
    return Kokkos::View<T*, memory_space, Kokkos::MemoryUnmanaged>(
        params.data() + n_genes() * n_components(), static_cast<std::size_t>(n_genes()));
  }
  void check_inputs(const Inputs& in) const {
    DIFFBIO_EXPECTS(in.entries.extent(0) == in.values.extent(0),
                    "SparsePCA: entries and values must both have nnz entries");
    DIFFBIO_EXPECTS(in.mask.extent(0) == 0 || in.mask.extent(0) == n_rows(in),
                    "SparsePCA: one mask entry per row expected");
  }
  void ensure_adjoint_scratch(Workspace& ws, int n_abs) const {
    const int G = n_genes(), K = n_components();
    const auto alloc = [](const char* what) {
      return Kokkos::view_alloc(Kokkos::WithoutInitializing, label(what));
    };
    if (ws.wbar.extent(0) != static_cast<std::size_t>(G)) {
      ws.wbar = Kokkos::View<double**, Kokkos::LayoutRight, memory_space>(alloc("SparsePCA::wbar"), G, K);
      ws.mbar = Kokkos::View<double*, memory_space>(alloc("SparsePCA::mbar"), G);
      ws.ybar_sum = Kokkos::View<double*, memory_space>(alloc("SparsePCA::ybar_sum"), K);
    }
    if (ws.abs_parts.extent(0) != static_cast<std::size_t>(n_abs))
      ws.abs_parts = Kokkos::View<double*, memory_space>(alloc("SparsePCA::abs_parts"), n_abs);
  }

  SparsePCAConfig cfg_;
};

/// The name used by the issue and the pipeline.
template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
using SparsePCA = DifferentiablePCA<Scalar, ExecSpace>;

}  // namespace diffbio

#include <impl/DiffBio_SparsePCAFit.hpp>

#endif
