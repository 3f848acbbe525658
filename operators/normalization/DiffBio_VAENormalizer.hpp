// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_VAENormalizer.hpp
/// \brief VAENormalizer: scVI-style variational autoencoder on sparse counts with a
/// library-size-aware negative-binomial likelihood, a batch covariate and gene-wise dispersion.
///
/// For cell i with counts x_i (a CSR row over G genes), library l_i = Σ_g x_ig and batch b_i:
///
///   h_i     = act(W1ᵀ·log1p(x_i) + W1b[b_i] + c1)      (sparse × dense: only stored entries)
///   h_i     = act(W2·h_i + c2)                          (optional second hidden layer)
///   μ_i     = Wμ·h_i + cμ,  v_i = Wv·h_i + cv           (v = log σ², L latent dimensions)
///   z_i     = μ_i + e^{v_i/2} ⊙ ε_i,  ε_i ~ N(0, I)     (Philox: seed, cell id, step)
///   η_i     = Wd·z_i + Wdb[b_i] + cd,  ρ_i = softmax(η_i),  m_ig = l_i ρ_ig
///   loss_i  = −Σ_g log NB(x_ig | m_ig, θ_g) + β·KL(N(μ_i, σ_i²) ‖ N(0, I)),   θ_g = e^{log θ_g}
///
/// with −log NB(y | m, θ) = lgamma(θ) − lgamma(y+θ) + lgamma(y+1) + θ log((θ+m)/θ) + y log((θ+m)/m)
/// and KL = −½ Σ_l (1 + v_l − μ_l² − e^{v_l}). For y = 0 only θ log1p(m/θ) remains, so a row costs
/// G dense terms (the decoder output is dense, O(B·G) memory for a mini-batch of B cells) plus the
/// lgamma/digamma terms of its stored entries only; the count matrix is never densified.
/// The CSR rows must be canonical (no duplicate column within a row; order is free).
///
/// Parameters, one block (row-major; "out×in" = W(o, j) at o·in + j; NB = n_batches, may be 0):
///   W1  [G × H1]   (input-major, so a stored entry (i, g) is one axpy over a contiguous row)
///   W1b [NB × H1], c1 [H1]
///   W2  [H2 × H1], c2 [H2]                       (only when n_hidden2 > 0; Hl = H2, else H1)
///   We  [2L × Hl], ce [2L]                        (rows 0..L−1 give μ, rows L..2L−1 give log σ²)
///   Wd  [G × L],   Wdb [NB × G], cd [G]
///   log θ [G]
/// offsets() gives the start of each piece.
///
/// Mini-batches: Inputs hold the whole CSR matrix (device Views, as io::to_device gives them) and
/// `rows`, the B global row indices of this mini-batch (< 0: padding). All B-sized outputs and
/// the workspace refer to the mini-batch, so memory is O(B·(G + H)) beyond the CSR matrix.
///
/// Performance: the dense layers (W2, We, Wd; forward, input and weight gradients) go through
/// KokkosBlas::gemm when Kokkos Kernels is available and Scalar is float or double (`use_blas`),
/// else portable loops (these also serve the dual numbers of the tangent tests). On the BLAS path
/// with float the weight gradients sum the B rows of a mini-batch in float before adding them to
/// the double gradient block; everything else sums in accum_t.
///
/// Determinism: every kernel writes each output element from one work item in a fixed order, so
/// results are bitwise identical for any thread count (given a deterministic BLAS). ReductionMode
/// is accepted for interface uniformity; its grid rounding (rank-split invariance) is not applied.
///
/// Derivation of the adjoint: ADJOINT_VAENormalizer.md in this folder.
#ifndef DIFFBIO_VAE_NORMALIZER_HPP
#define DIFFBIO_VAE_NORMALIZER_HPP

#include <DiffBio_Config.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_Random.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <impl/DiffBio_SingleCellKernels.hpp>  // sc_impl::exp_neg_scaled: polynomial exp
#include <impl/DiffBio_VAEKernels.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace diffbio {

enum class VAEActivation { relu, tanh };

struct VAEConfig {
  int n_genes = 0;      ///< G
  int n_batches = 0;    ///< NB: size of the batch one-hot (0: no batch covariate)
  int n_hidden = 128;   ///< H1
  int n_hidden2 = 0;    ///< H2 (0: one hidden layer)
  int n_latent = 10;    ///< L
  VAEActivation activation = VAEActivation::relu;
  double kl_weight = 1.0;  ///< β
  bool sample = true;      ///< false: z = μ (evaluation; ε unused)
  std::uint64_t seed = 0;  ///< ε key (with the cell id and Inputs::step)
  /// normalized output = ρ · scale; scale ≤ 0 uses the cell's own library size.
  double normalized_scale = 1e4;
  bool use_blas = true;    ///< KokkosBlas::gemm for the dense layers (float/double)
};

