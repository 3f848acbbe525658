// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SingleCellSimulator.hpp
/// \brief A realistic, seeded single-cell count simulator with ground truth, streamed by rows.
///
/// Generative model (every quantity is recorded as truth):
///  - genes: baseline log-expression a_g ~ N(0, base_sd) (heavy-tailed linear expression), a
///    gene-wise negative-binomial dispersion θ_g ~ logN(log θ̄, θ_sd);
///  - cell types k < K with proportions π ∝ exp(N(0, type_weight_sd)); each type has a marker
///    module of `markers_per_type` genes up-regulated by a log-fold change
///    lfc_kg = marker_lfc · (0.5 + U) (modules may overlap);
///  - type-restricted genes (a fraction `restricted_fraction`, each assigned to one random type,
///    like haemoglobin genes of erythrocytes): in every other type their expression is multiplied
///    by `off_expression` (≈ off), so in cells of those types their counts are ambient RNA — the
///    genes SoupX-style contamination estimation relies on;
///  - batches b < B with gene-wise multiplicative effects exp(N(0, batch_sd)) and a batch depth
///    factor exp(N(0, batch_depth_sd));
///  - the expression profile p_kbg ∝ exp(a_g + lfc_kg) · batch_bg · off_kg (Σ_g p = 1);
///  - ambient RNA of batch b (one channel per batch) a_bg = Σ_k π_k p_kbg, the mean expression of
///    that channel's population; each cell's contamination fraction ρ_i ~ U(ρ_min, ρ_max);
///  - library size L_i ~ logN(library_log_mean, library_log_sd) · batch depth factor;
///  - counts x_ig ~ NB(mean L_i((1 − ρ_i) p_{k_i b_i g} + ρ_i a_{b_i g}), θ_g);
///  - planted doublets (a fraction `doublet_rate`): the sum of the cell above and a second cell
///    of a different type from the same batch (its own library size, same ρ);
///  - empty droplets (`n_empty`, rows n_cells … n_cells + n_empty − 1 after the cells, as in a
///    raw 10x matrix): barcodes holding only ambient RNA of their channel, library
///    L ~ logU(empty_library_min, empty_library_max), x_g ~ Poisson(L a_bg). The cells here are
///    shallow (median ≈ 200 UMIs), so the default range (5–25 UMIs) keeps empties ≥ 8× below
///    the typical cell and below the cell-calling threshold, as in real data (cells: thousands
///    of UMIs, empties: tens).
///
/// Reproducibility: every random number is a Philox draw (DiffBio_Random.hpp) keyed by the seed
/// and addressed by (role, global cell index, gene, draw), so cell i is the same cell whatever
/// row block it is generated in, on any rank and thread count (tested). Gene-level parameters
/// are computed once on construction (O(K·G + B·G) memory). rows() returns a CSR block;
/// generation goes through a dense scratch of at most `scratch_rows` × G floats, never
/// cells × genes. At the defaults (2000 genes) about 5 % of entries are non-zero.
#ifndef DIFFBIO_SINGLE_CELL_SIMULATOR_HPP
#define DIFFBIO_SINGLE_CELL_SIMULATOR_HPP

