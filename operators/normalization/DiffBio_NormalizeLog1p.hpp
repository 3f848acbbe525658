// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_NormalizeLog1p.hpp
/// \brief NormalizeLog1p: scanpy's normalize_total(target_sum) followed by log1p, on CSR counts.
///
/// For a cells × genes count matrix X in CSR form (rows = cells) and the stored entries x_ij:
///
///   s_i  = Σ_j x_ij            (library size: the sum of the stored values of row i), or a
///                               given per-cell size factor s_i (e.g. from a VAE) instead
///   y_ij = log1p(t · x_ij / s_i)   for every stored entry, t = target_sum
///
/// exactly what `sc.pp.normalize_total(adata, target_sum=t); sc.pp.log1p(adata)` computes
/// (X / X.sum(1) · t, then np.log1p). The sparsity pattern is kept: the operator maps the values
/// array of a CSR matrix to a new values array of the same length, and row_map/entries are
/// shared. Implicit zeros stay zero (log1p(0) = 0) and are not differentiable inputs.
///
/// Parameters (one block of 1): log t, so any optimiser step keeps t > 0. With
/// `learn_target_sum = false` (default) t is a constant and its gradient stays 0.
///
/// Rows with s_i = 0 (empty cells, or a zero size factor) and rows with mask 0 get all outputs 0
/// and no gradient (scanpy leaves such rows at 0 too). There is no temperature, so there is no
/// `hard` mode: the operator is already exact (the classic computation itself).
///
/// Arithmetic: s_i, t/s_i and the argument of log1p are formed in accum_t<Scalar> (double for
/// float counts), so float results are the correctly rounded float of the double computation.
/// A non-finite output (negative "counts" or size factors) raises ExitCode::numerical instead of
/// leaving NaN behind; the forward is therefore blocking (one reduction to the host).
///
/// Determinism: every row is handled by one work item in a fixed order; the only sum over rows,
/// ∂L/∂log t, is summed in fixed blocks of rows, so every result is bitwise the same for any
/// thread count; ReductionMode::deterministic rounds each row's contribution to the 2^e grid,
/// which makes that sum exact (and independent of how rows are split over ranks).
///
/// Derivation of the adjoint: ADJOINT.md in this folder (section 1).
#ifndef DIFFBIO_NORMALIZE_LOG1P_HPP
#define DIFFBIO_NORMALIZE_LOG1P_HPP

#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <DiffBio_SparseMatrix.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace diffbio {

