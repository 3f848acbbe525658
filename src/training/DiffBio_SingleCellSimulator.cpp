// SPDX-License-Identifier: BSD-3-Clause
#include <DiffBio_SingleCellSimulator.hpp>

#include <DiffBio_Error.hpp>
#include <DiffBio_Random.hpp>

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <cmath>

namespace diffbio {

namespace {

// Roles of the Philox key: one independent stream family per kind of randomness, so adding a
// draw to one role never shifts another.
enum Role : std::uint64_t { genes = 1, markers, batches, cells, counts_a, counts_b, empties, restricted };

CounterRng rng(std::uint64_t seed, Role role, std::uint64_t stream) {
  return CounterRng(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(role), stream);
}

/// log k! (exact sum below 16, Stirling series above; relative error < 1e-12).
double log_factorial(double k) {
  if (k < 16) {
    double s = 0;
    for (int j = 2; j <= static_cast<int>(k); ++j) s += std::log(static_cast<double>(j));
    return s;
  }
  const double x = k + 1;
  return (x - 0.5) * std::log(x) - x + 0.91893853320467274178 + 1.0 / (12 * x) -
         1.0 / (360 * x * x * x);
}

/// Sequential draws addressed by (stream, counter = base + j): a rejection sampler takes as many
/// as it needs, always the same ones for the same entry.
struct Draws {
  const CounterRng& r;
  std::uint64_t base;
  std::uint64_t j = 0;
  double uniform() { return r.uniform(base + j++); }
  double normal() { return r.normal(base + j++); }
};

/// Gamma(shape, 1) by Marsaglia & Tsang (shape < 1 boosted by U^{1/shape}).
double gamma_draw(double shape, Draws& d) {
  double boost = 1;
  if (shape < 1) {
    boost = std::pow(d.uniform(), 1.0 / shape);
    shape += 1;
  }
  const double dd = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9 * dd);
  for (int it = 0; it < 64; ++it) {
    const double x = d.normal();
    double v = 1 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const double u = d.uniform();
    if (std::log(u) < 0.5 * x * x + dd - dd * v + dd * std::log(v)) return boost * dd * v;
  }
  return boost * dd;  // acceptance probability > 0.95 per try: never reached in practice
}

/// Poisson(λ): inversion below 30, Hörmann's PTRS (transformed rejection) above.
double poisson_draw(double lambda, Draws& d) {
  if (lambda <= 0) return 0;
  if (lambda < 30) {
    const double u = d.uniform();
    double p = std::exp(-lambda), cdf = p, k = 0;
    while (u > cdf && k < 1000) {
      k += 1;
      p *= lambda / k;
      cdf += p;
    }
    return k;
  }
  const double slam = std::sqrt(lambda), loglam = std::log(lambda);
  const double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  const double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
  for (int it = 0; it < 256; ++it) {
    const double U = d.uniform() - 0.5, V = d.uniform();
    const double us = 0.5 - std::fabs(U);
    const double k = std::floor((2 * a / us + b) * U + lambda + 0.43);
    if (us >= 0.07 && V <= vr) return k;
    if (k < 0 || (us < 0.013 && V > us)) continue;
    if (std::log(V) + std::log(invalpha) - std::log(a / (us * us) + b) <=
        -lambda + k * loglam - log_factorial(k))
      return k;
  }
  return std::floor(lambda);
}

/// NB(mean μ, dispersion θ): variance μ + μ²/θ. Small means (the vast majority of entries) by
/// inversion from a single uniform; large means as a gamma–Poisson mixture.
double nb_draw(double mu, double theta, Draws& d) {
  if (mu <= 0) return 0;
  if (mu < 30) {
    const double u = d.uniform();
    const double q = mu / (theta + mu);
    double p = std::exp(theta * std::log1p(-q)), cdf = p, k = 0;
    while (u > cdf && k < 5000) {
      p *= (k + theta) / (k + 1) * q;
      k += 1;
      cdf += p;
      if (p < 1e-300) break;
    }
    return k;
  }
  const double lambda = gamma_draw(theta, d) * mu / theta;
  return poisson_draw(lambda, d);
}

}  // namespace

