// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Pileup.hpp
/// \brief DifferentiablePileup: per-reference-position weighted counts of aligned reads, with a
/// learnable quality weighting and an optional soft position assignment of each read.
///
/// Input: one window of a pileup as CSR over reference positions ("rows"), each entry one read at
/// one position (io::PileupBatch, entry layout in DiffBio_BamPileupEntry.hpp). Each entry e (base
/// quality BQ, mapping quality MQ) gets the weight
///
///   w_e = σ(a·(BQ − θ_b)) · σ(c·(MQ − θ_m)),   a = e^{log a}, c = e^{log c} > 0,
///
/// and, with soft position assignment (max_offset k > 0), is spread over the positions u+δ,
/// δ ∈ {−k..k}, with probabilities
///
///   p_δ(MQ) = softmax_δ( ℓ_δ − γ·|δ|·MQ/60 ),
///
/// learnable per-offset logits ℓ_δ and a mapping-quality sharpening γ (a confidently mapped read
/// stays where the aligner put it; a read with MQ 0 spreads as softmax(ℓ)). The outputs at
/// position s are weighted segment sums over the entries that land there:
///
///   counts[s, 0..7]  = Σ w·p · [channel = A, C, G, T, other base, deletion, ref skip] and
///                      Σ w·p · [insertion follows]                              (column 7)
///   strand[s, 0..1]  = Σ w·p over occupancy entries (channels 0–6) on the forward / reverse strand
///   quality[s, 0..1] = Σ w·p·BQ and Σ w·p·MQ over occupancy entries (divide by the depth
///                      Σ counts[s, 0..6] for mean qualities)
///
/// `hard = true` evaluates the classic pileup in the same kernels: w = [BQ ≥ θ_b]·[MQ ≥ θ_m], no
/// position spreading; with θ_b = samtools' -Q the counts are exactly those of `samtools mpileup
/// -B` on the same read selection (DiffBio_Bam.hpp; samtools' -q belongs in the reader when mate
/// overlap removal is on, see ADJOINT.md "Hard mode").
///
/// Kernels: one work item per output position sums its entries in CSR order in accum_t (no
/// atomics: bitwise identical on every backend and thread count). The adjoint is the matching
/// gather, one work item per CSR row, whose parameter sums go through reduce_rows_into
/// (deterministic mode available). Weights depend only on the integers (BQ, MQ), so the forward
/// first tabulates σ_b[0..255], σ_m[0..255] and p[0..255][δ] (kept in the Workspace for the
/// adjoint). Maths in ADJOINT.md.
#ifndef DIFFBIO_PILEUP_HPP
#define DIFFBIO_PILEUP_HPP

#include <DiffBio_Bam.hpp>
#include <DiffBio_BamPileupEntry.hpp>
#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_SmoothMath.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace diffbio {

struct PileupConfig {
  double theta_b = 12.5;    ///< base-quality threshold θ_b (soft: midpoint of samtools' -Q 13)
  double slope_b = 1.0;     ///< a > 0 (per Phred unit); stored as log a
  double theta_m = -0.5;    ///< mapping-quality threshold θ_m (default: every MAPQ counts)
  double slope_m = 1.0;     ///< c > 0; stored as log c
  int max_offset = 0;       ///< k ∈ [0, 4]: soft position assignment over −k..k (0: off)
  double logit0 = 4.0;      ///< initial ℓ_0 (the other offsets start at 0)
  double mq_sharpen = 1.0;  ///< initial γ
  bool hard = false;        ///< unit weights [BQ ≥ θ_b]·[MQ ≥ θ_m], no position spreading
};

/// One pileup window on the device (the same for every Scalar type): CSR over rows.
template <class MemorySpace>
struct PileupInputs {
  Kokkos::View<const int*, MemorySpace> offsets;            ///< [rows + 1] CSR over rows
  Kokkos::View<const std::uint32_t*, MemorySpace> entries;  ///< [N] packed entries
  int halo = 0;  ///< rows = positions + 2·halo; row i is position i − halo (needs halo ≥ k)
  int positions() const { return static_cast<int>(offsets.extent(0)) - 1 - 2 * halo; }
};

