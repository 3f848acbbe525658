// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_DoubletScorer.hpp
/// \brief DoubletScorer: kNN doublet score against simulated doublets (Scrublet / scDblFinder
/// idea) with a learnable soft threshold.
///
/// Pipeline (the caller owns the embedding):
///   1. pairs = simulate_doublet_pairs(N, M, seed)       — M random pairs of distinct cells
///                                                          (Philox counter RNG: reproducible)
///   2. sim   = doublet_rows(counts, pairs)              — their summed count rows (CSR)
///   3. embed real and simulated rows with the SAME transform (normalise, log1p, the same PCA
///      projection W) into emb [(N + M)×D]: real cells first, simulated doublets after.
///   4. nbr   = k nearest neighbours of the N real cells among all N + M rows (KnnIndex: IVF,
///              not all pairs), fixed for this forward.
///   5. forward: per real cell i with valid neighbours j (nbr(i, j) ≥ 0, k_v of them),
///        d_ij = ‖e_i − e_nbr(i,j)‖²,  m_i = (1/k_v) Σ_j d_ij,
///        w_ij = softmax_j(−d_ij / (τ_d m_i))         (distance_weighted; else w_ij = 1/k_v)
///        score_i = (k_v Σ_j w_ij s_j + α π) / (k_v + α),  s_j = [nbr is simulated],
///                  π = M/(N + M) the expected fraction, α = prior_count pseudo-neighbours
///        prob_i  = σ((score_i − t)/s)                 (hard: [score_i ≥ t])
///      The distance scale m_i makes τ_d unit-free (τ_d = 1: a neighbour at the mean squared
///      distance weighs e^{−1} relative to one at distance 0).
///
/// Parameters (one block of 3): [t, log s, log τ_d]; learn_threshold / learn_distance_tau = false
/// leave those gradients at 0. Gradients reach the embedding (d_emb, real and simulated rows)
/// through the distances; the neighbour sets are constants of each forward (a kNN graph is
/// piecewise constant in the embedding), so re-run step 4 when the embedding moved. With
/// distance_weighted = false the score is the classic neighbour fraction and has no embedding
/// gradient. Hard mode (s = 0) gives the indicator and zero gradient in t and s.
///
/// Determinism: per-row outputs by one work item; the parameter sums in a fixed order of row chunks
/// (qc_impl::fixed_order_column_sums; deterministic mode rounds each row's contribution to a grid); the embedding gradient gathers over the reversed kNN graph (built in forward
/// in a fixed order) instead of scattering with atomics, so it is bitwise identical on every
/// thread count. Derivation: ADJOINT_DoubletScorer.md.
#ifndef DIFFBIO_DOUBLET_SCORER_HPP
#define DIFFBIO_DOUBLET_SCORER_HPP

#include <DiffBio_Config.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_KnnIndex.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_Random.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <DiffBio_SparseMatrix.hpp>
#include <DiffBio_Types.hpp>
#include <impl/DiffBio_QcKernels.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace diffbio {

// ----------------------------------------------------------------------- simulated doublets

/// M pairs of distinct cells in [0, N), flattened [a0, b0, a1, b1, …]: a pure function of
/// (N, M, seed) (Philox stream = pair index), the same on every backend and rank count.
inline std::vector<int> simulate_doublet_pairs(int n_cells, int n_doublets, std::uint64_t seed) {
  DIFFBIO_EXPECTS(n_cells >= 2 && n_doublets >= 0, "simulate_doublet_pairs: needs >= 2 cells");
  std::vector<int> pairs(2 * static_cast<std::size_t>(n_doublets));
  for (int d = 0; d < n_doublets; ++d) {
    const CounterRng rng(seed, static_cast<std::uint64_t>(d));
    const int a = std::min(n_cells - 1, static_cast<int>(rng.uniform(0) * n_cells));
    // b uniform over the other N − 1 cells: draw in [0, N − 1) and skip a.
    int b = std::min(n_cells - 2, static_cast<int>(rng.uniform(1) * (n_cells - 1)));
    if (b >= a) ++b;
    pairs[2 * d] = a;
    pairs[2 * d + 1] = b;
  }
  return pairs;
}

