// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SegmentSum.hpp
/// \brief Weighted segment sums — the smooth replacement for counting — and their adjoint.
///
///   out[s, c] = Σ_{i ∈ [offsets[s], offsets[s+1])} w[i] · v[i, c]
///
/// Segments are given in CSR form (offsets of length S + 1, non-decreasing), so ragged groups
/// (reads covering a position, cells of a cluster, bases of a read) need no padding. One work item
/// per segment sums its rows in order, in accum_t: no atomics, deterministic for any thread count.
/// Adjoint (a gather, the transpose of the scatter):
///   w̄[i] += Σ_c ōut[s(i), c] · v[i, c],   v̄[i, c] += w[i] · ōut[s(i), c].
#ifndef DIFFBIO_SEGMENT_SUM_HPP
#define DIFFBIO_SEGMENT_SUM_HPP

#include <DiffBio_Error.hpp>
#include <DiffBio_Types.hpp>

namespace diffbio {

/// Forward. \param offsets [S+1] \param w [N] weights \param v [N×C] values \param out [S×C] (=)
/// Non-blocking.
template <class ExecSpace, class Offsets, class W, class V, class Out>
void weighted_segment_sum(const ExecSpace& exec, const Offsets& offsets, const W& w, const V& v,
                          const Out& out) {
  static_assert(Offsets::rank == 1 && W::rank == 1 && V::rank == 2 && Out::rank == 2,
                "offsets[S+1], w[N], v[N×C], out[S×C]");
  DIFFBIO_EXPECTS(offsets.extent(0) == out.extent(0) + 1 && v.extent(1) == out.extent(1) &&
                      w.extent(0) == v.extent(0),
                  "weighted_segment_sum: shape mismatch");
  using S = typename Out::non_const_value_type;
  using A = accum_t<S>;
  const int C = static_cast<int>(v.extent(1));
  Kokkos::parallel_for(
      label("weighted_segment_sum"),
      Kokkos::RangePolicy<ExecSpace>(exec, 0, static_cast<int>(out.extent(0))),
      KOKKOS_LAMBDA(const int s) {
        for (int c = 0; c < C; ++c) {
          A acc = A(0);
          for (auto i = offsets(s); i < offsets(s + 1); ++i) acc += A(w(i)) * A(v(i, c));
          out(s, c) = S(acc);
        }
      });
}

/// Adjoint: d_w [N] and d_v [N×C] accumulate (+=); either may be an empty View. Non-blocking.
template <class ExecSpace, class Offsets, class W, class V, class DOut, class DW, class DV>
void weighted_segment_sum_adjoint(const ExecSpace& exec, const Offsets& offsets, const W& w,
                                  const V& v, const DOut& d_out, const DW& d_w, const DV& d_v) {
  using S = typename V::non_const_value_type;
  using A = accum_t<S>;
  const int C = static_cast<int>(v.extent(1));
  const bool has_dw = d_w.extent(0) > 0, has_dv = d_v.extent(0) > 0;
  // One work item per segment: rows of a segment are disjoint from other segments' rows.
  Kokkos::parallel_for(
      label("weighted_segment_sum::adjoint"),
      Kokkos::RangePolicy<ExecSpace>(exec, 0, static_cast<int>(d_out.extent(0))),
      KOKKOS_LAMBDA(const int s) {
        for (auto i = offsets(s); i < offsets(s + 1); ++i) {
          A wbar = A(0);
          for (int c = 0; c < C; ++c) {
            const A g = A(d_out(s, c));
            wbar += g * A(v(i, c));
            if (has_dv) d_v(i, c) += S(A(w(i)) * g);
          }
          if (has_dw) d_w(i) += S(wbar);
        }
      });
}

}  // namespace diffbio

#endif