template <class Scalar, class ExecSpace = Kokkos::DefaultExecutionSpace>
class DifferentiablePileup {
 public:
  using scalar_type = Scalar;
  using execution_space = ExecSpace;
  using memory_space = typename ExecSpace::memory_space;
  using grad_type = accum_t<Scalar>;
  using A_t = accum_t<Scalar>;

  static constexpr int max_offset_limit = 4;
  static constexpr int n_count_channels = 8;  ///< A C G T N DEL SKIP INS
  static constexpr int n_table = 256;         ///< BQ and MQ are bytes
  /// Parameter block: [θ_b, log a, θ_m, log c, γ, ℓ_{−k}..ℓ_{k}].
  enum Param : int { theta_b = 0, log_a = 1, theta_m = 2, log_c = 3, gamma = 4, logits = 5 };

  using Inputs = PileupInputs<memory_space>;
  struct Outputs {
    Kokkos::View<Scalar**, memory_space> counts;   ///< [P×8]
    Kokkos::View<Scalar**, memory_space> strand;   ///< [P×2]
    Kokkos::View<Scalar**, memory_space> quality;  ///< [P×2]
  };
  /// Adjoint seeds; any View may be empty (its gradient is then taken as 0).
  struct OutputGrads {
    Kokkos::View<const Scalar**, memory_space> d_counts;
    Kokkos::View<const Scalar**, memory_space> d_strand;
    Kokkos::View<const Scalar**, memory_space> d_quality;
  };
  /// The inputs are integer data (qualities, channels): nothing to differentiate.
  struct InputGrads {};
  /// Weight tables of the last forward (functions of the parameters only), reused by the adjoint.
  struct Workspace {
    Kokkos::View<A_t*, memory_space> wb;  ///< [256] σ(a(BQ − θ_b)) (hard: step)
    Kokkos::View<A_t*, memory_space> wm;  ///< [256] σ(c(MQ − θ_m)) (hard: step)
    Kokkos::View<A_t**, memory_space> p;  ///< [256 × (2k+1)] offset probabilities by MQ
  };

  explicit DifferentiablePileup(PileupConfig cfg = {}) : cfg_(cfg) {
    DIFFBIO_EXPECTS(cfg_.max_offset >= 0 && cfg_.max_offset <= max_offset_limit,
                    "DifferentiablePileup: max_offset must be in [0, 4]");
    DIFFBIO_EXPECTS(cfg_.slope_b > 0 && cfg_.slope_m > 0,
                    "DifferentiablePileup: slopes must be positive");
  }

  const PileupConfig& config() const { return cfg_; }
  bool hard() const { return cfg_.hard; }
  void set_hard(bool h) { cfg_.hard = h; }
  int max_offset() const { return cfg_.max_offset; }
  int n_params() const { return logits + 2 * cfg_.max_offset + 1; }

  ParamBlock declare(ParameterLayout& layout, const std::string& prefix = "pileup") const {
    return layout.add(prefix + "/quality_weights_offsets", static_cast<std::size_t>(n_params()));
  }
  std::vector<double> initial_params() const {
    std::vector<double> v{cfg_.theta_b, std::log(cfg_.slope_b), cfg_.theta_m,
                          std::log(cfg_.slope_m), cfg_.mq_sharpen};
    for (int d = -cfg_.max_offset; d <= cfg_.max_offset; ++d)
      v.push_back(d == 0 ? cfg_.logit0 : 0.0);
    return v;
  }

  static Outputs allocate_outputs(const Inputs& in) {
    const int P = in.positions();
    return {Kokkos::View<Scalar**, memory_space>(label("Pileup::counts"), P, n_count_channels),
            Kokkos::View<Scalar**, memory_space>(label("Pileup::strand"), P, 2),
            Kokkos::View<Scalar**, memory_space>(label("Pileup::quality"), P, 2)};
  }
  Workspace allocate_workspace() const {
    return {Kokkos::View<A_t*, memory_space>(label("Pileup::table_bq"), n_table),
            Kokkos::View<A_t*, memory_space>(label("Pileup::table_mq"), n_table),
            Kokkos::View<A_t**, memory_space>(label("Pileup::table_offsets"), n_table,
                                              2 * cfg_.max_offset + 1)};
  }

