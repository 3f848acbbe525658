// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_AmbientRemoval.hpp
/// \brief AmbientRemoval: per-cell contamination fraction against an ambient (soup) profile, with a
/// Poisson likelihood on sparse counts (SoupX / CellBender idea, kept small and differentiable).
///
/// Model for cell i, gene g, with observed counts x_ig (CSR, rows = cells) and library
/// n_i = Σ_g x_ig:
///
///   x_ig ~ Poisson(μ_ig),   μ_ig = n_i ((1 − ρ_i) q_ig + ρ_i a_g),   ρ_i = σ(ℓ_i)
///
/// a [G] is the ambient profile (a simplex, estimated from low-count barcodes by
/// estimate_ambient()), q_i the cell's own expression profile (an input: e.g. its cluster's
/// mean profile from cluster_profiles() + profile_at_entries(), or a decoder output), ℓ_i the
/// learnable contamination logit — one parameter per cell (per-cell, not predicted: the fraction
/// is a property of the droplet, and a logit keeps ρ in (0, 1) under any optimiser step).
///
/// Sparse likelihood: the Poisson NLL Σ_g μ_ig − x_ig log μ_ig + log x_ig! needs μ only at the
/// stored entries for its log part; the sum over all genes is analytic,
///   Σ_g μ_ig = n_i ((1 − ρ_i) Q_i + ρ_i A),  Q_i = Σ_g q_ig (input q_sum, default 1), A = Σ_g a_g,
/// so nothing is densified. q is therefore given only at x's stored entries (q [nnz]) plus its
/// row sums Q. μ > 0 needs a_g > 0 (estimate_ambient adds a pseudo-count) or q_ig > 0.
///
/// Outputs: corrected counts on x's sparsity pattern, c_ig = τ·softplus((x_ig − r_ig)/τ) with
/// r_ig = ρ_i n_i a_g the expected ambient counts (hard / τ = 0: max(x − r, 0), SoupX's
/// subtraction); the per-cell NLL; ρ. Rows with mask 0 output zeros and get no gradient.
///
/// Adjoints (ADJOINT_AmbientRemoval.md): into ℓ (per cell: no reduction), q at the entries, Q,
/// and a. The gradient into a_g sums over the cells that express g: per-entry contributions are
/// gathered by a column-ordered permutation of the entries (a CSC view built once on the host per
/// count matrix and cached in the workspace), so it is deterministic and atomic-free; the term
/// through A (same for every gene) is a fixed-chunk row sum.
#ifndef DIFFBIO_AMBIENT_REMOVAL_HPP
#define DIFFBIO_AMBIENT_REMOVAL_HPP

#include <DiffBio_Compat.hpp>
#include <DiffBio_Config.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <DiffBio_SparseMatrix.hpp>
#include <DiffBio_Types.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace diffbio {

// ------------------------------------------------------------------------------ host helpers

/// Ambient profile from low-count barcodes: a_g ∝ Σ_{i: 0 < n_i < max_library} x_ig + ε, with
/// ε = \p pseudocount counts per gene (keeps every a_g > 0, so every μ > 0). \p counts is usually
/// the raw (unfiltered) barcode matrix. Throws ExitCode::input if no barcode qualifies.
template <class S>
std::vector<double> estimate_ambient(const io::CsrMatrix<S>& counts, double max_library,
                                     double pseudocount = 0.01) {
  std::vector<double> a(static_cast<std::size_t>(counts.n_cols), 0.0);
  std::int64_t used = 0;
  for (std::int64_t r = 0; r < counts.n_rows; ++r) {
    double n = 0;
    for (std::int64_t e = counts.row_begin(r); e < counts.row_end(r); ++e)
      n += static_cast<double>(counts.data[static_cast<std::size_t>(e)]);
    if (!(n > 0 && n < max_library)) continue;
    ++used;
    for (std::int64_t e = counts.row_begin(r); e < counts.row_end(r); ++e)
      a[static_cast<std::size_t>(counts.indices[static_cast<std::size_t>(e)])] +=
          static_cast<double>(counts.data[static_cast<std::size_t>(e)]);
  }
  if (used == 0)
    throw Error(ExitCode::input_error, "estimate_ambient: no barcode with 0 < library size < " +
                                           std::to_string(max_library));
  double total = 0;
  for (double& v : a) total += (v += pseudocount);
  for (double& v : a) v /= total;
  return a;
}