/// The summed count rows x_a + x_b of every pair (host CSR, columns sorted, duplicates merged).
template <class S>
io::CsrMatrix<S> doublet_rows(const io::CsrMatrix<S>& counts, const std::vector<int>& pairs) {
  DIFFBIO_EXPECTS(pairs.size() % 2 == 0, "doublet_rows: pairs come in twos");
  io::CsrMatrix<S> out;
  out.n_rows = static_cast<std::int64_t>(pairs.size() / 2);
  out.n_cols = counts.n_cols;
  out.indptr.assign(1, 0);
  std::vector<std::pair<std::int32_t, S>> row;
  for (std::size_t d = 0; d < pairs.size() / 2; ++d) {
    row.clear();
    for (int p = 0; p < 2; ++p) {
      const std::int64_t r = pairs[2 * d + p];
      DIFFBIO_EXPECTS(r >= 0 && r < counts.n_rows, "doublet_rows: cell index out of range");
      for (std::int64_t e = counts.row_begin(r); e < counts.row_end(r); ++e)
        row.emplace_back(counts.indices[static_cast<std::size_t>(e)],
                         counts.data[static_cast<std::size_t>(e)]);
    }
    std::stable_sort(row.begin(), row.end(),
                     [](const auto& x, const auto& y) { return x.first < y.first; });
    for (std::size_t t = 0; t < row.size(); ++t) {
      if (!out.indices.empty() && out.indptr.back() < static_cast<std::int64_t>(out.indices.size()) &&
          out.indices.back() == row[t].first)
        out.data.back() += row[t].second;
      else {
        out.indices.push_back(row[t].first);
        out.data.push_back(row[t].second);
      }
    }
    out.indptr.push_back(static_cast<std::int64_t>(out.data.size()));
  }
  return out;
}

/// Device form: rows x_a + x_b as the concatenation of the two parents' entries (a column present
/// in both appears twice; every consumer that sums entries — SpMV, row sums — treats that as the
/// sum, as scipy does). \p pairs [2M] on the device. Blocking (the row offsets are scanned).
template <class ExecSpace, class S, class Mem>
io::DeviceCsr<S, Mem> doublet_rows(const ExecSpace& exec, const io::DeviceCsr<S, Mem>& counts,
                                   const Kokkos::View<const int*, Mem>& pairs) {
  const int M = static_cast<int>(pairs.extent(0) / 2);
  io::DeviceCsr<S, Mem> out;
  out.n_rows = M;
  out.n_cols = counts.n_cols;
  out.row_map = Kokkos::View<std::int64_t*, Mem>(Kokkos::view_alloc(label("doublet_rows::row_map"), exec), M + 1);
  auto rm = out.row_map;
  auto src = counts.row_map;
  Kokkos::parallel_scan(
      label("doublet_rows::offsets"), Kokkos::RangePolicy<ExecSpace>(exec, 0, M),
      KOKKOS_LAMBDA(const int d, std::int64_t& acc, const bool final) {
        const int a = pairs(2 * d), b = pairs(2 * d + 1);
        acc += (src(a + 1) - src(a)) + (src(b + 1) - src(b));
        if (final) rm(d + 1) = acc;
      });
  std::int64_t nnz = 0;
  Kokkos::deep_copy(exec, nnz, Kokkos::subview(rm, M));
  exec.fence();
  out.entries = Kokkos::View<std::int32_t*, Mem>(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, label("doublet_rows::entries"), exec), nnz);
  out.values = Kokkos::View<S*, Mem>(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, label("doublet_rows::values"), exec), nnz);
  auto ent = out.entries;
  auto val = out.values;
  auto sent = counts.entries;
  auto sval = counts.values;
  Kokkos::parallel_for(
      label("doublet_rows::fill"), Kokkos::RangePolicy<ExecSpace>(exec, 0, M),
      KOKKOS_LAMBDA(const int d) {
        std::int64_t o = rm(d);
        for (int p = 0; p < 2; ++p) {
          const int r = pairs(2 * d + p);
          for (std::int64_t e = src(r); e < src(r + 1); ++e, ++o) {
            ent(o) = sent(e);
            val(o) = sval(e);
          }
        }
      });
  exec.fence();
  return out;
}