SingleCellSimulator::SingleCellSimulator(const SingleCellSimConfig& cfg) : cfg_(cfg) {
  const auto K = cfg.n_types, B = cfg.n_batches;
  const auto G = cfg.n_genes;
  if (cfg.n_cells < 0 || G < 1 || K < 1 || B < 1)
    throw Error(ExitCode::usage, "simulate-sc: need cells >= 0, genes >= 1, types >= 1, batches >= 1");
  if (cfg.doublet_rate > 0 && K < 2)
    throw Error(ExitCode::usage, "simulate-sc: doublets of different types need >= 2 types");
  if (!(cfg.doublet_rate >= 0 && cfg.doublet_rate < 1) ||
      !(cfg.contamination_min >= 0 && cfg.contamination_min <= cfg.contamination_max &&
        cfg.contamination_max < 1))
    throw Error(ExitCode::usage,
                "simulate-sc: doublet rate must be in [0, 1), contamination in [0, 1) with min <= max");
  if (cfg.scratch_rows < 1) throw Error(ExitCode::usage, "simulate-sc: scratch rows must be >= 1");
  if (cfg.n_empty < 0 || !(cfg.empty_library_min > 0 && cfg.empty_library_min <= cfg.empty_library_max))
    throw Error(ExitCode::usage, "simulate-sc: need empty droplets >= 0 and 0 < empty library min <= max");
  const std::size_t g_n = static_cast<std::size_t>(G);

  // Types: proportions.
  pi_.resize(static_cast<std::size_t>(K));
  double tot = 0;
  for (int k = 0; k < K; ++k) {
    pi_[k] = std::exp(cfg.type_weight_sd * rng(cfg.seed, cells, 0xFFFFFFFFull).normal(k));
    tot += pi_[k];
  }
  pi_cum_.resize(pi_.size());
  double run = 0;
  for (int k = 0; k < K; ++k) {
    pi_[k] /= tot;
    run += pi_[k];
    pi_cum_[k] = run;
  }
  pi_cum_.back() = 1.0;

  // Genes: baseline, dispersion.
  base_.resize(g_n);
  theta_.resize(g_n);
  std::vector<double> log_base(g_n);
  for (std::size_t g = 0; g < g_n; ++g) {
    const auto r = rng(cfg.seed, genes, g);
    log_base[g] = cfg.base_sd * r.normal(0);
    theta_[g] = std::exp(cfg.dispersion_log_mean + cfg.dispersion_log_sd * r.normal(1));
  }
  double bsum = 0;
  for (std::size_t g = 0; g < g_n; ++g) bsum += std::exp(log_base[g]);
  for (std::size_t g = 0; g < g_n; ++g) base_[g] = std::exp(log_base[g]) / bsum;

  // Marker modules: lfc[k][g].
  std::vector<double> lfc(static_cast<std::size_t>(K) * g_n, 0.0);
  marker_of_.assign(g_n, -1);
  for (int k = 0; k < K; ++k) {
    const auto r = rng(cfg.seed, markers, static_cast<std::uint64_t>(k));
    for (int m = 0; m < cfg.markers_per_type; ++m) {
      const auto g = std::min<std::int64_t>(G - 1, static_cast<std::int64_t>(r.uniform(2 * m) * G));
      lfc[static_cast<std::size_t>(k) * g_n + g] = cfg.marker_lfc * (0.5 + r.uniform(2 * m + 1));
      if (marker_of_[g] < 0) marker_of_[g] = k;
    }
  }

  // Type-restricted genes (haemoglobin-like): off, × off_expression, outside their one type. Their
  // own stream family, so the other parameters are those of a simulation without them.
  if (!(cfg.restricted_fraction >= 0 && cfg.restricted_fraction <= 1) ||
      !(cfg.off_expression >= 0 && cfg.off_expression <= 1))
    throw Error(ExitCode::usage, "simulate-sc: restricted fraction and off expression must be in [0, 1]");
  restricted_to_.assign(g_n, -1);
  for (std::size_t g = 0; g < g_n; ++g) {
    const auto r = rng(cfg.seed, restricted, g);
    if (r.uniform(0) < cfg.restricted_fraction)
      restricted_to_[g] = std::min(K - 1, static_cast<int>(r.uniform(1) * K));
  }

  // Batches: gene-wise effects and depth.
  batch_effect_.resize(static_cast<std::size_t>(B) * g_n);
  batch_depth_.resize(static_cast<std::size_t>(B));
  for (int b = 0; b < B; ++b) {
    const auto r = rng(cfg.seed, batches, static_cast<std::uint64_t>(b));
    batch_depth_[b] = std::exp(cfg.batch_depth_sd * r.normal(0xFFFFFFFFull));
    for (std::size_t g = 0; g < g_n; ++g)
      batch_effect_[b * g_n + g] = std::exp(cfg.batch_sd * r.normal(g));
  }

  // Profiles and ambient.
  profile_.assign(static_cast<std::size_t>(K) * B * g_n, 0.0);
  ambient_.assign(static_cast<std::size_t>(B) * g_n, 0.0);
  for (int k = 0; k < K; ++k)
    for (int b = 0; b < B; ++b) {
      double* p = &profile_[(static_cast<std::size_t>(k) * B + b) * g_n];
      double s = 0;
      for (std::size_t g = 0; g < g_n; ++g) {
        p[g] = base_[g] * std::exp(lfc[k * g_n + g]) * batch_effect_[b * g_n + g] *
               (restricted_to_[g] >= 0 && restricted_to_[g] != k ? cfg.off_expression : 1.0);
        s += p[g];
      }
      for (std::size_t g = 0; g < g_n; ++g) {
        p[g] /= s;
        ambient_[b * g_n + g] += pi_[k] * p[g];
      }
    }
}

