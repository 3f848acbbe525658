// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SparsePCAKernels.hpp
/// \brief Sparse × dense products with implicit centring for DifferentiablePCA, and the
/// transposed (column) structure of a CSR matrix that makes Xᵀ·B deterministic without atomics.
///
///   centred_spmm:   out(i, k) = Σ_{e ∈ row i} x_e D(j_e, k) − shift_k     (X − 1μᵀ)·D, shift = μᵀD
///   centred_spmm_t: out(j, k) = Σ_{e ∈ col j} x_e B(i_e, k) − μ_j bsum_k   (X − 1μᵀ)ᵀ·B, bsum = 1ᵀB
///
/// Each output row is formed by one work item per block of 16 columns, summing in a fixed order in
/// accum_t, so results are bitwise identical for any thread count.
#ifndef DIFFBIO_SPARSE_PCA_KERNELS_HPP
#define DIFFBIO_SPARSE_PCA_KERNELS_HPP

#include <DiffBio_Compat.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_Types.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace diffbio {
namespace pca_impl {

constexpr int column_block = 16;

/// Column (CSC) view of a CSR pattern: for column j the stored entries col_map(j)..col_map(j+1)
/// are (row rows(e), CSR position perm(e)), in increasing row order. Only the pattern is stored:
/// values are read through perm, so they may change between calls (e.g. learnt normalisation).
template <class MemorySpace>
struct CsrTranspose {
  Kokkos::View<std::int64_t*, MemorySpace> col_map;  ///< [G + 1]
  Kokkos::View<std::int32_t*, MemorySpace> rows;     ///< [nnz]
  Kokkos::View<std::int64_t*, MemorySpace> perm;     ///< [nnz] position in the CSR arrays
  // The pattern it was built from. Holding the Views keeps their memory alive, so a new batch can
  // never reuse the same addresses for a different pattern (a pointer key alone could be fooled
  // by the allocator); only an in-place change of a pattern needs Workspace::invalidate().
  Kokkos::View<const std::int64_t*, MemorySpace> key_row_map;
  Kokkos::View<const std::int32_t*, MemorySpace> key_entries;
  int n_cols = 0;

  template <class RowMap, class Entries>
  bool matches(const RowMap& rm, const Entries& ent, int G) const {
    return key_row_map.data() == rm.data() && key_entries.data() == ent.data() &&
           key_entries.extent(0) == ent.extent(0) && key_row_map.extent(0) == rm.extent(0) &&
           n_cols == G && col_map.extent(0) == std::size_t(G) + 1;
  }
};

/// Builds the column structure on the host by a counting sort (O(nnz + G), stable in the row
/// order) and copies it to \p MemorySpace. Checks column indices. Blocking.
template <class MemorySpace, class RowMap, class Entries>
void build_transpose(const RowMap& row_map, const Entries& entries, int G,
                     CsrTranspose<MemorySpace>& t) {
  auto rm = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), row_map);
  auto ent = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), entries);
  const std::int64_t N = rm.extent(0) > 0 ? static_cast<std::int64_t>(rm.extent(0)) - 1 : 0;
  const std::int64_t nnz = static_cast<std::int64_t>(ent.extent(0));
  DIFFBIO_EXPECTS(N == 0 || rm(N) == nnz, "SparsePCA: row_map does not end at nnz");
  using HostI64 = Kokkos::View<std::int64_t*, Kokkos::HostSpace>;
  using HostI32 = Kokkos::View<std::int32_t*, Kokkos::HostSpace>;
  HostI64 cm(label("SparsePCA::host_col_map"), static_cast<std::size_t>(G) + 1);
  HostI32 rows(Kokkos::view_alloc(Kokkos::WithoutInitializing, label("SparsePCA::host_rows")),
               static_cast<std::size_t>(nnz));
  HostI64 perm(Kokkos::view_alloc(Kokkos::WithoutInitializing, label("SparsePCA::host_perm")),
               static_cast<std::size_t>(nnz));
  for (std::int64_t e = 0; e < nnz; ++e) {
    const std::int32_t j = ent(e);
    DIFFBIO_EXPECTS(j >= 0 && j < G, "SparsePCA: column index outside [0, n_genes)");
    ++cm(j + 1);
  }
  for (int j = 0; j < G; ++j) cm(j + 1) += cm(j);
  std::vector<std::int64_t> next(static_cast<std::size_t>(G));
  for (int j = 0; j < G; ++j) next[static_cast<std::size_t>(j)] = cm(j);
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t e = rm(i); e < rm(i + 1); ++e) {
      const auto dst = next[static_cast<std::size_t>(ent(e))]++;
      rows(dst) = static_cast<std::int32_t>(i);
      perm(dst) = e;
    }
  t.col_map = Kokkos::create_mirror_view_and_copy(MemorySpace(), cm);
  t.rows = Kokkos::create_mirror_view_and_copy(MemorySpace(), rows);
  t.perm = Kokkos::create_mirror_view_and_copy(MemorySpace(), perm);
  t.key_row_map = row_map;
  t.key_entries = entries;
  t.n_cols = G;
}

