// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SoftKMeans.hpp
/// \brief SoftKMeansClustering: soft assignments of cell embeddings to learnable centroids.
///
/// For an embedding x_i ∈ R^D (a row of X [N×D], e.g. PCA or a VAE latent) and centroids
/// c_k ∈ R^D (k < K) with temperature τ > 0:
///
///   d_ik = ‖x_i − c_k‖²,   p_ik = softmax_k(−d_ik/τ),
///   distortion_i = Σ_k p_ik d_ik            (soft within-cluster distortion)
///   energy_i     = −τ log Σ_k e^{−d_ik/τ}    (soft-min distance, the negative log-partition)
///
/// Parameters (one block of K·D + 1): the centroids row-major, then log τ (so any optimiser step
/// keeps τ > 0; `learn_tau = false` freezes it: its gradient stays 0). `hard = true` is τ = 0:
/// p_i is the one-hot of the first nearest centroid and energy = distortion = min_k d_ik (the
/// classic k-means objective, whose gradient still reaches x and c). Rows with mask 0 get all
/// outputs 0, label −1 and no gradient; they never enter the M-step.
///
/// m_step() is the M-step of (soft) k-means, c_k ← Σ_i p_ik x_i / Σ_i p_ik, a weighted column
/// sum. With hard assignments, iterating forward (E) + m_step (M) is Lloyd's algorithm;
/// lloyd() runs it to strict convergence (labels unchanged) exactly as scikit-learn's
/// KMeans(algorithm="lloyd", tol=0) does, and the tests check identical labels and centroids.
///
/// Performance: the N×K×D contractions — the cross term x_i·c_k of the distances, the soft
/// M-step sums Σ_i p_ik x_i, and in the adjoint Ḡ·C and (double, fast mode) Ḡᵀ·X — go through
/// KokkosBlas::gemm when Kokkos Kernels is available and the scalar is float or double
/// (`use_blas`, default on; with the BLAS TPL that is OpenBLAS/cuBLAS), with
/// d_ik = max(‖x_i‖² + ‖c_k‖² − 2 x_i·c_k, 0) as scikit-learn computes it. Otherwise (and for the
/// dual numbers of the tangent tests) d_ik is summed directly from (x_ij − c_kj)². The forward and
/// the adjoint always use the same distance path, so the adjoint is the exact derivative of what
/// the forward computed. The softmax exponentials use a polynomial exp (≤ 2 ulp; SSE2 on x86-64
/// hosts, AVX2 without FMA when the CPU has it, chosen at run time: the same bits either way;
/// impl/DiffBio_SingleCellKernels.hpp), computed together with their row sums in one pass over
/// the row; τ and 1/τ are computed once per call, not per row. Hard-mode M-steps visit only each
/// row's own cluster (N·D work); soft M-steps sum the cluster weights in registers.
/// What a soft E+M step costs (100k × 50, K = 20, float, one thread): two gemms (E: X·Cᵀ, M: PᵀX;
/// ≈ 45 % of the time), the softmax rows (≈ 50 %, half of it the X-norms, distances and argmin
/// that hard mode has too), the weights (≈ 3 %): perf/README.md.
///
/// Determinism: every per-row output is computed by one work item in a fixed order. Sums over
/// rows are formed per fixed chunk of rows (chunk size a function of N only) and then summed over
/// chunks in order, so they are bitwise identical for any thread count; a BLAS sum is as
/// deterministic as the BLAS (OpenBLAS splits gemm over the output, not the summed dimension).
/// Across *different* backends only the portable path (`use_blas = false`) is bitwise identical (a
/// host BLAS and a GPU BLAS round differently). In ReductionMode::deterministic each row's gradient
/// contribution is rounded to the 2^e grid (DiffBio_GradientReduction.hpp) and summed without
/// BLAS, which makes the parameter gradient exact and therefore also independent of how rows are
/// split across MPI ranks. (reduce_rows_into is not used: its array reduction of K·D + 1 values
/// per thread would not fit GPU shared memory for K·D ~ 10^3.)
///
/// Derivation of the adjoint: ADJOINT.md in this folder.
#ifndef DIFFBIO_SOFT_KMEANS_HPP
#define DIFFBIO_SOFT_KMEANS_HPP

#include <DiffBio_Config.hpp>
#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <impl/DiffBio_SingleCellKernels.hpp>