  /// Forward. Non-blocking.
  template <class ParamView>
  void forward(const ExecSpace& exec, const ParamView& params, const Inputs& in, const Outputs& out,
               Workspace& ws) const {
    static_assert(ParamView::rank == 1, "params is this operator's rank-1 block");
    check(in, out, ws, static_cast<int>(params.extent(0)));
    fill_tables(exec, params, ws);
    const int k = cfg_.hard ? 0 : cfg_.max_offset;
    ForwardKernel f{in.offsets, in.entries,  ws.wb,
                    ws.wm,      ws.p,        out.counts,
                    out.strand, out.quality, in.positions() + 2 * in.halo,
                    in.halo,    k,           cfg_.max_offset};
    const auto policy = Kokkos::RangePolicy<ExecSpace>(exec, 0, in.positions());
    // Without position spreading the offset loop and table disappear at compile time.
    if (k == 0) {
      Kokkos::parallel_for(label("Pileup::forward"), policy, ForwardRun<false>{f});
    } else {
      Kokkos::parallel_for(label("Pileup::forward"), policy, ForwardRun<true>{f});
    }
  }

  /// Adjoint: d_params += ∂L/∂[θ_b, log a, θ_m, log c, γ, ℓ] (ADJOINT.md) given the output seeds,
  /// using the Workspace of the forward at the same parameters. Hard mode: all zero (nothing
  /// added). Blocking (reduce_rows_into checks the sums on the host).
  template <class ParamView, class GradView>
  void adjoint(const ExecSpace& exec, const ParamView& params, const Inputs& in,
               const Workspace& ws, const OutputGrads& d_out, const InputGrads& /*d_in*/,
               const GradView& d_params, const ReductionMode& mode = {}) const {
    static_assert(GradView::rank == 1, "d_params is this operator's rank-1 gradient block");
    DIFFBIO_EXPECTS(static_cast<int>(d_params.extent(0)) == n_params(),
                    "DifferentiablePileup: gradient block has the wrong size");
    if (cfg_.hard) return;
    const int P = in.positions();
    const int R = P + 2 * in.halo;
    const int k = cfg_.max_offset;
    const int np = n_params();
    DIFFBIO_EXPECTS(in.halo >= k && P >= 0,
                    "DifferentiablePileup: the batch halo must be >= max_offset");
    const bool has_dc = d_out.d_counts.extent(0) > 0;
    const bool has_ds = d_out.d_strand.extent(0) > 0;
    const bool has_dq = d_out.d_quality.extent(0) > 0;
    DIFFBIO_EXPECTS((!has_dc || static_cast<int>(d_out.d_counts.extent(0)) == P) &&
                        (!has_ds || static_cast<int>(d_out.d_strand.extent(0)) == P) &&
                        (!has_dq || static_cast<int>(d_out.d_quality.extent(0)) == P),
                    "DifferentiablePileup: output seeds have the wrong number of positions");
    AdjointKernel<ParamView> f{
        params,         in.offsets,      in.entries, ws.wb,   ws.wm, ws.p, d_out.d_counts,
        d_out.d_strand, d_out.d_quality, P,          in.halo, k,     np,   has_dc,
        has_ds,         has_dq};
    if (k == 0) {
      reduce_rows_into(exec, "Pileup::adjoint", R, d_params, mode, AdjointRun<ParamView, false>{f});
    } else {
      reduce_rows_into(exec, "Pileup::adjoint", R, d_params, mode, AdjointRun<ParamView, true>{f});
    }
  }