SimulatedCell SingleCellSimulator::cell(std::int64_t i) const {
  DIFFBIO_EXPECTS(i >= 0 && i < n_barcodes(), "SingleCellSimulator::cell: index out of range");
  if (i >= cfg_.n_cells) {  // an empty droplet: its own stream family, cells are unaffected
    const auto r = rng(cfg_.seed, empties, static_cast<std::uint64_t>(i - cfg_.n_cells));
    SimulatedCell c;
    c.empty = true;
    c.type = -1;
    c.batch = std::min(cfg_.n_batches - 1, static_cast<int>(r.uniform(0) * cfg_.n_batches));
    c.contamination = 1;
    c.library = std::exp(std::log(cfg_.empty_library_min) +
                         (std::log(cfg_.empty_library_max) - std::log(cfg_.empty_library_min)) * r.uniform(1));
    return c;
  }
  const auto r = rng(cfg_.seed, cells, static_cast<std::uint64_t>(i));
  const auto pick_type = [&](double u) {
    int k = 0;
    while (k + 1 < cfg_.n_types && u > pi_cum_[k]) ++k;
    return k;
  };
  SimulatedCell c;
  c.type = pick_type(r.uniform(0));
  c.batch = std::min(cfg_.n_batches - 1, static_cast<int>(r.uniform(1) * cfg_.n_batches));
  c.contamination = cfg_.contamination_min +
                    (cfg_.contamination_max - cfg_.contamination_min) * r.uniform(2);
  const double depth = batch_depth_[static_cast<std::size_t>(c.batch)];
  c.library = depth * std::exp(cfg_.library_log_mean + cfg_.library_log_sd * r.normal(3));
  c.doublet = cfg_.doublet_rate > 0 && r.uniform(4) < cfg_.doublet_rate;
  if (c.doublet) {
    for (std::uint64_t j = 0; j < 256 && (c.partner_type < 0 || c.partner_type == c.type); ++j)
      c.partner_type = pick_type(r.uniform(16 + j));
    if (c.partner_type == c.type) c.partner_type = (c.type + 1) % cfg_.n_types;
    c.library += depth * std::exp(cfg_.library_log_mean + cfg_.library_log_sd * r.normal(5));
  }
  return c;
}

