// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_CandidateFeaturesCases.hpp
/// \brief CandidateFeatures wrapped as a `Differentiable`: x = [counts (P·8), strand (P·2),
/// quality (P·2)] (the pileup outputs) → y = features (B·F); forward and adjoint run the shipped
/// kernels on `Exec`, the tangent runs the same forward kernel on dual numbers.
#ifndef DIFFBIO_CANDIDATE_FEATURES_CASES_HPP
#define DIFFBIO_CANDIDATE_FEATURES_CASES_HPP

#include "DiffBio_VariantClassifierCases.hpp"

#include <DiffBio_CandidateFeatures.hpp>

#include <algorithm>

namespace diffbio {
namespace test {

/// A synthetic pileup window: P positions with soft (non-integer) counts of depth 0..~25, strand
/// and quality sums consistent with the depth, reference bases (some N), and B candidates in
/// unsorted order with duplicates, overlapping windows, window edges and masked ones.
struct PileupWindowData {
  int P = 0;
  std::vector<double> x;  ///< [counts P·8, strand P·2, quality P·2]
  std::vector<int> ref, centre;
  std::vector<std::uint8_t> mask;

  PileupWindowData(int P_, std::vector<int> centres, std::uint64_t seed,
                   std::vector<int> masked = {}, std::vector<int> empty_rows = {})
      : P(P_), centre(std::move(centres)) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<double> counts(static_cast<std::size_t>(P) * 8), strand(static_cast<std::size_t>(P) * 2),
        quality(static_cast<std::size_t>(P) * 2);
    ref.resize(static_cast<std::size_t>(P));
    for (int s = 0; s < P; ++s) {
      ref[s] = u(gen) < 0.1 ? 4 : static_cast<int>(u(gen) * 4) % 4;
      const bool empty = std::find(empty_rows.begin(), empty_rows.end(), s) != empty_rows.end();
      double depth = 0;
      for (int k = 0; k < 8; ++k) {
        // The reference base dominates; the other channels are small soft counts.
        double c = (k == ref[s] ? 15.0 : 2.0) * u(gen) + (k < 4 ? 0.3 * u(gen) : 0.0);
        if (empty) c = 0;
        counts[s * 8 + k] = c;
        if (k < 7) depth += c;
      }
      const double fwd = u(gen);
      strand[s * 2] = fwd * depth;
      strand[s * 2 + 1] = (1 - fwd) * depth;
      quality[s * 2] = (20 + 20 * u(gen)) * depth;
      quality[s * 2 + 1] = (30 + 30 * u(gen)) * depth;
    }
    x = counts;
    x.insert(x.end(), strand.begin(), strand.end());
    x.insert(x.end(), quality.begin(), quality.end());
    mask.assign(centre.size(), 1);
    for (int b : masked) mask[b] = 0;
  }
  int B() const { return static_cast<int>(centre.size()); }
};

template <class Exec>
struct FeaturesCase {
  using M = typename Exec::memory_space;
  PileupWindowData d;
  CandidateFeaturesConfig cfg;
  bool use_mask = true;

  FeaturesCase(PileupWindowData data, int half_window, bool hard) : d(std::move(data)) {
    cfg.half_window = half_window;
    cfg.hard = hard;
  }
  int nf() const { return CandidateFeatures<double, Exec>(cfg).n_features(); }

  template <class S>
  struct Run {
    CandidateFeatures<S, Exec> op;
    typename CandidateFeatures<S, Exec>::Inputs in;
    typename CandidateFeatures<S, Exec>::Outputs out;
    typename CandidateFeatures<S, Exec>::Workspace ws;
  };

  template <class S, class Make>
  Run<S> run_forward(const Vec& x, Make make) const {
    using PV = Kokkos::View<S**, M>;
    Run<S> r{CandidateFeatures<S, Exec>(cfg), {}, {}, {}};
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    const Exec exec;
    const std::size_t P = static_cast<std::size_t>(d.P);
    r.in.counts = exec_view<PV>(exec, std::vector<S>(xs.begin(), xs.begin() + 8 * P), P, 8);
    r.in.strand = exec_view<PV>(exec, std::vector<S>(xs.begin() + 8 * P, xs.begin() + 10 * P), P, 2);
    r.in.quality = exec_view<PV>(exec, std::vector<S>(xs.begin() + 10 * P, xs.end()), P, 2);
    r.in.centre = exec_view<Kokkos::View<int*, M>>(exec, d.centre, d.centre.size());
    r.in.ref_base = exec_view<Kokkos::View<int*, M>>(exec, d.ref, P);
    if (use_mask) r.in.mask = exec_view<Kokkos::View<std::uint8_t*, M>>(exec, d.mask, d.mask.size());
    r.out = r.op.allocate_outputs(r.in, exec);
    r.ws = r.op.allocate_workspace(r.in);
    r.op.forward(exec, Kokkos::View<S*, M>(), r.in, r.out, r.ws);
    exec.fence();
    return r;
  }

  Vec forward(const Vec& x) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    return flatten(r.out.features);
  }
  Vec tangent(const Vec& x, const Vec& xdot) const {
    auto r = run_forward<ad::Dual<double>>(
        x, [&](std::size_t i) { return ad::Dual<double>(x[i], xdot[i]); });
    return flatten(r.out.features, [](const ad::Dual<double>& v) { return v.d; });
  }
  /// The adjoint into gradient Views pre-filled with \p init (the += contract).
  Vec adjoint(const Vec& x, const Vec& ybar, double init = 0.0) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    const Exec exec;
    const std::size_t P = static_cast<std::size_t>(d.P);
    using PV = Kokkos::View<double**, M>;
    auto dy = exec_view<Kokkos::View<double**, Kokkos::LayoutRight, M>>(exec, ybar, d.B(), nf());
    PV dc = exec_view<PV>(exec, Vec(8 * P, init), P, 8);
    PV ds = exec_view<PV>(exec, Vec(2 * P, init), P, 2);
    PV dq = exec_view<PV>(exec, Vec(2 * P, init), P, 2);
    r.op.adjoint(exec, Kokkos::View<double*, M>(), r.in, r.ws, {dy}, {dc, ds, dq},
                 Kokkos::View<double*, M>());
    Vec g = flatten(dc), a = flatten(ds), b = flatten(dq);
    g.insert(g.end(), a.begin(), a.end());
    g.insert(g.end(), b.begin(), b.end());
    return g;
  }
  Differentiable differentiable() const {
    return {std::string("CandidateFeatures") + (cfg.hard ? "[hard]" : ""), d.x,
            [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }
};

}  // namespace test
}  // namespace diffbio

#endif