/// Cluster expression profiles P [K×G] (row-major, each row a simplex): the pooled counts of the
/// cells of each cluster with the expected ambient counts removed, Σ_{i∈k} max(x_ig − ρ_i n_i a_g,
/// 0) + ε, normalised. \p rho empty: nothing removed. Labels < 0 are skipped. Host.
template <class S>
std::vector<double> cluster_profiles(const io::CsrMatrix<S>& counts, const std::vector<int>& labels,
                                     int n_clusters, const std::vector<double>& ambient,
                                     const std::vector<double>& rho = {}, double pseudocount = 0.01) {
  const std::int64_t G = counts.n_cols;
  DIFFBIO_EXPECTS(static_cast<std::int64_t>(labels.size()) == counts.n_rows,
                  "cluster_profiles: one label per cell");
  DIFFBIO_EXPECTS(rho.empty() || (rho.size() == labels.size() && static_cast<std::int64_t>(ambient.size()) == G),
                  "cluster_profiles: rho needs one value per cell and an ambient profile per gene");
  std::vector<double> P(static_cast<std::size_t>(n_clusters * G), 0.0);
  for (std::int64_t r = 0; r < counts.n_rows; ++r) {
    const int k = labels[static_cast<std::size_t>(r)];
    if (k < 0) continue;
    DIFFBIO_EXPECTS(k < n_clusters, "cluster_profiles: label out of range");
    double n = 0;
    for (std::int64_t e = counts.row_begin(r); e < counts.row_end(r); ++e)
      n += static_cast<double>(counts.data[static_cast<std::size_t>(e)]);
    const double rn = rho.empty() ? 0.0 : rho[static_cast<std::size_t>(r)] * n;
    for (std::int64_t e = counts.row_begin(r); e < counts.row_end(r); ++e) {
      const auto g = counts.indices[static_cast<std::size_t>(e)];
      const double x = static_cast<double>(counts.data[static_cast<std::size_t>(e)]);
      const double v = x - rn * (rho.empty() ? 0.0 : ambient[static_cast<std::size_t>(g)]);
      P[static_cast<std::size_t>(k * G + g)] += v > 0 ? v : 0.0;
    }
  }
  for (int k = 0; k < n_clusters; ++k) {
    double total = 0;
    for (std::int64_t g = 0; g < G; ++g) total += (P[static_cast<std::size_t>(k * G + g)] += pseudocount);
    for (std::int64_t g = 0; g < G; ++g) P[static_cast<std::size_t>(k * G + g)] /= total;
  }
  return P;
}

/// q at the stored entries of a CSR matrix: q(e) = profiles(labels(row(e)), col(e)), for
/// AmbientRemoval::Inputs::q (rows with label < 0 get 0). Non-blocking.
template <class ExecSpace, class RowMap, class Entries, class Labels, class Profiles, class Q>
void profile_at_entries(const ExecSpace& exec, const RowMap& row_map, const Entries& entries,
                        const Labels& labels, const Profiles& profiles, const Q& q) {
  const int N = static_cast<int>(row_map.extent(0)) - 1;
  Kokkos::parallel_for(
      label("AmbientRemoval::profile_at_entries"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N < 0 ? 0 : N),
      KOKKOS_LAMBDA(const int i) {
        const int k = labels(i);
        for (auto e = row_map(i); e < row_map(i + 1); ++e) q(e) = k >= 0 ? profiles(k, entries(e)) : 0;
      });
}

// ---------------------------------------------------------------------------- the operator