 private:
  void check(const Inputs& in, const Outputs& out, const Workspace& ws, int n_par) const {
    DIFFBIO_EXPECTS(in.offsets.extent(0) >= 1 && in.halo >= 0 && in.positions() >= 0,
                    "DifferentiablePileup: offsets must have rows + 1 entries, rows = P + 2 halo");
    DIFFBIO_EXPECTS(
        cfg_.hard || in.halo >= cfg_.max_offset,
        "DifferentiablePileup: the batch halo must be >= max_offset (PileupOptions::halo)");
    DIFFBIO_EXPECTS(n_par == n_params(),
                    "DifferentiablePileup: parameter block has the wrong size");
    const std::size_t P = static_cast<std::size_t>(in.positions());
    DIFFBIO_EXPECTS(out.counts.extent(0) == P && out.counts.extent(1) == n_count_channels &&
                        out.strand.extent(0) == P && out.strand.extent(1) == 2 &&
                        out.quality.extent(0) == P && out.quality.extent(1) == 2,
                    "DifferentiablePileup: output shapes do not match the inputs");
    DIFFBIO_EXPECTS(ws.wb.extent(0) == n_table && ws.wm.extent(0) == n_table &&
                        ws.p.extent(0) == n_table &&
                        static_cast<int>(ws.p.extent(1)) == 2 * cfg_.max_offset + 1,
                    "DifferentiablePileup: workspace from allocate_workspace() expected");
  }

  // σ_b[q], σ_m[q] and p[q][δ] for every byte value q (one work item per q).
  template <class ParamView>
  void fill_tables(const ExecSpace& exec, const ParamView& params, const Workspace& ws) const {
    const bool hard = cfg_.hard;
    const int k = cfg_.max_offset;
    auto wb = ws.wb;
    auto wm = ws.wm;
    auto pt = ws.p;
    Kokkos::parallel_for(
        label("Pileup::tables"), Kokkos::RangePolicy<ExecSpace>(exec, 0, n_table),
        KOKKOS_LAMBDA(const int q) {
          using math::value_of;
          const A_t x = A_t(double(q));
          const A_t tb = A_t(params(theta_b)), tm = A_t(params(theta_m));
          if (hard) {
            wb(q) = value_of(x) >= value_of(tb) ? A_t(1) : A_t(0);
            wm(q) = value_of(x) >= value_of(tm) ? A_t(1) : A_t(0);
          } else {
            wb(q) = math::sigmoid(math::exp(A_t(params(log_a))) * (x - tb));
            wm(q) = math::sigmoid(math::exp(A_t(params(log_c))) * (x - tm));
          }
          // p_δ = softmax(ℓ_δ − γ|δ|q/60), normalised relative to the largest logit.
          const A_t gam = A_t(params(gamma));
          A_t mx = A_t(0);
          for (int d = -k; d <= k; ++d) {
            const A_t z =
                A_t(params(logits + d + k)) - gam * A_t(double(d < 0 ? -d : d)) * x / A_t(60);
            if (d == -k || value_of(z) > value_of(mx)) mx = z;
          }
          A_t sum = A_t(0);
          for (int d = -k; d <= k; ++d) {
            const A_t z =
                A_t(params(logits + d + k)) - gam * A_t(double(d < 0 ? -d : d)) * x / A_t(60);
            const A_t e = math::exp(z - mx);
            pt(q, d + k) = e;
            sum += e;
          }
          for (int d = 0; d < 2 * k + 1; ++d) pt(q, d) = pt(q, d) / sum;
        });
  }

  // One work item per output position s: gathers the rows whose entries land on s (δ = −k..k)
  // and sums them in CSR order in accum_t.
  struct ForwardKernel {
    Kokkos::View<const int*, memory_space> off;
    Kokkos::View<const std::uint32_t*, memory_space> ent;
    Kokkos::View<A_t*, memory_space> wb, wm;
    Kokkos::View<A_t**, memory_space> pt;
    Kokkos::View<Scalar**, memory_space> counts, strand, quality;
    int rows, halo, k, kc;  // kc: column of δ = 0 in the offset table

