// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_ProfileHMMCases.hpp
/// \brief ProfileHMM wrapped as a `Differentiable` for the gradient kit on any execution space:
/// x = [profile (B·L·K), only for profile input] ++ [parameters], y = [score (B), bits (B)].
/// Forward and adjoint run the shipped kernels; the tangent runs the same forward kernel on
/// ad::Dual<double>.
#ifndef DIFFBIO_PROFILE_HMM_CASES_HPP
#define DIFFBIO_PROFILE_HMM_CASES_HPP

#include <DiffBio_Dual.hpp>
#include <DiffBio_GradCheck.hpp>
#include <DiffBio_ProfileHMM.hpp>
#include <DiffBio_RefProfileHMM.hpp>
#include <DiffBio_TestViews.hpp>

#include <random>

namespace diffbio {
namespace test {

using HmmDual = ad::Dual<double>;

/// A small model over a 4-letter alphabet with two degenerate codes (4 = any, 5 = {A, G}), and a
/// batch with padding: an empty sequence and a length-1 sequence.
struct HmmCaseData {
  int M = 5, K = 4, B = 5, L = 7;
  std::vector<double> bg{0.3, 0.2, 0.2, 0.3};
  std::vector<double> code_w;
  std::vector<std::uint8_t> residues;
  std::vector<int> length;
  HmmCaseData(std::uint64_t seed = 3, int M_ = 5, int B_ = 5, int L_ = 7) : M(M_), B(B_), L(L_) {
    code_w.assign(6 * K, 0.0);
    for (int a = 0; a < K; ++a) code_w[a * K + a] = 1.0;
    for (int a = 0; a < K; ++a) code_w[4 * K + a] = bg[a];  // "N": expected score
    code_w[5 * K + 0] = bg[0] / (bg[0] + bg[2]);            // "R" = A or G
    code_w[5 * K + 2] = bg[2] / (bg[0] + bg[2]);
    std::mt19937_64 gen(seed);
    std::uniform_int_distribution<int> cd(0, 9);
    residues.resize(static_cast<std::size_t>(B) * L);
    for (auto& r : residues) {
      const int c = cd(gen);
      r = static_cast<std::uint8_t>(c < 8 ? c % 4 : c - 4);  // mostly canonical, some 4 and 5
    }
    length.resize(B);
    for (int b = 0; b < B; ++b) length[b] = (b == 1) ? 0 : (b == 2 ? 1 : L - (b % 3));
  }
  reference::ProfileHMMSpec spec(Plan7Mode mode, double tau) const {
    reference::ProfileHMMSpec s;
    s.M = M;
    s.K = K;
    s.n_codes = 6;
    s.local = plan7_is_local(mode);
    s.multihit = plan7_is_multihit(mode);
    s.tau = tau;
    s.code_w = code_w;
    return s;
  }
  Vec profile(std::uint64_t seed) const {
    Vec p = random_vector(static_cast<std::size_t>(B) * L * K, seed, 0.05, 1.0);
    for (std::size_t r = 0; r < p.size(); r += K) {
      double s = 0;
      for (int a = 0; a < K; ++a) s += p[r + a];
      for (int a = 0; a < K; ++a) p[r + a] /= s;
    }
    return p;
  }
};

template <class Exec>
struct ProfileHMMCase {
  using Mem = typename Exec::memory_space;
  HmmCaseData d;
  Plan7Mode mode;
  double tau;
  bool profile_input;
  ReductionMode red;

  ProfileHMMCase(HmmCaseData data, Plan7Mode m, double t, bool prof, ReductionMode r = {})
      : d(std::move(data)), mode(m), tau(t), profile_input(prof), red(r) {}

  int n_prof() const { return profile_input ? d.B * d.L * d.K : 0; }
  std::size_t n_params() const { return static_cast<std::size_t>(d.M) * (8 + 2 * d.K); }

  template <class S>
  ProfileHMM<S, Exec> make_op() const {
    ProfileHMMConfig cfg;
    cfg.mode = mode;
    cfg.temperature = tau;
    return ProfileHMM<S, Exec>(d.M, d.bg, cfg, d.code_w);
  }

  template <class S>
  struct Run {
    ProfileHMM<S, Exec> op;
    typename ProfileHMM<S, Exec>::Inputs in;
    typename ProfileHMM<S, Exec>::Outputs out;
    typename ProfileHMM<S, Exec>::Workspace ws;
    Kokkos::View<S*, Mem> params;
  };