/// Area under the ROC curve of \p score for the binary \p truth (ties count one half: the
/// Mann–Whitney statistic, as sklearn.metrics.roc_auc_score). Host.
inline double auroc(const std::vector<double>& score, const std::vector<int>& truth) {
  DIFFBIO_EXPECTS(score.size() == truth.size(), "auroc: one label per score");
  std::vector<std::size_t> order(score.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score[a] < score[b]; });
  double rank_sum = 0, n_pos = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && score[order[j]] == score[order[i]]) ++j;
    const double mid = 0.5 * (static_cast<double>(i + 1) + static_cast<double>(j));  // mean rank
    for (std::size_t t = i; t < j; ++t)
      if (truth[order[t]]) rank_sum += mid, n_pos += 1;
    i = j;
  }
  const double n_neg = static_cast<double>(score.size()) - n_pos;
  DIFFBIO_EXPECTS(n_pos > 0 && n_neg > 0, "auroc: needs both classes");
  return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

// ---------------------------------------------------------------------------- the operator

struct DoubletScorerConfig {
  int k = 15;                      ///< neighbours per real cell (the kNN graph's width)
  double threshold = 0.5;          ///< initial t
  double threshold_tau = 0.05;     ///< initial s (stored as log s)
  double distance_tau = 1.0;       ///< initial τ_d (stored as log τ_d), unit-free (see above)
  bool distance_weighted = true;   ///< false: w = 1/k_v (classic fraction; no embedding gradient)
  bool learn_threshold = true;     ///< false: t and log s get no gradient
  bool learn_distance_tau = false; ///< true: log τ_d is learned too
  double prior_count = 1.0;        ///< α pseudo-neighbours at the expected doublet fraction π
  bool hard = false;               ///< s = 0: prob = [score ≥ t]
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class DoubletScorer {
 public:
  using scalar_type = Scalar;
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using grad_type = accum_t<Scalar>;
  using matrix_view = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;
  using const_matrix_view = Kokkos::View<const Scalar**, Kokkos::LayoutRight, memory_space>;
  using vector_view = Kokkos::View<Scalar*, memory_space>;
  using const_vector_view = Kokkos::View<const Scalar*, memory_space>;
  using index_view = Kokkos::View<const int**, Kokkos::LayoutRight, memory_space>;

  struct Inputs {
    const_matrix_view emb;  ///< [(N + M)×D]: the N real cells first, then M simulated doublets
    int n_real = 0;         ///< N
    index_view neighbors;   ///< [N×k] rows of emb (−1: absent), e.g. KnnIndex over all of emb
    Kokkos::View<const std::uint8_t*, memory_space> mask;  ///< [N] 1 = valid; empty: all valid
  };
  struct Outputs {
    vector_view score;  ///< [N] smoothed simulated-neighbour fraction
    vector_view prob;   ///< [N] σ((score − t)/s), hard: indicator
  };
  struct OutputGrads {  ///< any View may be empty (gradient 0)
    const_vector_view d_score;
    const_vector_view d_prob;
  };
  struct InputGrads {   ///< += ; empty: skipped
    matrix_view d_emb;  ///< [(N + M)×D]
  };
  /// Forward keeps handles of its outputs; weights and squared distances per edge; the reversed
  /// graph (for each emb row the edges i·k + j that point to it) for the gathering adjoint.
  struct Workspace {
    vector_view score, prob;
    matrix_view weight, sqd;
    Kokkos::View<grad_type*, memory_space> scale;  ///< m_i
    Kokkos::View<int*, memory_space> rev_ptr, rev_edge;
    Kokkos::View<grad_type**, Kokkos::LayoutRight, memory_space> dbar;  ///< adjoint ∂L/∂d_ij
    Kokkos::View<grad_type**, Kokkos::LayoutRight, memory_space> row_grad;  ///< adjoint [N×3]
  };

  explicit DoubletScorer(DoubletScorerConfig cfg = {}) : cfg_(cfg) {
    DIFFBIO_EXPECTS(cfg.k >= 1, "DoubletScorer: k must be >= 1");
    DIFFBIO_EXPECTS(cfg.hard || cfg.threshold_tau > 0, "DoubletScorer: threshold_tau must be > 0");
    DIFFBIO_EXPECTS(cfg.distance_tau > 0 && cfg.prior_count >= 0,
                    "DoubletScorer: distance_tau > 0 and prior_count >= 0 expected");
  }

  const DoubletScorerConfig& config() const { return cfg_; }
  int k() const { return cfg_.k; }
  int n_params() const { return 3; }
  bool hard() const { return cfg_.hard; }
  void set_hard(bool h) { cfg_.hard = h; }

  ParamBlock declare(ParameterLayout& layout, const std::string& prefix = "doublet") const {
    return layout.add(prefix + "/threshold_logtau_logdisttau", 3);
  }
  /// [t, log s, log τ_d] from the config.
  std::vector<double> initial_params() const {
    return {cfg_.threshold, std::log(cfg_.threshold_tau > 0 ? cfg_.threshold_tau : 1.0),
            std::log(cfg_.distance_tau)};
  }

  Outputs allocate_outputs(const Inputs& in, const ExecSpace& exec = ExecSpace()) const {
    Outputs o;
    o.score = vector_view(Kokkos::view_alloc(label("DoubletScorer::score"), exec), in.n_real);
    o.prob = vector_view(Kokkos::view_alloc(label("DoubletScorer::prob"), exec), in.n_real);
    return o;
  }
  Workspace allocate_workspace(const Inputs&) const { return {}; }

  /// kNN of the n_real first rows of \p emb among all its rows by a KnnIndex (IVF), as the
  /// Inputs::neighbors View [n_real×k]. Blocking.
  static Kokkos::View<int**, Kokkos::LayoutRight, memory_space> find_neighbors(
      const ExecSpace& exec, const const_matrix_view& emb, int n_real, int k,
      const KnnIndexConfig& cfg = {}) {
    KnnIndex<Scalar, ExecSpace> index(cfg);
    index.build(exec, emb);
    Kokkos::View<int**, Kokkos::LayoutRight, memory_space> idx(
        Kokkos::view_alloc(label("DoubletScorer::neighbors"), exec), n_real, k);
    Kokkos::View<double**, memory_space> dist(
        Kokkos::view_alloc(Kokkos::WithoutInitializing, label("DoubletScorer::nbr_dist"), exec), n_real, k);
    index.search(exec, Kokkos::subview(emb, Kokkos::make_pair(0, n_real), Kokkos::ALL), idx, dist, true);
    exec.fence();
    return idx;
  }

  /// Forward. Blocking (the reversed graph is built on the host from the neighbour lists).
  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Outputs& out,
               Workspace& ws) const {
    static_assert(ParamView::rank == 1, "params is this operator's rank-1 block");
    const int N = in.n_real, NT = static_cast<int>(in.emb.extent(0)), D = static_cast<int>(in.emb.extent(1));
    const int K = static_cast<int>(in.neighbors.extent(1));
    DIFFBIO_EXPECTS(N >= 0 && N <= NT, "DoubletScorer: n_real must be in [0, rows of emb]");
    DIFFBIO_EXPECTS(static_cast<int>(in.neighbors.extent(0)) == N, "DoubletScorer: neighbors must be N x k");
    DIFFBIO_EXPECTS(in.mask.extent(0) == 0 || static_cast<int>(in.mask.extent(0)) == N,
                    "DoubletScorer: one mask entry per real cell expected");
    DIFFBIO_EXPECTS(static_cast<int>(out.score.extent(0)) == N && static_cast<int>(out.prob.extent(0)) == N,
                    "DoubletScorer: outputs must have n_real entries");
    DIFFBIO_EXPECTS(static_cast<int>(params.extent(0)) == 3, "DoubletScorer: params must have 3 entries");
    if (ws.weight.extent(0) != static_cast<std::size_t>(N) || ws.weight.extent(1) != static_cast<std::size_t>(K)) {
      ws.weight = matrix_view(Kokkos::view_alloc(label("DoubletScorer::weight"), exec), N, K);
      ws.sqd = matrix_view(Kokkos::view_alloc(label("DoubletScorer::sqd"), exec), N, K);
      ws.scale = Kokkos::View<grad_type*, memory_space>(Kokkos::view_alloc(label("DoubletScorer::scale"), exec), N);
    }
    build_reverse(exec, in, ws);
    const bool weighted = cfg_.distance_weighted, hard = cfg_.hard, has_mask = in.mask.extent(0) > 0;
    const double alpha = cfg_.prior_count;
    const double pi = NT > 0 ? static_cast<double>(NT - N) / NT : 0.0;
    auto emb = in.emb;
    auto nbr = in.neighbors;
    auto mask = in.mask;
    auto W = ws.weight;
    auto SQ = ws.sqd;
    auto scale = ws.scale;
    auto score = out.score;
    auto prob = out.prob;
    using A = grad_type;
    using math::value_of;
    Kokkos::parallel_for(
        label("DoubletScorer::forward"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N),
        KOKKOS_LAMBDA(const int i) {
          int kv = 0;
          Scalar dsum = Scalar(0);
          for (int j = 0; j < K; ++j) {
            const int n = nbr(i, j);
            Scalar d = Scalar(0);
            if (n >= 0) {
              for (int c = 0; c < D; ++c) {
                const Scalar t = emb(i, c) - emb(n, c);
                d += t * t;
              }
              ++kv;
              dsum += d;
            }
            SQ(i, j) = d;
            W(i, j) = Scalar(0);
          }
          if ((has_mask && mask(i) == 0) || kv == 0) {
            score(i) = Scalar(0);
            prob(i) = Scalar(0);
            scale(i) = A(0);
            for (int j = 0; j < K; ++j) W(i, j) = Scalar(0);
            return;
          }
          const Scalar m = dsum / Scalar(kv);
          // Weighted only with a positive distance scale (all-equal points: uniform weights).
          const bool use_w = weighted && value_of(m) > 0;
          scale(i) = use_w ? A(value_of(m)) : A(0);
          Scalar frac = Scalar(0);
          if (use_w) {
            const Scalar inv = Scalar(1) / (math::exp(params(2)) * m);
            Scalar dmin = Scalar(0);
            bool first = true;
            for (int j = 0; j < K; ++j)
              if (nbr(i, j) >= 0 && (first || value_of(SQ(i, j)) < value_of(dmin))) {
                dmin = SQ(i, j);
                first = false;
              }
            Scalar z = Scalar(0);
            for (int j = 0; j < K; ++j)
              if (nbr(i, j) >= 0) {
                const Scalar e = math::exp(-(SQ(i, j) - dmin) * inv);
                W(i, j) = e;
                z += e;
              }
            for (int j = 0; j < K; ++j) {
              W(i, j) = W(i, j) / z;
              if (nbr(i, j) >= N) frac += W(i, j);
            }
          } else {
            for (int j = 0; j < K; ++j)
              if (nbr(i, j) >= 0) {
                W(i, j) = Scalar(1) / Scalar(kv);
                if (nbr(i, j) >= N) frac += W(i, j);
              }
          }
          const Scalar sc = (Scalar(kv) * frac + Scalar(alpha * pi)) / Scalar(kv + alpha);
          score(i) = sc;
          if (hard) {
            prob(i) = value_of(sc) >= value_of(params(0)) ? Scalar(1) : Scalar(0);
          } else {
            prob(i) = math::sigmoid((sc - params(0)) / math::exp(params(1)));
          }
        });
    ws.score = out.score;
    ws.prob = out.prob;
    exec.fence();
  }

