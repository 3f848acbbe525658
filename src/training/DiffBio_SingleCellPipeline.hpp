// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SingleCellPipeline.hpp
/// \brief The single-cell chain behind `diffbio sc` and `diffbio sc train`:
///
///   counts (.h5ad / 10x, this rank's rows, read in chunks)
///     → cell calling: barcodes below --min-counts UMIs are empty droplets (their summed counts
///       are the ambient profile; they are not analysed further)
///     → QC: n_counts, n_genes; AmbientRemoval (ρ initialised SoupX-style from the genes that
///       are off in each cluster — counts far below their ambient-predicted level — with a
///       per-cell gamma–Poisson posterior, then refined per channel — or per cell,
///       --ambient-rho cell — by the Poisson likelihood against the empty droplets' ambient
///       profile and cluster profiles with the current ambient estimate removed);
///       DoubletScorer (simulated doublets: merged sums of two cells' counts as fed to the
///       embedding, same normalisation and projection, kNN)
///     → NormalizeLog1p → SparsePCA (W fitted on a rank-independent row sample)
///     → per-batch embedding offset s_b (learned by `sc train`, 0 otherwise)
///     → SoftKMeansClustering (hard = Lloyd, distributed over ranks)
///     (--embedding vae: the latent mean of an scVI-style VAENormalizer with a batch covariate,
///      trained on the (corrected) counts, replaces NormalizeLog1p → PCA → offsets; one rank)
///     → .h5ad (obs / obsm / var / uns), written atomically by rank 0.
///
/// Inference (`diffbio sc`): the classic chain (log-normalise → PCA → k-means++ + Lloyd) gives
/// the clusters whose off genes give the initial ρ and whose pooled, ambient-removed profiles q
/// feed AmbientRemoval; ρ is refined by Adam on the Poisson NLL (two rounds re-pooling q), the
/// corrected counts go through the same normalisation and projection and are
/// clustered again; the doublet score is computed on the final embedding. With --model (from
/// `sc train`) the learned W, μ, batch offsets and centroids are used instead. --classic runs
/// only the classic chain (no ambient correction, no doublet scoring).
///
/// Training (`diffbio sc train`) minimises one loss over all stages jointly,
///   L = (1/N) Σ_i w_i E_i(τ) + λ_rec (1/N) Σ_i ‖x̃_i − μ − W y_i‖² + λ_amb (1/N) Σ_i NLL_i,
/// with x̃_i the normalised (ambient-corrected) counts, y_i = Wᵀ(x̃_i − μ) the PCA projection,
/// z_i = y_i − s_{b_i} the embedding with a learned offset per batch, and
/// E_i = −τ log Σ_k exp(−‖z_i − c_k‖²/τ) the soft k-means energy. The reconstruction term keeps W
/// from collapsing and trains W only (written as Σ_i y_iᵀ(WᵀW)y_i − 2‖y_i‖² + const, so nothing
/// is densified); the ambient Poisson NLL trains ρ, which also receives the clustering gradient
/// through the corrected counts → NormalizeLog1p → PCA. w_i = 1 − P(doublet_i) from the
/// DoubletScorer on the classic embedding is a constant weight (an unsupervised doublet term
/// would be minimised by calling every cell a doublet). τ anneals exponentially from
/// τ_start·v to τ_end·v (v: mean squared distance of the classic embedding to its mean; the
/// SoftKMeans log τ is set from the schedule each epoch). Full-batch Adam per epoch, one
/// optimiser per parameter group (PCA; offsets + centroids; per-cell ρ logits), gradients of the
/// shared groups all-reduced over ranks. Initialisation: the classic chain's PCA and k-means
/// centroids, offsets 0. Checkpoints (HDF5, atomic) every N epochs hold all parameters and
/// optimiser states; --resume continues bit for bit (same rank and thread counts).
///
/// What drives the improvement over the classic chain on the simulator's data: the per-batch
/// offsets. Gene-wise multiplicative batch effects are additive shifts after log1p and hence
/// (to first order) a shift of each batch in PCA space, which splits cell types by batch for
/// k-means; annealed from a high τ, the energy pulls the batches onto shared centroids. With
/// the offsets frozen (--fixed-offsets) joint training does not beat the classic chain.
#ifndef DIFFBIO_SINGLE_CELL_PIPELINE_HPP
#define DIFFBIO_SINGLE_CELL_PIPELINE_HPP

