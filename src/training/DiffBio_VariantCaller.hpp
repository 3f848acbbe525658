// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_VariantCaller.hpp
/// \brief The end-to-end trainable small-variant caller:
///
///   BAM/CRAM ──BamPileupReader──▶ entries ──DifferentiablePileup(θ_b, a, θ_m, c, γ, ℓ)──▶
///   counts/strand/quality per position ──CandidateFeatures(±w window)──▶ ref-relative features
///   ──VariantClassifier (MLP)──▶ 5 genotype classes ──softmax cross-entropy── truth label
///
/// One ParameterSet holds every block (pileup quality weighting and soft positions, classifier
/// weights), so one loss at the end trains all three operators jointly with one gradient buffer,
/// one all-reduce and one Adam step; `freeze_upstream` zeroes the pileup block's gradient (the
/// ablation: only the classifier learns).
///
/// ### Candidates (find_candidates)
/// Host-side, from the *hard* pileup of the region (unit weights, the same reads the operator sees)
/// and one CIGAR walk over the reads: a position is a candidate if its most frequent non-reference
/// base has ≥ min_alt_count reads and ≥ min_alt_fraction of the depth, or ≥ 1 read and
/// ≥ min_single_fraction (low depth), or if the same holds for the reads carrying one indel allele
/// anchored there. Indel alleles are not in the pileup tensors: the CIGAR walk collects each read's
/// insertion (sequence) or deletion (length), left-aligns it against the reference the way
/// `bcftools norm` does (shift left while the last inserted/deleted base equals the anchor base),
/// and counts reads per normalised (anchor, allele); the most frequent allele of an anchor is its
/// candidate allele. One row per position: SNP and indel evidence at the same anchor share it.
///
/// ### Labels (label_candidates) — 5 classes, documented choice
/// 0 hom-ref (or no variant), 1 het SNP, 2 hom-alt SNP, 3 het indel, 4 hom-alt indel: the truth
/// allele anchored at the candidate's position (an indel wins over a SNP at the same anchor). The
/// label is the site's class, matched by the anchor position of the trimmed truth allele (the
/// generator normalises the truth with `bcftools norm`, the candidates are normalised the same
/// way); whether the reported allele is exactly right is judged by evaluate_calls.
///
/// ### Features
/// CandidateFeatures (operators/variant) on the pileup outputs — per window position the 8 channel
/// fractions, reference-base fraction, strand, mean BQ/MQ and log depth, plus the centre's smooth
/// top alt fraction, total alt fraction and indel fraction — followed by two host columns that the
/// pileup tensors cannot carry: the fraction of reads with the candidate indel allele (from the
/// CIGAR walk) and whether any read shows one, and the classic genotype-likelihood summary of the
/// site (Candidate::snp_gl / indel_gl, what `bcftools call` decides from): for SNP and indel the
/// flat-prior genotype posteriors (0/0, 0/1, 1/1) and the clipped log-likelihood ratio
/// max(LL_0/1, LL_1/1) − LL_0/0 (scaled by 1/20, clipped to ±3). These host columns are constants of
/// the hard pileup, so the gradient path into the pileup is unchanged (they carry no gradient).
/// Default window w = 0 (the site only): on the simulated data wider windows over-fit the few
/// hundred training variants.
///
/// ### Calls (predict_calls)
/// Class posteriors π (softmax of the logits). A site is called when π_ref < 1/2; its type is the
/// one with the larger mass (π_het + π_hom of SNPs vs indels), its genotype het or hom by the larger
/// of the two. SNPs take the most frequent alt base, indels the candidate indel allele.
/// QUAL = −10 log10 π_ref; genotype likelihoods of (0/0, 0/1, 1/1) are taken proportional to
/// (π_ref, π_het, π_hom) of the called variant type, PL = −10 log10 of them normalised to the best;
/// GQ = −10 log10(1 − posterior of the called genotype), capped at 99. AD and DP from the hard
/// pileup (AD alt = reads carrying the called allele).
///
/// ### Evaluation (evaluate_calls)
/// Calls and truth are compared by exact normalised (contig, pos, REF, ALT) inside the regions:
/// TP, FP, FN, precision, recall and F1 separately for SNPs and indels; genotype concordance is the
/// fraction of true-positive alleles whose called dosage equals the truth dosage.
///
/// ### MPI
/// Candidates are sharded over ranks in contiguous blocks; every rank runs the (cheap) pileup of
/// its training regions, seeds only its own candidates' rows, and the one gradient buffer is summed
/// with a single all-reduce before an identical Adam step on every rank.
#ifndef DIFFBIO_VARIANT_CALLER_HPP
#define DIFFBIO_VARIANT_CALLER_HPP