    template <bool Spread>
    KOKKOS_INLINE_FUNCTION void operator()(const int s) const {
      namespace pe = io::pileup_entry;
      A_t acc[12];
      for (int c = 0; c < 12; ++c) acc[c] = A_t(0);
      const int kk = Spread ? k : 0;
      for (int d = -kk; d <= kk; ++d) {
        const int row = s + halo - d;  // entries at position s − δ, shifted by δ, land on s
        if (row < 0 || row >= rows) continue;
        for (int e = off(row); e < off(row + 1); ++e) {
          const std::uint32_t E = ent(e);
          const int bq = pe::base_quality(E);
          const int mq = pe::mapping_quality(E);
          const A_t w = Spread ? wb(bq) * wm(mq) * pt(mq, kc + d) : wb(bq) * wm(mq);
          const int ch = pe::channel(E);
          const bool rev = pe::reverse(E);
          // Branch-free one-hot accumulation keeps the sums in registers (an indexed
          // acc[ch] += w would go through memory for every entry).
          for (int c = 0; c < pe::n_occupancy; ++c) acc[c] += ch == c ? w : A_t(0);
          acc[7] += pe::insertion_follows(E) ? w : A_t(0);
          acc[8] += rev ? A_t(0) : w;
          acc[9] += rev ? w : A_t(0);
          acc[10] += w * A_t(double(bq));
          acc[11] += w * A_t(double(mq));
        }
      }
      for (int c = 0; c < 8; ++c) counts(s, c) = Scalar(acc[c]);
      strand(s, 0) = Scalar(acc[8]);
      strand(s, 1) = Scalar(acc[9]);
      quality(s, 0) = Scalar(acc[10]);
      quality(s, 1) = Scalar(acc[11]);
    }
  };
  // One work item per CSR row: the gather of ADJOINT.md eqs. 3–11 over the row's entries, whose
  // parameter partial sums reduce_rows_into adds up.
  template <class ParamView>
  struct AdjointKernel {
    ParamView params;
    Kokkos::View<const int*, memory_space> off;
    Kokkos::View<const std::uint32_t*, memory_space> ent;
    Kokkos::View<A_t*, memory_space> wb, wm;
    Kokkos::View<A_t**, memory_space> pt;
    Kokkos::View<const Scalar**, memory_space> dc, dsv, dq;
    int P, halo, k, np;
    bool has_dc, has_ds, has_dq;

    template <bool Spread>
    KOKKOS_INLINE_FUNCTION void run(const int row, const Impl::GradientSink& sink) const {
      namespace pe = io::pileup_entry;
      using G = grad_type;
      constexpr int KM = Spread ? 2 * max_offset_limit + 1 : 1;
      const int kk = Spread ? k : 0;
      const G th_b = G(params(theta_b)), a = math::exp(G(params(log_a)));
      const G th_m = G(params(theta_m)), c = math::exp(G(params(log_c)));
      // Seeds of the outputs each offset of this row lands on: g[δ][0..11] =
      // (counts 0..7, strand 0..1, quality 0..1) at position row − halo + δ.
      G g[KM][12];
      bool any = false;
      for (int d = -kk; d <= kk; ++d) {
        const int s = row - halo + d;
        const bool ok = s >= 0 && s < P;
        G* gd = g[d + kk];
        for (int j = 0; j < 8; ++j) gd[j] = (ok && has_dc) ? G(dc(s, j)) : G(0);
        for (int j = 0; j < 2; ++j) gd[8 + j] = (ok && has_ds) ? G(dsv(s, j)) : G(0);
        for (int j = 0; j < 2; ++j) gd[10 + j] = (ok && has_dq) ? G(dq(s, j)) : G(0);
        any = any || ok;
      }
      G acc[logits + 2 * max_offset_limit + 1];
      for (int j = 0; j < np; ++j) acc[j] = G(0);
      if (any) {
        for (int e = off(row); e < off(row + 1); ++e) {
          const std::uint32_t E = ent(e);
          const int bq = pe::base_quality(E);
          const int mq = pe::mapping_quality(E);
          const int ch = pe::channel(E);
          const int st = pe::reverse(E) ? 1 : 0;
          const bool ins = pe::insertion_follows(E);
          const G sb = G(wb(bq)), sm = G(wm(mq)), w = sb * sm;
          // G_δ = ∂L/∂(w·p_δ) for this entry (eq. 3), w̄ = Σ_δ p_δ G_δ (eq. 4)
          G Gd[KM];
          G wbar = G(0);
          for (int d = -kk; d <= kk; ++d) {
            const G* gd = g[d + kk];
            Gd[d + kk] = gd[ch] + gd[8 + st] + G(double(bq)) * gd[10] + G(double(mq)) * gd[11] +
                         (ins ? gd[7] : G(0));
            wbar += Spread ? G(pt(mq, d + kk)) * Gd[d + kk] : Gd[d + kk];
          }
          // Quality weights (eqs. 5–8).
          const G db = wbar * sm * sb * (G(1) - sb);
          const G dm = wbar * sb * sm * (G(1) - sm);
          acc[theta_b] -= db * a;
          acc[log_a] += db * a * (G(double(bq)) - th_b);
          acc[theta_m] -= dm * c;
          acc[log_c] += dm * c * (G(double(mq)) - th_m);
          // Offsets: softmax adjoint on x_δ = ℓ_δ − γ|δ|MQ/60 (eqs. 9–11).
          // p̄_δ = w·G_δ and Σ_j p_j p̄_j = w·w̄, so x̄_δ = w·p_δ·(G_δ − w̄).
          if (Spread) {
            G abs_sum = G(0);
            for (int d = -kk; d <= kk; ++d) {
              const G xbar = w * G(pt(mq, d + kk)) * (Gd[d + kk] - wbar);
              acc[logits + d + kk] += xbar;
              abs_sum += G(double(d < 0 ? -d : d)) * xbar;
            }
            acc[gamma] -= abs_sum * G(double(mq)) / G(60);
          }
        }
      }
      for (int j = 0; j < np; ++j) sink.add(j, static_cast<double>(acc[j]));
    }
  };
  template <class ParamView, bool Spread>
  struct AdjointRun {
    AdjointKernel<ParamView> f;
    KOKKOS_INLINE_FUNCTION void operator()(const int row, const Impl::GradientSink& sink) const {
      f.template run<Spread>(row, sink);
    }
  };