#include <DiffBio_Comm.hpp>
#include <DiffBio_Config.hpp>

#include <cstdint>
#include <string>

namespace diffbio {

struct ScOptions {
  // ---- input / output
  std::string input;        ///< .h5ad or 10x .h5
  std::string out;          ///< .h5ad results (sc: required; sc train: optional)
  std::string model;        ///< sc: learned parameters from `sc train` (optional)
  std::string batch_key = "batch";     ///< obs column with the batch ("" or absent: one batch)
  std::string truth_key = "cell_type"; ///< obs column with true labels (ARI is reported if present)
  std::int64_t chunk = 16384;          ///< rows read per HDF5 block
  // ---- chain
  int n_clusters = 8;
  int n_pcs = 30;
  double target_sum = 1e4;
  bool classic = false;     ///< sc: classic chain only (log-normalise → PCA → k-means)
  std::string embedding = "pca";  ///< sc: "pca" or "vae" (scVI-style VAENormalizer latent, --pcs dims)
  int vae_epochs = 100;     ///< (1500 cells: 60 epochs give ARI 0.96, 30 only 0.20)
  int vae_hidden = 128;
  double vae_lr = 3e-3;
  bool ambient = true;      ///< AmbientRemoval stage
  bool doublets = true;     ///< DoubletScorer stage
  std::int64_t pca_fit_cells = 20000;  ///< rows of the (rank-independent) PCA fitting sample
  std::int64_t kmeans_sample = 20000;  ///< rows of the k-means++ initialisation sample
  int kmeans_max_iter = 300;
  std::uint64_t seed = 0;
  double min_counts = -1;          ///< cell calling: barcodes with fewer UMIs are empty droplets
                                   ///< (ambient source, not analysed); < 0: auto (10 % of the 99th
                                   ///< percentile of the barcodes' UMIs, as Cell Ranger 2); 0: all
  double ambient_max_library = 0;  ///< barcodes below this library size define the ambient
                                   ///< profile; 0: auto (the barcodes below --min-counts if ≥ 50,
                                   ///< else the pooled profile of all cells)
  int ambient_steps = 40;          ///< Adam steps of the ρ fit (inference)
  std::string ambient_rho = "channel";  ///< sc: "channel" (one ρ per batch, as SoupX) or "cell"
  double ambient_off_ratio = 0.15; ///< a gene is off in a cluster (its counts there are ambient)
                                   ///< when cluster counts / (cluster UMIs · ambient fraction) < this;
                                   ///< must exceed the contamination (≈ ρ for off genes) but stay
                                   ///< below partly expressed genes (0.2 or more: impure clusters)
  int doublet_k = 15;
  double doublet_ratio = 0.5;      ///< simulated doublets per real cell
  double doublet_threshold = 0.5;  ///< initial / inference threshold on the doublet score
  // ---- training
  std::string model_out;    ///< sc train: learned parameters (HDF5, atomic)
  std::string checkpoint;   ///< sc train: checkpoint file (HDF5, atomic)
  int checkpoint_every = 10;
  std::string resume;       ///< sc train: continue from this checkpoint
  int stop_after = 0;       ///< sc train: stop (after checkpointing) once this many epochs ran in
                            ///< this invocation (0: run to --epochs), e.g. for time-limited jobs
  int epochs = 150;
  double lr = 0.05;         ///< Adam: batch offsets and centroids
  double lr_pca = 1e-4;     ///< Adam: PCA projection W
  double lr_ambient = 0.05; ///< Adam: per-cell contamination logits
  double tau_start = 0.5;   ///< τ_start relative to the embedding's mean squared spread
  double tau_end = 0.02;
  double rec_weight = 1.0;
  double ambient_weight = 1.0;
  bool learn_offsets = true;  ///< per-batch embedding offsets (ablation: false)
  bool check_gradient = false;  ///< sc train: central-difference check of the joint gradient, then exit
  // ---- command-line switches (they clear the flags above when set)
  bool no_ambient = false, no_doublets = false, fixed_offsets = false;
};

/// `diffbio sc`: returns the exit code (0).
int run_sc_pipeline(const ScOptions& o, const Comm& comm);
/// `diffbio sc train`.
int run_sc_train(const ScOptions& o, const Comm& comm);

/// Peak resident set size of this process (VmHWM, bytes; 0 if unknown).
std::int64_t peak_rss_bytes();

}  // namespace diffbio

#endif