#include <DiffBio_Bam.hpp>
#include <DiffBio_Comm.hpp>
#include <DiffBio_Optimizer.hpp>
#include <DiffBio_Pileup.hpp>
#include <DiffBio_Region.hpp>
#include <DiffBio_Vcf.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace diffbio {

/// Genotype classes of a candidate (see the file comment).
enum GenotypeClass : int { gt_ref = 0, gt_het_snp = 1, gt_hom_snp = 2, gt_het_indel = 3,
                           gt_hom_indel = 4 };
constexpr int n_genotype_classes = 5;

/// How candidates are found (host side, hard pileup + CIGAR walk).
struct CandidateConfig {
  int min_alt_count = 2;             ///< reads of the best alt allele …
  double min_alt_fraction = 0.05;    ///< … and its fraction of the depth
  double min_single_fraction = 0.2;  ///< one read suffices at this fraction (low depth)
};

/// The model's architecture (everything needed to rebuild it from a checkpoint).
struct CallerModelConfig {
  PileupConfig pileup{12.5, 0.5, -0.5, 0.5, 1, 4.0, 1.0, false};  ///< start: soft, k = 1
  int window = 0;                   ///< features from positions p − w .. p + w (0: the site only)
  int hidden = 16;                  ///< MLP hidden units
  std::string activation = "tanh";  ///< MLP nonlinearity
};

/// One candidate position of a region.
struct Candidate {
  std::int64_t pos = 0;  ///< 0-based reference position (the indel anchor for indels)
  char ref_base = 'N';
  char snp_alt = 'N';      ///< most frequent non-reference base
  int snp_alt_count = 0;   ///< its read count (hard pileup)
  std::string indel_ref;   ///< normalised REF/ALT of the most frequent indel allele (empty: none)
  std::string indel_alt;
  int indel_count = 0;     ///< reads carrying that allele
  int depth = 0;           ///< hard pileup depth (A,C,G,T,N,DEL)
  int ref_count = 0;       ///< reads showing the reference base
  /// Natural-log genotype likelihoods log P(reads | 0/0, 0/1, 1/1) of the SNP allele under the
  /// per-read error model of bcftools/samtools (error = max(base, mapping) error probability of
  /// each read, an error shows one of the 3 other bases uniformly) and of the indel allele
  /// (reads with / without the allele, a fixed per-read indel error rate). Hard-pileup constants.
  std::array<double, 3> snp_gl{{0.0, 0.0, 0.0}};
  std::array<double, 3> indel_gl{{0.0, 0.0, 0.0}};
  int label = -1;          ///< GenotypeClass from the truth; −1 unknown
};

/// A region with its pileup batch and candidates.
struct CandidateRegion {
  io::Region region;              ///< resolved
  io::PileupBatch batch;          ///< the whole region in one window, halo = max(k, window)
  std::string reference;          ///< reference bases of the batch's rows (halo included; N off-contig)
  std::vector<Candidate> candidates;  ///< sorted by position
};

/// Reads \p region of \p bam_path (indexed BAM/CRAM) against the indexed FASTA \p reference_path,
/// builds its pileup batch (halo ≥ \p halo) and finds the candidates. Throws input_error for a bad
/// file, an absent contig or an empty region.
CandidateRegion find_candidates(const std::string& bam_path, const std::string& reference_path,
                                const io::Region& region, const io::PileupOptions& options,
                                const CandidateConfig& cfg, int halo);

/// Sets Candidate::label from the truth alleles (VcfVariant with dosage 1 or 2; see the file
/// comment). Returns the number of truth alleles in the region that no candidate carries.
int label_candidates(CandidateRegion& region, const std::vector<io::VcfVariant>& truth);

/// Precision / recall / F1 of one variant type.
struct TypeMetrics {
  long tp = 0, fp = 0, fn = 0;
  double precision() const { return tp + fp ? double(tp) / double(tp + fp) : 1.0; }
  double recall() const { return tp + fn ? double(tp) / double(tp + fn) : 1.0; }
  double f1() const {
    const double p = precision(), r = recall();
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
  }
};
struct CallMetrics {
  TypeMetrics snp, indel, all;
  long genotype_match = 0;  ///< true positives whose dosage equals the truth's
  double genotype_concordance() const {
    return all.tp ? double(genotype_match) / double(all.tp) : 1.0;
  }
  std::string summary() const;  ///< one line
  CallMetrics& operator+=(const CallMetrics& o);  ///< sums counts (metrics of disjoint sets)
};