/// Offsets of the parameter pieces inside the block (see the file comment).
struct VAEOffsets {
  std::size_t W1, W1b, c1, W2, c2, We, ce, Wd, Wdb, cd, log_theta, total;
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class VAENormalizer {
 public:
  using scalar_type = Scalar;
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using grad_type = accum_t<Scalar>;
  using count_type = float;
  using matrix_view = Kokkos::View<Scalar**, Kokkos::LayoutRight, memory_space>;
  using const_matrix_view = Kokkos::View<const Scalar**, Kokkos::LayoutRight, memory_space>;
  using vector_view = Kokkos::View<Scalar*, memory_space>;

  struct Inputs {
    Kokkos::View<const std::int64_t*, memory_space> row_map;  ///< [N+1] CSR offsets
    Kokkos::View<const std::int32_t*, memory_space> entries;  ///< [nnz] gene of each entry
    Kokkos::View<const count_type*, memory_space> values;     ///< [nnz] counts
    /// [B] global rows of this mini-batch (< 0: padding); empty: the mini-batch is rows 0..N−1.
    Kokkos::View<const int*, memory_space> rows;
    Kokkos::View<const int*, memory_space> batch;  ///< [N] batch of each row; empty: all 0
    Kokkos::View<const std::uint8_t*, memory_space> mask;  ///< [B] 1 = valid; empty: all valid
    std::uint64_t step = 0;        ///< training step: the ε counter (differs per step)
    std::int64_t first_row = 0;    ///< global id of CSR row 0 (the ε stream is first_row + row)
    const_matrix_view eps;         ///< [B×L] fixed ε instead of Philox draws (tests); optional
  };
  struct Outputs {
    matrix_view latent_mean;    ///< [B×L] μ_z: the embedding
    matrix_view latent_logvar;  ///< [B×L] log σ²_z; optional
    vector_view loss;           ///< [B] NB negative log-likelihood + β·KL
    vector_view recon;          ///< [B] NB negative log-likelihood; optional
    vector_view kl;             ///< [B] KL divergence; optional
    matrix_view normalized;     ///< [B×G] ρ·scale; optional
  };
  /// Adjoint seeds; empty Views count as 0.
  struct OutputGrads {
    Kokkos::View<const Scalar*, memory_space> d_loss;  ///< [B]
    const_matrix_view d_latent_mean;                    ///< [B×L]
  };
  /// The counts are data: there is no input gradient.
  struct InputGrads {};
  /// Mini-batch scratch, (re)allocated for the batch size B on first use. The adjoint reads the
  /// forward's activations, ε and ρ from here, so call adjoint() right after forward().
  struct Workspace {
    int B = -1;
    Kokkos::View<int*, memory_space> grow;       ///< [B] global row, −1 = invalid/masked
    Kokkos::View<double*, memory_space> lib;     ///< [B] l_i
    matrix_view h1, h2, enc, eps, z, rho;        ///< activations; rho [B×G]
    matrix_view deta, tth, dz, denc, dh1, dh2;   ///< adjoint scratch (tth: log1p(m/θ) from forward)
    vector_view theta;                           ///< [G] θ_g
    Kokkos::View<Scalar*, memory_space> gscratch;  ///< float weight-gradient gemm target
  };

  explicit VAENormalizer(VAEConfig cfg) : cfg_(cfg) {
    DIFFBIO_EXPECTS(cfg.n_genes >= 1 && cfg.n_hidden >= 1 && cfg.n_latent >= 1 &&
                        cfg.n_hidden2 >= 0 && cfg.n_batches >= 0,
                    "VAENormalizer: n_genes, n_hidden, n_latent must be >= 1");
    const std::size_t G = cfg.n_genes, NB = cfg.n_batches, H1 = cfg.n_hidden, H2 = cfg.n_hidden2,
                      L = cfg.n_latent, Hl = H2 > 0 ? H2 : H1;
    std::size_t o = 0;
    auto take = [&](std::size_t n) { const std::size_t s = o; o += n; return s; };
    off_.W1 = take(G * H1);
    off_.W1b = take(NB * H1);
    off_.c1 = take(H1);
    off_.W2 = take(H2 * H1);
    off_.c2 = take(H2);
    off_.We = take(2 * L * Hl);
    off_.ce = take(2 * L);
    off_.Wd = take(G * L);
    off_.Wdb = take(NB * G);
    off_.cd = take(G);
    off_.log_theta = take(G);
    off_.total = o;
  }

  const VAEConfig& config() const { return cfg_; }
  const VAEOffsets& offsets() const { return off_; }
  int n_params() const { return static_cast<int>(off_.total); }
  int n_genes() const { return cfg_.n_genes; }
  int n_latent() const { return cfg_.n_latent; }
  int last_hidden() const { return cfg_.n_hidden2 > 0 ? cfg_.n_hidden2 : cfg_.n_hidden; }
  void set_sample(bool s) { cfg_.sample = s; }
  void set_kl_weight(double b) { cfg_.kl_weight = b; }

  ParamBlock declare(ParameterLayout& layout, const std::string& prefix = "vae") const {
    return layout.add(prefix + "/weights", off_.total);
  }
  /// PyTorch's nn.Linear default: weights and biases U(−1/√fan_in, 1/√fan_in), drawn from the
  /// counter RNG (reproducible on any backend); log θ = 0.
  std::vector<double> initial_params(std::uint64_t seed = 0) const {
    std::vector<double> p(off_.total, 0.0);
    const int G = cfg_.n_genes, NB = cfg_.n_batches, H1 = cfg_.n_hidden, H2 = cfg_.n_hidden2,
              L = cfg_.n_latent, Hl = last_hidden();
    auto fill = [&](std::size_t off, std::size_t n, int fan_in, std::uint64_t stream) {
      const CounterRng rng(seed, stream);
      const double a = 1.0 / std::sqrt(static_cast<double>(fan_in));
      for (std::size_t k = 0; k < n; ++k) p[off + k] = a * (2.0 * rng.uniform(k) - 1.0);
    };
    fill(off_.W1, std::size_t(G) * H1, G + NB, 1);
    fill(off_.W1b, std::size_t(NB) * H1, G + NB, 2);
    fill(off_.c1, H1, G + NB, 3);
    fill(off_.W2, std::size_t(H2) * H1, H1, 4);
    fill(off_.c2, H2, H1, 5);
    fill(off_.We, std::size_t(2) * L * Hl, Hl, 6);
    fill(off_.ce, std::size_t(2) * L, Hl, 7);
    fill(off_.Wd, std::size_t(G) * L, L + NB, 8);
    fill(off_.Wdb, std::size_t(NB) * G, L + NB, 9);
    fill(off_.cd, G, L + NB, 10);
    return p;
  }

  int batch_size(const Inputs& in) const {
    return in.rows.extent(0) > 0 ? static_cast<int>(in.rows.extent(0))
                                 : (in.row_map.extent(0) > 0 ? static_cast<int>(in.row_map.extent(0)) - 1 : 0);
  }

  Outputs allocate_outputs(const Inputs& in, bool with_optional = true,
                           const ExecSpace& exec = ExecSpace()) const {
    const std::size_t B = batch_size(in), L = cfg_.n_latent, G = cfg_.n_genes;
    auto a = [&](const char* w) { return Kokkos::view_alloc(label(w), exec); };
    Outputs o;
    o.latent_mean = matrix_view(a("VAENormalizer::latent_mean"), B, L);
    o.loss = vector_view(a("VAENormalizer::loss"), B);
    if (with_optional) {
      o.latent_logvar = matrix_view(a("VAENormalizer::latent_logvar"), B, L);
      o.recon = vector_view(a("VAENormalizer::recon"), B);
      o.kl = vector_view(a("VAENormalizer::kl"), B);
      o.normalized = matrix_view(a("VAENormalizer::normalized"), B, G);
    }
    return o;
  }

  Workspace allocate_workspace(const Inputs& in) const {
    Workspace ws;
    ensure_workspace(ws, batch_size(in));
    return ws;
  }

  /// Forward on one mini-batch. Non-blocking on the portable path (gemms fence first).
  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Outputs& out,
               Workspace& ws) const {
    static_assert(ParamView::rank == 1, "params is this operator's rank-1 parameter block");
    DIFFBIO_EXPECTS(static_cast<int>(params.extent(0)) == n_params() && params.span_is_contiguous(),
                    "VAENormalizer::forward: params must be one contiguous block of n_params()");
    const int B = batch_size(in);
    ensure_workspace(ws, B);
    const int G = cfg_.n_genes, NB = cfg_.n_batches, H1 = cfg_.n_hidden, H2 = cfg_.n_hidden2,
              L = cfg_.n_latent, Hl = last_hidden();
    const bool relu = cfg_.activation == VAEActivation::relu;
    const bool blas = blas_path();
    const Scalar* P = params.data();
    const auto off = off_;
    auto row_map = in.row_map;
    auto entries = in.entries;
    auto values = in.values;
    auto rows = in.rows;
    auto batch = in.batch;
    auto mask = in.mask;
    const bool has_rows = rows.extent(0) > 0, has_batch = batch.extent(0) > 0 && NB > 0,
               has_mask = mask.extent(0) > 0;
    auto grow = ws.grow;
    auto lib = ws.lib;
    auto h1 = ws.h1;
    auto theta = ws.theta;
    Kokkos::parallel_for(
        label("VAENormalizer::theta"), Kokkos::RangePolicy<ExecSpace>(exec, 0, G),
        KOKKOS_LAMBDA(const int g) { theta(g) = math::exp(P[off.log_theta + g]); });
    // 1. First layer from the sparse row: h = act(Σ_entries log1p(x) W1[g] + W1b[b] + c1).
    Kokkos::parallel_for(
        label("VAENormalizer::encoder_sparse"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
        KOKKOS_LAMBDA(const int i) {
          int r = has_rows ? rows(i) : i;
          if (has_mask && mask(i) == 0) r = -1;
          grow(i) = r;
          for (int k = 0; k < H1; ++k) h1(i, k) = P[off.c1 + k];
          double l = 0;
          if (r >= 0) {
            if (has_batch) {
              const int b = batch(r);
              for (int k = 0; k < H1; ++k) h1(i, k) += P[off.W1b + b * H1 + k];
            }
            for (std::int64_t e = row_map(r); e < row_map(r + 1); ++e) {
              l += static_cast<double>(values(e));
              const Scalar v = vae_impl::log1p_fast(Scalar(values(e)));  // same as the adjoint
              const Scalar* w = P + off.W1 + static_cast<std::size_t>(entries(e)) * H1;
              for (int k = 0; k < H1; ++k) h1(i, k) += v * w[k];
            }
          }
          lib(i) = l;
          for (int k = 0; k < H1; ++k) h1(i, k) = activate(h1(i, k), relu);
        });
    using UC = vae_impl::umatrix<const Scalar, memory_space>;
    using UM = vae_impl::umatrix<Scalar, memory_space>;
    // 2. Optional second hidden layer.
    if (H2 > 0) {
      auto h2 = ws.h2;
      vae_impl::dense_forward<ExecSpace, Scalar, memory_space>(exec, blas, UC(h1.data(), B, H1),
                                                               UC(P + off.W2, H2, H1), UM(h2.data(), B, H2));
      Kokkos::parallel_for(
          label("VAENormalizer::hidden2"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
          KOKKOS_LAMBDA(const int i) {
            for (int k = 0; k < H2; ++k) h2(i, k) = activate(h2(i, k) + P[off.c2 + k], relu);
          });
    }
    auto hl = H2 > 0 ? ws.h2 : ws.h1;
    // 3. μ and log σ² in one product, then the reparameterisation and the KL term.
    auto enc = ws.enc;
    vae_impl::dense_forward<ExecSpace, Scalar, memory_space>(exec, blas, UC(hl.data(), B, Hl),
                                                             UC(P + off.We, 2 * L, Hl), UM(enc.data(), B, 2 * L));
    auto eps = ws.eps;
    auto z = ws.z;
    auto eps_in = in.eps;
    const bool fixed_eps = eps_in.extent(0) > 0, sample = cfg_.sample;
    const std::uint64_t seed = cfg_.seed, step = in.step;
    const std::int64_t first_row = in.first_row;
    auto mu_out = out.latent_mean;
    auto lv_out = out.latent_logvar;
    auto kl_out = out.kl;
    const bool has_lv = lv_out.extent(0) > 0, has_kl = kl_out.extent(0) > 0;
    Kokkos::parallel_for(
        label("VAENormalizer::reparameterize"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
        KOKKOS_LAMBDA(const int i) {
          const int r = grow(i);
          const CounterRng rng(seed, static_cast<std::uint64_t>(first_row + (r < 0 ? 0 : r)));
          Scalar kl = Scalar(0);
          for (int l = 0; l < L; ++l) {
            const Scalar mu = enc(i, l) + P[off.ce + l];
            const Scalar lv = enc(i, L + l) + P[off.ce + L + l];
            enc(i, l) = mu;
            enc(i, L + l) = lv;
            Scalar e = Scalar(0);
            if (sample) e = fixed_eps ? eps_in(i, l) : Scalar(rng.normal(step * std::uint64_t(L) + l));
            eps(i, l) = e;
            const Scalar var = math::exp(lv);
            z(i, l) = sample ? mu + math::exp(Scalar(0.5) * lv) * e : mu;
            kl += Scalar(-0.5) * (Scalar(1) + lv - mu * mu - var);
            mu_out(i, l) = r < 0 ? Scalar(0) : mu;
            if (has_lv) lv_out(i, l) = r < 0 ? Scalar(0) : lv;
          }
          if (has_kl) kl_out(i) = r < 0 ? Scalar(0) : kl;
        });
    // 4. Decoder logits, then per row: softmax, NB likelihood, loss.
    auto rho = ws.rho;
    vae_impl::dense_forward<ExecSpace, Scalar, memory_space>(exec, blas, UC(z.data(), B, L),
                                                             UC(P + off.Wd, G, L), UM(rho.data(), B, G));
    auto loss_out = out.loss;
    auto recon_out = out.recon;
    auto norm_out = out.normalized;
    const bool has_recon = recon_out.extent(0) > 0, has_norm = norm_out.extent(0) > 0;
    const double beta = cfg_.kl_weight, nscale = cfg_.normalized_scale;
    using A = grad_type;
    auto tth = ws.tth;
    Kokkos::parallel_for(
        label("VAENormalizer::decoder_nb"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
        KOKKOS_LAMBDA(const int i) {
          const int r = grow(i);
          const int b = (r >= 0 && has_batch) ? batch(r) : -1;
          Scalar* row = &rho(i, 0);
          const Scalar* cd = P + off.cd;
          if (b >= 0) {
            const Scalar* wdb = P + off.Wdb + static_cast<std::size_t>(b) * G;
            for (int g = 0; g < G; ++g) row[g] = (row[g] + cd[g]) + wdb[g];
          } else {
            for (int g = 0; g < G; ++g) row[g] += cd[g];
          }
          // Max shift of the log-sum-exp (finite: the logits are finite sums).
          Scalar mx = row[0];
          for (int g = 1; g < G; ++g)
            if (vae_impl::val(row[g]) > vae_impl::val(mx)) mx = row[g];
          // e_g = exp(η_g − max) kept in rho (the polynomial exp, vectorised, for float/double;
          // arguments ≤ 0), then ρ = e / Σe. Four partial sums in accum_t break the add chain.
          sc_impl::exp_neg_scaled(row, row, G, mx, Scalar(-1));
          A s4[4] = {A(0), A(0), A(0), A(0)};
          int k4 = 0;
          for (; k4 + 4 <= G; k4 += 4)
            for (int u = 0; u < 4; ++u) s4[u] += A(row[k4 + u]);
          for (; k4 < G; ++k4) s4[k4 & 3] += A(row[k4]);
          const A se = (s4[0] + s4[1]) + (s4[2] + s4[3]);
          const Scalar inv_se = Scalar(A(1) / se);
          const double l = lib(i);
          const Scalar L_ = Scalar(l);
          for (int g = 0; g < G; ++g) row[g] *= inv_se;
          // y = 0 term for every gene: θ log1p(m/θ); log1p(m/θ) = −log(θ/(θ+m)) is kept for
          // the adjoint (tth is adjoint scratch until then). Polynomial log1p for float/double,
          // in a loop without reduction so that it vectorises; the sum follows in four partials.
          const Scalar* th_g = &theta(0);
          Scalar* tth_i = &tth(i, 0);
          if (l > 0) {
            for (int g = 0; g < G; ++g) tth_i[g] = vae_impl::log1p_fast(L_ * row[g] / th_g[g]);
          } else {
            for (int g = 0; g < G; ++g) tth_i[g] = Scalar(0);
          }
          A n4[4] = {A(0), A(0), A(0), A(0)};
          int g4 = 0;
          for (; g4 + 4 <= G; g4 += 4)
            for (int u = 0; u < 4; ++u) n4[u] += A(th_g[g4 + u] * tth_i[g4 + u]);
          for (; g4 < G; ++g4) n4[g4 & 3] += A(th_g[g4] * tth_i[g4]);
          A nll = (n4[0] + n4[1]) + (n4[2] + n4[3]);
          if (has_norm) {
            const Scalar sc = Scalar(nscale > 0 ? nscale : l);
            for (int g = 0; g < G; ++g) norm_out(i, g) = r < 0 ? Scalar(0) : row[g] * sc;
          }
          if (r >= 0) {
            const Scalar log_l = Scalar(math::log(l > 0 ? l : 1.0));
            for (std::int64_t e = row_map(r); e < row_map(r + 1); ++e) {
              const int g = entries(e);
              const Scalar y = Scalar(static_cast<double>(values(e)));
              if (vae_impl::val(y) == 0) continue;
              const Scalar th = theta(g);
              const Scalar m = L_ * rho(i, g);
              // ρ_g underflows only for logit gaps beyond ~87 (float); the floor keeps the loss
              // finite there (the gradient formula needs no log).
              const Scalar pg = vae_impl::val(rho(i, g)) > 1.2e-38 ? rho(i, g) : Scalar(1.2e-38);
              const Scalar log_m = log_l + math::log(pg);
              nll += A(vae_impl::lgamma_of(th) - vae_impl::lgamma_of(y + th) +
                     Scalar(math::lgamma(static_cast<double>(vae_impl::val(y)) + 1.0)) +
                     y * (math::log(th + m) - log_m));
            }
          }
          Scalar kl = Scalar(0);
          for (int l2 = 0; l2 < L; ++l2) {
            const Scalar mu = enc(i, l2), lv = enc(i, L + l2);
            kl += Scalar(-0.5) * (Scalar(1) + lv - mu * mu - math::exp(lv));
          }
          loss_out(i) = r < 0 ? Scalar(0) : Scalar(nll) + Scalar(beta) * kl;
          if (has_recon) recon_out(i) = r < 0 ? Scalar(0) : Scalar(nll);
        });
  }

  /// Adjoint: d_params += ∂(Σ_i d_loss_i loss_i + Σ d_latent_mean ⊙ μ_z)/∂params (ADJOINT_VAENormalizer.md).
  /// Blocking: the gradient block is checked for non-finite values.
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in, Workspace& ws,
               const OutputGrads& d_out, const InputGrads& /*d_in*/, const GradView& d_params,
               const ReductionMode& /*mode*/ = {}) const {
    static_assert(GradView::rank == 1, "d_params is this operator's rank-1 gradient block");
    using A = grad_type;
    static_assert(std::is_same<typename GradView::non_const_value_type, A>::value,
                  "d_params holds accum_t<Scalar>");
    const int B = batch_size(in);
    DIFFBIO_EXPECTS(ws.B == B, "VAENormalizer::adjoint before forward");
    DIFFBIO_EXPECTS(static_cast<int>(d_params.extent(0)) == n_params() && d_params.span_is_contiguous(),
                    "VAENormalizer::adjoint: d_params must be one contiguous block of n_params()");
    const int G = cfg_.n_genes, NB = cfg_.n_batches, H1 = cfg_.n_hidden, H2 = cfg_.n_hidden2,
              L = cfg_.n_latent, Hl = last_hidden();
    const bool relu = cfg_.activation == VAEActivation::relu;
    const bool blas = blas_path();
    const Scalar* P = params.data();
    A* dP = d_params.data();
    const auto off = off_;
    auto row_map = in.row_map;
    auto entries = in.entries;
    auto values = in.values;
    auto batch = in.batch;
    const bool has_batch = batch.extent(0) > 0 && NB > 0;
    auto dl = d_out.d_loss;
    auto dmu_in = d_out.d_latent_mean;
    const bool has_dl = dl.extent(0) > 0, has_dmu = dmu_in.extent(0) > 0;
    auto grow = ws.grow;
    auto lib = ws.lib;
    auto rho = ws.rho;
    auto theta = ws.theta;
    auto deta = ws.deta;
    auto tth = ws.tth;
    // 1. Per row: ∂/∂η (softmax + NB, steps 1–3) and the per-row terms of ∂/∂log θ (step 4).
    Kokkos::parallel_for(
        label("VAENormalizer::adjoint_decoder_rows"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
        KOKKOS_LAMBDA(const int i) {
          const int r = grow(i);
          const Scalar s = (r >= 0 && has_dl) ? dl(i) : Scalar(0);
          const double l = lib(i);
          if (vae_impl::val(s) == 0 || l <= 0) {
            for (int g = 0; g < G; ++g) {
              deta(i, g) = Scalar(0);
              tth(i, g) = Scalar(0);
            }
            return;
          }
          const Scalar L_ = Scalar(l);
          // Dense terms first (no reduction in the loop, so it vectorises), then their sum R in
          // four accum_t partial sums.
          const Scalar* th_g = &theta(0);
          const Scalar* rho_i = &rho(i, 0);
          Scalar* deta_i = &deta(i, 0);
          Scalar* tth_i = &tth(i, 0);
          for (int g = 0; g < G; ++g) {
            const Scalar th = th_g[g], m = L_ * rho_i[g];
            const Scalar mq = m / (th + m);
            deta_i[g] = th * mq;  // ∂(θ log1p(m/θ))/∂log m
            tth_i[g] = th * (tth_i[g] - mq);  // −θ[log(θ/q) + m/q], log1p(m/θ) from the forward
          }
          A r4[4] = {A(0), A(0), A(0), A(0)};
          int g4 = 0;
          for (; g4 + 4 <= G; g4 += 4)
            for (int u = 0; u < 4; ++u) r4[u] += A(deta_i[g4 + u]);
          for (; g4 < G; ++g4) r4[g4 & 3] += A(deta_i[g4]);
          A R = (r4[0] + r4[1]) + (r4[2] + r4[3]);
          for (std::int64_t e = row_map(r); e < row_map(r + 1); ++e) {
            const int g = entries(e);
            const Scalar y = Scalar(static_cast<double>(values(e)));
            if (vae_impl::val(y) == 0) continue;
            const Scalar th = theta(g), m = L_ * rho(i, g);
            const Scalar q = th + m;
            const Scalar c = -th * y / q;
            deta(i, g) += c;
            R += A(c);
            tth(i, g) += -th * (Scalar(math::digamma(static_cast<double>(y + th)) -
                                       math::digamma(static_cast<double>(th))) - y / q);
          }
          const Scalar Rs = Scalar(R);
          for (int g = 0; g < G; ++g) {
            deta_i[g] = s * (deta_i[g] - rho_i[g] * Rs);
            tth_i[g] *= s;
          }
        });
    // 2. Gene sums over the mini-batch: cd, Wdb, log θ.
    //    Work items own kGenes adjacent genes and walk the rows in order (each gene's sums in
    //    row order, as a per-gene loop would): contiguous reads of η̄ and the θ terms.
    constexpr int kGenes = 32;
    Kokkos::parallel_for(
        label("VAENormalizer::adjoint_decoder_genes"),
        Kokkos::RangePolicy<ExecSpace>(exec, 0, (G + kGenes - 1) / kGenes),
        KOKKOS_LAMBDA(const int chunk) {
          const int g0 = chunk * kGenes, n = G - g0 < kGenes ? G - g0 : kGenes;
          A sc[kGenes], st[kGenes];
          for (int u = 0; u < kGenes; ++u) {
            sc[u] = A(0);
            st[u] = A(0);
          }
          for (int i = 0; i < B; ++i) {
            const Scalar* de = &deta(i, g0);
            const Scalar* tt = &tth(i, g0);
            for (int u = 0; u < n; ++u) {
              sc[u] += A(de[u]);
              st[u] += A(tt[u]);
            }
            const int r = grow(i);
            if (has_batch && r >= 0) {
              A* w = dP + off.Wdb + static_cast<std::size_t>(batch(r)) * G + g0;
              for (int u = 0; u < n; ++u) w[u] += A(de[u]);
            }
          }
          for (int u = 0; u < n; ++u) {
            dP[off.cd + g0 + u] += sc[u];
            dP[off.log_theta + g0 + u] += st[u];
          }
        });
    using UC = vae_impl::umatrix<const Scalar, memory_space>;
    using UM = vae_impl::umatrix<Scalar, memory_space>;
    Scalar* scr = ws.gscratch.data();
    // 3. Decoder layer: z̄ = η̄·Wd, W̄d += η̄ᵀ z (its bias cd was summed in step 2).
    auto z = ws.z;
    auto dz = ws.dz;
    vae_impl::dense_input_grad<ExecSpace, Scalar, memory_space>(exec, blas, UC(deta.data(), B, G),
                                                                UC(P + off.Wd, G, L), UM(dz.data(), B, L));
    vae_impl::dense_param_grad<ExecSpace, Scalar, memory_space, A>(
        exec, blas, UC(deta.data(), B, G), UC(z.data(), B, L), dP + off.Wd, nullptr, scr);
    // 4. Reparameterisation and KL: ∂/∂μ, ∂/∂log σ².
    auto enc = ws.enc;
    auto eps = ws.eps;
    auto denc = ws.denc;
    const bool sample = cfg_.sample;
    const Scalar beta = Scalar(cfg_.kl_weight);
    Kokkos::parallel_for(
        label("VAENormalizer::adjoint_reparameterize"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
        KOKKOS_LAMBDA(const int i) {
          const int r = grow(i);
          const Scalar s = (r >= 0 && has_dl) ? dl(i) : Scalar(0);
          for (int l = 0; l < L; ++l) {
            if (r < 0) {
              denc(i, l) = Scalar(0);
              denc(i, L + l) = Scalar(0);
              continue;
            }
            const Scalar mu = enc(i, l), lv = enc(i, L + l);
            Scalar dmu = dz(i, l) + s * beta * mu;
            if (has_dmu) dmu += dmu_in(i, l);
            Scalar dlv = s * beta * Scalar(0.5) * (math::exp(lv) - Scalar(1));
            if (sample) dlv += dz(i, l) * eps(i, l) * Scalar(0.5) * math::exp(Scalar(0.5) * lv);
            denc(i, l) = dmu;
            denc(i, L + l) = dlv;
          }
        });
    // 5. Encoder output layer.
    auto hl = H2 > 0 ? ws.h2 : ws.h1;
    auto dhl = H2 > 0 ? ws.dh2 : ws.dh1;
    vae_impl::dense_input_grad<ExecSpace, Scalar, memory_space>(exec, blas, UC(denc.data(), B, 2 * L),
                                                                UC(P + off.We, 2 * L, Hl), UM(dhl.data(), B, Hl));
    vae_impl::dense_param_grad<ExecSpace, Scalar, memory_space, A>(
        exec, blas, UC(denc.data(), B, 2 * L), UC(hl.data(), B, Hl), dP + off.We, dP + off.ce, scr);
    // 6. Optional second hidden layer.
    auto h1 = ws.h1;
    auto dh1 = ws.dh1;
    if (H2 > 0) {
      auto h2 = ws.h2;
      auto dh2 = ws.dh2;
      Kokkos::parallel_for(
          label("VAENormalizer::adjoint_hidden2"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
          KOKKOS_LAMBDA(const int i) {
            for (int k = 0; k < H2; ++k) dh2(i, k) *= activation_slope(h2(i, k), relu);
          });
      vae_impl::dense_input_grad<ExecSpace, Scalar, memory_space>(exec, blas, UC(dh2.data(), B, H2),
                                                                  UC(P + off.W2, H2, H1), UM(dh1.data(), B, H1));
      vae_impl::dense_param_grad<ExecSpace, Scalar, memory_space, A>(
          exec, blas, UC(dh2.data(), B, H2), UC(h1.data(), B, H1), dP + off.W2, dP + off.c2, scr);
    }
    // 7. First layer: through the activation, then per hidden unit k the sums over the stored
    //    entries of the mini-batch (each k owned by one work item: no write conflicts, fixed order).
    Kokkos::parallel_for(
        label("VAENormalizer::adjoint_hidden1"), Kokkos::RangePolicy<ExecSpace>(exec, 0, B),
        KOKKOS_LAMBDA(const int i) {
          for (int k = 0; k < H1; ++k) dh1(i, k) *= activation_slope(h1(i, k), relu);
        });
    // Work items own kWidth adjacent hidden units: log1p of each stored entry is computed once
    // per item, and the inner loop over the units is contiguous in W1 and ā1.
    constexpr int kWidth = 32;
    const int n_groups = (H1 + kWidth - 1) / kWidth;
    Kokkos::parallel_for(
        label("VAENormalizer::adjoint_encoder_sparse"), Kokkos::RangePolicy<ExecSpace>(exec, 0, n_groups),
        KOKKOS_LAMBDA(const int grp) {
          const int k0 = grp * kWidth, k1 = k0 + kWidth < H1 ? k0 + kWidth : H1;
          for (int k = k0; k < k1; ++k) {
            A sc = A(0);
            for (int i = 0; i < B; ++i) sc += A(dh1(i, k));
            dP[off.c1 + k] += sc;
          }
          for (int i = 0; i < B; ++i) {
            const int r = grow(i);
            if (r < 0) continue;
            if (has_batch)
              for (int k = k0; k < k1; ++k) dP[off.W1b + batch(r) * H1 + k] += A(dh1(i, k));
            for (std::int64_t e = row_map(r); e < row_map(r + 1); ++e) {
              const A v = A(vae_impl::log1p_fast(Scalar(values(e))));
              A* w = dP + off.W1 + static_cast<std::size_t>(entries(e)) * H1;
              for (int k = k0; k < k1; ++k) w[k] += v * A(dh1(i, k));
            }
          }
        });
    // 8. No NaN leaves silently.
    int bad = 0;
    const int n = n_params();
    Kokkos::parallel_reduce(
        label("VAENormalizer::adjoint_check"), Kokkos::RangePolicy<ExecSpace>(exec, 0, n),
        KOKKOS_LAMBDA(const int t, int& b) {
          if (!(compat::isfinite(static_cast<double>(vae_impl::val(dP[t]))))) ++b;
        },
        bad);
    if (bad > 0) throw Error(ExitCode::numerical, "DiffBio: non-finite gradient in VAENormalizer::adjoint");
  }

  /// True if the dense layers use KokkosBlas::gemm.
  bool blas_path() const {
#ifdef DIFFBIO_ENABLE_KOKKOSKERNELS
    return cfg_.use_blas && vae_impl::is_blas_scalar<Scalar>();
#else
    return false;
#endif
  }

  void ensure_workspace(Workspace& ws, int B) const {
    if (ws.B == B) return;
    const std::size_t b = B, G = cfg_.n_genes, H1 = cfg_.n_hidden, H2 = cfg_.n_hidden2,
                      L = cfg_.n_latent;
    auto a = [](const char* w) { return Kokkos::view_alloc(Kokkos::WithoutInitializing, label(w)); };
    ws.grow = Kokkos::View<int*, memory_space>(a("VAENormalizer::grow"), b);
    ws.lib = Kokkos::View<double*, memory_space>(a("VAENormalizer::lib"), b);
    ws.h1 = matrix_view(a("VAENormalizer::h1"), b, H1);
    ws.dh1 = matrix_view(a("VAENormalizer::dh1"), b, H1);
    ws.h2 = matrix_view(a("VAENormalizer::h2"), H2 > 0 ? b : 0, H2);
    ws.dh2 = matrix_view(a("VAENormalizer::dh2"), H2 > 0 ? b : 0, H2);
    ws.enc = matrix_view(a("VAENormalizer::enc"), b, 2 * L);
    ws.denc = matrix_view(a("VAENormalizer::denc"), b, 2 * L);
    ws.eps = matrix_view(a("VAENormalizer::eps"), b, L);
    ws.z = matrix_view(a("VAENormalizer::z"), b, L);
    ws.dz = matrix_view(a("VAENormalizer::dz"), b, L);
    ws.rho = matrix_view(a("VAENormalizer::rho"), b, G);
    ws.deta = matrix_view(a("VAENormalizer::deta"), b, G);
    ws.tth = matrix_view(a("VAENormalizer::tth"), b, G);
    ws.theta = vector_view(a("VAENormalizer::theta"), G);
    const std::size_t Hl = last_hidden();
    std::size_t s = G * L;
    if (2 * L * Hl > s) s = 2 * L * Hl;
    if (H2 * H1 > s) s = H2 * H1;
    ws.gscratch = Kokkos::View<Scalar*, memory_space>(
        a("VAENormalizer::gscratch"), (blas_path() && !std::is_same<Scalar, grad_type>::value) ? s : 0);
    ws.B = B;
  }

 private:
  KOKKOS_INLINE_FUNCTION static Scalar activate(const Scalar& a, bool relu) {
    if (relu) return vae_impl::val(a) > 0 ? a : Scalar(0);
    return Scalar(2) * math::sigmoid(Scalar(2) * a) - Scalar(1);  // tanh, also on dual numbers
  }
  /// act'(a) from h = act(a): relu → [h > 0], tanh → 1 − h².
  KOKKOS_INLINE_FUNCTION static Scalar activation_slope(const Scalar& h, bool relu) {
    if (relu) return vae_impl::val(h) > 0 ? Scalar(1) : Scalar(0);
    return Scalar(1) - h * h;
  }
  VAEConfig cfg_;
  VAEOffsets off_{};
};

}  // namespace diffbio

#include <impl/DiffBio_VAETraining.hpp>

#endif