  template <bool Spread>
  struct ForwardRun {
    ForwardKernel f;
    KOKKOS_INLINE_FUNCTION void operator()(const int s) const { f.template operator()<Spread>(s); }
  };

  PileupConfig cfg_;
};

/// Makes device Inputs of a host pileup batch. On host memory spaces the Inputs view the batch's
/// own vectors (no copy; valid until the batch is refilled); otherwise the batch is copied into
/// device Views that are reallocated only when a batch outgrows them (valid until the next upload).
template <class ExecSpace = Kokkos::DefaultExecutionSpace>
class PileupUploader {
 public:
  using memory_space = typename ExecSpace::memory_space;
  using Inputs = PileupInputs<memory_space>;

  Inputs upload(const ExecSpace& exec, const io::PileupBatch& batch) {
    const std::size_t n_off = batch.offsets.size(), n_ent = batch.entries.size();
    using Unmanaged = Kokkos::MemoryTraits<Kokkos::Unmanaged>;
    if constexpr (std::is_same<memory_space, Kokkos::HostSpace>::value) {
      // Host backends read the batch in place (no copy): valid while the batch is unchanged.
      return Inputs{
          Kokkos::View<const int*, Kokkos::HostSpace, Unmanaged>(batch.offsets.data(), n_off),
          Kokkos::View<const std::uint32_t*, Kokkos::HostSpace, Unmanaged>(batch.entries.data(),
                                                                           n_ent),
          batch.halo};
    }
    if (offsets_.extent(0) < n_off)
      offsets_ = Kokkos::View<int*, memory_space>(label("Pileup::offsets"), grow(n_off));
    if (entries_.extent(0) < n_ent)
      entries_ = Kokkos::View<std::uint32_t*, memory_space>(label("Pileup::entries"), grow(n_ent));
    auto o = Kokkos::subview(offsets_, std::make_pair(std::size_t(0), n_off));
    auto e = Kokkos::subview(entries_, std::make_pair(std::size_t(0), n_ent));
    Kokkos::deep_copy(
        exec, o,
        Kokkos::View<const int*, Kokkos::HostSpace, Unmanaged>(batch.offsets.data(), n_off));
    if (n_ent > 0)
      Kokkos::deep_copy(exec, e,
                        Kokkos::View<const std::uint32_t*, Kokkos::HostSpace, Unmanaged>(
                            batch.entries.data(), n_ent));
    exec.fence();  // the host vectors may change after return
    return Inputs{o, e, batch.halo};
  }

 private:
  static std::size_t grow(std::size_t n) { return n + n / 4 + 16; }
  Kokkos::View<int*, memory_space> offsets_;
  Kokkos::View<std::uint32_t*, memory_space> entries_;
};

}  // namespace diffbio

#endif