  /// Adjoint: d_emb += ∂L/∂emb, d_params += [∂L/∂t, ∂L/∂log s, ∂L/∂log τ_d]
  /// (ADJOINT_DoubletScorer.md). Blocking (parameter sums checked on the host).
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in, Workspace& ws,
               const OutputGrads& d_out, const InputGrads& d_in, const GradView& d_params,
               const ReductionMode& mode = {}) const {
    static_assert(GradView::rank == 1, "d_params is this operator's rank-1 gradient block");
    using A = grad_type;
    const int N = in.n_real, NT = static_cast<int>(in.emb.extent(0)), D = static_cast<int>(in.emb.extent(1));
    const int K = static_cast<int>(in.neighbors.extent(1));
    DIFFBIO_EXPECTS(static_cast<int>(ws.score.extent(0)) == N && ws.weight.extent(0) == ws.score.extent(0),
                    "DoubletScorer::adjoint before forward");
    DIFFBIO_EXPECTS(static_cast<int>(d_params.extent(0)) == 3, "DoubletScorer::adjoint: d_params must have 3 entries");
    if (ws.dbar.extent(0) != static_cast<std::size_t>(N) || ws.dbar.extent(1) != static_cast<std::size_t>(K))
      ws.dbar = Kokkos::View<A**, Kokkos::LayoutRight, memory_space>(
          Kokkos::view_alloc(label("DoubletScorer::dbar"), exec), N, K);
    const bool hard = cfg_.hard, learn_t = cfg_.learn_threshold && !cfg_.hard,
               learn_td = cfg_.learn_distance_tau, has_mask = in.mask.extent(0) > 0;
    const bool has_ds = d_out.d_score.extent(0) > 0, has_dp = d_out.d_prob.extent(0) > 0;
    const double alpha = cfg_.prior_count;
    auto nbr = in.neighbors;
    auto mask = in.mask;
    auto W = ws.weight;
    auto SQ = ws.sqd;
    auto scale = ws.scale;
    auto score = ws.score;
    auto prob = ws.prob;
    auto dbar = ws.dbar;
    auto ds = d_out.d_score;
    auto dp = d_out.d_prob;
    if (ws.row_grad.extent(0) != static_cast<std::size_t>(N))
      ws.row_grad = Kokkos::View<A**, Kokkos::LayoutRight, memory_space>(
          Kokkos::view_alloc(label("DoubletScorer::row_grad"), exec), N, 3);
    auto rg = ws.row_grad;
    // 1. Per real cell: ∂L/∂d_ij into dbar, parameter contributions into row_grad (eqs. 1–4).
    Kokkos::parallel_for(
        label("DoubletScorer::adjoint_rows"), Kokkos::RangePolicy<ExecSpace>(exec, 0, N),
        KOKKOS_LAMBDA(const int i) {
          for (int j = 0; j < K; ++j) dbar(i, j) = A(0);
          for (int c = 0; c < 3; ++c) rg(i, c) = A(0);
          if (has_mask && mask(i) == 0) return;
          int kv = 0;
          for (int j = 0; j < K; ++j) kv += nbr(i, j) >= 0 ? 1 : 0;
          if (kv == 0) return;
          A sbar = has_ds ? A(ds(i)) : A(0);
          if (!hard && has_dp) {
            const A s = math::exp(A(params(1)));
            const A p = A(prob(i));
            const A u = (A(score(i)) - A(params(0))) / s;
            const A ubar = A(dp(i)) * p * (A(1) - p);
            sbar += ubar / s;
            if (learn_t) {
              rg(i, 0) = -ubar / s;
              rg(i, 1) = -ubar * u;
            }
          }
          const A m = scale(i);
          if (!(m > A(0)) || sbar == A(0)) return;  // uniform weights: no distance dependence
          const A tau = math::exp(A(params(2)));
          const A c = A(kv) / (A(kv) + A(alpha));
          // w̄_j = s̄ c [simulated], softmax adjoint z̄_j = w_j (w̄_j − Σ_l w_l w̄_l).
          A wdot = A(0);
          for (int j = 0; j < K; ++j)
            if (nbr(i, j) >= N) wdot += A(W(i, j)) * sbar * c;
          A zd = A(0), ztz = A(0);
          for (int j = 0; j < K; ++j) {
            if (nbr(i, j) < 0) continue;
            const A wb = nbr(i, j) >= N ? sbar * c : A(0);
            const A zb = A(W(i, j)) * (wb - wdot);
            const A d = A(SQ(i, j));
            dbar(i, j) = -zb / (tau * m);
            zd += zb * d;
            ztz += zb * (-d / (tau * m));
          }
          // m = mean of the d_ij: every d_l also enters through the scale.
          const A through_scale = zd / (tau * m * m * A(kv));
          for (int j = 0; j < K; ++j)
            if (nbr(i, j) >= 0) dbar(i, j) += through_scale;
          if (learn_td) rg(i, 2) = -ztz;
        });
    qc_impl::fixed_order_column_sums(exec, "DoubletScorer::param_sums", rg, d_params, mode);
    if (d_in.d_emb.extent(0) == 0) {
      exec.fence();
      return;
    }
    DIFFBIO_EXPECTS(static_cast<int>(d_in.d_emb.extent(0)) == NT && static_cast<int>(d_in.d_emb.extent(1)) == D,
                    "DoubletScorer::adjoint: d_emb must match emb");
    // 2. Gather per emb row r: own edges (r a real query) and edges pointing at r (eq. 5).
    auto emb = in.emb;
    auto dx = d_in.d_emb;
    auto rptr = ws.rev_ptr;
    auto redge = ws.rev_edge;
    Kokkos::parallel_for(
        label("DoubletScorer::adjoint_emb"), Kokkos::RangePolicy<ExecSpace>(exec, 0, NT),
        KOKKOS_LAMBDA(const int r) {
          for (int c = 0; c < D; ++c) {
            A g = A(0);
            if (r < N)
              for (int j = 0; j < K; ++j) {
                const int n = nbr(r, j);
                if (n >= 0) g += A(2) * dbar(r, j) * (A(emb(r, c)) - A(emb(n, c)));
              }
            for (int e = rptr(r); e < rptr(r + 1); ++e) {
              const int edge = redge(e);
              const int i = edge / K, j = edge % K;
              g += A(2) * dbar(i, j) * (A(emb(r, c)) - A(emb(i, c)));
            }
            dx(r, c) += Scalar(g);
          }
        });
    exec.fence();
  }

  /// Reversed kNN graph: for each emb row, the edges i·k + j with neighbors(i, j) == row, in
  /// increasing edge order (host counting sort: a fixed order for the gathering adjoint).
  void build_reverse(const ExecSpace& exec, const Inputs& in, Workspace& ws) const {
    const int N = in.n_real, NT = static_cast<int>(in.emb.extent(0)), K = static_cast<int>(in.neighbors.extent(1));
    auto hn = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), in.neighbors);
    if (ws.rev_ptr.extent(0) != static_cast<std::size_t>(NT + 1))
      ws.rev_ptr = Kokkos::View<int*, memory_space>(Kokkos::view_alloc(label("DoubletScorer::rev_ptr"), exec), NT + 1);
    if (ws.rev_edge.extent(0) != static_cast<std::size_t>(N) * K)
      ws.rev_edge = Kokkos::View<int*, memory_space>(Kokkos::view_alloc(label("DoubletScorer::rev_edge"), exec),
                                                     static_cast<std::size_t>(N) * K);
    auto hp = Kokkos::create_mirror_view(Kokkos::HostSpace(), ws.rev_ptr);
    auto he = Kokkos::create_mirror_view(Kokkos::HostSpace(), ws.rev_edge);
    for (int r = 0; r <= NT; ++r) hp(r) = 0;
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < K; ++j) {
        const int n = hn(i, j);
        DIFFBIO_EXPECTS(n < NT, "DoubletScorer: neighbour index beyond the embedding rows");
        if (n >= 0) ++hp(n + 1);
      }
    for (int r = 0; r < NT; ++r) hp(r + 1) += hp(r);
    std::vector<int> next(hp.data(), hp.data() + NT);
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < K; ++j) {
        const int n = hn(i, j);
        if (n >= 0) he(next[n]++) = i * K + j;
      }
    Kokkos::deep_copy(exec, ws.rev_ptr, hp);
    Kokkos::deep_copy(exec, ws.rev_edge, he);
  }

 private:
  DoubletScorerConfig cfg_;
};

}  // namespace diffbio

#endif
