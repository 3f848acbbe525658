// SPDX-License-Identifier: BSD-3-Clause
/// \file ScCommands.cpp
/// \brief `diffbio simulate-sc`, `diffbio sc` and `diffbio sc train`: the single-cell pipeline.
#include "AppCommon.hpp"

#include <DiffBio_Config.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_SingleCellPipeline.hpp>
#include <DiffBio_SingleCellSimulator.hpp>
#ifdef DIFFBIO_ENABLE_HDF5
#include <DiffBio_HDF5.hpp>
#include <DiffBio_SingleCell.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

namespace diffbio {
namespace app {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ------------------------------------------------------------------------------ simulate-sc

struct SimulateScOptions {
  std::string out;
  std::string format = "auto";
  SingleCellSimConfig sim;
  std::int64_t chunk = 8192;
  std::int64_t empty = -1;  ///< empty droplets (-1: half the number of cells, like a raw matrix)
};

int run_simulate_sc(const SimulateScOptions& o, const Comm& comm) {
  if (o.out.empty()) throw Error(ExitCode::usage, "simulate-sc: --out is required");
  std::string format = o.format;
  if (format == "auto") format = ends_with(o.out, ".h5ad") ? "h5ad" : ends_with(o.out, ".h5") ? "10x" : "";
  if (format != "h5ad" && format != "10x")
    throw Error(ExitCode::usage, "simulate-sc: --format must be h5ad or 10x (or an --out ending in "
                                 ".h5ad / .h5), got '" + o.format + "'");
  if (o.chunk < 1) throw Error(ExitCode::usage, "simulate-sc: --chunk must be >= 1");
  SingleCellSimConfig cfg = o.sim;
  if (o.empty < -1) throw Error(ExitCode::usage, "simulate-sc: --empty-droplets must be >= 0 (or -1: auto)");
  cfg.n_empty = o.empty >= 0 ? o.empty : cfg.n_cells / 2;
  const SingleCellSimulator sim(cfg);  // checks the configuration on every rank
  // The simulation is a pure function of the seed: rank 0 writes, the others have nothing to do.
  if (comm.rank() != 0) return 0;
#ifdef DIFFBIO_ENABLE_HDF5
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t N = sim.n_barcodes(), G = sim.n_genes();
  std::int64_t nnz = 0;
  if (format == "h5ad") {
    io::H5adWriter w(o.out, G);
    io::DataFrame obs;
    for (std::int64_t b = 0; b < N || (b == 0 && N == 0); b += o.chunk) {
      const std::int64_t e = std::min(N, b + o.chunk);
      const auto block = sim.rows(b, e);
      nnz += block.nnz();
      w.append_X_rows(block);
      auto part = sim.obs(b, e);
      if (b == 0) {
        obs = std::move(part);
      } else {
        obs.index.insert(obs.index.end(), part.index.begin(), part.index.end());
        for (std::size_t c = 0; c < obs.columns.size(); ++c) {
          auto& dst = obs.columns[c];
          const auto& src = part.columns[c];
          dst.real.insert(dst.real.end(), src.real.begin(), src.real.end());
          dst.integer.insert(dst.integer.end(), src.integer.begin(), src.integer.end());
          dst.strings.insert(dst.strings.end(), src.strings.begin(), src.strings.end());
        }
      }
      if (N == 0) break;
    }
    w.set_obs(obs);
    w.set_var(sim.var());
    for (const auto& [k, v] : sim.uns()) w.add_uns(k, v);
    w.commit();
  } else {
    // Cell Ranger >= 3 layout; the whole matrix is assembled in memory (HDF5 datasets of this
    // writer are written in one piece): fine for test data, use .h5ad for atlas-sized output.
    const auto m = sim.rows(0, N);
    nnz = m.nnz();
    auto f = io::H5File::create(o.out);
    std::vector<std::int64_t> data(m.data.begin(), m.data.end());
    std::vector<std::int64_t> indices(m.indices.begin(), m.indices.end());
    f.write_dataset("matrix/data", data);
    f.write_dataset("matrix/indices", indices);
    f.write_dataset("matrix/indptr", m.indptr);
    f.write_dataset("matrix/shape", std::vector<std::int64_t>{G, N});
    std::vector<std::string> barcodes, ids, names, types(static_cast<std::size_t>(G), "Gene Expression"),
        genome(static_cast<std::size_t>(G), "sim");
    for (std::int64_t i = 0; i < N; ++i) barcodes.push_back(sim.barcode(i));
    for (std::int64_t g = 0; g < G; ++g) {
      ids.push_back("SIM" + std::to_string(g));
      names.push_back(sim.gene_name(g));
    }
    f.write_dataset("matrix/barcodes", barcodes);
    f.write_dataset("matrix/features/id", ids);
    f.write_dataset("matrix/features/name", names);
    f.write_dataset("matrix/features/feature_type", types);
    f.write_dataset("matrix/features/genome", genome);
    f.close_and_commit();
  }
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "simulate-sc: %lld cells x %lld genes (+ %lld empty droplets), %lld non-zeros (density %.2f%%), "
                "%d types, %d batches, wrote %s in %.1fs",
                static_cast<long long>(sim.n_cells()), static_cast<long long>(G),
                static_cast<long long>(cfg.n_empty), static_cast<long long>(nnz),
                N * G > 0 ? 100.0 * static_cast<double>(nnz) / static_cast<double>(N * G) : 0.0,
                o.sim.n_types, o.sim.n_batches, o.out.c_str(), seconds_since(t0));
  log_line(comm, buf);
  return 0;
#else
  throw Error(ExitCode::usage, "simulate-sc: this diffbio was built without HDF5");
#endif
}


/// Options shared by `sc` and `sc train`.
void add_chain_options(Command& c, ScOptions& o) {
  add(c, "input", o.input, ".h5ad (X = counts) or 10x Genomics .h5 input; each MPI rank reads its own rows");
  add(c, "out", o.out, ".h5ad with clusters, QC metrics, doublet scores, X_pca, soft assignments (atomic)");
  add(c, "clusters", o.n_clusters, "number of clusters K");
  add(c, "pcs", o.n_pcs, "number of principal components");
  add(c, "target-sum", o.target_sum, "normalize_total target (counts per cell)");
  add(c, "batch-key", o.batch_key, "obs column with the batch (absent: one batch)");
  add(c, "truth-key", o.truth_key, "obs column with true cell types (ARI is reported if present)");
  add(c, "chunk", o.chunk, "rows per HDF5 read");
  add(c, "pca-fit-cells", o.pca_fit_cells, "rows of the rank-independent PCA fitting sample (0: all)");
  add(c, "kmeans-sample", o.kmeans_sample, "rows of the k-means++ initialisation sample (0: all)");
  add(c, "kmeans-max-iter", o.kmeans_max_iter, "Lloyd iterations at most");
  add(c, "seed", o.seed, "seed of the PCA start, k-means++ and the simulated doublets");
  add(c, "no-ambient", o.no_ambient, "skip ambient RNA removal");
  add(c, "no-doublets", o.no_doublets, "skip doublet scoring");
  add(c, "min-counts", o.min_counts,
      "cell calling: barcodes with fewer UMIs are empty droplets, used for the ambient profile and "
      "not analysed (-1: 10% of the 99th percentile of UMIs per barcode; 0: keep all)");
  add(c, "ambient-max-library", o.ambient_max_library,
      "barcodes below this library size define the ambient profile (0: auto = below --min-counts)");
  add(c, "ambient-steps", o.ambient_steps, "Adam steps of the contamination fit");
  add(c, "ambient-rho", o.ambient_rho,
      "sc: 'channel' (one contamination fraction per batch, as SoupX) or 'cell' (one per cell)");
  add(c, "ambient-off-ratio", o.ambient_off_ratio,
      "genes whose cluster counts are below this fraction of their ambient-predicted level are off in "
      "that cluster: their counts estimate the contamination (SoupX-style)");
  add(c, "doublet-k", o.doublet_k, "neighbours of the doublet score");
  add(c, "doublet-ratio", o.doublet_ratio, "simulated doublets per cell");
  add(c, "doublet-threshold", o.doublet_threshold, "threshold on the doublet score");
}

void add_sc_commands(CLI::App& app, CommandList& list) {
  {
    auto o = std::make_shared<SimulateScOptions>();
    auto& c = new_command(
        list,
        app.add_subcommand("simulate-sc",
                           "Simulate single-cell counts with ground truth (NB counts, cell-type "
                           "marker programs, batches, ambient RNA, doublets) as .h5ad or 10x .h5"),
        "simulate-sc");
    add(c, "out", o->out, ".h5ad (counts + obs truth columns) or 10x .h5 output, written atomically");
    add(c, "format", o->format, "h5ad, 10x or auto (from the --out extension)");
    add(c, "cells", o->sim.n_cells, "number of cells");
    add(c, "genes", o->sim.n_genes, "number of genes");
    add(c, "types", o->sim.n_types, "number of cell types");
    add(c, "batches", o->sim.n_batches, "number of batches");
    add(c, "markers", o->sim.markers_per_type, "marker genes per cell type");
    add(c, "marker-lfc", o->sim.marker_lfc, "mean log fold change of the marker genes");
    add(c, "batch-sd", o->sim.batch_sd, "sd of the gene-wise log batch effects");
    add(c, "base-sd", o->sim.base_sd, "sd of the baseline log expression over genes (sparsity)");
    add(c, "library-log-mean", o->sim.library_log_mean, "log of the median library size");
    add(c, "library-log-sd", o->sim.library_log_sd, "sd of the log library size");
    add(c, "doublet-rate", o->sim.doublet_rate, "fraction of planted doublets");
    add(c, "contamination-min", o->sim.contamination_min, "minimum ambient fraction per cell");
    add(c, "contamination-max", o->sim.contamination_max, "maximum ambient fraction per cell");
    add(c, "dispersion-log-mean", o->sim.dispersion_log_mean, "log of the typical NB dispersion");
    add(c, "restricted-fraction", o->sim.restricted_fraction,
        "fraction of genes expressed in one cell type only (off elsewhere, e.g. haemoglobin genes)");
    add(c, "off-expression", o->sim.off_expression, "expression factor of a restricted gene outside its type");
    add(c, "seed", o->sim.seed, "random seed (cell i is the same for any chunking or rank count)");
    add(c, "chunk", o->chunk, "cells generated and written per block");
    add(c, "empty-droplets", o->empty,
        "empty droplets (ambient RNA only, obs is_empty) after the cells, as in a raw matrix; -1: cells / 2");
    add(c, "empty-library-min", o->sim.empty_library_min, "smallest expected UMIs of an empty droplet");
    add(c, "empty-library-max", o->sim.empty_library_max, "largest expected UMIs of an empty droplet");
    c.run = [o](const Comm& comm) { return run_simulate_sc(*o, comm); };
  }
  {
    auto o = std::make_shared<ScOptions>();
    auto* sc = app.add_subcommand("sc",
                                  "Single-cell pipeline: counts -> QC (ambient RNA, doublets) -> "
                                  "normalise -> PCA -> cluster -> .h5ad");
    auto& c = new_command(list, sc, "sc");
    add_chain_options(c, *o);
    add(c, "model", o->model, "learned parameters from `diffbio sc train` (optional)");
    add(c, "classic", o->classic, "classic chain only: log-normalise -> PCA -> k-means (no QC stages)");
    add(c, "embedding", o->embedding,
        "'pca' or 'vae' (VAENormalizer latent with --pcs dimensions as X_diffbio / obsm X_vae; one rank)");
    add(c, "vae-epochs", o->vae_epochs, "--embedding vae: training epochs");
    add(c, "vae-hidden", o->vae_hidden, "--embedding vae: hidden units");
    add(c, "vae-lr", o->vae_lr, "--embedding vae: Adam learning rate");
    c.run = [o](const Comm& comm) { return run_sc_pipeline(*o, comm); };

    auto t = std::make_shared<ScOptions>();
    auto& tc = new_command(list,
                           sc->add_subcommand("train",
                                              "Train all stages jointly (clustering energy + PCA "
                                              "reconstruction + ambient likelihood) with temperature "
                                              "annealing; HDF5 checkpoints"),
                           "sc-train");
    add_chain_options(tc, *t);
    add(tc, "model-out", t->model_out, "learned parameters (HDF5, atomic) for `diffbio sc --model`");
    add(tc, "checkpoint", t->checkpoint, "checkpoint file (HDF5, atomic), rewritten every --checkpoint-every epochs");
    add(tc, "checkpoint-every", t->checkpoint_every, "epochs between checkpoints");
    add(tc, "resume", t->resume, "continue from this checkpoint (bitwise, same ranks and threads)");
    add(tc, "epochs", t->epochs, "full-batch epochs");
    add(tc, "stop-after", t->stop_after, "stop (after a checkpoint) once this many epochs ran in this invocation (0: never)");
    add(tc, "lr", t->lr, "Adam learning rate of the batch offsets and centroids");
    add(tc, "lr-pca", t->lr_pca, "Adam learning rate of the PCA projection");
    add(tc, "lr-ambient", t->lr_ambient, "Adam learning rate of the contamination logits");
    add(tc, "tau-start", t->tau_start, "initial temperature relative to the embedding's spread");
    add(tc, "tau-end", t->tau_end, "final temperature relative to the embedding's spread");
    add(tc, "rec-weight", t->rec_weight, "weight of the PCA reconstruction term");
    add(tc, "ambient-weight", t->ambient_weight, "weight of the ambient Poisson likelihood term");
    add(tc, "fixed-offsets", t->fixed_offsets, "do not learn per-batch embedding offsets (ablation)");
    add(tc, "check-gradient", t->check_gradient,
        "check the joint gradient against central differences at the start, then exit");
    tc.run = [t](const Comm& comm) { return run_sc_train(*t, comm); };
  }
}

static RegisterCommands reg_sc(&add_sc_commands);

}  // namespace

}  // namespace app
}  // namespace diffbio