struct NormalizeLog1pConfig {
  double target_sum = 1e4;        ///< t (scanpy's target_sum); stored as log t
  bool learn_target_sum = false;  ///< true: log t is trained (its gradient is accumulated)
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class NormalizeLog1p {
 public:
  using scalar_type = Scalar;
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using grad_type = accum_t<Scalar>;
  using values_view = Kokkos::View<Scalar*, memory_space>;
  using const_values_view = Kokkos::View<const Scalar*, memory_space>;
  using row_map_view = Kokkos::View<const std::int64_t*, memory_space>;

  /// A CSR count matrix (or a row block of one). Column indices are not needed by the maths.
  struct Inputs {
    row_map_view row_map;     ///< [N + 1] offsets into values
    const_values_view values; ///< [nnz] counts x_ij
    /// [N] optional per-cell size factors used instead of the library sizes (empty: Σ_j x_ij).
    const_values_view size_factors;
    Kokkos::View<const std::uint8_t*, memory_space> mask;  ///< [N] 1 = valid; empty: all valid
  };
  struct Outputs {
    values_view values;  ///< [nnz] y_ij, same row_map/entries as the input
  };
  /// Adjoint seed: ∂L/∂y for the stored entries.
  struct OutputGrads {
    const_values_view d_values;
  };
  /// Input gradients (+=); an empty View skips that gradient.
  struct InputGrads {
    values_view d_values;        ///< [nnz] ∂L/∂x_ij of the stored entries
    values_view d_size_factors;  ///< [N] ∂L/∂s_i (only with size_factors)
  };
  /// The forward leaves the per-row divisor s_i here (the adjoint reads it).
  struct Workspace {
    Kokkos::View<grad_type*, memory_space> library_size;  ///< [N] s_i as used (0: empty row)
    Kokkos::View<double*, memory_space> row_log_t;        ///< [N] adjoint scratch
  };

  explicit NormalizeLog1p(NormalizeLog1pConfig cfg = {}) : cfg_(cfg) {
    DIFFBIO_EXPECTS(cfg.target_sum > 0 && std::isfinite(cfg.target_sum),
                    "NormalizeLog1p: target_sum must be a positive number");
  }

  /// Inputs viewing a device CSR matrix (io::to_device).
  static Inputs inputs(const io::DeviceCsr<Scalar, memory_space>& m) {
    Inputs in;
    in.row_map = m.row_map;
    in.values = m.values;
    return in;
  }

  const NormalizeLog1pConfig& config() const { return cfg_; }
  int n_params() const { return 1; }
  ParamBlock declare(ParameterLayout& layout, const std::string& prefix = "normalize_log1p") const {
    return layout.add(prefix + "/log_target_sum", 1);
  }
  /// [log t].
  std::vector<double> initial_params() const { return {std::log(cfg_.target_sum)}; }

  Outputs allocate_outputs(const Inputs& in, const ExecSpace& exec = ExecSpace()) const {
    return {values_view(Kokkos::view_alloc(label("NormalizeLog1p::values"), exec),
                        in.values.extent(0))};
  }
  Workspace allocate_workspace(const Inputs& in, const ExecSpace& exec = ExecSpace()) const {
    Workspace ws;
    ws.library_size = Kokkos::View<grad_type*, memory_space>(
        Kokkos::view_alloc(label("NormalizeLog1p::library_size"), exec), n_rows(in));
    return ws;
  }

  static std::size_t n_rows(const Inputs& in) {
    return in.row_map.extent(0) > 0 ? in.row_map.extent(0) - 1 : 0;
  }

  /// Library sizes Σ_j x_ij of every row into \p out [N] (no size factors, no mask). Non-blocking.
  template <class OutView>
  static void library_sizes(const ExecSpace& exec, const Inputs& in, const OutView& out) {
    const int N = static_cast<int>(n_rows(in));
    auto rm = in.row_map;
    auto x = in.values;
    using A = grad_type;
    Kokkos::parallel_for(
        label("NormalizeLog1p::library_sizes"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N),
        KOKKOS_LAMBDA(const int i) {
          A s = A(0);
          for (std::int64_t e = rm(i); e < rm(i + 1); ++e) s += A(x(e));
          out(i) = s;
        });
  }

  /// scanpy's target_sum=None: the median library size over rows with a positive library size
  /// (0 if there is none). Blocking. Use it as NormalizeLog1pConfig::target_sum.
  static double median_library_size(const ExecSpace& exec, const Inputs& in) {
    Kokkos::View<double*, memory_space> s(label("NormalizeLog1p::median_sizes"), n_rows(in));
    library_sizes(exec, in, s);
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), s);
    std::vector<double> v;
    v.reserve(h.extent(0));
    for (std::size_t i = 0; i < h.extent(0); ++i)
      if (h(i) > 0) v.push_back(h(i));
    if (v.empty()) return 0.0;
    // numpy's median: the mean of the two middle values for an even count.
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
  }

  /// y = log1p(t · x / s) for every stored entry. Blocking (non-finite outputs are counted and
  /// raise ExitCode::numerical).
  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Outputs& out,
               Workspace& ws) const {
    static_assert(ParamView::rank == 1, "params is this operator's rank-1 block");
    const std::size_t N = n_rows(in);
    DIFFBIO_EXPECTS(params.extent(0) == 1, "NormalizeLog1p: params must have 1 entry (log t)");
    DIFFBIO_EXPECTS(out.values.extent(0) == in.values.extent(0),
                    "NormalizeLog1p: output values must have nnz entries");
    DIFFBIO_EXPECTS(in.size_factors.extent(0) == 0 || in.size_factors.extent(0) == N,
                    "NormalizeLog1p: one size factor per row expected");
    DIFFBIO_EXPECTS(in.mask.extent(0) == 0 || in.mask.extent(0) == N,
                    "NormalizeLog1p: one mask entry per row expected");
    if (ws.library_size.extent(0) != N)
      ws.library_size = Kokkos::View<grad_type*, memory_space>(
          Kokkos::view_alloc(Kokkos::WithoutInitializing, label("NormalizeLog1p::library_size")),
          N);
    using A = grad_type;
    using math::value_of;
    const bool has_sf = in.size_factors.extent(0) > 0, has_mask = in.mask.extent(0) > 0;
    auto rm = in.row_map;
    auto x = in.values;
    auto sf = in.size_factors;
    auto mask = in.mask;
    auto y = out.values;
    auto lib = ws.library_size;
    int bad = 0;
    Kokkos::parallel_reduce(
        label("NormalizeLog1p::forward"), Kokkos::RangePolicy<ExecSpace>(exec, 0, static_cast<int>(N)),
        KOKKOS_LAMBDA(const int i, int& n_bad) {
          const std::int64_t e0 = rm(i), e1 = rm(i + 1);
          A s = A(0);
          if (has_sf) {
            s = A(sf(i));
          } else {
            for (std::int64_t e = e0; e < e1; ++e) s += A(x(e));
          }
          if ((has_mask && mask(i) == 0) || value_of(s) == 0) {
            lib(i) = A(0);  // marks "no output, no gradient" for the adjoint
            for (std::int64_t e = e0; e < e1; ++e) y(e) = Scalar(0);
            return;
          }
          lib(i) = s;
          const A c = math::exp(A(params(0))) / s;
          for (std::int64_t e = e0; e < e1; ++e) {
            const A v = math::log1p(c * A(x(e)));
            y(e) = Scalar(v);
            const double vv = static_cast<double>(value_of(v));
            if (!(vv - vv == 0)) ++n_bad;  // NaN or ±inf
          }
        },
        bad);
    if (bad > 0)
      throw Error(ExitCode::numerical, "DiffBio: NormalizeLog1p: " + std::to_string(bad) +
                                           " non-finite outputs (negative counts or size factors?)");
  }

  /// Adjoint: d_values += ∂L/∂x (through y and through s_i), d_size_factors += ∂L/∂s,
  /// d_params += ∂L/∂log t (if learnt). Blocking (the parameter sum is checked on the host).
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in, Workspace& ws,
               const OutputGrads& d_out, const InputGrads& d_in, const GradView& d_params,
               const ReductionMode& mode = {}) const {
    static_assert(GradView::rank == 1, "d_params is this operator's rank-1 gradient block");
    const std::size_t N = n_rows(in);
    DIFFBIO_EXPECTS(ws.library_size.extent(0) == N, "NormalizeLog1p::adjoint before forward");
    DIFFBIO_EXPECTS(d_out.d_values.extent(0) == in.values.extent(0),
                    "NormalizeLog1p::adjoint: d_values seed must have nnz entries");
    DIFFBIO_EXPECTS(d_in.d_values.extent(0) == 0 || d_in.d_values.extent(0) == in.values.extent(0),
                    "NormalizeLog1p::adjoint: input gradient must have nnz entries");
    DIFFBIO_EXPECTS(d_params.extent(0) == 1, "NormalizeLog1p::adjoint: d_params must have 1 entry");
    using A = grad_type;
    using math::value_of;
    const bool has_sf = in.size_factors.extent(0) > 0;
    const bool has_dx = d_in.d_values.extent(0) > 0;
    const bool has_dsf = has_sf && d_in.d_size_factors.extent(0) == N && N > 0;
    auto rm = in.row_map;
    auto x = in.values;
    auto yb = d_out.d_values;
    auto dx = d_in.d_values;
    auto dsf = d_in.d_size_factors;
    auto lib = ws.library_size;
    // Per row: z̄_e = ȳ_e / (1 + z_e), r_i = Σ_e z̄_e z_e; x̄_e += c z̄_e − r_i/s_i (the second
    // term through s_i = Σ_e x_e), s̄_i += −r_i/s_i with size factors (ADJOINT.md, 1.3–1.5), and
    // r_i (∂L/∂log t of row i, rounded to the grid in deterministic mode) into ws.row_log_t.
    const bool learn = cfg_.learn_target_sum;
    if (learn && ws.row_log_t.extent(0) != N)
      ws.row_log_t = Kokkos::View<double*, memory_space>(
          Kokkos::view_alloc(Kokkos::WithoutInitializing, label("NormalizeLog1p::row_log_t")), N);
    const double q = mode.deterministic ? mode.quantum() : 0.0;
    auto row_lt = ws.row_log_t;
    if (has_dx || has_dsf || learn)
      Kokkos::parallel_for(
          label("NormalizeLog1p::adjoint_rows"),
          Kokkos::RangePolicy<ExecSpace>(exec, 0, static_cast<int>(N)), KOKKOS_LAMBDA(const int i) {
            const A s = lib(i);
            if (value_of(s) == 0) {
              if (learn) row_lt(i) = 0.0;
              return;
            }
            const std::int64_t e0 = rm(i), e1 = rm(i + 1);
            const A c = math::exp(A(params(0))) / s;
            A r = A(0);
            for (std::int64_t e = e0; e < e1; ++e) {
              const A z = c * A(x(e));
              r += A(yb(e)) / (A(1) + z) * z;
            }
            const A sbar = -r / s;
            if (has_dx)
              for (std::int64_t e = e0; e < e1; ++e) {
                const A z = c * A(x(e));
                dx(e) += Scalar(c * (A(yb(e)) / (A(1) + z)) + (has_sf ? A(0) : sbar));
              }
            if (has_dsf) dsf(i) += Scalar(sbar);
            if (learn) {
              const double v = static_cast<double>(value_of(r));
              row_lt(i) = q > 0 ? compat::nearbyint(v / q) * q : v;
            }
          });
    if (!learn) {
      exec.fence();
      return;
    }
    // ∂L/∂log t = Σ_i r_i, summed in a fixed order (blocks of 1024 rows, then the blocks in
    // order), so it is bitwise the same for any thread count; exact in deterministic mode.
    const int n = static_cast<int>(N), n_blocks = (n + 1023) / 1024;
    Kokkos::View<double*, memory_space> partial(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, label("NormalizeLog1p::log_t_partials")),
        static_cast<std::size_t>(2 * n_blocks));
    Kokkos::parallel_for(
        label("NormalizeLog1p::adjoint_log_t_blocks"),
        Kokkos::RangePolicy<ExecSpace>(exec, 0, n_blocks), KOKKOS_LAMBDA(const int b) {
          double sum = 0, abs_sum = 0;
          const int i1 = (b + 1) * 1024 < n ? (b + 1) * 1024 : n;
          for (int i = b * 1024; i < i1; ++i) {
            sum += row_lt(i);
            abs_sum += compat::fabs(row_lt(i));
          }
          partial(2 * b) = sum;
          partial(2 * b + 1) = abs_sum;
        });
    auto hp = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), partial);
    double total = 0, abs_total = 0;
    for (int b = 0; b < n_blocks; ++b) {
      total += hp(2 * b);
      abs_total += hp(2 * b + 1);
    }
    if (!std::isfinite(total))
      throw Error(ExitCode::numerical, "DiffBio: non-finite gradient in NormalizeLog1p::adjoint");
    if (mode.deterministic && !(abs_total < mode.exact_bound()))
      throw Error(ExitCode::numerical,
                  "DiffBio: deterministic reduction in NormalizeLog1p::adjoint exceeds its exact "
                  "range (sum |g| = " + std::to_string(abs_total) + "); raise the grid exponent");
    auto g = d_params;
    Kokkos::parallel_for(
        label("NormalizeLog1p::adjoint_log_t_add"), Kokkos::RangePolicy<ExecSpace>(exec, 0, 1),
        KOKKOS_LAMBDA(const int) { g(0) += total; });
    exec.fence();
  }

 private:
  NormalizeLog1pConfig cfg_;
};

}  // namespace diffbio

#endif