io::CsrMatrix<float> SingleCellSimulator::rows(std::int64_t begin, std::int64_t end) const {
  DIFFBIO_EXPECTS(0 <= begin && begin <= end && end <= n_barcodes(),
                  "SingleCellSimulator::rows: range out of bounds");
  const std::int64_t G = cfg_.n_genes;
  const int B = cfg_.n_batches;
  io::CsrMatrix<float> m;
  m.n_rows = end - begin;
  m.n_cols = G;
  m.first_row = begin;
  m.indptr.assign(1, 0);
  m.indptr.reserve(static_cast<std::size_t>(m.n_rows) + 1);
  const std::int64_t S = cfg_.scratch_rows;
  std::vector<float> dense(static_cast<std::size_t>(std::min<std::int64_t>(S, m.n_rows) * G));
  using Host = Kokkos::DefaultHostExecutionSpace;
  for (std::int64_t b0 = begin; b0 < end; b0 += S) {
    const std::int64_t b1 = std::min(end, b0 + S);
    float* out = dense.data();
    const double* prof = profile_.data();
    const double* amb = ambient_.data();
    const double* theta = theta_.data();
    const std::uint64_t seed = cfg_.seed;
    // Host-only generation (the output is a host CSR); one cell per work item, so the values
    // do not depend on the thread count.
    Kokkos::parallel_for(
        label("SingleCellSimulator::rows"), Kokkos::RangePolicy<Host>(Host(), b0, b1),
        [=](const std::int64_t i) {
          const SimulatedCell c = cell(i);
          float* row = out + (i - b0) * G;
          const std::size_t gs = static_cast<std::size_t>(G);
          if (c.empty) {  // ambient RNA only: Poisson sampling of the channel's pool
            const double* ab = amb + static_cast<std::size_t>(c.batch) * gs;
            const auto re = rng(seed, empties, static_cast<std::uint64_t>(i));
            for (std::int64_t g = 0; g < G; ++g) {
              Draws d{re, (static_cast<std::uint64_t>(g) << 10) + 1024};
              row[g] = static_cast<float>(poisson_draw(c.library * ab[g], d));
            }
            return;
          }
          const double* pa = prof + (static_cast<std::size_t>(c.type) * B + c.batch) * gs;
          const double* pb = c.doublet ? prof + (static_cast<std::size_t>(c.partner_type) * B + c.batch) * gs
                                       : nullptr;
          const double* ab = amb + static_cast<std::size_t>(c.batch) * gs;
          const auto ra = rng(seed, counts_a, static_cast<std::uint64_t>(i));
          const auto rb = rng(seed, counts_b, static_cast<std::uint64_t>(i));
          // The library of the first cell: c.library minus the partner's share is not needed;
          // each cell of a doublet draws its own library (same draws as cell()).
          const auto rc = rng(seed, cells, static_cast<std::uint64_t>(i));
          const double depth = c.library;  // total expected UMIs
          double la = depth, lb = 0;
          if (c.doublet) {
            const double d = batch_depth_[static_cast<std::size_t>(c.batch)];
            la = d * std::exp(cfg_.library_log_mean + cfg_.library_log_sd * rc.normal(3));
            lb = depth - la;
          }
          const double rho = c.contamination;
          for (std::int64_t g = 0; g < G; ++g) {
            Draws da{ra, static_cast<std::uint64_t>(g) << 10};
            double x = nb_draw(la * ((1 - rho) * pa[g] + rho * ab[g]), theta[g], da);
            if (pb) {
              Draws db{rb, static_cast<std::uint64_t>(g) << 10};
              x += nb_draw(lb * ((1 - rho) * pb[g] + rho * ab[g]), theta[g], db);
            }
            row[g] = static_cast<float>(x);
          }
        });
    Kokkos::fence();
    for (std::int64_t i = b0; i < b1; ++i) {
      const float* row = out + (i - b0) * G;
      for (std::int64_t g = 0; g < G; ++g)
        if (row[g] != 0.0f) {
          m.indices.push_back(static_cast<std::int32_t>(g));
          m.data.push_back(row[g]);
        }
      m.indptr.push_back(static_cast<std::int64_t>(m.data.size()));
    }
  }
  return m;
}

std::string SingleCellSimulator::barcode_of(std::int64_t i, const SimulatedCell& c) const {
  return c.empty ? "empty" + std::to_string(i - cfg_.n_cells) + "-" + std::to_string(c.batch + 1)
                 : "cell" + std::to_string(i) + "-" + std::to_string(c.batch + 1);
}
std::string SingleCellSimulator::barcode(std::int64_t i) const { return barcode_of(i, cell(i)); }
std::string SingleCellSimulator::gene_name(std::int64_t g) const { return "gene" + std::to_string(g); }