/// Compares \p calls with \p truth inside \p regions (all records if empty), by normalised
/// (contig, pos, REF, ALT). Calls with dosage 0 are ignored.
CallMetrics evaluate_calls(const std::vector<io::VcfVariant>& calls,
                           const std::vector<io::VcfVariant>& truth,
                           const std::vector<io::Region>& regions);

/// A trained (or initial) model: architecture + the one parameter vector in ParameterSet order.
struct CallerModel {
  CallerModelConfig config;
  std::vector<double> parameters;
  std::vector<std::string> block_names;
  std::vector<std::size_t> block_offsets, block_sizes;
  /// The named block's values.
  std::vector<double> block(const std::string& name) const;
};

/// The untrained model (pileup initial parameters, seeded classifier weights).
CallerModel initial_caller_model(const CallerModelConfig& config, std::uint64_t seed);

/// Training settings.
struct CallerTrainConfig {
  int epochs = 150;
  OptimizerConfig optimizer{"adam", 0.01};
  bool freeze_upstream = false;  ///< train the classifier only (pileup parameters fixed)
  std::uint64_t seed = 1;
  int eval_every = 1;            ///< evaluate precision/recall every N epochs (and the last); 0: last only
  int checkpoint_every = 0;      ///< call the checkpoint callback every N epochs (0: never)
};

/// Metrics of one epoch.
struct CallerEpoch {
  int epoch = 0, epochs = 0;
  double loss = 0;             ///< mean cross-entropy over all training candidates
  CallMetrics train;           ///< calls of the training regions vs their truth
  bool evaluated = false;      ///< `train` holds this epoch's metrics
  double elapsed_seconds = 0;
};
using CallerProgress = std::function<void(const CallerEpoch&)>;
/// Receives the model every CallerTrainConfig::checkpoint_every epochs (on every rank).
using CallerCheckpoint = std::function<void(int epoch, const CallerModel&)>;

/// Trains \p model in place on the labelled candidates of \p regions (every rank passes the
/// same regions; candidates are sharded). \p truth (one set per region: regions may come from
/// different samples/BAMs) is used for the per-epoch metrics. Must be called by all ranks.
/// Returns the per-epoch history.
std::vector<CallerEpoch> train_variant_caller(CallerModel& model, std::vector<CandidateRegion>& regions,
                                              const std::vector<const std::vector<io::VcfVariant>*>& truth,
                                              const CallerTrainConfig& config, const Comm& comm,
                                              const CallerProgress& progress = {},
                                              const CallerCheckpoint& checkpoint = {});

/// Mean softmax cross-entropy over the labelled candidates of \p regions and (if \p gradient is
/// not null) its gradient with respect to model.parameters: the joint backward pass through the
/// classifier, CandidateFeatures and the pileup (the pileup block is zero with
/// \p freeze_upstream or a hard pileup). What one training step uses; exposed for tests.
double caller_loss_and_gradient(const CallerModel& model,
                                const std::vector<CandidateRegion>& regions,
                                std::vector<double>* gradient, bool freeze_upstream = false);

/// Class posteriors [candidates × 5] (row-major) of \p region under \p model.
std::vector<double> caller_posteriors(const CallerModel& model, const CandidateRegion& region);

/// VCF calls of \p region (see the file comment).
std::vector<io::VcfCall> predict_calls(const CallerModel& model, const CandidateRegion& region);

/// Calls of \p region from the mean class posteriors of several models (e.g. the same
/// architecture trained from different initialisation seeds: an ensemble averages out the
/// seed-to-seed variance of the decision at low-evidence sites). Throws Error(usage) if empty.
std::vector<io::VcfCall> predict_calls(const std::vector<CallerModel>& models,
                                       const CandidateRegion& region);

/// The same calls as VcfVariants (for evaluate_calls).
std::vector<io::VcfVariant> as_variants(const std::vector<io::VcfCall>& calls);

/// HDF5 model checkpoint: config attributes + one dataset per parameter block (plus optional Adam
/// state). Atomic. Throws Error(usage) if built without HDF5.
void save_caller_model(const std::string& path, const CallerModel& model,
                       const std::vector<std::pair<std::string, double>>& attributes = {});
/// Reads a checkpoint written by save_caller_model. Throws input_error naming what is missing.
CallerModel load_caller_model(const std::string& path);

}  // namespace diffbio

#endif