/// out(i, k) = Σ_e x_e D(j_e, k) − shift(k) for rows with mask != 0 (0 otherwise), k < L.
/// D is G × L (any rank-2 View), shift [L] (empty: 0). Accumulates in \p Acc. Non-blocking.
template <class Acc, class ExecSpace, class RowMap, class Entries, class Values, class Mask,
          class DView, class Shift, class Out>
void centred_spmm(const ExecSpace& exec, const std::string& what, const RowMap& rm,
                  const Entries& ent, const Values& x, const Mask& mask, const DView& D,
                  const Shift& shift, const Out& out) {
  const int N = static_cast<int>(out.extent(0)), L = static_cast<int>(out.extent(1));
  const int nb = (L + column_block - 1) / column_block;
  const bool has_mask = mask.extent(0) > 0, has_shift = shift.extent(0) > 0;
  using OutS = typename Out::non_const_value_type;
  Kokkos::parallel_for(
      label(what), Kokkos::RangePolicy<ExecSpace>(exec, 0, N * nb), KOKKOS_LAMBDA(const int w) {
        const int i = w / nb, k0 = (w % nb) * column_block;
        const int nk = L - k0 < column_block ? L - k0 : column_block;
        if (has_mask && mask(i) == 0) {
          for (int u = 0; u < nk; ++u) out(i, k0 + u) = OutS(0);
          return;
        }
        Acc acc[column_block];
        for (int u = 0; u < column_block; ++u) acc[u] = Acc(0);
        for (std::int64_t e = rm(i); e < rm(i + 1); ++e) {
          const Acc v = Acc(x(e));
          const int j = ent(e);
          for (int u = 0; u < nk; ++u) acc[u] += v * Acc(D(j, k0 + u));
        }
        for (int u = 0; u < nk; ++u)
          out(i, k0 + u) = OutS(has_shift ? acc[u] - Acc(shift(k0 + u)) : acc[u]);
      });
}

/// out(j, k) = Σ_{e ∈ col j} x_e B(i_e, k) − mu(j) bsum(k) (rows with mask 0 skipped), k < L.
/// mu [G] and bsum [L] may be empty (no centring). In deterministic mode (quantum > 0) every
/// product x_e B(i_e, k) is rounded to the grid before it is added, and Σ|rounded| of work item w
/// (column j = w / n_blocks, block w % n_blocks of 16 output columns) is written to abs_out(w) (if
/// not empty; size G · ceil(L/16)) for the exactness check. Non-blocking.
template <class Acc, class ExecSpace, class MemorySpace, class Values, class Mask, class BView,
          class Mu, class BSum, class Out, class AbsOut>
void centred_spmm_t(const ExecSpace& exec, const std::string& what,
                    const CsrTranspose<MemorySpace>& t, const Values& x, const Mask& mask,
                    const BView& B, const Mu& mu, const BSum& bsum, const Out& out, double quantum,
                    const AbsOut& abs_out) {
  const int G = static_cast<int>(out.extent(0)), L = static_cast<int>(out.extent(1));
  const int nb = (L + column_block - 1) / column_block;
  const bool has_mask = mask.extent(0) > 0, centre = mu.extent(0) > 0 && bsum.extent(0) > 0;
  const bool has_abs = abs_out.extent(0) > 0;
  const double inv_q = quantum > 0 ? 1.0 / quantum : 0.0;
  auto cm = t.col_map;
  auto rows = t.rows;
  auto perm = t.perm;
  using OutS = typename Out::non_const_value_type;
  Kokkos::parallel_for(
      label(what), Kokkos::RangePolicy<ExecSpace>(exec, 0, G * nb), KOKKOS_LAMBDA(const int w) {
        const int j = w / nb, k0 = (w % nb) * column_block;
        const int nk = L - k0 < column_block ? L - k0 : column_block;
        Acc acc[column_block];
        for (int u = 0; u < column_block; ++u) acc[u] = Acc(0);
        double abs_sum = 0;
        for (std::int64_t e = cm(j); e < cm(j + 1); ++e) {
          const int i = rows(e);
          if (has_mask && mask(i) == 0) continue;
          const Acc v = Acc(x(perm(e)));
          if (quantum > 0) {
            for (int u = 0; u < nk; ++u) {
              const double c =
                  compat::nearbyint(static_cast<double>(v * Acc(B(i, k0 + u))) * inv_q) * quantum;
              acc[u] += Acc(c);
              abs_sum += compat::fabs(c);
            }
          } else {
            for (int u = 0; u < nk; ++u) acc[u] += v * Acc(B(i, k0 + u));
          }
        }
        for (int u = 0; u < nk; ++u)
          out(j, k0 + u) = OutS(centre ? acc[u] - Acc(mu(j)) * Acc(bsum(k0 + u)) : acc[u]);
        if (has_abs) abs_out(w) = abs_sum;
      });
}

