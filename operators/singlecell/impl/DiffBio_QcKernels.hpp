// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_QcKernels.hpp
/// \brief Building blocks of the QC operators (AmbientRemoval, DoubletScorer): fixed-order sums
/// of per-row gradient contributions.
#ifndef DIFFBIO_QC_KERNELS_HPP
#define DIFFBIO_QC_KERNELS_HPP

#include <DiffBio_Compat.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_GradientReduction.hpp>
#include <DiffBio_Types.hpp>

#include <cmath>
#include <string>

namespace diffbio {
namespace qc_impl {

/// out(c) += Σ_i contrib(i, c) for the rows of \p contrib [N×C] (C small), summed in a fixed
/// order — rows in chunks of \p chunk, then the chunks in increasing order — so the bits do not
/// depend on the thread count or backend (Kokkos' parallel_reduce joins in a thread-dependent
/// order). In ReductionMode::deterministic every contribution is first rounded to the grid 2^e,
/// which makes the sums exact, hence also independent of how rows are split across ranks.
/// Blocking: the totals are checked on the host (non-finite → ExitCode::numerical; deterministic
/// exactness bound exceeded → ExitCode::numerical, as reduce_rows_into does).
template <class ExecSpace, class Contrib, class Out>
void fixed_order_column_sums(const ExecSpace& exec, const std::string& what, const Contrib& contrib,
                             const Out& out, const ReductionMode& mode, int chunk = 1024) {
  const int N = static_cast<int>(contrib.extent(0)), C = static_cast<int>(contrib.extent(1));
  const int NC = (N + chunk - 1) / chunk;
  using mem = typename ExecSpace::memory_space;
  Kokkos::View<double**, Kokkos::LayoutRight, mem> partial(
      Kokkos::view_alloc(label(what + "::partial"), exec), NC > 0 ? NC : 1, C + 1);
  Kokkos::View<double*, mem> total(Kokkos::view_alloc(label(what + "::total"), exec), C + 1);
  const double q = mode.deterministic ? mode.quantum() : 0.0, inv_q = mode.deterministic ? 1.0 / q : 0.0;
  Kokkos::parallel_for(
      label(what + "::chunks"), Kokkos::RangePolicy<ExecSpace>(exec, 0, NC),
      KOKKOS_LAMBDA(const int ch) {
        const int i1 = (ch + 1) * chunk < N ? (ch + 1) * chunk : N;
        for (int i = ch * chunk; i < i1; ++i)
          for (int c = 0; c < C; ++c) {
            double v = static_cast<double>(contrib(i, c));
            if (q > 0) v = compat::nearbyint(v * inv_q) * q;
            partial(ch, c) += v;
            partial(ch, C) += compat::fabs(v);
          }
      });
  Kokkos::parallel_for(
      label(what + "::total"), Kokkos::RangePolicy<ExecSpace>(exec, 0, C + 1),
      KOKKOS_LAMBDA(const int c) {
        double s = 0;
        for (int ch = 0; ch < NC; ++ch) s += partial(ch, c);
        total(c) = s;
      });
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), total);
  for (int c = 0; c <= C; ++c)
    if (!std::isfinite(h(c))) throw Error(ExitCode::numerical, "DiffBio: non-finite gradient in " + what);
  if (mode.deterministic && h(C) >= mode.exact_bound())
    throw Error(ExitCode::numerical, "DiffBio: deterministic reduction in " + what +
                                         " exceeds its exact range (sum |g| = " + std::to_string(h(C)) +
                                         "); raise the grid exponent");
  Kokkos::parallel_for(
      label(what + "::add"), Kokkos::RangePolicy<ExecSpace>(exec, 0, C),
      KOKKOS_LAMBDA(const int c) { out(c) += total(c); });
}

}  // namespace qc_impl
}  // namespace diffbio

#endif