struct AmbientRemovalConfig {
  int n_cells = 0;     ///< N: one contamination logit per cell (the parameter block's size)
  double rho = 0.05;   ///< initial contamination fraction (all cells)
  double tau = 1.0;    ///< softplus temperature of the corrected counts (in counts)
  bool hard = false;   ///< τ = 0: corrected = max(x − ρ n a, 0)
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class AmbientRemoval {
 public:
  using scalar_type = Scalar;
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using grad_type = accum_t<Scalar>;
  using vector_view = Kokkos::View<Scalar*, memory_space>;
  using const_vector_view = Kokkos::View<const Scalar*, memory_space>;

  struct Inputs {
    Kokkos::View<const std::int64_t*, memory_space> row_map;  ///< [N + 1] CSR offsets of x
    Kokkos::View<const std::int32_t*, memory_space> entries;  ///< [nnz] gene of each entry
    const_vector_view counts;   ///< [nnz] x_ig
    int n_genes = 0;            ///< G
    const_vector_view q;        ///< [nnz] cell profile q_ig at x's entries
    const_vector_view q_sum;    ///< [N] Q_i = Σ_g q_ig over all genes; empty: 1
    const_vector_view ambient;  ///< [G] a_g (> 0)
    const_vector_view library;  ///< [N] n_i; empty: Σ_g x_ig (computed)
    Kokkos::View<const std::uint8_t*, memory_space> mask;  ///< [N] 1 = valid; empty: all valid
  };
  struct Outputs {
    vector_view corrected;  ///< [nnz] soft max(x − ρ n a, 0), on x's pattern
    vector_view nll;        ///< [N] Poisson negative log-likelihood per cell
    vector_view rho;        ///< [N] ρ_i
  };
  struct OutputGrads {  ///< any View may be empty (gradient 0)
    const_vector_view d_corrected;
    const_vector_view d_nll;
    const_vector_view d_rho;
  };
  struct InputGrads {  ///< += ; empty Views are skipped
    vector_view d_q;        ///< [nnz]
    vector_view d_q_sum;    ///< [N]
    vector_view d_ambient;  ///< [G]
  };
  struct Workspace {
    Kokkos::View<grad_type*, memory_space> library;  ///< n_i used by the forward
    Kokkos::View<grad_type*, memory_space> a_total;  ///< [1] A = Σ_g a_g
    Kokkos::View<grad_type*, memory_space> abar_entry;  ///< adjoint: per-entry ∂L/∂a_g
    Kokkos::View<grad_type*, memory_space> abar_row;    ///< adjoint: per-cell ∂L/∂A
    Kokkos::View<grad_type*, memory_space> partial;     ///< adjoint: chunk sums of abar_row
    /// CSC view of the entries (built on first use per count matrix, then reused).
    Kokkos::View<std::int64_t*, memory_space> col_ptr;  ///< [G + 1]
    Kokkos::View<std::int64_t*, memory_space> col_entry;  ///< [nnz] entry ids in column order
    const void* csc_of = nullptr;                        ///< row_map the CSC was built for
    std::size_t csc_nnz = 0;
  };

  explicit AmbientRemoval(AmbientRemovalConfig cfg) : cfg_(cfg) {
    DIFFBIO_EXPECTS(cfg.n_cells >= 0, "AmbientRemoval: n_cells must be >= 0");
    DIFFBIO_EXPECTS(cfg.rho > 0 && cfg.rho < 1, "AmbientRemoval: initial rho must be in (0, 1)");
    DIFFBIO_EXPECTS(cfg.hard || cfg.tau > 0, "AmbientRemoval: tau must be > 0 (or hard = true)");
  }

  const AmbientRemovalConfig& config() const { return cfg_; }
  int n_params() const { return cfg_.n_cells; }
  bool hard() const { return cfg_.hard; }
  void set_hard(bool h) { cfg_.hard = h; }

  ParamBlock declare(ParameterLayout& layout, const std::string& prefix = "ambient") const {
    return layout.add(prefix + "/rho_logit", static_cast<std::size_t>(n_params()));
  }
  /// logit(ρ) for every cell; \p rho (one per cell) overrides the config's initial value.
  std::vector<double> initial_params(const std::vector<double>& rho = {}) const {
    DIFFBIO_EXPECTS(rho.empty() || static_cast<int>(rho.size()) == cfg_.n_cells,
                    "AmbientRemoval: one initial rho per cell expected");
    std::vector<double> p(static_cast<std::size_t>(cfg_.n_cells));
    for (std::size_t i = 0; i < p.size(); ++i) {
      const double r = rho.empty() ? cfg_.rho : rho[i];
      p[i] = std::log(r / (1 - r));
    }
    return p;
  }

  /// Inputs whose count pattern is a DeviceCsr (values converted views must have Scalar type).
  static Inputs inputs_from(const io::DeviceCsr<Scalar, memory_space>& x, const_vector_view q,
                            const_vector_view ambient) {
    Inputs in;
    in.row_map = x.row_map;
    in.entries = x.entries;
    in.counts = x.values;
    in.n_genes = static_cast<int>(x.n_cols);
    in.q = q;
    in.ambient = ambient;
    return in;
  }

  Outputs allocate_outputs(const Inputs& in, const ExecSpace& exec = ExecSpace()) const {
    const std::size_t N = n_rows(in), nnz = in.counts.extent(0);
    Outputs o;
    o.corrected = vector_view(Kokkos::view_alloc(label("AmbientRemoval::corrected"), exec), nnz);
    o.nll = vector_view(Kokkos::view_alloc(label("AmbientRemoval::nll"), exec), N);
    o.rho = vector_view(Kokkos::view_alloc(label("AmbientRemoval::rho"), exec), N);
    return o;
  }
  Workspace allocate_workspace(const Inputs&) const { return {}; }

  static std::size_t n_rows(const Inputs& in) {
    return in.row_map.extent(0) > 0 ? in.row_map.extent(0) - 1 : 0;
  }

  /// Forward. Non-blocking.
  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Outputs& out,
               Workspace& ws) const {
    static_assert(ParamView::rank == 1, "params is this operator's rank-1 block");
    check_inputs(in);
    const int N = static_cast<int>(n_rows(in)), G = in.n_genes;
    DIFFBIO_EXPECTS(static_cast<int>(params.extent(0)) == N && N == cfg_.n_cells,
                    "AmbientRemoval: params must hold one logit per cell (n_cells)");
    DIFFBIO_EXPECTS(out.corrected.extent(0) == in.counts.extent(0) &&
                        static_cast<int>(out.nll.extent(0)) == N && static_cast<int>(out.rho.extent(0)) == N,
                    "AmbientRemoval: output shapes do not match the inputs");
    using A = grad_type;
    if (ws.library.extent(0) != static_cast<std::size_t>(N))
      ws.library = Kokkos::View<A*, memory_space>(Kokkos::view_alloc(label("AmbientRemoval::library"), exec), N);
    if (ws.a_total.extent(0) != 1)
      ws.a_total = Kokkos::View<A*, memory_space>(Kokkos::view_alloc(label("AmbientRemoval::a_total"), exec), 1);
    auto amb = in.ambient;
    auto a_total = ws.a_total;
    // A = Σ_g a_g in one fixed order (G is small; the same bits on every backend).
    Kokkos::parallel_for(
        label("AmbientRemoval::ambient_total"), Kokkos::RangePolicy<ExecSpace>(exec, 0, 1),
        KOKKOS_LAMBDA(const int) {
          A s = A(0);
          for (int g = 0; g < G; ++g) s += A(amb(g));
          a_total(0) = s;
        });
    const bool hard = cfg_.hard, has_mask = in.mask.extent(0) > 0, has_lib = in.library.extent(0) > 0,
               has_qsum = in.q_sum.extent(0) > 0;
    const double tau = cfg_.tau;
    auto rm = in.row_map;
    auto ent = in.entries;
    auto x = in.counts;
    auto q = in.q;
    auto qs = in.q_sum;
    auto lib_in = in.library;
    auto mask = in.mask;
    auto lib = ws.library;
    auto corr = out.corrected;
    auto nll = out.nll;
    auto rho_out = out.rho;
    using math::value_of;
    Kokkos::parallel_for(
        label("AmbientRemoval::forward"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N),
        KOKKOS_LAMBDA(const int i) {
          const auto b = rm(i), e1 = rm(i + 1);
          A n = A(0);
          if (has_lib) {
            n = A(lib_in(i));
          } else {
            for (auto e = b; e < e1; ++e) n += A(x(e));
          }
          lib(i) = n;
          if (has_mask && mask(i) == 0) {
            for (auto e = b; e < e1; ++e) corr(e) = Scalar(0);
            nll(i) = Scalar(0);
            rho_out(i) = Scalar(0);
            return;
          }
          const A rho = math::sigmoid(A(params(i)));
          rho_out(i) = Scalar(rho);
          const A Q = has_qsum ? A(qs(i)) : A(1);
          A l = n * ((A(1) - rho) * Q + rho * a_total(0));
          for (auto e = b; e < e1; ++e) {
            const A xe = A(x(e));
            const A ag = A(amb(ent(e)));
            const A mu = n * ((A(1) - rho) * A(q(e)) + rho * ag);
            l += -xe * math::log(mu) + A(compat::lgamma(static_cast<double>(value_of(xe)) + 1.0));
            const A y = xe - rho * n * ag;
            if (hard) {
              corr(e) = value_of(y) > 0 ? Scalar(y) : Scalar(0);
            } else {
              corr(e) = Scalar(A(tau) * math::softplus(y / A(tau)));
            }
          }
          nll(i) = Scalar(l);
        });
  }