#ifdef DIFFBIO_ENABLE_HDF5
io::DataFrame SingleCellSimulator::obs(std::int64_t begin, std::int64_t end) const {
  DIFFBIO_EXPECTS(0 <= begin && begin <= end && end <= n_barcodes(),
                  "SingleCellSimulator::obs: range out of bounds");
  io::DataFrame df;
  std::vector<std::int64_t> type, batch, dbl, empty, partner;
  std::vector<double> rho, lib;
  for (std::int64_t i = begin; i < end; ++i) {
    const auto c = cell(i);
    df.index.push_back(barcode_of(i, c));
    type.push_back(c.type);
    batch.push_back(c.batch);
    dbl.push_back(c.doublet ? 1 : 0);
    empty.push_back(c.empty ? 1 : 0);
    partner.push_back(c.partner_type);
    rho.push_back(c.contamination);
    lib.push_back(c.library);
  }
  std::vector<std::string> tn, bn;
  for (int k = 0; k < cfg_.n_types; ++k) tn.push_back(type_name(k));
  for (int b = 0; b < cfg_.n_batches; ++b) bn.push_back(batch_name(b));
  df.columns.push_back(io::Column::make_categorical("cell_type", type, tn));
  df.columns.push_back(io::Column::make_categorical("batch", batch, bn));
  df.columns.push_back(io::Column::make_boolean("is_doublet", dbl));
  df.columns.push_back(io::Column::make_boolean("is_empty", empty));
  df.columns.push_back(io::Column::make_real("contamination", rho));
  df.columns.push_back(io::Column::make_real("true_library_size", lib));
  df.columns.push_back(io::Column::make_categorical("doublet_partner_type", partner, tn));
  return df;
}

io::DataFrame SingleCellSimulator::var() const {
  io::DataFrame df;
  std::vector<std::int64_t> marker, restricted_type;
  std::vector<double> disp, amb, base;
  for (std::int64_t g = 0; g < cfg_.n_genes; ++g) {
    df.index.push_back(gene_name(g));
    marker.push_back(marker_of(g));
    restricted_type.push_back(restricted_to(g));
    disp.push_back(dispersion(g));
    double a = 0;
    for (int b = 0; b < cfg_.n_batches; ++b) a += ambient(b, g) / cfg_.n_batches;
    amb.push_back(a);
    base.push_back(base_[static_cast<std::size_t>(g)]);
  }
  std::vector<std::string> tn;
  for (int k = 0; k < cfg_.n_types; ++k) tn.push_back(type_name(k));
  df.columns.push_back(io::Column::make_categorical("marker_of", marker, tn));
  df.columns.push_back(io::Column::make_categorical("restricted_to", restricted_type, tn));
  df.columns.push_back(io::Column::make_real("true_dispersion", disp));
  df.columns.push_back(io::Column::make_real("true_ambient", amb));
  df.columns.push_back(io::Column::make_real("true_baseline", base));
  return df;
}

std::map<std::string, io::UnsValue> SingleCellSimulator::uns() const {
  std::map<std::string, io::UnsValue> u;
  u["sim_seed"] = static_cast<std::int64_t>(cfg_.seed);
  u["sim_n_types"] = cfg_.n_types;
  u["sim_n_batches"] = cfg_.n_batches;
  u["sim_markers_per_type"] = cfg_.markers_per_type;
  u["sim_marker_lfc"] = cfg_.marker_lfc;
  u["sim_batch_sd"] = cfg_.batch_sd;
  u["sim_library_log_mean"] = cfg_.library_log_mean;
  u["sim_library_log_sd"] = cfg_.library_log_sd;
  u["sim_doublet_rate"] = cfg_.doublet_rate;
  u["sim_contamination_min"] = cfg_.contamination_min;
  u["sim_contamination_max"] = cfg_.contamination_max;
  u["sim_dispersion_log_mean"] = cfg_.dispersion_log_mean;
  u["sim_restricted_fraction"] = cfg_.restricted_fraction;
  u["sim_off_expression"] = cfg_.off_expression;
  u["sim_n_empty"] = static_cast<std::int64_t>(cfg_.n_empty);
  u["sim_empty_library_min"] = cfg_.empty_library_min;
  u["sim_empty_library_max"] = cfg_.empty_library_max;
  return u;
}
#endif

}  // namespace diffbio
