// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_RefVAE.hpp
/// \brief Plain serial reference of VAENormalizer's loss and latent mean, templated on the number
/// type so ADOL-C can differentiate it. Written from the model in
/// operators/normalization/ADJOINT_VAENormalizer.md, sharing no code with the Kokkos kernels:
/// dense counts, naive softmax (no max shift), tanh activation, and
/// lgamma(y + θ) − lgamma(θ) = Σ_{k<y} log(θ + k) for the integer counts (no lgamma needed).
#ifndef DIFFBIO_REF_VAE_HPP
#define DIFFBIO_REF_VAE_HPP

#include <cmath>
#include <cstdint>
#include <vector>

namespace diffbio {
namespace reference {

struct VAEShape {
  int N, G, NB, H1, H2, L;
  double kl_weight = 1.0;
};

/// p: the parameter block (layout of DiffBio_VAENormalizer.hpp); counts: dense N×G integers;
/// batch [N]; eps [N×L]; mask [N] (0: outputs 0). Returns [loss (N), latent mean (N·L)].
template <class Num>
std::vector<Num> vae_loss(const std::vector<Num>& p, const VAEShape& s,
                          const std::vector<double>& counts, const std::vector<int>& batch,
                          const std::vector<double>& eps, const std::vector<std::uint8_t>& mask) {
  using std::exp;
  using std::log;
  using std::tanh;
  const int G = s.G, NB = s.NB, H1 = s.H1, H2 = s.H2, L = s.L, Hl = H2 > 0 ? H2 : H1;
  std::size_t o = 0;
  auto take = [&](std::size_t n) { const std::size_t r = o; o += n; return r; };
  const std::size_t W1 = take(G * H1), W1b = take(NB * H1), c1 = take(H1), W2 = take(H2 * H1),
                    c2 = take(H2), We = take(2 * L * Hl), ce = take(2 * L), Wd = take(G * L),
                    Wdb = take(NB * G), cd = take(G), lt = take(G);
  std::vector<Num> y(s.N * (1 + L), Num(0.0));
  for (int i = 0; i < s.N; ++i) {
    if (!mask.empty() && mask[i] == 0) continue;
    const int b = NB > 0 ? batch[i] : -1;
    std::vector<Num> h(H1);
    double lib = 0;
    for (int k = 0; k < H1; ++k) {
      Num a = p[c1 + k];
      if (b >= 0) a = a + p[W1b + b * H1 + k];
      for (int g = 0; g < G; ++g) a = a + std::log(1.0 + counts[i * G + g]) * p[W1 + g * H1 + k];
      h[k] = tanh(a);
    }
    for (int g = 0; g < G; ++g) lib += counts[i * G + g];
    if (H2 > 0) {
      std::vector<Num> h2(H2);
      for (int k = 0; k < H2; ++k) {
        Num a = p[c2 + k];
        for (int j = 0; j < H1; ++j) a = a + p[W2 + k * H1 + j] * h[j];
        h2[k] = tanh(a);
      }
      h = h2;
    }
    std::vector<Num> z(L);
    Num kl = 0.0;
    for (int l = 0; l < L; ++l) {
      Num mu = p[ce + l], lv = p[ce + L + l];
      for (int j = 0; j < Hl; ++j) {
        mu = mu + p[We + l * Hl + j] * h[j];
        lv = lv + p[We + (L + l) * Hl + j] * h[j];
      }
      z[l] = mu + exp(0.5 * lv) * eps[i * L + l];
      kl = kl - 0.5 * (1.0 + lv - mu * mu - exp(lv));
      y[s.N + i * L + l] = mu;
    }
    std::vector<Num> eta(G);
    Num zsum = 0.0;
    for (int g = 0; g < G; ++g) {
      Num e = p[cd + g];
      if (b >= 0) e = e + p[Wdb + b * G + g];
      for (int l = 0; l < L; ++l) e = e + p[Wd + g * L + l] * z[l];
      eta[g] = e;
      zsum = zsum + exp(e);
    }
    Num nll = 0.0;
    for (int g = 0; g < G; ++g) {
      const double x = counts[i * G + g];
      const Num th = exp(p[lt + g]);
      const Num m = lib * exp(eta[g]) / zsum;
      // −log NB = −Σ_{k<x} log(θ+k) + lgamma(x+1) − θ log(θ/(θ+m)) − x log(m/(θ+m))
      Num t = std::lgamma(x + 1.0) - th * log(th / (th + m));
      for (int k = 0; k < static_cast<int>(x); ++k) t = t - log(th + double(k));
      if (x > 0) t = t - x * log(m / (th + m));
      nll = nll + t;
    }
    y[i] = nll + s.kl_weight * kl;
  }
  return y;
}

}  // namespace reference
}  // namespace diffbio

#endif