  /// Adjoint: d_params(i) += ∂L/∂ℓ_i; d_q, d_q_sum, d_ambient += (ADJOINT_AmbientRemoval.md).
  /// Blocking when d_ambient is requested (first call per count matrix builds the CSC view).
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in, Workspace& ws,
               const OutputGrads& d_out, const InputGrads& d_in, const GradView& d_params,
               const ReductionMode& mode = {}) const {
    static_assert(GradView::rank == 1, "d_params is this operator's rank-1 gradient block");
    (void)mode;  // per-cell parameters: no cross-row sums; the ambient sums are fixed-order anyway
    using A = grad_type;
    const int N = static_cast<int>(n_rows(in)), G = in.n_genes;
    const std::size_t nnz = in.counts.extent(0);
    DIFFBIO_EXPECTS(ws.library.extent(0) == static_cast<std::size_t>(N), "AmbientRemoval::adjoint before forward");
    DIFFBIO_EXPECTS(static_cast<int>(d_params.extent(0)) == N, "AmbientRemoval::adjoint: d_params must have N entries");
    const bool want_a = d_in.d_ambient.extent(0) > 0;
    if (want_a) {
      DIFFBIO_EXPECTS(static_cast<int>(d_in.d_ambient.extent(0)) == G, "AmbientRemoval: d_ambient must have G entries");
      if (ws.abar_entry.extent(0) != nnz)
        ws.abar_entry = Kokkos::View<A*, memory_space>(Kokkos::view_alloc(label("AmbientRemoval::abar_entry"), exec), nnz);
      if (ws.abar_row.extent(0) != static_cast<std::size_t>(N))
        ws.abar_row = Kokkos::View<A*, memory_space>(Kokkos::view_alloc(label("AmbientRemoval::abar_row"), exec), N);
    }
    DIFFBIO_EXPECTS(d_in.d_q.extent(0) == 0 || d_in.d_q.extent(0) == nnz, "AmbientRemoval: d_q must have nnz entries");
    DIFFBIO_EXPECTS(d_in.d_q_sum.extent(0) == 0 || static_cast<int>(d_in.d_q_sum.extent(0)) == N,
                    "AmbientRemoval: d_q_sum must have N entries");
    const bool hard = cfg_.hard, has_mask = in.mask.extent(0) > 0, has_qsum = in.q_sum.extent(0) > 0;
    const bool has_dc = d_out.d_corrected.extent(0) > 0, has_dn = d_out.d_nll.extent(0) > 0,
               has_dr = d_out.d_rho.extent(0) > 0, has_dq = d_in.d_q.extent(0) > 0,
               has_dqs = d_in.d_q_sum.extent(0) > 0;
    const double tau = cfg_.tau;
    auto rm = in.row_map;
    auto ent = in.entries;
    auto x = in.counts;
    auto q = in.q;
    auto qs = in.q_sum;
    auto amb = in.ambient;
    auto mask = in.mask;
    auto lib = ws.library;
    auto a_total = ws.a_total;
    auto dc = d_out.d_corrected;
    auto dn = d_out.d_nll;
    auto dr = d_out.d_rho;
    auto dq = d_in.d_q;
    auto dqs = d_in.d_q_sum;
    auto abar_e = ws.abar_entry;
    auto abar_r = ws.abar_row;
    using math::value_of;
    // 1. Per cell: ℓ̄_i, q̄ at the cell's entries, Q̄_i, and the per-entry / per-cell ā terms.
    Kokkos::parallel_for(
        label("AmbientRemoval::adjoint_rows"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N),
        KOKKOS_LAMBDA(const int i) {
          const auto b = rm(i), e1 = rm(i + 1);
          if (has_mask && mask(i) == 0) {
            if (want_a) {
              for (auto e = b; e < e1; ++e) abar_e(e) = A(0);
              abar_r(i) = A(0);
            }
            return;
          }
          const A n = lib(i);
          const A rho = math::sigmoid(A(params(i)));
          const A Q = has_qsum ? A(qs(i)) : A(1);
          const A L = has_dn ? A(dn(i)) : A(0);
          // ∂NLL/∂ρ from the analytic sum term; entries below.
          A rbar = (has_dr ? A(dr(i)) : A(0)) + L * n * (a_total(0) - Q);
          for (auto e = b; e < e1; ++e) {
            const A xe = A(x(e));
            const A ag = A(amb(ent(e)));
            const A qe = A(q(e));
            const A mu = n * ((A(1) - rho) * qe + rho * ag);
            const A w = L * xe / mu;  // ∂L/∂μ = −w
            rbar += -w * n * (ag - qe);
            if (has_dq) dq(e) += Scalar(-w * n * (A(1) - rho));
            // corrected: c = soft max(y, 0), y = x − ρ n a.
            A ybar = A(0);
            if (has_dc) {
              const A y = xe - rho * n * ag;
              const A slope = hard ? (value_of(y) > 0 ? A(1) : A(0)) : math::sigmoid(y / A(tau));
              ybar = A(dc(e)) * slope;
              rbar += -ybar * n * ag;
            }
            if (want_a) abar_e(e) = -w * n * rho - ybar * rho * n;
          }
          if (has_dqs) dqs(i) += Scalar(L * n * (A(1) - rho));
          if (want_a) abar_r(i) = L * n * rho;  // ∂L/∂A, added to every gene
          d_params(i) += rbar * rho * (A(1) - rho);
        });
    if (!want_a) return;
    // 2. ā_g = Σ over the entries of gene g (column order) + Σ_i ∂L/∂A (fixed chunks).
    ensure_csc(exec, in, ws);
    constexpr int chunk = 1024;
    const int NC = (N + chunk - 1) / chunk;
    if (ws.partial.extent(0) != static_cast<std::size_t>(NC + 1))
      ws.partial = Kokkos::View<A*, memory_space>(Kokkos::view_alloc(label("AmbientRemoval::partial"), exec), NC + 1);
    auto partial = ws.partial;
    Kokkos::parallel_for(
        label("AmbientRemoval::abar_chunks"), Kokkos::RangePolicy<ExecSpace>(exec, 0, NC),
        KOKKOS_LAMBDA(const int c) {
          A s = A(0);
          const int i1 = (c + 1) * chunk < N ? (c + 1) * chunk : N;
          for (int i = c * chunk; i < i1; ++i) s += abar_r(i);
          partial(c) = s;
        });
    Kokkos::parallel_for(
        label("AmbientRemoval::abar_total"), Kokkos::RangePolicy<ExecSpace>(exec, 0, 1),
        KOKKOS_LAMBDA(const int) {
          A s = A(0);
          for (int c = 0; c < NC; ++c) s += partial(c);
          partial(NC) = s;
        });
    auto cptr = ws.col_ptr;
    auto cent = ws.col_entry;
    auto da = d_in.d_ambient;
    Kokkos::parallel_for(
        label("AmbientRemoval::abar_genes"), Kokkos::RangePolicy<ExecSpace>(exec, 0, G),
        KOKKOS_LAMBDA(const int g) {
          A s = partial(NC);
          for (auto t = cptr(g); t < cptr(g + 1); ++t) s += abar_e(cent(t));
          da(g) += Scalar(s);
        });
    exec.fence();
  }

  /// The column-ordered entry permutation (counting sort on the host; entries of a column in row
  /// order). Rebuilt only when the count matrix changes. Blocking.
  void ensure_csc(const ExecSpace& exec, const Inputs& in, Workspace& ws) const {
    const std::size_t nnz = in.counts.extent(0);
    if (ws.csc_of == in.row_map.data() && ws.csc_nnz == nnz && ws.col_ptr.extent(0) == static_cast<std::size_t>(in.n_genes) + 1)
      return;
    const int N = static_cast<int>(n_rows(in)), G = in.n_genes;
    auto hrm = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), in.row_map);
    auto hent = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), in.entries);
    ws.col_ptr = Kokkos::View<std::int64_t*, memory_space>(Kokkos::view_alloc(label("AmbientRemoval::col_ptr"), exec), G + 1);
    ws.col_entry = Kokkos::View<std::int64_t*, memory_space>(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, label("AmbientRemoval::col_entry"), exec), nnz);
    auto hp = Kokkos::create_mirror_view(Kokkos::HostSpace(), ws.col_ptr);
    auto he = Kokkos::create_mirror_view(Kokkos::HostSpace(), ws.col_entry);
    for (int g = 0; g <= G; ++g) hp(g) = 0;
    for (std::size_t e = 0; e < nnz; ++e) ++hp(hent(e) + 1);
    for (int g = 0; g < G; ++g) hp(g + 1) += hp(g);
    std::vector<std::int64_t> next(hp.data(), hp.data() + G);
    for (int i = 0; i < N; ++i)
      for (auto e = hrm(i); e < hrm(i + 1); ++e) he(next[hent(e)]++) = e;
    Kokkos::deep_copy(exec, ws.col_ptr, hp);
    Kokkos::deep_copy(exec, ws.col_entry, he);
    exec.fence();
    ws.csc_of = in.row_map.data();
    ws.csc_nnz = nnz;
  }

  void check_inputs(const Inputs& in) const {
    const std::size_t N = n_rows(in), nnz = in.counts.extent(0);
    DIFFBIO_EXPECTS(in.n_genes >= 0 && static_cast<int>(in.ambient.extent(0)) == in.n_genes,
                    "AmbientRemoval: ambient must have n_genes entries");
    DIFFBIO_EXPECTS(in.entries.extent(0) == nnz && in.q.extent(0) == nnz,
                    "AmbientRemoval: counts, entries and q must have nnz entries");
    DIFFBIO_EXPECTS(in.q_sum.extent(0) == 0 || in.q_sum.extent(0) == N, "AmbientRemoval: q_sum must have N entries");
    DIFFBIO_EXPECTS(in.library.extent(0) == 0 || in.library.extent(0) == N, "AmbientRemoval: library must have N entries");
    DIFFBIO_EXPECTS(in.mask.extent(0) == 0 || in.mask.extent(0) == N, "AmbientRemoval: mask must have N entries");
  }

 private:
  AmbientRemovalConfig cfg_;
};

}  // namespace diffbio

#endif