/// Number of row chunks of the row-chunked transposed product for N rows, G columns and L
/// outputs: a function of the sizes only (never of the thread count), at most 64, at least one
/// chunk per 1024 rows, and the chunk partials (C · G · L doubles) within 256 MiB.
inline int scatter_chunks(std::int64_t N, int G, int L) {
  const double per_chunk = static_cast<double>(G) * static_cast<double>(L) * 8.0;
  const double budget = 256.0 * 1024.0 * 1024.0;
  const std::int64_t by_budget = static_cast<std::int64_t>(budget / (per_chunk > 0 ? per_chunk : 1.0));
  const std::int64_t by_rows = (N + 1023) / 1024;
  std::int64_t c = 64;
  if (by_budget < c) c = by_budget;
  if (by_rows < c) c = by_rows;
  return c < 1 ? 1 : static_cast<int>(c);
}

/// The same product as centred_spmm_t without a column index, for host memory: the rows are cut
/// into scatter_chunks() fixed chunks; one work item per chunk scatters its rows (read
/// sequentially, as B's rows) into its own G × L partial (L2-resident for G·L ~ 10^5), and the
/// partials are then added in chunk order, so the result is the same for any thread count. On a
/// host this is ~10× faster than the column-index gather, whose reads of B's rows are random once
/// B outgrows the caches. abs_out [G] (deterministic mode, if not empty): Σ|rounded products| of
/// column j over all k, a bound for each W̄_jk. Non-blocking.
template <class Acc, class ExecSpace, class RowMap, class Entries, class Values, class Mask,
          class BView, class Mu, class BSum, class Out, class AbsOut>
void scatter_spmm_t(const ExecSpace& exec, const std::string& what, const RowMap& rm,
                    const Entries& ent, const Values& x, const Mask& mask, const BView& B,
                    const Mu& mu, const BSum& bsum, const Out& out, double quantum,
                    const AbsOut& abs_out) {
  using mem = typename ExecSpace::memory_space;
  const int G = static_cast<int>(out.extent(0)), L = static_cast<int>(out.extent(1));
  const int N = static_cast<int>(B.extent(0));
  const int C = scatter_chunks(N, G, L);
  const int R = (N + C - 1) / C;
  const bool has_mask = mask.extent(0) > 0, centre = mu.extent(0) > 0 && bsum.extent(0) > 0;
  const bool has_abs = abs_out.extent(0) > 0 && quantum > 0;
  const double inv_q = quantum > 0 ? 1.0 / quantum : 0.0;
  Kokkos::View<Acc**, Kokkos::LayoutRight, mem> part(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, label(what + "::partials"), exec), C,
      static_cast<std::size_t>(G) * L);
  Kokkos::View<double**, Kokkos::LayoutRight, mem> part_abs(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, label(what + "::partial_bounds"), exec),
      has_abs ? C : 0, has_abs ? G : 0);
  Kokkos::parallel_for(
      label(what + "::scatter"), Kokkos::RangePolicy<ExecSpace>(exec, 0, C),
      KOKKOS_LAMBDA(const int c) {
        const std::size_t GL = static_cast<std::size_t>(G) * L;
        for (std::size_t u = 0; u < GL; ++u) part(c, u) = Acc(0);
        if (has_abs)
          for (int j = 0; j < G; ++j) part_abs(c, j) = 0;
        const int i1 = (c + 1) * R < N ? (c + 1) * R : N;
        for (int i = c * R; i < i1; ++i) {
          if (has_mask && mask(i) == 0) continue;
          for (std::int64_t e = rm(i); e < rm(i + 1); ++e) {
            const Acc v = Acc(x(e));
            const std::size_t j0 = static_cast<std::size_t>(ent(e)) * L;
            if (quantum > 0) {
              double a = 0;
              for (int k = 0; k < L; ++k) {
                const double p =
                    compat::nearbyint(static_cast<double>(v * Acc(B(i, k))) * inv_q) * quantum;
                part(c, j0 + k) += Acc(p);
                a += compat::fabs(p);
              }
              if (has_abs) part_abs(c, ent(e)) += a;
            } else {
              for (int k = 0; k < L; ++k) part(c, j0 + k) += v * Acc(B(i, k));
            }
          }
        }
      });
  using OutS = typename Out::non_const_value_type;
  Kokkos::parallel_for(
      label(what + "::sum_chunks"), Kokkos::RangePolicy<ExecSpace>(exec, 0, G * L),
      KOKKOS_LAMBDA(const int w) {
        const int j = w / L, k = w % L;
        Acc s = Acc(0);
        for (int c = 0; c < C; ++c) s += part(c, w);
        out(j, k) = OutS(centre ? s - Acc(mu(j)) * Acc(bsum(k)) : s);
        if (has_abs && k == 0) {
          double a = 0;
          for (int c = 0; c < C; ++c) a += part_abs(c, j);
          abs_out(j) = a;
        }
      });
}