  template <class S, class Make>
  Run<S> run_forward(const Vec& x, Make make, bool posteriors = false) const {
    Run<S> r{make_op<S>(), {}, {}, {}, {}};
    std::vector<S> xs(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xs[i] = make(i);
    if (profile_input)
      r.in.profile = to_view<Kokkos::View<S***, Mem>>(
          std::vector<S>(xs.begin(), xs.begin() + n_prof()), d.B, d.L, d.K);
    else
      r.in.residues = to_view<Kokkos::View<std::uint8_t**, Mem>>(d.residues, d.B, d.L);
    r.in.length = to_view<Kokkos::View<int*, Mem>>(d.length, d.B);
    r.params =
        to_view<Kokkos::View<S*, Mem>>(std::vector<S>(xs.begin() + n_prof(), xs.end()), n_params());
    r.out = r.op.allocate_outputs(r.in, posteriors);
    r.op.forward(Exec(), r.params, r.in, r.out, r.ws);
    return r;
  }

  Vec forward(const Vec& x) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    Vec y = flatten(r.out.score), b = flatten(r.out.bits);
    y.insert(y.end(), b.begin(), b.end());
    return y;
  }
  Vec tangent(const Vec& x, const Vec& xdot) const {
    auto r = run_forward<HmmDual>(x, [&](std::size_t i) { return HmmDual(x[i], xdot[i]); });
    auto tan = [](const HmmDual& v) { return v.d; };
    Vec y = flatten(r.out.score, tan), b = flatten(r.out.bits, tan);
    y.insert(y.end(), b.begin(), b.end());
    return y;
  }
  Vec adjoint(const Vec& x, const Vec& ybar) const {
    auto r = run_forward<double>(x, [&](std::size_t i) { return x[i]; });
    typename ProfileHMM<double, Exec>::OutputGrads dout{
        to_view<Kokkos::View<double*, Mem>>(Vec(ybar.begin(), ybar.begin() + d.B), d.B),
        to_view<Kokkos::View<double*, Mem>>(Vec(ybar.begin() + d.B, ybar.end()), d.B)};
    Kokkos::View<double*, Mem> dp("DiffBio::test::dp", n_params());
    typename ProfileHMM<double, Exec>::InputGrads din;
    if (profile_input)
      din.d_profile = Kokkos::View<double***, Mem>("DiffBio::test::dq", d.B, d.L, d.K);
    r.op.adjoint(Exec(), r.params, r.in, r.ws, dout, din, dp, red);
    Vec g;
    if (profile_input) g = flatten(din.d_profile);
    Vec gp = flatten(dp);
    g.insert(g.end(), gp.begin(), gp.end());
    return g;
  }
  Differentiable differentiable(const Vec& x0) const {
    static const char* names[] = {"multilocal", "unilocal", "multiglocal", "uniglocal"};
    return {std::string("ProfileHMM[") + names[static_cast<int>(mode)] +
                ", tau=" + std::to_string(tau) + (profile_input ? ", profile]" : ", residues]"),
            x0, [this](const Vec& x) { return forward(x); },
            [this](const Vec& x, const Vec& yb) { return adjoint(x, yb); },
            [this](const Vec& x, const Vec& xd) { return tangent(x, xd); }};
  }
  /// A point: a from-scratch model of the case's mode with seeded noise, perturbed so that no
  /// two transitions tie (ties make the Viterbi gradient ambiguous).
  Vec point(std::uint64_t seed) const {
    ProfileHMMConfig cfg;
    cfg.mode = mode;
    cfg.init.noise = 0.8;
    cfg.init.seed = seed;
    ProfileHMM<double, Exec> op(d.M, d.bg, cfg, d.code_w);
    Vec p = op.initial_params();
    const Vec jitter = random_vector(p.size(), seed + 1, -0.3, 0.3);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] += jitter[i];
    Vec x = profile_input ? d.profile(seed + 2) : Vec{};
    x.insert(x.end(), p.begin(), p.end());
    return x;
  }
  /// The serial reference on the same x (scores only).
  template <class N>
  std::vector<N> reference(const std::vector<N>& x) const {
    return reference::profile_hmm(x, d.spec(mode, tau), d.residues, d.length, d.B, d.L,
                                  profile_input);
  }
};

}  // namespace test
}  // namespace diffbio

#endif