#include <DiffBio_Config.hpp>
#include <DiffBio_SparseMatrix.hpp>
#ifdef DIFFBIO_ENABLE_HDF5
#include <DiffBio_SingleCell.hpp>
#endif

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace diffbio {

struct SingleCellSimConfig {
  std::int64_t n_cells = 5000;
  std::int64_t n_genes = 2000;
  int n_types = 8;
  int n_batches = 3;
  int markers_per_type = 60;
  double marker_lfc = 2.0;          ///< mean log fold change of marker genes (natural log)
  double base_sd = 1.8;             ///< sd of the baseline log expression over genes
  double batch_sd = 0.4;            ///< sd of the gene-wise log batch effects
  double batch_depth_sd = 0.2;      ///< sd of the per-batch log library-size factor
  double library_log_mean = 5.3;    ///< log of the median library size (≈ 200 UMIs)
  double library_log_sd = 0.4;
  double doublet_rate = 0.04;
  double contamination_min = 0.02;
  double contamination_max = 0.20;
  double dispersion_log_mean = 1.4; ///< log θ̄ (θ̄ ≈ 4)
  double dispersion_log_sd = 0.5;
  double type_weight_sd = 0.4;
  double restricted_fraction = 0.1; ///< genes expressed in one type only (off in the others)
  double off_expression = 0.01;     ///< their expression factor outside that type
  std::int64_t n_empty = 0;         ///< empty droplets appended after the cells
  double empty_library_min = 5;     ///< their expected UMIs, log-uniform in [min, max]
  double empty_library_max = 25;
  std::uint64_t seed = 1;
  int scratch_rows = 512;           ///< rows per dense generation scratch block
};

/// Ground truth of one simulated cell.
struct SimulatedCell {
  int type = 0;
  int batch = 0;
  bool doublet = false;
  bool empty = false;          ///< an empty droplet (ambient RNA only; type −1, ρ = 1)
  int partner_type = -1;       ///< the second cell's type (doublets only)
  double contamination = 0;    ///< ρ_i
  double library = 0;          ///< expected total UMIs (both cells for a doublet)
};

class SingleCellSimulator {
 public:
  explicit SingleCellSimulator(const SingleCellSimConfig& cfg);

  const SingleCellSimConfig& config() const { return cfg_; }
  std::int64_t n_cells() const { return cfg_.n_cells; }
  /// Cells followed by the empty droplets: the rows of the raw matrix.
  std::int64_t n_barcodes() const { return cfg_.n_cells + cfg_.n_empty; }
  std::int64_t n_genes() const { return cfg_.n_genes; }

  /// Truth of global barcode \p i < n_barcodes() (cheap: a handful of Philox draws).
  SimulatedCell cell(std::int64_t i) const;
  /// Counts of global rows [begin, end) ⊆ [0, n_barcodes()) as CSR (first_row = begin, column
  /// indices sorted).
  io::CsrMatrix<float> rows(std::int64_t begin, std::int64_t end) const;

  /// Expression profile p_kbg (Σ_g = 1) and ambient profile a_bg.
  double profile(int type, int batch, std::int64_t gene) const {
    return profile_[(static_cast<std::size_t>(type) * cfg_.n_batches + batch) * cfg_.n_genes + gene];
  }
  double ambient(int batch, std::int64_t gene) const {
    return ambient_[static_cast<std::size_t>(batch) * cfg_.n_genes + gene];
  }
  double dispersion(std::int64_t gene) const { return theta_[static_cast<std::size_t>(gene)]; }
  double type_weight(int type) const { return pi_[static_cast<std::size_t>(type)]; }
  /// The first type whose marker module contains \p gene, or −1.
  int marker_of(std::int64_t gene) const { return marker_of_[static_cast<std::size_t>(gene)]; }
  /// The one type expressing a type-restricted \p gene, or −1 (expressed in every type).
  int restricted_to(std::int64_t gene) const { return restricted_to_[static_cast<std::size_t>(gene)]; }
  double batch_effect(int batch, std::int64_t gene) const {
    return batch_effect_[static_cast<std::size_t>(batch) * cfg_.n_genes + gene];
  }

  std::string barcode(std::int64_t i) const;
  std::string gene_name(std::int64_t g) const;
  std::string type_name(int k) const { return "type" + std::to_string(k); }
  std::string batch_name(int b) const { return "batch" + std::to_string(b); }

#ifdef DIFFBIO_ENABLE_HDF5
  /// obs truth columns of rows [begin, end): cell_type, batch (categorical), is_doublet,
  /// is_empty (boolean), contamination, true_library_size (real), doublet_partner_type
  /// (categorical, NA for singlets); cell_type is NA and contamination 1 for empty droplets;
  /// the index is the barcode.
  io::DataFrame obs(std::int64_t begin, std::int64_t end) const;
  /// var: gene names; marker_of, restricted_to (categorical, NA for none), dispersion, ambient (mean
  /// over batches), baseline expression.
  io::DataFrame var() const;
  /// The simulation parameters as scalar uns entries ("sim_*").
  std::map<std::string, io::UnsValue> uns() const;
#endif

 private:
  std::string barcode_of(std::int64_t i, const SimulatedCell& c) const;

  SingleCellSimConfig cfg_;
  std::vector<double> pi_, pi_cum_;     ///< [K] type proportions and their cumulative sums
  std::vector<double> theta_;           ///< [G]
  std::vector<double> base_;            ///< [G] baseline linear expression (normalised)
  std::vector<double> batch_effect_;    ///< [B×G]
  std::vector<double> batch_depth_;     ///< [B]
  std::vector<double> profile_;         ///< [K×B×G]
  std::vector<double> ambient_;         ///< [B×G]
  std::vector<int> marker_of_;          ///< [G]
  std::vector<int> restricted_to_;      ///< [G]
};

}  // namespace diffbio

#endif