/// Per-column sums over the stored entries of f(x_e, j) (e.g. x, 1, (x − μ_j)²) into \p out
/// [G] (double), row-chunked as scatter_spmm_t (deterministic for any thread count). Blocking
/// only through the allocation of the partials. Non-blocking otherwise.
template <class ExecSpace, class RowMap, class Entries, class Values, class Out, class F>
void column_reduce(const ExecSpace& exec, const std::string& what, const RowMap& rm,
                   const Entries& ent, const Values& x, const Out& out, const F& f) {
  using mem = typename ExecSpace::memory_space;
  const int G = static_cast<int>(out.extent(0));
  const int N = rm.extent(0) > 0 ? static_cast<int>(rm.extent(0)) - 1 : 0;
  const int C = scatter_chunks(N, G, 1);
  const int R = (N + C - 1) / C;
  Kokkos::View<double**, Kokkos::LayoutRight, mem> part(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, label(what + "::partials"), exec), C, G);
  Kokkos::parallel_for(
      label(what), Kokkos::RangePolicy<ExecSpace>(exec, 0, C), KOKKOS_LAMBDA(const int c) {
        for (int j = 0; j < G; ++j) part(c, j) = 0;
        const int i1 = (c + 1) * R < N ? (c + 1) * R : N;
        for (int i = c * R; i < i1; ++i)
          for (std::int64_t e = rm(i); e < rm(i + 1); ++e)
            part(c, ent(e)) += f(static_cast<double>(x(e)), ent(e));
      });
  Kokkos::parallel_for(
      label(what + "::sum_chunks"), Kokkos::RangePolicy<ExecSpace>(exec, 0, G),
      KOKKOS_LAMBDA(const int j) {
        double s = 0;
        for (int c = 0; c < C; ++c) s += part(c, j);
        out(j) = s;
      });
}

/// Column sums of the N × L matrix \p B over rows with mask != 0, into \p out [L] (double), in a
/// fixed order: one work item per column block sums all rows sequentially in blocks of 1024 rows
/// (partial sums first, then added in order), so the result does not depend on the thread count.
/// In deterministic mode each entry is rounded to the grid first. Non-blocking.
template <class ExecSpace, class BView, class Mask, class Out>
void column_sums(const ExecSpace& exec, const std::string& what, const BView& B, const Mask& mask,
                 const Out& out, double quantum = 0) {
  const int N = static_cast<int>(B.extent(0)), L = static_cast<int>(B.extent(1));
  const bool has_mask = mask.extent(0) > 0;
  const double inv_q = quantum > 0 ? 1.0 / quantum : 0.0;
  // L work items, each a sequential pass over N rows: N·L reads, memory-bound like the product
  // that produced B, and deterministic for any thread count.
  Kokkos::parallel_for(
      label(what), Kokkos::RangePolicy<ExecSpace>(exec, 0, L), KOKKOS_LAMBDA(const int k) {
        double total = 0;
        for (int i0 = 0; i0 < N; i0 += 1024) {
          const int i1 = i0 + 1024 < N ? i0 + 1024 : N;
          double part = 0;
          for (int i = i0; i < i1; ++i) {
            if (has_mask && mask(i) == 0) continue;
            double v = static_cast<double>(B(i, k));
            if (quantum > 0) v = compat::nearbyint(v * inv_q) * quantum;
            part += v;
          }
          total += part;
        }
        out(k) = total;
      });
}

}  // namespace pca_impl
}  // namespace diffbio

#endif
