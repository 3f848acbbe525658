// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_QcSimulator.hpp
/// \brief The QC tests' own small simulator (ground truth for ambient removal and doublets):
/// negative-binomial counts from cell-type programmes, log-normal library sizes, ambient
/// contamination at a known fraction per cell, empty droplets, planted doublets; plus the
/// tests' embedding (normalise_total + log1p + PCA by subspace iteration, host, dense: small data).
#ifndef DIFFBIO_QC_SIMULATOR_HPP
#define DIFFBIO_QC_SIMULATOR_HPP

#include <DiffBio_SparseMatrix.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace diffbio {
namespace test {

struct QcSimConfig {
  int n_cells = 600;          ///< observed barcodes that are cells (singlets + planted doublets)
  int n_genes = 300;
  int n_types = 5;
  double doublet_fraction = 0;  ///< planted doublets among the cells
  double rho_min = 0.02, rho_max = 0.2;  ///< contamination fraction, uniform per cell
  double library_median = 2000, library_sdlog = 0.35;
  double dispersion = 0.1;    ///< NB φ (variance μ + φ μ²)
  int n_empty = 2000;         ///< empty droplets (ambient only), library ~ U(20, 100)
  std::uint64_t seed = 1;
};

struct QcSim {
  io::CsrMatrix<float> counts;      ///< observed cells (x = clean + ambient)
  std::vector<double> clean;        ///< clean counts at counts' entries (aligned)
  std::vector<int> type;            ///< cell type (a doublet: its first parent's)
  std::vector<int> is_doublet;
  std::vector<double> rho;          ///< true contamination: ambient counts / library
  std::vector<double> profiles;     ///< K×G true type profiles
  std::vector<double> ambient;      ///< G true ambient profile
  io::CsrMatrix<float> empty;       ///< empty droplets
};

inline QcSim simulate_qc(const QcSimConfig& c) {
  std::mt19937_64 gen(c.seed);
  std::normal_distribution<double> nd(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  const int G = c.n_genes, K = c.n_types;
  QcSim s;
  // Type programmes: a shared log-expression baseline plus ~8 % marker genes up ×e^2.2 per type.
  std::vector<double> base(G);
  for (auto& b : base) b = nd(gen);
  s.profiles.assign(static_cast<std::size_t>(K) * G, 0.0);
  for (int k = 0; k < K; ++k) {
    double tot = 0;
    for (int g = 0; g < G; ++g) {
      const double up = u(gen) < 0.08 ? 2.2 : 0.0;
      const double v = std::exp(base[g] + up + 0.3 * nd(gen));
      s.profiles[k * G + g] = v;
      tot += v;
    }
    for (int g = 0; g < G; ++g) s.profiles[k * G + g] /= tot;
  }
  std::vector<double> type_freq(K);
  double fsum = 0;
  for (int k = 0; k < K; ++k) fsum += (type_freq[k] = 0.5 + u(gen));
  for (auto& f : type_freq) f /= fsum;
  s.ambient.assign(G, 0.0);
  for (int k = 0; k < K; ++k)
    for (int g = 0; g < G; ++g) s.ambient[g] += type_freq[k] * s.profiles[k * G + g];
  auto draw_type = [&] {
    double r = u(gen);
    for (int k = 0; k < K; ++k) {
      if (r < type_freq[k]) return k;
      r -= type_freq[k];
    }
    return K - 1;
  };
  auto poisson = [&](double mean) {
    if (mean <= 0) return 0.0;
    std::poisson_distribution<long> p(mean);
    return static_cast<double>(p(gen));
  };
  auto nb = [&](double mean) {
    if (mean <= 0) return 0.0;
    std::gamma_distribution<double> gm(1.0 / c.dispersion, mean * c.dispersion);
    return poisson(gm(gen));
  };
  // One droplet with a cell: clean NB counts at (1 − ρ) n p_k, ambient Poisson at ρ n a.
  auto singlet = [&](int k, double rho, std::vector<double>& clean, std::vector<double>& amb) {
    const double n = c.library_median * std::exp(c.library_sdlog * nd(gen));
    for (int g = 0; g < G; ++g) {
      clean[g] += nb((1 - rho) * n * s.profiles[k * G + g]);
      amb[g] += poisson(rho * n * s.ambient[g]);
    }
  };
  s.counts.n_rows = c.n_cells;
  s.counts.n_cols = G;
  std::vector<double> clean(G), amb(G);
  for (int i = 0; i < c.n_cells; ++i) {
    std::fill(clean.begin(), clean.end(), 0.0);
    std::fill(amb.begin(), amb.end(), 0.0);
    const bool dbl = u(gen) < c.doublet_fraction;
    const int k = draw_type();
    singlet(k, c.rho_min + (c.rho_max - c.rho_min) * u(gen), clean, amb);
    if (dbl) singlet(draw_type(), c.rho_min + (c.rho_max - c.rho_min) * u(gen), clean, amb);
    double tot = 0, atot = 0;
    for (int g = 0; g < G; ++g) {
      const double x = clean[g] + amb[g];
      tot += x;
      atot += amb[g];
      if (x > 0) {
        s.counts.indices.push_back(g);
        s.counts.data.push_back(static_cast<float>(x));
        s.clean.push_back(clean[g]);
      }
    }
    s.counts.indptr.push_back(static_cast<std::int64_t>(s.counts.data.size()));
    s.type.push_back(k);
    s.is_doublet.push_back(dbl ? 1 : 0);
    s.rho.push_back(tot > 0 ? atot / tot : 0.0);
  }
  s.empty.n_rows = c.n_empty;
  s.empty.n_cols = G;
  for (int i = 0; i < c.n_empty; ++i) {
    const double n = 20 + 80 * u(gen);
    for (int g = 0; g < G; ++g) {
      const double x = poisson(n * s.ambient[g]);
      if (x > 0) {
        s.empty.indices.push_back(g);
        s.empty.data.push_back(static_cast<float>(x));
      }
    }
    s.empty.indptr.push_back(static_cast<std::int64_t>(s.empty.data.size()));
  }
  return s;
}

/// normalize_total(target) + log1p of the CSR rows, dense [rows × G] (host).
inline std::vector<double> log_normalize_dense(const io::CsrMatrix<float>& m, double target = 1e4) {
  const auto G = static_cast<std::size_t>(m.n_cols);
  std::vector<double> out(static_cast<std::size_t>(m.n_rows) * G, 0.0);
  for (std::int64_t r = 0; r < m.n_rows; ++r) {
    double n = 0;
    for (auto e = m.row_begin(r); e < m.row_end(r); ++e) n += m.data[static_cast<std::size_t>(e)];
    if (n <= 0) continue;
    for (auto e = m.row_begin(r); e < m.row_end(r); ++e)
      out[static_cast<std::size_t>(r) * G + static_cast<std::size_t>(m.indices[static_cast<std::size_t>(e)])] +=
          std::log1p(target * m.data[static_cast<std::size_t>(e)] / n);
  }
  return out;
}

/// PCA fitted on the first n_fit rows of dense X [rows × G]: returns the mean [G] and the top D
/// directions W [G × D] (orthonormal, by subspace iteration on the covariance).
inline void fit_pca(const std::vector<double>& X, int n_fit, int G, int D, std::vector<double>& mean,
                    std::vector<double>& W) {
  mean.assign(G, 0.0);
  for (int i = 0; i < n_fit; ++i)
    for (int g = 0; g < G; ++g) mean[g] += X[static_cast<std::size_t>(i) * G + g] / n_fit;
  std::vector<double> C(static_cast<std::size_t>(G) * G, 0.0), row(G);
  for (int i = 0; i < n_fit; ++i) {
    for (int g = 0; g < G; ++g) row[g] = X[static_cast<std::size_t>(i) * G + g] - mean[g];
    for (int a = 0; a < G; ++a) {
      if (row[a] == 0) continue;
      for (int b = 0; b < G; ++b) C[static_cast<std::size_t>(a) * G + b] += row[a] * row[b];
    }
  }
  std::mt19937_64 gen(7);
  std::normal_distribution<double> nd(0, 1);
  W.assign(static_cast<std::size_t>(G) * D, 0.0);
  for (auto& w : W) w = nd(gen);
  std::vector<double> Z(W.size());
  for (int it = 0; it < 200; ++it) {
    for (int a = 0; a < G; ++a)
      for (int d = 0; d < D; ++d) {
        double s = 0;
        for (int b = 0; b < G; ++b) s += C[static_cast<std::size_t>(a) * G + b] * W[static_cast<std::size_t>(b) * D + d];
        Z[static_cast<std::size_t>(a) * D + d] = s;
      }
    for (int d = 0; d < D; ++d) {  // Gram–Schmidt
      for (int p = 0; p < d; ++p) {
        double dp = 0;
        for (int a = 0; a < G; ++a) dp += Z[a * D + d] * Z[a * D + p];
        for (int a = 0; a < G; ++a) Z[a * D + d] -= dp * Z[a * D + p];
      }
      double nn = 0;
      for (int a = 0; a < G; ++a) nn += Z[a * D + d] * Z[a * D + d];
      nn = std::sqrt(nn);
      for (int a = 0; a < G; ++a) Z[a * D + d] /= nn;
    }
    W.swap(Z);
  }
}

/// (X − mean) W for every row of X [rows × G] → [rows × D].
inline std::vector<double> project(const std::vector<double>& X, int G, const std::vector<double>& mean,
                                   const std::vector<double>& W, int D) {
  const std::size_t rows = X.size() / static_cast<std::size_t>(G);
  std::vector<double> out(rows * D, 0.0);
  for (std::size_t i = 0; i < rows; ++i)
    for (int g = 0; g < G; ++g) {
      const double v = X[i * G + g] - mean[g];
      for (int d = 0; d < D; ++d) out[i * D + d] += v * W[static_cast<std::size_t>(g) * D + d];
    }
  return out;
}

}  // namespace test
}  // namespace diffbio

#endif
