// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_RefSingleCellQC.hpp
/// \brief Plain serial references of AmbientRemoval and DoubletScorer, templated on the number type
/// so ADOL-C can differentiate them. Written from the model equations (operator headers and
/// ADJOINT_*.md), sharing no code with the Kokkos kernels: naive softmax without a shift, the
/// distance scale and the logistic written out, no workspace, no reversed graph.
#ifndef DIFFBIO_REF_SINGLE_CELL_QC_HPP
#define DIFFBIO_REF_SINGLE_CELL_QC_HPP

#include <cmath>
#include <cstdint>
#include <vector>

namespace diffbio {
namespace reference {

/// Sparse count matrix of the references (CSR, host, plain vectors).
struct RefCsr {
  int n_rows = 0, n_cols = 0;
  std::vector<std::int64_t> indptr{0};
  std::vector<int> indices;
  std::vector<double> values;
};

/// AmbientRemoval, soft or hard. x = [logit ρ (N), q (nnz), Q (N), a (G)] →
/// y = [corrected (nnz), nll (N), ρ (N)]; n_i = Σ_g x_ig; masked rows give zeros.
template <class Num>
std::vector<Num> ambient_removal(const std::vector<Num>& x, const RefCsr& c,
                                 const std::vector<std::uint8_t>& mask, double tau, bool hard) {
  using std::exp;
  using std::log;
  const int N = c.n_rows, G = c.n_cols;
  const int nnz = static_cast<int>(c.values.size());
  const int off_q = N, off_Q = N + nnz, off_a = 2 * N + nnz;
  std::vector<Num> y(nnz + 2 * N, Num(0.0));
  Num A = 0.0;
  for (int g = 0; g < G; ++g) A = A + x[off_a + g];
  for (int i = 0; i < N; ++i) {
    if (!mask.empty() && mask[i] == 0) continue;
    double n = 0;
    for (auto e = c.indptr[i]; e < c.indptr[i + 1]; ++e) n += c.values[e];
    const Num rho = 1.0 / (1.0 + exp(-x[i]));
    Num l = n * ((1.0 - rho) * x[off_Q + i] + rho * A);
    for (auto e = c.indptr[i]; e < c.indptr[i + 1]; ++e) {
      const double xe = c.values[e];
      const Num a = x[off_a + c.indices[e]];
      const Num mu = n * ((1.0 - rho) * x[off_q + e] + rho * a);
      l = l - xe * log(mu) + std::lgamma(xe + 1.0);
      const Num r = xe - rho * n * a;
      if (hard) {
        y[e] = r > 0.0 ? r : Num(0.0);
      } else {
        y[e] = tau * log(1.0 + exp(r / tau));
      }
    }
    y[nnz + i] = l;
    y[nnz + N + i] = rho;
  }
  return y;
}

/// DoubletScorer (soft threshold). x = [emb (NT·D), t, log s, log τ_d] → y = [score (N), prob (N)]
/// for the fixed neighbour lists nbr [N×k] (−1 absent).
template <class Num>
std::vector<Num> doublet_scorer(const std::vector<Num>& x, int N, int NT, int D,
                                const std::vector<int>& nbr, int k,
                                const std::vector<std::uint8_t>& mask, bool weighted,
                                double alpha) {
  using std::exp;
  const Num t = x[NT * D], s = exp(x[NT * D + 1]), td = exp(x[NT * D + 2]);
  const double pi = static_cast<double>(NT - N) / NT;
  std::vector<Num> y(2 * N, Num(0.0));
  for (int i = 0; i < N; ++i) {
    if (!mask.empty() && mask[i] == 0) continue;
    std::vector<Num> d(k, Num(0.0));
    int kv = 0;
    Num m = 0.0;
    for (int j = 0; j < k; ++j) {
      const int n = nbr[i * k + j];
      if (n < 0) continue;
      for (int c = 0; c < D; ++c) {
        const Num diff = x[i * D + c] - x[n * D + c];
        d[j] = d[j] + diff * diff;
      }
      ++kv;
      m = m + d[j];
    }
    if (kv == 0) continue;
    m = m / static_cast<double>(kv);
    Num z = 0.0, num = 0.0;
    for (int j = 0; j < k; ++j) {
      const int n = nbr[i * k + j];
      if (n < 0) continue;
      const Num w = weighted ? exp(-d[j] / (td * m)) : Num(1.0);
      z = z + w;
      if (n >= N) num = num + w;
    }
    const Num frac = num / z;
    const Num score = (static_cast<double>(kv) * frac + alpha * pi) / (kv + alpha);
    y[i] = score;
    y[N + i] = 1.0 / (1.0 + exp(-(score - t) / s));
  }
  return y;
}

}  // namespace reference
}  // namespace diffbio

#endif
