// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_PileupCases.hpp
/// \brief DifferentiablePileup wrapped as a `Differentiable` (x = its parameters, y = counts,
/// strand and quality flattened) for the gradient kit, on any execution space: forward and
/// adjoint run the shipped kernels on `Exec`; the tangent runs the same forward on dual numbers.
#ifndef DIFFBIO_PILEUP_CASES_HPP
#define DIFFBIO_PILEUP_CASES_HPP

#include <DiffBio_Dual.hpp>
#include <DiffBio_GradCheck.hpp>
#include <DiffBio_Pileup.hpp>
#include <DiffBio_TestViews.hpp>
#include <cmath>
#include <random>
#include <tuple>

namespace diffbio {
namespace test {

/// A pileup window as host vectors (what io::PileupBatch carries).
struct PileupWindow {
  std::vector<int> offsets;
  std::vector<std::uint32_t> entries;
  int halo = 0;
  int rows() const { return static_cast<int>(offsets.size()) - 1; }
  int positions() const { return rows() - 2 * halo; }

  static PileupWindow from_batch(const io::PileupBatch& b) {
    return PileupWindow{b.offsets, b.entries, b.halo};
  }
  /// Seeded synthetic window: depth 0..max_depth per row (some empty rows), every channel,
  /// both strands, insertion marks, BQ 0..45 plus a few 255 (no qualities), MQ 0..60.
  static PileupWindow synthetic(std::uint64_t seed, int positions, int halo, int max_depth = 6) {
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<int> depth(0, max_depth), ch(0, 6), coin(0, 9), bq(0, 45),
        mq(0, 60);
    PileupWindow w;
    w.halo = halo;
    w.offsets.push_back(0);
    for (int r = 0; r < positions + 2 * halo; ++r) {
      const int n = (r % 7 == 3) ? 0 : depth(gen);
      for (int i = 0; i < n; ++i) {
        const int q = coin(gen) == 0 && i == 0 ? 255 : bq(gen);
        w.entries.push_back(
            io::pileup_entry::pack(ch(gen), coin(gen) < 5, coin(gen) == 1, q, mq(gen)));
      }
      w.offsets.push_back(static_cast<int>(w.entries.size()));
    }
    return w;
  }
};

template <class Exec>
struct PileupCase {
  using M = typename Exec::memory_space;
  PileupWindow d;
  PileupConfig cfg;
  ReductionMode mode;

  PileupCase(PileupWindow w, PileupConfig c, ReductionMode m = {})
      : d(std::move(w)), cfg(c), mode(m) {}

  int n_params() const { return DifferentiablePileup<double, Exec>(cfg).n_params(); }
  PileupInputs<M> inputs() const {
    return {to_view<Kokkos::View<int*, M>>(d.offsets, d.offsets.size()),
            to_view<Kokkos::View<std::uint32_t*, M>>(d.entries, d.entries.size()), d.halo};
  }

  template <class S>
  struct Run {
    DifferentiablePileup<S, Exec> op;
    PileupInputs<M> in;
    typename DifferentiablePileup<S, Exec>::Outputs out;
    typename DifferentiablePileup<S, Exec>::Workspace ws;
    Kokkos::View<S*, M> params;
  };

  template <class S, class Make>
  Run<S> run_forward(const Vec& x, Make make) const {
    DifferentiablePileup<S, Exec> op(cfg);
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    Run<S> r{
        op, inputs(), {}, op.allocate_workspace(), to_view<Kokkos::View<S*, M>>(xs, xs.size())};
    r.out = DifferentiablePileup<S, Exec>::allocate_outputs(r.in);
    r.op.forward(Exec(), r.params, r.in, r.out, r.ws);
    return r;
  }

  template <class Out, class Conv>
  static Vec flat(const Out& out, Conv conv) {
    Vec y = flatten(out.counts, conv), s = flatten(out.strand, conv),
        q = flatten(out.quality, conv);
    y.insert(y.end(), s.begin(), s.end());
    y.insert(y.end(), q.begin(), q.end());
    return y;
  }

  Vec forward(const Vec& x) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    return flat(r.out, [](double v) { return v; });
  }
  Vec tangent(const Vec& x, const Vec& xdot) const {
    using Dual = ad::Dual<double>;
    auto r = run_forward<Dual>(x, [&](std::size_t i) { return Dual(x[i], xdot[i]); });
    return flat(r.out, [](const Dual& v) { return v.d; });
  }
  /// Splits ȳ into the three seeds.
  typename DifferentiablePileup<double, Exec>::OutputGrads seeds(const Vec& ybar) const {
    const int P = d.positions();
    Vec c(ybar.begin(), ybar.begin() + P * 8), s(ybar.begin() + P * 8, ybar.begin() + P * 10),
        q(ybar.begin() + P * 10, ybar.end());
    return {to_view<Kokkos::View<double**, M>>(c, P, 8),
            to_view<Kokkos::View<double**, M>>(s, P, 2),
            to_view<Kokkos::View<double**, M>>(q, P, 2)};
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    Kokkos::View<double*, M> dp("DiffBio::test::dp", x.size());
    r.op.adjoint(Exec(), r.params, r.in, r.ws, seeds(ybar), {}, dp, mode);
    return flatten(dp);
  }
  Differentiable differentiable(const Vec& x0) const {
    return {std::string("Pileup[k=") + std::to_string(cfg.max_offset) + "]", x0,
            [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }
  /// A point where every parameter matters: thresholds inside the data, moderate slopes, random
  /// logits.
  Vec point(std::uint64_t seed) const {
    Vec x = {12.3, std::log(0.7), 20.4, std::log(0.2), 1.3};
    const Vec l = random_vector(2 * cfg.max_offset + 1, seed, -1.0, 1.0);
    for (int i = 0; i < static_cast<int>(l.size()); ++i)
      x.push_back(l[i] + (i == cfg.max_offset ? 1.5 : 0.0));
    return x;
  }
};

}  // namespace test
}  // namespace diffbio

#endif