#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
#include <KokkosBlas3_gemm.hpp>
#endif

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace diffbio {

struct SoftKMeansConfig {
  int n_clusters = 8;     ///< K
  int n_features = 2;     ///< D (embedding dimension)
  double tau = 1.0;       ///< initial temperature; stored as log τ
  bool learn_tau = true;  ///< false: τ is a constant (its gradient is left at 0)
  bool hard = false;      ///< τ = 0: one-hot nearest centroid (Lloyd's E-step)
  /// Rows per partial sum of the deterministic row reductions (0: automatic, from N only).
  int chunk_rows = 0;
  /// Use KokkosBlas::gemm for the N×K×D contractions when available (float/double only).
  bool use_blas = true;
};

/// What lloyd() returns.
struct LloydResult {
  int n_iter = 0;          ///< E+M iterations run (as sklearn's n_iter_)
  bool converged = false;  ///< labels stopped changing
  double inertia = 0;      ///< Σ_i min_k ‖x_i − c_k‖² with the final centroids and labels
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class SoftKMeansClustering {
 public:
  using scalar_type = Scalar;
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using grad_type = accum_t<Scalar>;
  using matrix_view = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;
  using const_matrix_view = Kokkos::View<const Scalar**, Kokkos::LayoutRight, memory_space>;
  using vector_view = Kokkos::View<Scalar*, memory_space>;

  struct Inputs {
    const_matrix_view x;                                   ///< [N×D] embeddings
    Kokkos::View<const std::uint8_t*, memory_space> mask;  ///< [N] 1 = valid; empty: all valid
  };
  struct Outputs {
    matrix_view assign;                           ///< [N×K] p_ik
    vector_view distortion;                       ///< [N] Σ_k p_ik d_ik
    vector_view energy;                           ///< [N] −τ log Σ_k e^{−d_ik/τ}
    Kokkos::View<int*, memory_space> labels;      ///< [N] first argmax_k p_ik (−1 masked); optional
  };
  /// Adjoint seeds; any View may be empty (its gradient is then taken as 0).
  struct OutputGrads {
    const_matrix_view d_assign;
    Kokkos::View<const Scalar*, memory_space> d_distortion;
    Kokkos::View<const Scalar*, memory_space> d_energy;
  };
  /// Input gradients (+=); an empty d_x skips that gradient.
  struct InputGrads {
    matrix_view d_x;
  };
  /// The forward keeps handles (not copies) of its outputs here: the adjoint reads p, distortion
  /// and energy from them, so they must not be modified in between. The adjoint recomputes the
  /// distances (one gemm on the BLAS path) into its own scratch, so the forward never writes an
  /// extra N×K array. Scratch Views are (re)allocated on first use for a given N.
  struct Workspace {
    matrix_view assign;
    vector_view distortion, energy;
    matrix_view gbar;                                      ///< adjoint scratch [N×K] ∂L/∂d_ik
    Kokkos::View<grad_type*, memory_space> row_log_tau;    ///< adjoint scratch [N]
    Kokkos::View<grad_type**, memory_space> partial;       ///< [chunks × (K·D + K + 1)]
    Kokkos::View<int*, memory_space> labels_old;           ///< lloyd() scratch
    matrix_view dist;                                      ///< adjoint scratch [N×K] d_ik
    vector_view cnorm;                                     ///< BLAS path: ‖c_k‖² [K]
    vector_view tau;                                       ///< [2] τ, 1/τ (once per call, not per row)
    matrix_view msum;                                      ///< BLAS M-step: Σ_i p_ik x_i [K×D]
    Kokkos::View<grad_type*, memory_space> colsum;         ///< M-step: chunk sums [K·D + K]
  };

  explicit SoftKMeansClustering(SoftKMeansConfig cfg = {}) : cfg_(cfg) {
    DIFFBIO_EXPECTS(cfg.n_clusters >= 1 && cfg.n_features >= 1, "SoftKMeans: K and D must be >= 1");
    DIFFBIO_EXPECTS(cfg.hard || cfg.tau > 0, "SoftKMeans: tau must be > 0 (or hard = true)");
  }

  const SoftKMeansConfig& config() const { return cfg_; }
  int n_clusters() const { return cfg_.n_clusters; }
  int n_features() const { return cfg_.n_features; }
  int n_params() const { return cfg_.n_clusters * cfg_.n_features + 1; }
  bool hard() const { return cfg_.hard; }
  void set_hard(bool h) { cfg_.hard = h; }

  ParamBlock declare(ParameterLayout& layout, const std::string& prefix = "soft_kmeans") const {
    return layout.add(prefix + "/centroids_log_tau", static_cast<std::size_t>(n_params()));
  }
  /// [centroids (K·D, row-major), log τ]. \p centroids empty: all zero (set them before use).
  std::vector<double> initial_params(const std::vector<double>& centroids = {}) const {
    std::vector<double> p(static_cast<std::size_t>(n_params()), 0.0);
    DIFFBIO_EXPECTS(centroids.empty() || centroids.size() + 1 == p.size(),
                    "SoftKMeans: K*D initial centroid values expected");
    for (std::size_t i = 0; i < centroids.size(); ++i) p[i] = centroids[i];
    p.back() = std::log(cfg_.tau > 0 ? cfg_.tau : 1.0);
    return p;
  }

  Outputs allocate_outputs(const Inputs& in, bool with_labels = true,
                           const ExecSpace& exec = ExecSpace()) const {
    const std::size_t N = in.x.extent(0), K = static_cast<std::size_t>(n_clusters());
    Outputs o;
    // Allocated (and zeroed) on \p exec, not on the memory space's default execution space.
    o.assign = matrix_view(Kokkos::view_alloc(label("SoftKMeans::assign"), exec), N, K);
    o.distortion = vector_view(Kokkos::view_alloc(label("SoftKMeans::distortion"), exec), N);
    o.energy = vector_view(Kokkos::view_alloc(label("SoftKMeans::energy"), exec), N);
    if (with_labels)
      o.labels = Kokkos::View<int*, memory_space>(
          Kokkos::view_alloc(label("SoftKMeans::labels"), exec), N);
    return o;
  }
  Workspace allocate_workspace(const Inputs& in) const {
    const int N = static_cast<int>(in.x.extent(0));
    Workspace ws;
    ws.partial = Kokkos::View<grad_type**, memory_space>(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, label("SoftKMeans::partial")),
        n_chunks(N), static_cast<std::size_t>(n_params() + n_clusters()));
    return ws;
  }

  /// Rows per chunk of the row reductions: a function of N only (never of the thread count).
  int chunk_rows(int N) const {
    if (cfg_.chunk_rows > 0) return cfg_.chunk_rows;
    const int by_count = (N + 2047) / 2048;  // at most 2048 partial sums
    return by_count > 512 ? by_count : 512;
  }
  int n_chunks(int N) const { return N == 0 ? 0 : (N + chunk_rows(N) - 1) / chunk_rows(N); }

  /// Forward (E-step): assignments, distortion, energy, labels. Non-blocking on the portable
  /// path (the BLAS path fences before its gemm).
  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Outputs& out,
               Workspace& ws) const {
    forward_impl(exec, params, in, out, ws, cfg_.hard);
    ws.assign = out.assign;
    ws.distortion = out.distortion;
    ws.energy = out.energy;
  }

  /// Adjoint: d_x += ∂L/∂x, d_params += [∂L/∂c, ∂L/∂log τ] (ADJOINT.md). Blocking: the
  /// parameter sums are checked on the host (NaN, deterministic exactness bound).
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in, Workspace& ws,
               const OutputGrads& d_out, const InputGrads& d_in, const GradView& d_params,
               const ReductionMode& mode = {}) const {
    static_assert(GradView::rank == 1, "d_params is this operator's rank-1 gradient block");
    using A = grad_type;
    const int N = static_cast<int>(in.x.extent(0));
    const int D = n_features(), K = n_clusters();
    DIFFBIO_EXPECTS(ws.assign.extent(0) == in.x.extent(0), "SoftKMeans::adjoint before forward");
    DIFFBIO_EXPECTS(static_cast<int>(d_params.extent(0)) == n_params(),
                    "SoftKMeans::adjoint: d_params must have K*D + 1 entries");
    if (ws.gbar.extent(0) != in.x.extent(0)) {
      const auto alloc = [](const char* what) {
        return Kokkos::view_alloc(Kokkos::WithoutInitializing, label(what));
      };
      ws.gbar = matrix_view(alloc("SoftKMeans::gbar"), in.x.extent(0), static_cast<std::size_t>(K));
      ws.dist = matrix_view(alloc("SoftKMeans::dist"), in.x.extent(0), static_cast<std::size_t>(K));
      ws.row_log_tau = Kokkos::View<A*, memory_space>(alloc("SoftKMeans::row_log_tau"), in.x.extent(0));
    }
    ensure_partial(ws, N);
    // The distances exactly as the forward computed them (same path, same rounding).
    distances(exec, params, in, ws, ws.dist);
    const bool hard = cfg_.hard, learn_tau = cfg_.learn_tau;
    const bool has_dp = d_out.d_assign.extent(0) > 0, has_dd = d_out.d_distortion.extent(0) > 0,
               has_de = d_out.d_energy.extent(0) > 0, has_dx = d_in.d_x.extent(0) > 0,
               has_mask = in.mask.extent(0) > 0;
    // BLAS path for the two N×K×D contractions of the adjoint: x̄ always (row sums of K terms);
    // c̄ only in fast mode (deterministic mode rounds every row's contribution to the grid) and
    // only for double (a float gemm would sum N rows in float; gradients are summed in double).
    const bool blas = blas_path(params) && N > 0;
    const bool blas_dx = blas && has_dx;
    const bool blas_dc = blas && !mode.deterministic && std::is_same<Scalar, double>::value;
    auto x = in.x;
    auto mask = in.mask;
    auto P = ws.assign;
    auto dist = ws.dist;
    auto dist_out = ws.distortion;
    auto energy_out = ws.energy;
    auto gbar = ws.gbar;
    auto row_lt = ws.row_log_tau;
    auto pbar = d_out.d_assign;
    auto dd = d_out.d_distortion;
    auto de = d_out.d_energy;
    auto dx = d_in.d_x;
    // 1. Per row: ∂L/∂d_ik (eq. 5 of ADJOINT.md), ∂L/∂log τ (eq. 6), and x̄_i (eq. 7).
    Kokkos::parallel_for(
        label("SoftKMeans::adjoint_rows"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N),
        KOKKOS_LAMBDA(const int i) {
          if (has_mask && mask(i) == 0) {
            for (int k = 0; k < K; ++k) gbar(i, k) = Scalar(0);
            row_lt(i) = A(0);
            return;
          }
          const A tau = hard ? A(0) : math::exp(A(params(K * D)));
          const A Ebar = has_de ? A(de(i)) : A(0);
          const A Dbar = has_dd ? A(dd(i)) : A(0);
          A lt = A(0);
          if (hard) {
            for (int k = 0; k < K; ++k) gbar(i, k) = Scalar((Ebar + Dbar) * A(P(i, k)));
          } else {
            // dot = Σ_k p_k P̃_k with P̃_k = p̄_k + D̄ d_k.
            A dot = A(0);
            for (int k = 0; k < K; ++k) {
              const A pt = (has_dp ? A(pbar(i, k)) : A(0)) + Dbar * A(dist(i, k));
              dot += A(P(i, k)) * pt;
            }
            A sum_pd = A(0);
            for (int k = 0; k < K; ++k) {
              const A d = A(dist(i, k));
              const A p = A(P(i, k));
              const A pt = (has_dp ? A(pbar(i, k)) : A(0)) + Dbar * d;
              const A r = p * (pt - dot);  // softmax adjoint without the 1/τ
              gbar(i, k) = Scalar((Ebar + Dbar) * p - r / tau);
              sum_pd += r * d;
            }
            if (learn_tau) lt = Ebar * (A(energy_out(i)) - A(dist_out(i))) + sum_pd / tau;
          }
          row_lt(i) = lt;
          if (has_dx && blas_dx) {  // x̄_i += 2 (Σ_k ḡ_ik) x_i here, −2 Σ_k ḡ_ik c_k by gemm below
            Scalar g2 = Scalar(0);
            for (int k = 0; k < K; ++k) g2 += gbar(i, k);
            g2 *= Scalar(2);
            for (int j = 0; j < D; ++j) dx(i, j) += g2 * x(i, j);
          } else if (has_dx) {  // x̄_ij += Σ_k 2 ḡ_ik (x_ij − c_kj), one axpy over j per centroid
            for (int k = 0; k < K; ++k) {
              const Scalar g2 = Scalar(2) * gbar(i, k);
              if (g2 == Scalar(0)) continue;
              for (int j = 0; j < D; ++j) dx(i, j) += g2 * (x(i, j) - params(k * D + j));
            }
          }
        });
#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
    if constexpr (std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value) {
      const_centroid_view c(params.data(), static_cast<std::size_t>(K), static_cast<std::size_t>(D));
      if (blas_dx) {  // x̄ += −2 Ḡ C (N×K·K×D): per-row sums of K terms, fine in any precision
        exec.fence();
        KokkosBlas::gemm("N", "N", Scalar(-2), gbar, c, Scalar(1), dx);
      }
      if (blas_dc) {  // −2 Ḡᵀ X (K×N·N×D) into msum; the 2 (Σ_i ḡ_ik) c_k part comes below
        if (ws.msum.extent(0) != static_cast<std::size_t>(K))
          ws.msum = matrix_view(Kokkos::view_alloc(label("SoftKMeans::msum"), exec), K, D);
        exec.fence();
        KokkosBlas::gemm("T", "N", Scalar(-2), gbar, in.x, Scalar(0), ws.msum);
      }
    }
#endif
    // 2. Chunk partial sums of c̄_kj = Σ_i 2 ḡ_ik (c_kj − x_ij) (eq. 8) and of ∂L/∂log τ.
    const int CH = chunk_rows(N), NC = n_chunks(N);
    const double q = mode.deterministic ? mode.quantum() : 0.0;
    const double inv_q = mode.deterministic ? 1.0 / mode.quantum() : 0.0;
    auto partial = ws.partial;
    const int KD = K * D;
    // One work item per chunk: its rows are read once, contiguously; the chunk's partial row
    // (K·D + 1 + K values) stays in cache.
    Kokkos::parallel_for(
        label("SoftKMeans::adjoint_partials"), Kokkos::RangePolicy<ExecSpace>(exec, 0, NC),
        KOKKOS_LAMBDA(const int ch) {
          const int i0 = ch * CH, i1 = (i0 + CH < N) ? i0 + CH : N;
          for (int c = 0; c < KD + 1 + K; ++c) partial(ch, c) = A(0);
          double t = 0;
          for (int i = i0; i < i1; ++i) {
            for (int k = 0; k < K; ++k) {
              const A g2 = A(2) * A(gbar(i, k));
              if (g2 == A(0)) continue;
              if (blas_dc) {  // only Σ_i 2 ḡ_ik here; the x part is the gemm above
                partial(ch, KD + 1 + k) += g2;
              } else if (q > 0) {  // deterministic: each row's contribution on the 2^e grid
                double abs_sum = 0;
                for (int j = 0; j < D; ++j) {
                  const double v = compat::nearbyint(static_cast<double>(
                                       g2 * (A(params(k * D + j)) - A(x(i, j)))) * inv_q) * q;
                  partial(ch, k * D + j) += A(v);
                  abs_sum += compat::fabs(v);
                }
                partial(ch, KD + 1 + k) += A(abs_sum);
              } else {
                for (int j = 0; j < D; ++j)
                  partial(ch, k * D + j) += g2 * (A(params(k * D + j)) - A(x(i, j)));
              }
            }
            double v = static_cast<double>(row_lt(i));
            if (q > 0) {
              v = compat::nearbyint(v * inv_q) * q;
              partial(ch, KD + 1) += A(compat::fabs(v));
            }
            t += v;
          }
          partial(ch, KD) = A(t);
        });
    // 3. Sum the chunks in order, check on the host, add into d_params.
    Kokkos::View<double*, memory_space> sums(
        Kokkos::view_alloc(label("SoftKMeans::grad_sums"), exec), static_cast<std::size_t>(KD + 1 + K));
    sc_impl::sum_chunks(exec, "SoftKMeans::adjoint_sums", partial, KD + 1 + K, sums);
    if (blas_dc) {  // c̄_kj = 2 (Σ_i ḡ_ik) c_kj − 2 (Ḡᵀ X)_kj
      auto msum = ws.msum;
      Kokkos::parallel_for(
          label("SoftKMeans::adjoint_centroids"), Kokkos::RangePolicy<ExecSpace>(exec, 0, KD),
          KOKKOS_LAMBDA(const int c) {
            sums(c) = static_cast<double>(msum(c / D, c % D)) +
                      sums(KD + 1 + c / D) * static_cast<double>(params(c));
          });
    }
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sums);
    double abs_total = 0;
    for (int k = 0; k < K; ++k) abs_total += h(KD + 1 + k);
    for (int c = 0; c <= KD; ++c)
      if (!std::isfinite(h(c)))
        throw Error(ExitCode::numerical, "DiffBio: non-finite gradient in SoftKMeans::adjoint");
    if (mode.deterministic && !(abs_total < mode.exact_bound()))
      throw Error(ExitCode::numerical,
                  "DiffBio: deterministic reduction in SoftKMeans::adjoint exceeds its exact range "
                  "(sum |g| = " + std::to_string(abs_total) + "); raise the grid exponent");
    auto g = d_params;
    Kokkos::parallel_for(
        label("SoftKMeans::adjoint_add"), Kokkos::RangePolicy<ExecSpace>(exec, 0, KD + 1),
        KOKKOS_LAMBDA(const int c) { g(c) += sums(c); });
    exec.fence();
  }

  /// M-step: centroids c_k = Σ_i p_ik x_i / Σ_i p_ik over valid rows, written into the first K·D
  /// entries of \p params (log τ untouched). A centroid with zero total weight (an empty
  /// cluster) keeps its value. \p cluster_weight [K] (optional) receives Σ_i p_ik. Rows with
  /// mask 0 must have all-zero assignments, as forward() writes them (the BLAS path sums every
  /// row). In hard mode only each row's own cluster is visited (N·D work instead of N·K·D).
  template <class AssignView, class ParamView,
            class WeightView = Kokkos::View<grad_type*, memory_space>>
  void m_step(const ExecSpace& exec, const Inputs& in, const AssignView& assign, Workspace& ws,
              const ParamView& params, const WeightView& cluster_weight = {}) const {
    m_step_impl(exec, in, assign, ws, params, cluster_weight, cfg_.hard);
  }

  /// Lloyd's k-means from the centroids in \p params (updated in place): hard E-step + M-step
  /// until no label changes (strict convergence) or \p max_iter iterations; if not converged,
  /// a final E-step makes the labels match the centroids (scikit-learn's KMeans, tol = 0).
  /// \p out receives the final hard assignments, labels and distances. Blocking.
  template <class ParamView>
  LloydResult lloyd(const ExecSpace& exec, const ParamView& params, const Inputs& in,
                    Outputs& out, Workspace& ws, int max_iter = 300) const {
    const int N = static_cast<int>(in.x.extent(0));
    if (out.labels.extent(0) != in.x.extent(0))
      out.labels = Kokkos::View<int*, memory_space>(
          Kokkos::view_alloc(label("SoftKMeans::labels"), exec), in.x.extent(0));
    if (ws.labels_old.extent(0) != in.x.extent(0))
      ws.labels_old = Kokkos::View<int*, memory_space>(
          Kokkos::view_alloc(label("SoftKMeans::labels_old"), exec), in.x.extent(0));
    auto labels = out.labels;
    auto old = ws.labels_old;
    Kokkos::deep_copy(exec, old, -2);  // no row matches: the first iteration never "converges"
    LloydResult r;
    for (int it = 0; it < max_iter; ++it) {
      forward_impl(exec, params, in, out, ws, /*hard=*/true);
      m_step_impl(exec, in, out.assign, ws, params, Kokkos::View<grad_type*, memory_space>(),
                  /*one_hot=*/true);
      int changed = 0;
      Kokkos::parallel_reduce(
          label("SoftKMeans::lloyd_changed"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N),
          KOKKOS_LAMBDA(const int i, int& c) {
            c += labels(i) != old(i) ? 1 : 0;
            old(i) = labels(i);
          },
          changed);
      r.n_iter = it + 1;
      if (changed == 0) {
        r.converged = true;
        break;
      }
    }
    if (!r.converged) forward_impl(exec, params, in, out, ws, /*hard=*/true);
    ws.assign = out.assign;
    ws.distortion = out.distortion;
    ws.energy = out.energy;
    double inertia = 0;
    auto e = out.energy;
    Kokkos::parallel_reduce(
        label("SoftKMeans::inertia"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N),
        KOKKOS_LAMBDA(const int i, double& s) { s += static_cast<double>(e(i)); }, inertia);
    r.inertia = inertia;
    return r;
  }

  /// ‖x_i − c_k‖² summed directly (portable path), centroids read from the parameter block.
  template <class XView, class ParamView>
  KOKKOS_INLINE_FUNCTION static Scalar sq_dist(const XView& x, const ParamView& params, int i,
                                               int k, int D) {
    Scalar s = Scalar(0);
    for (int j = 0; j < D; ++j) {
      const Scalar t = Scalar(x(i, j)) - Scalar(params(k * D + j));
      s += t * t;
    }
    return s;
  }

  /// ‖x_i‖² with four interleaved partial sums (fixed order: deterministic, and not bound by
  /// the latency of one sequential chain of additions).
  template <class XView>
  KOKKOS_INLINE_FUNCTION static Scalar sq_norm(const XView& x, int i, int D) {
    Scalar a0 = Scalar(0), a1 = Scalar(0), a2 = Scalar(0), a3 = Scalar(0);
    int j = 0;
    for (; j + 3 < D; j += 4) {
      a0 += x(i, j) * x(i, j);
      a1 += x(i, j + 1) * x(i, j + 1);
      a2 += x(i, j + 2) * x(i, j + 2);
      a3 += x(i, j + 3) * x(i, j + 3);
    }
    for (; j < D; ++j) a0 += x(i, j) * x(i, j);
    return (a0 + a1) + (a2 + a3);
  }

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

  // ---- implementation (public only because CUDA forbids extended lambdas in private members)

  using const_centroid_view =
      Kokkos::View<const Scalar**, Kokkos::LayoutRight, memory_space, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;

  /// Rows per BLAS block (each block: one gemm, then the kernel consuming its cross terms).
  /// Cache-sized blocks (2048 rows, as scikit-learn chunks its E-step) measured no faster here and
  /// multiply the synchronisations between the Kokkos and BLAS thread pools, so blocks are large.
  static constexpr int blas_block_rows = 1 << 18;

  /// Per-call set-up: ws.tau = [τ, 1/τ] (both paths) and, on the BLAS path, ‖c_k‖² into
  /// ws.cnorm. Returns true on the BLAS path.
  template <class ParamView>
  bool prepare_blas(const ExecSpace& exec, const ParamView& params, Workspace& ws) const {
    const int D = n_features(), K = n_clusters();
    if (ws.cnorm.extent(0) != static_cast<std::size_t>(K))
      ws.cnorm = vector_view(Kokkos::view_alloc(label("SoftKMeans::cnorm"), exec), K);
    if (ws.tau.extent(0) != 2) ws.tau = vector_view(Kokkos::view_alloc(label("SoftKMeans::tau"), exec), 2);
    const bool blas = blas_path(params);
    auto cnorm = ws.cnorm;
    auto tau = ws.tau;
    Kokkos::parallel_for(
        label("SoftKMeans::centroid_norms"), Kokkos::RangePolicy<ExecSpace>(exec, 0, K),
        KOKKOS_LAMBDA(const int k) {
          if (k == 0) {  // the same operations the row kernels used to repeat per row
            const Scalar t = math::exp(params(K * D));
            tau(0) = t;
            tau(1) = Scalar(1) / t;
          }
          if (!blas) return;
          Scalar s = Scalar(0);
          for (int j = 0; j < D; ++j) s += params(k * D + j) * params(k * D + j);
          cnorm(k) = s;
        });
    return blas;
  }

  /// BLAS path: −2 x_i·c_k into dist(i, ·) for rows [r0, r1) by one gemm (blocking). The rest of
  /// d_ik = max(‖x_i‖² + ‖c_k‖² − 2 x_i·c_k, 0) is finish_distance(), fused into the consumers.
  template <class ParamView, class DistView>
  void cross_terms(const ExecSpace& exec, const ParamView& params, const Inputs& in,
                   const DistView& dist, int r0, int r1) const {
#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
    if constexpr (std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value) {
      const int D = n_features(), K = n_clusters();
      exec.fence();  // KokkosBlas::gemm (Kokkos Kernels 3.4 API) runs on the default instance
      const_centroid_view c(params.data(), static_cast<std::size_t>(K), static_cast<std::size_t>(D));
      const auto rows = Kokkos::make_pair(r0, r1);
      KokkosBlas::gemm("N", "T", Scalar(-2), Kokkos::subview(in.x, rows, Kokkos::ALL), c,
                       Scalar(0), Kokkos::subview(dist, rows, Kokkos::ALL));
      return;
    }
#endif
    (void)exec, (void)params, (void)in, (void)dist, (void)r0, (void)r1;
    DIFFBIO_EXPECTS(false, "SoftKMeans: BLAS path without Kokkos Kernels");
  }

  /// Runs \p row_kernel over all rows: on the BLAS path block by block, each block's gemm first.
  template <class ParamView, class DistView, class RowKernel>
  void for_rows(const ExecSpace& exec, const std::string& what, bool blas, const ParamView& params,
                const Inputs& in, const DistView& dist, const RowKernel& row_kernel) const {
    const int N = static_cast<int>(in.x.extent(0));
    if (!blas) {
      Kokkos::parallel_for(label(what), Kokkos::RangePolicy<ExecSpace>(exec, 0, N), row_kernel);
      return;
    }
    for (int r0 = 0; r0 < N; r0 += blas_block_rows) {
      const int r1 = r0 + blas_block_rows < N ? r0 + blas_block_rows : N;
      cross_terms(exec, params, in, dist, r0, r1);
      Kokkos::parallel_for(label(what), Kokkos::RangePolicy<ExecSpace>(exec, r0, r1), row_kernel);
    }
  }

  /// d_ik on either path: from the cross term in \p cross (BLAS path) or summed directly.
  template <class XView, class ParamView, class CNorm>
  KOKKOS_INLINE_FUNCTION static Scalar finish_distance(bool blas, const XView& x,
                                                       const ParamView& params, const CNorm& cnorm,
                                                       Scalar xnorm, Scalar cross, int i, int k,
                                                       int D) {
    using math::value_of;
    if (!blas) return sq_dist(x, params, i, k, D);
    const Scalar d = (xnorm + cnorm(k)) + cross;
    return value_of(d) > 0 ? d : Scalar(0);  // rounding can make a tiny distance negative
  }

  /// Squared distances d_ik into \p dist [N×K] (rows with mask 0: zeros). Used by the adjoint;
  /// the forward fuses the same computation into its kernel.
  template <class ParamView, class DistView>
  void distances(const ExecSpace& exec, const ParamView& params, const Inputs& in, Workspace& ws,
                 const DistView& dist) const {
    const int D = n_features(), K = n_clusters();
    const bool has_mask = in.mask.extent(0) > 0;
    const bool blas = prepare_blas(exec, params, ws);
    auto x = in.x;
    auto mask = in.mask;
    auto cnorm = ws.cnorm;
    for_rows(exec, "SoftKMeans::distances", blas, params, in, dist, KOKKOS_LAMBDA(const int i) {
      const bool valid = !(has_mask && mask(i) == 0);
      const Scalar xn = (blas && valid) ? sq_norm(x, i, D) : Scalar(0);
      for (int k = 0; k < K; ++k)
        dist(i, k) = valid ? finish_distance(blas, x, params, cnorm, xn, dist(i, k), i, k, D)
                           : Scalar(0);
    });
  }

  template <class ParamView>
  void forward_impl(const ExecSpace& exec, const ParamView& params, const Inputs& in,
                    const Outputs& out, Workspace& ws, bool hard) const {
    static_assert(ParamView::rank == 1, "params is this operator's rank-1 block");
    const int D = n_features(), K = n_clusters();
    DIFFBIO_EXPECTS(static_cast<int>(in.x.extent(1)) == D, "SoftKMeans: x must be N x D");
    DIFFBIO_EXPECTS(in.mask.extent(0) == 0 || in.mask.extent(0) == in.x.extent(0),
                    "SoftKMeans: one mask entry per row expected");
    DIFFBIO_EXPECTS(out.assign.extent(0) == in.x.extent(0) &&
                        static_cast<int>(out.assign.extent(1)) == K &&
                        out.distortion.extent(0) == in.x.extent(0) &&
                        out.energy.extent(0) == in.x.extent(0),
                    "SoftKMeans: output shapes do not match the inputs");
    DIFFBIO_EXPECTS(static_cast<int>(params.extent(0)) == n_params(),
                    "SoftKMeans: params must have K*D + 1 entries");
    // BLAS path: the gemm writes −2 x·c into the assignment output, turned into p in place.
    const bool blas = prepare_blas(exec, params, ws);
    const bool has_mask = in.mask.extent(0) > 0, has_labels = out.labels.extent(0) > 0;
    using A = accum_t<Scalar>;
    using math::value_of;
    auto x = in.x;
    auto mask = in.mask;
    auto cnorm = ws.cnorm;
    auto P = out.assign;
    auto dist = out.distortion;
    auto energy = out.energy;
    auto labels = out.labels;
    auto tau = ws.tau;
    for_rows(exec, "SoftKMeans::forward", blas, params, in, out.assign,
        KOKKOS_LAMBDA(const int i) {
          if (has_mask && mask(i) == 0) {
            for (int k = 0; k < K; ++k) P(i, k) = Scalar(0);
            dist(i) = Scalar(0);
            energy(i) = Scalar(0);
            if (has_labels) labels(i) = -1;
            return;
          }
          const Scalar xn = blas ? sq_norm(x, i, D) : Scalar(0);
          if (hard) {
            // Distances (into the output row) and their first argmin (branch-free selection)
            // in one pass: measured faster here than the two passes below, which pay off only
            // when a softmax follows.
            int kmin = 0;
            Scalar m = finish_distance(blas, x, params, cnorm, xn, P(i, 0), i, 0, D);
            P(i, 0) = m;
            for (int k = 1; k < K; ++k) {
              const Scalar d = finish_distance(blas, x, params, cnorm, xn, P(i, k), i, k, D);
              P(i, k) = d;
              const bool lower = value_of(d) < value_of(m);
              m = lower ? d : m;
              kmin = lower ? k : kmin;
            }
            if (has_labels) labels(i) = kmin;
            for (int k = 0; k < K; ++k) P(i, k) = k == kmin ? Scalar(1) : Scalar(0);
            dist(i) = m;
            energy(i) = m;
            return;
          }
          // Soft: distances into the output row (independent iterations: vectorisable), then
          // their first argmin with four interleaved running minima (a single running minimum is
          // one long chain of dependent compare-selects). A NaN distance is never selected unless
          // it is d_0, as in a sequential scan started at d_0.
          Scalar* row = &P(i, 0);
          if (blas) {  // finish_distance() written out so that the loop vectorises
            const Scalar* cn = &cnorm(0);
            for (int k = 0; k < K; ++k) {
              const Scalar d = (xn + cn[k]) + row[k];
              row[k] = value_of(d) > 0 ? d : Scalar(0);
            }
          } else {
            for (int k = 0; k < K; ++k) row[k] = sq_dist(x, params, i, k, D);
          }
          const int kmin = first_argmin(row, K);
          const Scalar m = row[kmin];
          if (has_labels) labels(i) = kmin;
          // p_k = e^{−(d_k − m)/τ} / Σ: relative to the minimum, so the sum is in [1, K]. The
          // exponentials and their sums (four interleaved partial sums in fixed order) in one
          // pass over the row: sc_impl::softmax_numerators (SIMD on x86-64 hosts).
          const Scalar t = tau(0);
          A s4[4] = {A(0), A(0), A(0), A(0)}, sd4[4] = {A(0), A(0), A(0), A(0)};
          sc_impl::softmax_numerators(row, K, m, tau(1), s4, sd4);
          const A s = (s4[0] + s4[1]) + (s4[2] + s4[3]);
          const A sd = (sd4[0] + sd4[1]) + (sd4[2] + sd4[3]);
          const A inv_s = A(1) / s;
          sc_impl::scale_row(row, K, inv_s);
          dist(i) = Scalar(sd * inv_s);
          energy(i) = m - t * Scalar(math::log(s));
        });
  }

  /// First k with the smallest row[k] (value_of order); 0 if row[0] is NaN.
  KOKKOS_INLINE_FUNCTION static int first_argmin(const Scalar* row, int K) {
    using math::value_of;
    using V = typename std::decay<decltype(value_of(row[0]))>::type;
    const V d0 = value_of(row[0]);
    if (!(d0 == d0)) return 0;
    V m0 = d0, m1 = d0, m2 = d0, m3 = d0;
    int k = 1;
    for (; k + 3 < K; k += 4) {
      const V a = value_of(row[k]), b = value_of(row[k + 1]), c = value_of(row[k + 2]),
              d = value_of(row[k + 3]);
      m0 = a < m0 ? a : m0;
      m1 = b < m1 ? b : m1;
      m2 = c < m2 ? c : m2;
      m3 = d < m3 ? d : m3;
    }
    for (; k < K; ++k) {
      const V a = value_of(row[k]);
      m0 = a < m0 ? a : m0;
    }
    m0 = m1 < m0 ? m1 : m0;
    m2 = m3 < m2 ? m3 : m2;
    const V m = m2 < m0 ? m2 : m0;
    int kmin = 0;
    for (int k = K - 1; k >= 0; --k) kmin = value_of(row[k]) == m ? k : kmin;
    return kmin;
  }

  template <class AssignView, class ParamView, class WeightView>
  void m_step_impl(const ExecSpace& exec, const Inputs& in, const AssignView& assign,
                   Workspace& ws, const ParamView& params, const WeightView& cluster_weight,
                   bool one_hot) const {
    const int N = static_cast<int>(in.x.extent(0));
    const int D = n_features(), K = n_clusters(), KD = K * D;
    DIFFBIO_EXPECTS(static_cast<int>(assign.extent(1)) == K && assign.extent(0) == in.x.extent(0),
                    "SoftKMeans::m_step: assignments must be N x K");
    ensure_partial(ws, N);
    const int CH = chunk_rows(N), NC = n_chunks(N);
    const bool has_mask = in.mask.extent(0) > 0, has_w = cluster_weight.extent(0) > 0;
    auto x = in.x;
    auto mask = in.mask;
    auto partial = ws.partial;
    using A = grad_type;
    bool gemm_sums = false;
#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
    if constexpr (std::is_same<AssignView, matrix_view>::value &&
                  (std::is_same<Scalar, float>::value || std::is_same<Scalar, double>::value)) {
      if (!one_hot && blas_path(params) && N > 0) {
        // Σ_i p_ik x_ij = (Pᵀ X)_kj in one gemm (K×N·N×D); the weights below stay chunked.
        if (ws.msum.extent(0) != static_cast<std::size_t>(K))
          ws.msum = matrix_view(Kokkos::view_alloc(label("SoftKMeans::msum"), exec), K, D);
        exec.fence();
        KokkosBlas::gemm("T", "N", Scalar(1), assign, x, Scalar(0), ws.msum);
        gemm_sums = true;
      }
    }
#endif
    // Chunk partials, one work item per chunk reading its rows once: cluster weights always,
    // the weighted sums unless the gemm made them. Zero weights are skipped, so one-hot
    // assignments cost N·D, not N·K·D.
    Kokkos::parallel_for(
        label("SoftKMeans::m_step_partials"), Kokkos::RangePolicy<ExecSpace>(exec, 0, NC),
        KOKKOS_LAMBDA(const int ch) {
          const int i0 = ch * CH, i1 = (i0 + CH < N) ? i0 + CH : N;
          for (int c = 0; c < KD + K; ++c) partial(ch, c) = A(0);  // (all: summed below)
          if (gemm_sums) {
            // Weights only: 32 clusters at a time in registers (a partial(ch, ·) += per entry
            // is a store-to-load chain). Same additions in the same order as below: adding an
            // exact 0 changes no partial sum, so skipping zeros is not needed for equal bits.
            constexpr int B = 32;
            for (int kb = 0; kb < K; kb += B) {
              const int nb = K - kb < B ? K - kb : B;
              A acc[B];
              for (int u = 0; u < B; ++u) acc[u] = A(0);
              for (int i = i0; i < i1; ++i) {
                if (has_mask && mask(i) == 0) continue;
                for (int u = 0; u < nb; ++u) acc[u] += A(assign(i, kb + u));
              }
              for (int u = 0; u < nb; ++u) partial(ch, KD + kb + u) = acc[u];
            }
            return;
          }
          for (int i = i0; i < i1; ++i) {
            if (has_mask && mask(i) == 0) continue;
            for (int k = 0; k < K; ++k) {
              const A p = A(assign(i, k));
              if (p == A(0)) continue;
              partial(ch, KD + k) += p;
              if (!gemm_sums)
                for (int j = 0; j < D; ++j) partial(ch, k * D + j) += p * A(x(i, j));
            }
          }
        });
    if (ws.colsum.extent(0) != static_cast<std::size_t>(KD + K))
      ws.colsum = Kokkos::View<grad_type*, memory_space>(
          Kokkos::view_alloc(Kokkos::WithoutInitializing, label("SoftKMeans::colsum")), KD + K);
    auto colsum = ws.colsum;
    sc_impl::sum_chunks(exec, "SoftKMeans::m_step_sums", partial, KD + K, colsum);
    auto msum = ws.msum;
    Kokkos::parallel_for(
        label("SoftKMeans::m_step_centroids"), Kokkos::RangePolicy<ExecSpace>(exec, 0, KD),
        KOKKOS_LAMBDA(const int c) {
          const int k = c / D;
          const A w = colsum(KD + k);
          const A s = gemm_sums ? A(msum(k, c % D)) : colsum(c);
          if (w > A(0)) params(c) = Scalar(s / w);
          if (has_w && c % D == 0) cluster_weight(k) = w;
        });
  }

  void ensure_partial(Workspace& ws, int N) const {
    const std::size_t nc = static_cast<std::size_t>(n_chunks(N));
    const std::size_t w = static_cast<std::size_t>(n_params() + n_clusters());
    if (ws.partial.extent(0) != nc || ws.partial.extent(1) != w)
      ws.partial = Kokkos::View<grad_type**, memory_space>(
          Kokkos::view_alloc(Kokkos::WithoutInitializing, label("SoftKMeans::partial")), nc, w);
  }

 private:
  SoftKMeansConfig cfg_;
};

}  // namespace diffbio

#endif
