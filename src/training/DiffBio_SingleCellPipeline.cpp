// SPDX-License-Identifier: BSD-3-Clause
#include <DiffBio_SingleCellPipeline.hpp>

#include <DiffBio_Error.hpp>

#ifdef DIFFBIO_ENABLE_HDF5

#include <DiffBio_AmbientRemoval.hpp>
#include <DiffBio_ClusterMetrics.hpp>
#include <DiffBio_DoubletScorer.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_HDF5.hpp>
#include <DiffBio_NormalizeLog1p.hpp>
#include <DiffBio_Optimizer.hpp>
#include <DiffBio_Parameters.hpp>
#include <DiffBio_Random.hpp>
#include <DiffBio_Schedule.hpp>
#include <DiffBio_SingleCell.hpp>
#include <DiffBio_SoftKMeans.hpp>
#include <DiffBio_SparsePCA.hpp>
#include <DiffBio_VAENormalizer.hpp>

#include <Kokkos_Core.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>

namespace diffbio {

namespace {

using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;
using Mat = Kokkos::View<double**, Kokkos::LayoutRight, Mem>;
using Vec = Kokkos::View<double*, Mem>;
using Norm = NormalizeLog1p<double, Exec>;
using Pca = DifferentiablePCA<double, Exec>;
using KMeans = SoftKMeansClustering<double, Exec>;
using Ambient = AmbientRemoval<double, Exec>;
using Doublet = DoubletScorer<double, Exec>;
using PSet = ParameterSet<double, Mem>;
using Vae = VAETrainer<float, Exec>;

void log_line(const Comm& comm, const std::string& line) {
  if (comm.rank() != 0) return;
  std::fprintf(stdout, "[diffbio] %s\n", line.c_str());
  std::fflush(stdout);
}
std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ------------------------------------------------------------------------------ input

/// A count matrix file: .h5ad (X) or 10x Genomics .h5, read by row ranges.
struct MatrixFile {
  std::unique_ptr<io::H5adReader> h5ad;
  std::unique_ptr<io::TenxH5Reader> tenx;
  explicit MatrixFile(const std::string& path) {
    if (ends_with(path, ".h5ad")) {
      h5ad = std::make_unique<io::H5adReader>(path);
      if (!h5ad->has_X()) throw input_error(path, -1, "the .h5ad file has no X matrix");
    } else {
      tenx = std::make_unique<io::TenxH5Reader>(path);
    }
  }
  std::int64_t n_rows() const { return h5ad ? h5ad->n_obs() : tenx->n_cells(); }
  std::int64_t n_cols() const { return h5ad ? h5ad->n_vars() : tenx->n_features(); }
  template <class S>
  io::CsrMatrix<S> rows(std::int64_t b, std::int64_t e) const {
    return h5ad ? h5ad->read_X_rows<S>(b, e) : tenx->read_rows<S>(b, e);
  }
};

void append_rows(io::CsrMatrix<double>& dst, const io::CsrMatrix<double>& src) {
  const std::int64_t base = dst.indptr.back();
  for (std::int64_t r = 1; r <= src.n_rows; ++r) dst.indptr.push_back(base + src.indptr[static_cast<std::size_t>(r)]);
  dst.indices.insert(dst.indices.end(), src.indices.begin(), src.indices.end());
  dst.data.insert(dst.data.end(), src.data.begin(), src.data.end());
  dst.n_rows += src.n_rows;
}

/// Rows [b, e) of \p f, read in blocks of \p chunk rows (bounded HDF5 reads).
io::CsrMatrix<double> read_range(const MatrixFile& f, std::int64_t b, std::int64_t e, std::int64_t chunk) {
  io::CsrMatrix<double> m;
  m.n_cols = f.n_cols();
  m.first_row = b;
  for (std::int64_t r = b; r < e; r += chunk) append_rows(m, f.rows<double>(r, std::min(e, r + chunk)));
  return m;
}

/// Appends the rows of \p src (file rows file_first …) that are called cells.
template <class S>
void append_cells(io::CsrMatrix<S>& dst, const io::CsrMatrix<S>& src, std::int64_t file_first,
                  const std::vector<char>& is_cell) {
  for (std::int64_t r = 0; r < src.n_rows; ++r) {
    if (!is_cell[static_cast<std::size_t>(file_first + r)]) continue;
    for (auto e = src.row_begin(r); e < src.row_end(r); ++e) {
      dst.indices.push_back(src.indices[static_cast<std::size_t>(e)]);
      dst.data.push_back(src.data[static_cast<std::size_t>(e)]);
    }
    dst.indptr.push_back(static_cast<std::int64_t>(dst.data.size()));
    ++dst.n_rows;
  }
}

/// Analysed cells [b, e) (cell numbering; \p kept maps a cell to its file row), read in blocks
/// of \p chunk file rows.
template <class S>
io::CsrMatrix<S> read_cells(const MatrixFile& f, const std::vector<std::int64_t>& kept,
                            const std::vector<char>& is_cell, std::int64_t b, std::int64_t e, std::int64_t chunk) {
  io::CsrMatrix<S> m;
  m.n_cols = f.n_cols();
  m.first_row = b;
  if (b >= e) return m;
  const std::int64_t fb = kept[static_cast<std::size_t>(b)], fe = kept[static_cast<std::size_t>(e - 1)] + 1;
  for (std::int64_t r = fb; r < fe; r += chunk) append_cells(m, f.rows<S>(r, std::min(fe, r + chunk)), r, is_cell);
  return m;
}

/// The rows \p rows of a data frame (every column kind).
io::DataFrame subset_rows(const io::DataFrame& in, const std::vector<std::int64_t>& rows) {
  io::DataFrame out;
  out.index_name = in.index_name;
  for (auto r : rows) out.index.push_back(in.index[static_cast<std::size_t>(r)]);
  for (const auto& c : in.columns) {
    io::Column d = c;
    d.real.clear();
    d.integer.clear();
    d.strings.clear();
    for (auto r : rows) {
      const auto i = static_cast<std::size_t>(r);
      if (i < c.real.size()) d.real.push_back(c.real[i]);
      if (i < c.integer.size()) d.integer.push_back(c.integer[i]);
      if (i < c.strings.size()) d.strings.push_back(c.strings[i]);
    }
    out.columns.push_back(std::move(d));
  }
  return out;
}

/// Integer codes of an obs column (categorical codes, integers, strings or booleans).
bool column_codes(const io::Column& c, std::vector<int>& codes, std::vector<std::string>& names) {
  codes.clear();
  names.clear();
  using K = io::Column::Kind;
  if (c.kind == K::categorical) {
    names = c.categories;
    for (auto v : c.integer) codes.push_back(static_cast<int>(v));
    return true;
  }
  std::vector<std::string> text;
  if (c.kind == K::string) text = c.strings;
  else if (c.kind == K::integer || c.kind == K::boolean)
    for (auto v : c.integer) text.push_back(std::to_string(v));
  else
    return false;
  names = text;
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (const auto& t : text)
    codes.push_back(static_cast<int>(std::lower_bound(names.begin(), names.end(), t) - names.begin()));
  return true;
}

/// Disjoint row blocks [b, e) forming a sample of about \p target rows spread over [0, N): a
/// function of N and the target only, so every rank reads the same sample.
std::vector<std::pair<std::int64_t, std::int64_t>> sample_blocks(std::int64_t N, std::int64_t target) {
  if (target <= 0 || N <= target) return {{0, N}};
  const std::int64_t block = 64;
  const std::int64_t n_blocks = (N + block - 1) / block, want = (target + block - 1) / block;
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (std::int64_t j = 0; j < want; ++j) {
    const std::int64_t b = (j * n_blocks / want) * block;
    out.push_back({b, std::min(N, b + block)});
  }
  return out;
}

/// Rows of a global [N × C] array: each rank fills its rows, the sum over ranks is exact (one
/// non-zero contribution per entry).
std::vector<double> gather_rows(const Comm& comm, const std::vector<double>& local, std::int64_t first,
                                std::int64_t n_global, int C) {
  std::vector<double> g(static_cast<std::size_t>(n_global * C), 0.0);
  std::copy(local.begin(), local.end(), g.begin() + first * C);
  comm.allreduce_sum(g.data(), g.size());
  return g;
}

template <class V>
std::vector<double> to_host_vec(const V& v) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  std::vector<double> out(h.size());
  for (std::size_t i = 0; i < h.size(); ++i) out[i] = static_cast<double>(h.data()[i]);
  return out;
}
Vec to_device_vec(const std::vector<double>& h, const std::string& name) {
  Vec v(Kokkos::view_alloc(Kokkos::WithoutInitializing, label(name)), h.size());
  auto m = Kokkos::create_mirror_view(Kokkos::HostSpace(), v);
  for (std::size_t i = 0; i < h.size(); ++i) m(i) = h[i];
  Kokkos::deep_copy(v, m);
  return v;
}

// ------------------------------------------------------------------------------ state

/// Everything the chain holds for this rank's rows.
struct ScState {
  ScOptions o;
  std::string path;
  std::int64_t N_global = 0, first = 0, N = 0;  // analysed cells (after cell calling)
  std::int64_t N_file = 0;                       // barcodes in the input
  std::vector<std::int64_t> kept;                // file row of every analysed cell (global)
  std::vector<char> is_cell;                     // [N_file]
  double min_counts = 0;                         // the cell-calling threshold used
  std::vector<double> low_sum;                   // [G + 1] counts of the ambient-source barcodes, their number
  int G = 0, D = 0, K = 0, B = 1;
  io::CsrMatrix<double> counts;                  // local rows (host)
  io::DeviceCsr<double, Mem> dev;                // local rows (device)
  std::vector<int> batch;                        // local batch codes
  std::vector<std::string> batch_names{"all"};
  std::vector<int> truth;                        // global true labels (empty: none)
  std::vector<int> truth_doublet;                // global (empty: none)
  std::vector<double> truth_contamination;       // global (empty: none)
  Kokkos::View<int*, Mem> batch_dev;
  // operators
  std::unique_ptr<Norm> norm;
  std::unique_ptr<Pca> pca;
  std::unique_ptr<KMeans> km;
  // parameters: pca block [W, μ]; cluster block [offsets B×D, centroids K×D, log τ]
  ParameterLayout pca_layout, cl_layout;
  ParamBlock pca_block, off_block, km_block;
  PSet pca_set, cl_set;
  Vec norm_params;  // [log t]
  double spread = 1;  // mean squared distance of the initial embedding to its mean
  std::vector<double> n_counts, n_genes;
  // QC results
  std::vector<double> ambient_profile;  // [G]
  Vec ambient_dev;
  std::vector<double> rho;              // local ρ (empty: no correction)
  Vec values;                           // counts fed to the normaliser (raw or corrected)
  std::vector<double> doublet_score, doublet_prob;  // local
  double doublet_auroc = -1;
  std::unique_ptr<Vae> vae;  // --embedding vae: the trained VAE (the embedding is its latent mean)
};

/// VAE latent means [rows × D] of CSR rows (canonical: one entry per gene) with \p values.
Mat vae_latent(const ScState& s, const Kokkos::View<std::int64_t*, Mem>& row_map,
               const Kokkos::View<std::int32_t*, Mem>& entries, const Vec& values,
               const Kokkos::View<int*, Mem>& batch) {
  Exec exec;
  Kokkos::View<float*, Mem> vf(Kokkos::view_alloc(Kokkos::WithoutInitializing, label("sc::vae_values")), values.extent(0));
  Kokkos::parallel_for(
      label("sc::vae_values"), Kokkos::RangePolicy<Exec>(exec, 0, values.extent(0)),
      KOKKOS_LAMBDA(const std::size_t e) { vf(e) = static_cast<float>(values(e)); });
  typename Vae::Inputs in;
  in.row_map = row_map;
  in.entries = entries;
  in.values = vf;
  if (s.B > 1) in.batch = batch;
  const std::size_t n = row_map.extent(0) - 1;
  Kokkos::View<float**, Kokkos::LayoutRight, Mem> lat(label("sc::vae_latent"), n, static_cast<std::size_t>(s.D));
  s.vae->embed(exec, in, lat);
  Mat z(label("sc::vae_z"), n, static_cast<std::size_t>(s.D));
  const int D = s.D;
  Kokkos::parallel_for(
      label("sc::vae_z"), Kokkos::RangePolicy<Exec>(exec, 0, n), KOKKOS_LAMBDA(const std::size_t i) {
        for (int k = 0; k < D; ++k) z(i, k) = lat(i, k);
      });
  exec.fence();
  return z;
}

/// --embedding vae: trains an scVI-style VAE (NB likelihood, batch covariate) on the counts fed
/// to the chain (raw or ambient-corrected) and returns the final loss per cell; one rank.
std::vector<double> train_vae(ScState& s) {
  VAEConfig vc;
  vc.n_genes = s.G;
  vc.n_batches = s.B > 1 ? s.B : 0;
  vc.n_latent = s.D;
  vc.n_hidden = s.o.vae_hidden;
  vc.seed = s.o.seed + 11;
  VAETrainConfig tc;
  tc.batch_size = 128;
  tc.learning_rate = s.o.vae_lr;
  tc.seed = s.o.seed + 12;
  tc.kl_warmup_epochs = std::max(1, s.o.vae_epochs / 3);
  s.vae = std::make_unique<Vae>(vc, tc, s.o.seed + 13);
  Exec exec;
  Kokkos::View<float*, Mem> vf(Kokkos::view_alloc(Kokkos::WithoutInitializing, label("sc::vae_values")), s.values.extent(0));
  auto v = s.values;
  Kokkos::parallel_for(
      label("sc::vae_values"), Kokkos::RangePolicy<Exec>(exec, 0, v.extent(0)),
      KOKKOS_LAMBDA(const std::size_t e) { vf(e) = static_cast<float>(v(e)); });
  typename Vae::Inputs in;
  in.row_map = s.dev.row_map;
  in.entries = s.dev.entries;
  in.values = vf;
  if (s.B > 1) in.batch = s.batch_dev;
  return s.vae->fit(exec, in, s.o.vae_epochs);
}

/// Cell calling (as Cell Ranger 2): barcodes with at least --min-counts UMIs are cells (auto:
/// 10 % of the 99th percentile of all barcodes' UMIs); the rest are empty droplets — ambient RNA
/// only — and are not analysed. Barcodes with 0 < UMIs < the ambient threshold
/// (--ambient-max-library, auto: the cell-calling threshold) are summed for the ambient profile.
/// Every rank reads its share of the file; the library sizes are gathered, so every rank takes
/// the same decisions. Also rejects negative or non-finite counts.
void call_cells(ScState& s, const MatrixFile& f, const Comm& comm) {
  const ScOptions& o = s.o;
  s.N_file = f.n_rows();
  const Shard sh = shard_rows(static_cast<std::size_t>(s.N_file), comm.rank(), comm.size());
  const auto mine = read_range(f, static_cast<std::int64_t>(sh.begin), static_cast<std::int64_t>(sh.end), o.chunk);
  for (double v : mine.data)
    if (!(v >= 0) || !std::isfinite(v)) throw input_error(o.input, -1, "X holds a negative or non-finite count");
  std::vector<double> lib(static_cast<std::size_t>(mine.n_rows), 0.0);
  for (std::int64_t r = 0; r < mine.n_rows; ++r)
    for (auto e = mine.row_begin(r); e < mine.row_end(r); ++e) lib[r] += mine.data[static_cast<std::size_t>(e)];
  const auto all = gather_rows(comm, lib, static_cast<std::int64_t>(sh.begin), s.N_file, 1);
  double thr = o.min_counts;
  if (thr < 0) {
    thr = 0;
    if (s.N_file > 0) {
      auto v = all;
      const auto q = static_cast<std::size_t>(0.99 * static_cast<double>(s.N_file - 1));
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(q), v.end());
      thr = 0.1 * v[q];
    }
  }
  s.min_counts = thr;
  s.is_cell.assign(static_cast<std::size_t>(s.N_file), 0);
  s.kept.clear();
  for (std::int64_t i = 0; i < s.N_file; ++i)
    if (all[static_cast<std::size_t>(i)] >= thr) {
      s.is_cell[static_cast<std::size_t>(i)] = 1;
      s.kept.push_back(i);
    }
  const double amb_thr = o.ambient_max_library > 0 ? o.ambient_max_library : thr;
  s.low_sum.assign(static_cast<std::size_t>(s.G) + 1, 0.0);
  for (std::int64_t r = 0; r < mine.n_rows; ++r) {
    if (!(lib[r] > 0 && lib[r] < amb_thr)) continue;
    s.low_sum[static_cast<std::size_t>(s.G)] += 1;
    for (auto e = mine.row_begin(r); e < mine.row_end(r); ++e)
      s.low_sum[static_cast<std::size_t>(mine.indices[static_cast<std::size_t>(e)])] += mine.data[static_cast<std::size_t>(e)];
  }
  comm.allreduce_sum(s.low_sum.data(), s.low_sum.size());
}

void load_input(ScState& s, const Comm& comm) {
  const ScOptions& o = s.o;
  if (o.input.empty()) throw Error(ExitCode::usage, "sc: --input is required");
  if (o.n_clusters < 1 || o.n_pcs < 1) throw Error(ExitCode::usage, "sc: --clusters and --pcs must be >= 1");
  if (o.chunk < 1) throw Error(ExitCode::usage, "sc: --chunk must be >= 1");
  s.path = o.input;
  MatrixFile f(o.input);
  s.G = static_cast<int>(f.n_cols());
  call_cells(s, f, comm);
  s.N_global = static_cast<std::int64_t>(s.kept.size());
  s.D = o.n_pcs;
  s.K = o.n_clusters;
  if (s.N_global < s.K) throw input_error(o.input, -1, "has " + std::to_string(s.N_global) +
                                                            " cells, fewer than --clusters " + std::to_string(s.K));
  if (s.D > s.G) throw Error(ExitCode::usage, "sc: --pcs exceeds the number of genes (" + std::to_string(s.G) + ")");
  const Shard sh = shard_rows(static_cast<std::size_t>(s.N_global), comm.rank(), comm.size());
  s.first = static_cast<std::int64_t>(sh.begin);
  s.N = static_cast<std::int64_t>(sh.size());
  s.counts = read_cells<double>(f, s.kept, s.is_cell, s.first, s.first + s.N, o.chunk);
  s.batch.assign(static_cast<std::size_t>(s.N), 0);
  if (f.h5ad) {
    const auto obs = f.h5ad->obs();
    std::vector<int> codes;
    std::vector<std::string> names;
    if (!o.batch_key.empty()) {
      if (const auto* c = obs.find(o.batch_key); c && column_codes(*c, codes, names) && !names.empty()) {
        s.batch_names = names;
        for (std::int64_t i = 0; i < s.N; ++i)
          s.batch[i] = std::max(0, codes[static_cast<std::size_t>(s.kept[static_cast<std::size_t>(s.first + i)])]);
      }
    }
    // truth columns (file rows) of the analysed cells
    if (!o.truth_key.empty())
      if (const auto* c = obs.find(o.truth_key); c && column_codes(*c, codes, names))
        for (auto r : s.kept) s.truth.push_back(codes[static_cast<std::size_t>(r)]);
    if (const auto* c = obs.find("is_doublet"); c && c->kind == io::Column::Kind::boolean)
      for (auto r : s.kept) s.truth_doublet.push_back(static_cast<int>(c->integer[static_cast<std::size_t>(r)]));
    if (const auto* c = obs.find("contamination"); c && c->kind == io::Column::Kind::real)
      for (auto r : s.kept) s.truth_contamination.push_back(c->real[static_cast<std::size_t>(r)]);
  }
  s.B = static_cast<int>(s.batch_names.size());
  s.n_counts.resize(static_cast<std::size_t>(s.N));
  s.n_genes.resize(static_cast<std::size_t>(s.N));
  for (std::int64_t i = 0; i < s.N; ++i) {
    double t = 0, g = 0;
    for (auto e = s.counts.row_begin(i); e < s.counts.row_end(i); ++e) {
      t += s.counts.data[static_cast<std::size_t>(e)];
      g += s.counts.data[static_cast<std::size_t>(e)] > 0 ? 1 : 0;
    }
    s.n_counts[i] = t;
    s.n_genes[i] = g;
  }
  s.dev = io::to_device<Mem>(s.counts, "sc::counts");
  s.values = s.dev.values;
  s.batch_dev = Kokkos::View<int*, Mem>(label("sc::batch"), static_cast<std::size_t>(s.N));
  {
    auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), s.batch_dev);
    for (std::int64_t i = 0; i < s.N; ++i) h(i) = s.batch[i];
    Kokkos::deep_copy(s.batch_dev, h);
  }
  NormalizeLog1pConfig nc;
  nc.target_sum = o.target_sum;
  s.norm = std::make_unique<Norm>(nc);
  s.norm_params = to_device_vec(s.norm->initial_params(), "sc::norm_params");
  SparsePCAConfig pc;
  pc.n_genes = s.G;
  pc.n_components = s.D;
  pc.seed = o.seed;
  s.pca = std::make_unique<Pca>(pc);
  SoftKMeansConfig kc;
  kc.n_clusters = s.K;
  kc.n_features = s.D;
  kc.learn_tau = false;
  s.km = std::make_unique<KMeans>(kc);
  s.pca_block = s.pca->declare(s.pca_layout, "pca");
  s.off_block = s.cl_layout.add("batch_offsets", static_cast<std::size_t>(s.B * s.D));
  s.km_block = s.km->declare(s.cl_layout, "soft_kmeans");
  s.pca_set = PSet(s.pca_layout, "sc_pca");
  s.cl_set = PSet(s.cl_layout, "sc_cluster");
  log_line(comm, "sc: " + o.input + ": " + std::to_string(s.N_file) + " barcodes, " +
                     std::to_string(s.N_file - s.N_global) + " below " + fmt("%.1f", s.min_counts) +
                     " UMIs (empty droplets: ambient source, not analysed); " + std::to_string(s.N_global) + " cells x " + std::to_string(s.G) +
                     " genes, " + std::to_string(s.B) + " batch(es)" + (s.truth.empty() ? "" : ", truth column '" + o.truth_key + "'") +
                     ", " + std::to_string(comm.size()) + " rank(s)");
}

/// PCA fitted on a rank-independent sample of rows read from the file by every rank.
void fit_pca(ScState& s, const Comm& comm) {
  MatrixFile f(s.path);
  io::CsrMatrix<double> sample;
  sample.n_cols = s.G;
  for (const auto& [b, e] : sample_blocks(s.N_global, s.o.pca_fit_cells))
    append_rows(sample, read_cells<double>(f, s.kept, s.is_cell, b, e, s.o.chunk));
  auto dev = io::to_device<Mem>(sample, "sc::pca_sample");
  Exec exec;
  auto nin = Norm::inputs(dev);
  auto nout = s.norm->allocate_outputs(nin);
  auto nws = s.norm->allocate_workspace(nin);
  s.norm->forward(exec, s.norm_params, nin, nout, nws);
  auto pin = Pca::inputs(dev, nout.values);
  typename Pca::Workspace pws;
  const PcaFit fit = s.pca->fit(exec, pin, pws);
  s.pca_set.set_block(s.pca_block, s.pca->initial_params(fit));
  double ev = 0;
  for (double r : fit.explained_variance_ratio) ev += r;
  log_line(comm, "sc: PCA fitted on " + std::to_string(sample.n_rows) + " cells: " + std::to_string(s.D) +
                     " components explain " + fmt("%.1f%%", 100 * ev) + " of the variance");
}

/// The embedding of \p values (on the local pattern): y = PCA(NormalizeLog1p(values)), then
/// z = y − s_{b_i}. Returns z; y and the normalised values go to the optional outputs.
struct Embedding {
  Kokkos::View<double*, Mem> normed;
  Mat y, z;
  typename Norm::Workspace nws;
  typename Pca::Workspace pws;
};
void embed(const ScState& s, const Vec& values, Embedding& em) {
  Exec exec;
  typename Norm::Inputs nin;
  nin.row_map = s.dev.row_map;
  nin.values = values;
  if (em.normed.extent(0) != values.extent(0)) {
    em.normed = Kokkos::View<double*, Mem>(label("sc::normed"), values.extent(0));
    em.y = Mat(label("sc::y"), static_cast<std::size_t>(s.N), static_cast<std::size_t>(s.D));
    em.z = Mat(label("sc::z"), static_cast<std::size_t>(s.N), static_cast<std::size_t>(s.D));
  }
  s.norm->forward(exec, s.norm_params, nin, typename Norm::Outputs{em.normed}, em.nws);
  typename Pca::Inputs pin;
  pin.row_map = s.dev.row_map;
  pin.entries = s.dev.entries;
  pin.values = em.normed;
  s.pca->forward(exec, s.pca_set.values(s.pca_block), pin, typename Pca::Outputs{em.y}, em.pws);
  auto off = s.cl_set.values(s.off_block);
  auto y = em.y;
  auto z = em.z;
  auto b = s.batch_dev;
  const int D = s.D;
  Kokkos::parallel_for(
      label("sc::batch_offset"), Kokkos::RangePolicy<Exec>(exec, 0, static_cast<int>(s.N)), KOKKOS_LAMBDA(const int i) {
        for (int k = 0; k < D; ++k) z(i, k) = y(i, k) - off(b(i) * D + k);
      });
  exec.fence();
}

/// Mean squared distance of the rows of z to their mean (over all ranks).
double spread_of(const Comm& comm, const Mat& z) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), z);
  const std::size_t N = h.extent(0), D = h.extent(1);
  std::vector<double> acc(D + D + 1, 0.0);  // Σ z, Σ z², n
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t k = 0; k < D; ++k) {
      acc[k] += h(i, k);
      acc[D + k] += h(i, k) * h(i, k);
    }
  acc[2 * D] = static_cast<double>(N);
  comm.allreduce_sum(acc.data(), acc.size());
  double v = 0;
  for (std::size_t k = 0; k < D; ++k) {
    const double m = acc[k] / acc[2 * D];
    v += acc[D + k] / acc[2 * D] - m * m;
  }
  return v;
}

/// k-means++ (greedy, 2 + ⌊ln K⌋ candidates per centre, as scikit-learn) on a rank-independent
/// sample of the embedding, then Lloyd over all rows of all ranks (E-step: SoftKMeans hard mode;
/// M-step: row sums per cluster in double, all-reduced). Sets the centroids in cl_set.
LloydResult classic_kmeans(ScState& s, const Comm& comm, const Mat& z, std::vector<int>& labels) {
  const int D = s.D, K = s.K;
  auto zh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), z);
  // 1. the sample (global rows), gathered on every rank
  std::vector<std::int64_t> rows;
  for (const auto& [b, e] : sample_blocks(s.N_global, s.o.kmeans_sample))
    for (std::int64_t r = b; r < e; ++r) rows.push_back(r);
  const std::size_t S = rows.size();
  std::vector<double> sample(S * D, 0.0);
  for (std::size_t j = 0; j < S; ++j)
    if (rows[j] >= s.first && rows[j] < s.first + s.N)
      for (int k = 0; k < D; ++k) sample[j * D + k] = zh(rows[j] - s.first, k);
  comm.allreduce_sum(sample.data(), sample.size());
  // 2. greedy k-means++
  const CounterRng rng(s.o.seed * 0x9E3779B97F4A7C15ull + 0x6b6d2b2bull, 0);
  std::uint64_t draw = 0;
  auto d2 = [&](std::size_t a, const double* c) {
    double t = 0;
    for (int k = 0; k < D; ++k) t += (sample[a * D + k] - c[k]) * (sample[a * D + k] - c[k]);
    return t;
  };
  std::vector<double> cent(static_cast<std::size_t>(K * D));
  std::size_t first = std::min(S - 1, static_cast<std::size_t>(rng.uniform(draw++) * static_cast<double>(S)));
  std::copy(&sample[first * D], &sample[first * D] + D, cent.begin());
  std::vector<double> closest(S);
  double pot = 0;
  for (std::size_t a = 0; a < S; ++a) pot += (closest[a] = d2(a, cent.data()));
  const int trials = 2 + static_cast<int>(std::log(static_cast<double>(K)));
  std::vector<double> cand_d(S), best_d(S);
  for (int c = 1; c < K; ++c) {
    double best_pot = -1;
    std::size_t best = 0;
    for (int t = 0; t < trials; ++t) {
      const double u = rng.uniform(draw++) * pot;
      double run = 0;
      std::size_t pick = S - 1;
      for (std::size_t a = 0; a < S; ++a) {
        run += closest[a];
        if (run >= u) {
          pick = a;
          break;
        }
      }
      double p = 0;
      for (std::size_t a = 0; a < S; ++a) p += (cand_d[a] = std::min(closest[a], d2(a, &sample[pick * D])));
      if (best_pot < 0 || p < best_pot) {
        best_pot = p;
        best = pick;
        best_d = cand_d;
      }
    }
    std::copy(&sample[best * D], &sample[best * D] + D, cent.begin() + c * D);
    closest = best_d;
    pot = best_pot;
  }
  // 3. distributed Lloyd
  auto kmp = s.cl_set.values(s.km_block);
  auto kmh = Kokkos::create_mirror_view(Kokkos::HostSpace(), kmp);
  typename KMeans::Inputs in{z, {}};
  auto out = s.km->allocate_outputs(in);
  auto ws = s.km->allocate_workspace(in);
  const bool was_hard = s.km->hard();
  s.km->set_hard(true);
  labels.assign(static_cast<std::size_t>(s.N), -1);
  std::vector<int> old(static_cast<std::size_t>(s.N), -2);
  LloydResult r;
  Exec exec;
  for (int it = 0; it < s.o.kmeans_max_iter; ++it) {
    for (int c = 0; c < K * D; ++c) kmh(c) = cent[c];
    kmh(K * D) = 0;
    Kokkos::deep_copy(kmp, kmh);
    s.km->forward(exec, kmp, in, out, ws);
    auto lh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.labels);
    std::vector<double> acc(static_cast<std::size_t>(K * D + K + 1), 0.0);
    for (std::int64_t i = 0; i < s.N; ++i) {
      const int l = lh(i);
      labels[i] = l;
      acc[K * D + K] += l != old[i] ? 1 : 0;
      old[i] = l;
      acc[K * D + l] += 1;
      for (int k = 0; k < D; ++k) acc[l * D + k] += zh(i, k);
    }
    comm.allreduce_sum(acc.data(), acc.size());
    r.n_iter = it + 1;
    if (acc[K * D + K] == 0) {
      r.converged = true;
      break;
    }
    for (int c = 0; c < K; ++c)
      if (acc[K * D + c] > 0)
        for (int k = 0; k < D; ++k) cent[c * D + k] = acc[c * D + k] / acc[K * D + c];
  }
  for (int c = 0; c < K * D; ++c) kmh(c) = cent[c];
  Kokkos::deep_copy(kmp, kmh);
  s.km->forward(exec, kmp, in, out, ws);
  auto lh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.labels);
  auto eh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.energy);
  double inertia = 0;
  for (std::int64_t i = 0; i < s.N; ++i) {
    labels[i] = lh(i);
    inertia += eh(i);
  }
  r.inertia = comm.allreduce_sum(inertia);
  s.km->set_hard(was_hard);
  return r;
}

/// Hard labels of z for the current centroids (SoftKMeans hard mode).
std::vector<int> assign_hard(ScState& s, const Mat& z) {
  typename KMeans::Inputs in{z, {}};
  auto out = s.km->allocate_outputs(in);
  auto ws = s.km->allocate_workspace(in);
  const bool was = s.km->hard();
  s.km->set_hard(true);
  s.km->forward(Exec(), s.cl_set.values(s.km_block), in, out, ws);
  s.km->set_hard(was);
  auto lh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.labels);
  return std::vector<int>(lh.data(), lh.data() + lh.extent(0));
}

/// ARI of the local labels against the truth (−2 if there is no truth): gathered over ranks.
double global_ari(const ScState& s, const Comm& comm, const std::vector<int>& labels, bool singlets_only) {
  if (s.truth.empty()) return -2;
  std::vector<double> l(labels.begin(), labels.end());
  const auto g = gather_rows(comm, l, s.first, s.N_global, 1);
  std::vector<int> t, p;
  for (std::int64_t i = 0; i < s.N_global; ++i) {
    if (singlets_only && !s.truth_doublet.empty() && s.truth_doublet[i]) continue;
    t.push_back(s.truth[i]);
    p.push_back(static_cast<int>(g[i]));
  }
  return metrics::adjusted_rand_index(t, p);
}

void set_log_tau(ScState& s, double tau) {
  auto v = Kokkos::subview(s.cl_set.values(s.km_block), s.K * s.D);
  Kokkos::deep_copy(v, std::log(tau));
}

// ------------------------------------------------------------------------------ QC stages

/// Pooled per-cluster profiles max(Σ_{i∈k} x_ig − Σ_{i∈k} ρ_i n_i a_g, 0) + ε, normalised (all
/// ranks). The ambient counts are removed from the cluster sums, not clipped per cell: a cell's
/// expected ambient count of a gene is mostly < 1, so per-cell max(x − r, 0) would leave almost
/// all of it (a gene that is off in the cluster would keep its ambient level, and ρ would not be
/// identifiable from the profiles).
std::vector<double> pooled_profiles(const ScState& s, const Comm& comm, const std::vector<int>& labels) {
  const int G = s.G, K = s.K;
  std::vector<double> P(static_cast<std::size_t>(K) * G + K, 0.0);  // + Σ_{i∈k} ρ_i n_i
  for (std::int64_t i = 0; i < s.N; ++i) {
    const int k = labels[i];
    if (k < 0) continue;
    if (!s.rho.empty()) P[static_cast<std::size_t>(K) * G + k] += s.rho[i] * s.n_counts[i];
    for (auto e = s.counts.row_begin(i); e < s.counts.row_end(i); ++e)
      P[static_cast<std::size_t>(k) * G + s.counts.indices[static_cast<std::size_t>(e)]] +=
          s.counts.data[static_cast<std::size_t>(e)];
  }
  comm.allreduce_sum(P.data(), P.size());
  for (int k = 0; k < K; ++k) {
    const double amb = P[static_cast<std::size_t>(K) * G + k];
    double t = 0;
    for (int g = 0; g < G; ++g) {
      double& v = P[static_cast<std::size_t>(k) * G + g];
      v = (amb > 0 ? std::max(v - amb * s.ambient_profile[g], 0.0) : v) + 0.01;
      t += v;
    }
    for (int g = 0; g < G; ++g) P[static_cast<std::size_t>(k) * G + g] /= t;
  }
  P.resize(static_cast<std::size_t>(K) * G);
  return P;
}

/// The ambient profile: the summed counts of the barcodes below the ambient threshold (the
/// empty droplets found by call_cells), if at least 50 exist (or --ambient-max-library was
/// given), else the pooled profile of all cells — the ambient RNA of a channel is the mean
/// expression of its population, so that is the best guess without empty droplets.
std::string estimate_ambient_profile(ScState& s, const Comm& comm) {
  const int G = s.G;
  const double n_low = s.low_sum[static_cast<std::size_t>(G)];
  const bool use_low = s.o.ambient_max_library > 0 || n_low >= 50;
  if (use_low && n_low == 0)
    throw input_error(s.path, -1, "no barcode with a library below --ambient-max-library");
  std::vector<double> acc(static_cast<std::size_t>(G), 0.0);
  if (use_low) {
    std::copy(s.low_sum.begin(), s.low_sum.begin() + G, acc.begin());
  } else {
    for (std::int64_t i = 0; i < s.N; ++i)
      for (auto e = s.counts.row_begin(i); e < s.counts.row_end(i); ++e)
        acc[static_cast<std::size_t>(s.counts.indices[static_cast<std::size_t>(e)])] += s.counts.data[static_cast<std::size_t>(e)];
    comm.allreduce_sum(acc.data(), acc.size());
  }
  s.ambient_profile.assign(static_cast<std::size_t>(G), 0.0);
  double t = 0;
  for (int g = 0; g < G; ++g) t += (s.ambient_profile[g] = acc[g] + 0.01);
  for (double& v : s.ambient_profile) v /= t;
  s.ambient_dev = to_device_vec(s.ambient_profile, "sc::ambient");
  return use_low ? std::to_string(static_cast<long long>(n_low)) + " barcodes below " +
                       fmt("%.1f", s.o.ambient_max_library > 0 ? s.o.ambient_max_library : s.min_counts) + " UMIs"
                 : "the pooled profile of all cells";
}

/// SoupX-style contamination from genes that are off in a cluster. With cluster counts C_kg,
/// cluster UMIs N_k and ambient fractions a_g, an off gene's counts are all ambient, so
/// C_kg ≈ ρ_k N_k a_g: genes with C_kg / (N_k a_g) < --ambient-off-ratio (and enough expected
/// ambient counts to tell, N_k a_g ≥ 20) are off, and ρ_k = Σ_off C_kg / (N_k Σ_off a_g). Per cell,
/// the off-gene counts c_i ~ Poisson(ρ_i e_i), e_i = n_i Σ_off a_g, are a few UMIs at most, so ρ_i
/// is the posterior mean under a gamma prior with the cluster's mean ρ_k and its between-cell
/// variance (method of moments, Poisson noise removed): (α + c_i) / (β + e_i). Without off genes
/// (a homogeneous sample) ρ stays unset and the Poisson fit starts from its default. Returns the
/// number of clusters with off genes.
int estimate_rho_from_off_genes(ScState& s, const Comm& comm, const std::vector<int>& labels) {
  const int G = s.G, K = s.K;
  const std::size_t kg = static_cast<std::size_t>(K) * G;
  std::vector<double> acc(kg + K, 0.0);  // C_kg, N_k
  for (std::int64_t i = 0; i < s.N; ++i) {
    const int k = labels[i];
    if (k < 0) continue;
    acc[kg + k] += s.n_counts[i];
    for (auto e = s.counts.row_begin(i); e < s.counts.row_end(i); ++e)
      acc[static_cast<std::size_t>(k) * G + s.counts.indices[static_cast<std::size_t>(e)]] +=
          s.counts.data[static_cast<std::size_t>(e)];
  }
  comm.allreduce_sum(acc.data(), acc.size());
  std::vector<char> off(kg, 0);
  std::vector<double> off_ambient(K, 0.0), rho_k(K, -1.0);
  int n_with = 0;
  for (int k = 0; k < K; ++k) {
    const double Nk = acc[kg + k];
    double c = 0, a = 0;
    for (int g = 0; g < G; ++g) {
      const double expected = Nk * s.ambient_profile[g];
      const std::size_t j = static_cast<std::size_t>(k) * G + g;
      if (expected >= 20 && acc[j] < s.o.ambient_off_ratio * expected) {
        off[j] = 1;
        c += acc[j];
        a += s.ambient_profile[g];
      }
    }
    off_ambient[k] = a;
    if (a > 0) {
      rho_k[k] = std::min(0.99, std::max(1e-4, c / (Nk * a)));
      ++n_with;
    }
  }
  if (n_with == 0) return 0;
  // clusters without off genes: the UMI-weighted mean of the others
  double num = 0, den = 0;
  for (int k = 0; k < K; ++k)
    if (rho_k[k] >= 0) num += rho_k[k] * acc[kg + k], den += acc[kg + k];
  const double rho_all = num / den;
  // per-cell counts and exposures of the cluster's off genes
  std::vector<double> c(static_cast<std::size_t>(s.N), 0.0), e(static_cast<std::size_t>(s.N), 0.0);
  // E[(c − ρ_k e)² − ρ_k e] = var · e²: the exposure-weighted moment estimate of var
  std::vector<double> mom(2 * static_cast<std::size_t>(K), 0.0);  // Σ((c − ρe)² − ρe), Σe²
  for (std::int64_t i = 0; i < s.N; ++i) {
    const int k = labels[i];
    if (k < 0 || rho_k[k] < 0) continue;
    for (auto x = s.counts.row_begin(i); x < s.counts.row_end(i); ++x)
      if (off[static_cast<std::size_t>(k) * G + s.counts.indices[static_cast<std::size_t>(x)]])
        c[i] += s.counts.data[static_cast<std::size_t>(x)];
    e[i] = s.n_counts[i] * off_ambient[k];
    if (e[i] > 0) {
      const double d = c[i] - rho_k[k] * e[i];
      mom[k] += d * d - rho_k[k] * e[i];
      mom[K + k] += e[i] * e[i];
    }
  }
  comm.allreduce_sum(mom.data(), mom.size());
  s.rho.assign(static_cast<std::size_t>(s.N), rho_all);
  for (std::int64_t i = 0; i < s.N; ++i) {
    const int k = labels[i];
    if (k < 0 || rho_k[k] < 0 || e[i] <= 0) {
      if (k >= 0 && rho_k[k] >= 0) s.rho[i] = rho_k[k];
      continue;
    }
    // between-cell variance, at least (ρ_k / 10)² so a noisy moment cannot pin every cell to ρ_k
    const double var = std::max(mom[k] / mom[K + k], 0.01 * rho_k[k] * rho_k[k]);
    const double beta = rho_k[k] / var, alpha = rho_k[k] * beta;
    s.rho[i] = std::min(0.99, std::max(1e-4, (alpha + c[i]) / (beta + e[i])));
  }
  return n_with;
}

/// Ambient inputs for cluster profiles P and local labels.
struct AmbientRun {
  std::unique_ptr<Ambient> op;
  typename Ambient::Inputs in;
  typename Ambient::Outputs out;
  typename Ambient::Workspace ws;
  Vec q;
  PSet set;
  ParamBlock block;
};
void setup_ambient(ScState& s, AmbientRun& a, const std::vector<double>& P, const std::vector<int>& labels,
                   bool hard, const std::vector<double>& init_rho) {
  AmbientRemovalConfig ac;
  ac.n_cells = static_cast<int>(s.N);
  ac.hard = hard;
  ac.tau = 1.0;
  a.op = std::make_unique<Ambient>(ac);
  Exec exec;
  a.q = Vec(label("sc::ambient_q"), s.dev.values.extent(0));
  Kokkos::View<double**, Kokkos::LayoutRight, Mem> Pd(label("sc::profiles"), static_cast<std::size_t>(s.K),
                                                      static_cast<std::size_t>(s.G));
  {
    auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), Pd);
    for (std::size_t i = 0; i < P.size(); ++i) h.data()[i] = P[i];
    Kokkos::deep_copy(Pd, h);
  }
  Kokkos::View<int*, Mem> ld(label("sc::labels"), static_cast<std::size_t>(s.N));
  {
    auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), ld);
    for (std::int64_t i = 0; i < s.N; ++i) h(i) = labels[i];
    Kokkos::deep_copy(ld, h);
  }
  profile_at_entries(exec, s.dev.row_map, s.dev.entries, ld, Pd, a.q);
  a.in = Ambient::inputs_from(s.dev, a.q, s.ambient_dev);
  a.out = a.op->allocate_outputs(a.in);
  a.ws = a.op->allocate_workspace(a.in);
  ParameterLayout l;
  a.block = a.op->declare(l, "ambient");
  a.set = PSet(l, "sc_ambient");
  a.set.set_block(a.block, a.op->initial_params(init_rho));
}

/// Replaces each cell's contamination-logit gradient by its batch's (channel's) mean gradient,
/// all-reduced over ranks: SoupX's one-ρ-per-channel model expressed on the operator's per-cell
/// logits (every cell of a channel then moves by the same Adam step).
void tie_to_channel_mean(const ScState& s, const Comm& comm, AmbientRun& a) {
  auto gd = a.set.grads(a.block);
  auto gh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), gd);
  std::vector<double> acc(2 * static_cast<std::size_t>(s.B), 0.0);
  for (std::int64_t i = 0; i < s.N; ++i) {
    acc[static_cast<std::size_t>(s.batch[i])] += gh(i);
    acc[static_cast<std::size_t>(s.B + s.batch[i])] += 1;
  }
  comm.allreduce_sum(acc.data(), acc.size());
  for (std::int64_t i = 0; i < s.N; ++i)
    gh(i) = acc[static_cast<std::size_t>(s.batch[i])] / acc[static_cast<std::size_t>(s.B + s.batch[i])];
  Kokkos::deep_copy(gd, gh);
}

/// ρ by Adam on the Poisson NLL: per cell (cells are independent: no all-reduce), or with
/// \p per_channel one ρ per batch (SoupX's model: the operator's per-cell logits are tied by
/// replacing each cell's gradient with its batch's mean gradient, all-reduced over ranks; equal
/// starting logits then stay equal under Adam). Per-cell fits need deep cells and clusters that
/// match the types: on the simulator's shallow cells (≈ 200 UMIs) they are noise.
void fit_rho(ScState& s, const Comm& comm, AmbientRun& a, int steps, double lr, bool per_channel) {
  Exec exec;
  OptimizerConfig oc;
  oc.learning_rate = lr;
  Optimizer<double, Exec> opt(oc, a.set.size());
  Vec dnll(label("sc::dnll"), static_cast<std::size_t>(s.N));
  Kokkos::deep_copy(dnll, 1.0);
  typename Ambient::OutputGrads g;
  g.d_nll = dnll;
  for (int it = 0; it < steps; ++it) {
    a.op->forward(exec, a.set.values(a.block), a.in, a.out, a.ws);
    a.set.zero_grads(exec);
    a.op->adjoint(exec, a.set.values(a.block), a.in, a.ws, g, {}, a.set.grads(a.block));
    if (per_channel) tie_to_channel_mean(s, comm, a);
    opt.step(exec, a.set);
  }
  a.op->forward(exec, a.set.values(a.block), a.in, a.out, a.ws);
  s.rho = to_host_vec(a.out.rho);
}

std::string contamination_report(const ScState& s, const Comm& comm) {
  if (s.truth_contamination.empty() || s.rho.empty()) return "";
  std::vector<double> acc(2, 0.0);
  for (std::int64_t i = 0; i < s.N; ++i) {
    const double t = s.truth_contamination[s.first + i];
    acc[0] += std::fabs(s.rho[i] - t);
    acc[1] += std::fabs(t);
  }
  comm.allreduce_sum(acc.data(), acc.size());
  return "contamination MAE " + fmt("%.4f", acc[0] / s.N_global) + " (no correction: " +
         fmt("%.4f", acc[1] / s.N_global) + ")";
}

/// Doublet scores of the local cells on the embedding of \p values (simulated doublets: sums of
/// random pairs of this rank's count rows as fed to the embedding — raw, or ambient-corrected —
/// with the same normalisation, projection and offsets).
void score_doublets(ScState& s, const Comm& comm, const Embedding& em, const std::vector<double>& doublet_params) {
  Exec exec;
  const int M = std::max(1, static_cast<int>(std::lround(s.o.doublet_ratio * static_cast<double>(s.N))));
  if (s.N < 2) return;
  const auto pairs = simulate_doublet_pairs(static_cast<int>(s.N), M, s.o.seed + 7919ull * (comm.rank() + 1));
  Kokkos::View<int*, Mem> pd(label("sc::doublet_pairs"), pairs.size());
  {
    auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), pd);
    for (std::size_t i = 0; i < pairs.size(); ++i) h(i) = pairs[i];
    Kokkos::deep_copy(pd, h);
  }
  // The parents' rows as the real cells were embedded: the ambient-corrected counts when the
  // ambient stage ran (s.values). Summing raw (contaminated) parents instead puts every
  // simulated doublet off the corrected cells' manifold: they form their own cloud and real
  // doublets do not find them as neighbours.
  // Host form of doublet_rows: it merges a gene present in both parents into one entry. The
  // device form concatenates the parents' entries (fine for linear consumers), but
  // NormalizeLog1p is applied per entry, so a duplicated gene would get log1p(a) + log1p(b)
  // instead of log1p(a + b): every simulated doublet would sit off the real cells' manifold
  // (this alone held the AUROC at ≈ 0.7).
  io::CsrMatrix<double> parents = s.counts;
  parents.data = to_host_vec(s.values);
  const auto sim = io::to_device<Mem>(doublet_rows(parents, pairs), "sc::doublets");
  // embed the simulated rows with the same chain
  Kokkos::View<double*, Mem> sn(label("sc::doublet_normed"), sim.values.extent(0));
  typename Norm::Inputs nin;
  nin.row_map = sim.row_map;
  nin.values = sim.values;
  typename Norm::Workspace nws;
  s.norm->forward(exec, s.norm_params, nin, typename Norm::Outputs{sn}, nws);
  const std::size_t Nt = static_cast<std::size_t>(s.N) + static_cast<std::size_t>(M);
  Mat emb(label("sc::doublet_emb"), Nt, static_cast<std::size_t>(s.D));
  Mat ysim(label("sc::doublet_y"), static_cast<std::size_t>(M), static_cast<std::size_t>(s.D));
  typename Pca::Inputs pin;
  pin.row_map = sim.row_map;
  pin.entries = sim.entries;
  pin.values = sn;
  typename Pca::Workspace pws;
  if (s.vae) {
    // the VAE path: simulated doublets go through the same encoder (batch of the first parent)
    Kokkos::View<int*, Mem> sb(label("sc::doublet_batch"), static_cast<std::size_t>(M));
    auto bb = s.batch_dev;
    Kokkos::parallel_for(
        label("sc::doublet_batch"), Kokkos::RangePolicy<Exec>(exec, 0, M), KOKKOS_LAMBDA(const int d) { sb(d) = bb(pd(2 * d)); });
    ysim = vae_latent(s, sim.row_map, sim.entries, sim.values, sb);
  } else {
    s.pca->forward(exec, s.pca_set.values(s.pca_block), pin, typename Pca::Outputs{ysim}, pws);
  }
  auto z = em.z;
  auto off = s.cl_set.values(s.off_block);
  auto b = s.batch_dev;
  const int D = s.D, N = static_cast<int>(s.N);
  Kokkos::parallel_for(
      label("sc::doublet_embed"), Kokkos::RangePolicy<Exec>(exec, 0, static_cast<int>(Nt)), KOKKOS_LAMBDA(const int r) {
        if (r < N) {
          for (int k = 0; k < D; ++k) emb(r, k) = z(r, k);
        } else {
          const int parent = pd(2 * (r - N));
          for (int k = 0; k < D; ++k) emb(r, k) = ysim(r - N, k) - off(b(parent) * D + k);
        }
      });
  exec.fence();
  DoubletScorerConfig dc;
  dc.k = s.o.doublet_k;
  dc.threshold = s.o.doublet_threshold;
  Doublet op(dc);
  typename Doublet::Inputs in;
  in.emb = emb;
  in.n_real = N;
  in.neighbors = Doublet::find_neighbors(exec, emb, N, dc.k);
  auto out = op.allocate_outputs(in);
  auto ws = op.allocate_workspace(in);
  const auto p = doublet_params.empty() ? op.initial_params() : doublet_params;
  op.forward(exec, to_device_vec(p, "sc::doublet_params"), in, out, ws);
  s.doublet_score = to_host_vec(out.score);
  s.doublet_prob = to_host_vec(out.prob);
  if (!s.truth_doublet.empty()) {
    const auto g = gather_rows(comm, s.doublet_score, s.first, s.N_global, 1);
    s.doublet_auroc = auroc(g, s.truth_doublet);
  }
}

// ------------------------------------------------------------------------------ output

void write_results(const ScState& s, const Comm& comm, const Embedding& em, const std::vector<int>& labels,
                   double tau_out, const std::map<std::string, io::UnsValue>& uns_extra) {
  if (s.o.out.empty()) return;
  const int D = s.D, K = s.K;
  // soft assignments at tau_out (rows sum to 1)
  std::vector<double> soft;
  {
    SoftKMeansConfig kc;
    kc.n_clusters = K;
    kc.n_features = D;
    kc.tau = tau_out;
    KMeans op(kc);
    typename KMeans::Inputs in{em.z, {}};
    auto out = op.allocate_outputs(in);
    auto ws = op.allocate_workspace(in);
    Vec p(label("sc::soft_params"), static_cast<std::size_t>(K * D + 1));
    Kokkos::deep_copy(p, s.cl_set.values(s.km_block));
    Kokkos::deep_copy(Kokkos::subview(p, K * D), std::log(tau_out));
    op.forward(Exec(), p, in, out, ws);
    soft = to_host_vec(out.assign);
  }
  const auto yh = to_host_vec(em.y);
  const auto zh = to_host_vec(em.z);
  const auto g_y = gather_rows(comm, yh, s.first, s.N_global, D);
  const auto g_z = gather_rows(comm, zh, s.first, s.N_global, D);
  const auto g_soft = gather_rows(comm, soft, s.first, s.N_global, K);
  const int C = 6;  // cluster, n_counts, n_genes, contamination, doublet score, doublet prob
  std::vector<double> cols(static_cast<std::size_t>(s.N) * C, 0.0);
  for (std::int64_t i = 0; i < s.N; ++i) {
    double* c = &cols[static_cast<std::size_t>(i) * C];
    c[0] = labels[i];
    c[1] = s.n_counts[i];
    c[2] = s.n_genes[i];
    c[3] = s.rho.empty() ? 0.0 : s.rho[i];
    c[4] = s.doublet_score.empty() ? 0.0 : s.doublet_score[i];
    c[5] = s.doublet_prob.empty() ? 0.0 : s.doublet_prob[i];
  }
  const auto g_cols = gather_rows(comm, cols, s.first, s.N_global, C);
  std::vector<double> mu;
  {
    const auto p = s.pca_set.get_block(s.pca_block);
    mu.assign(p.begin() + static_cast<std::ptrdiff_t>(s.G) * D, p.end());
  }
  if (comm.rank() != 0) return;
  MatrixFile f(s.path);
  io::H5adWriter w(s.o.out, s.G);
  for (std::int64_t b = 0; b < s.N_global; b += s.o.chunk)
    w.append_X_rows(read_cells<float>(f, s.kept, s.is_cell, b, std::min(s.N_global, b + s.o.chunk), s.o.chunk));
  io::DataFrame obs, var;
  if (f.h5ad) {
    obs = subset_rows(f.h5ad->obs(), s.kept);
    var = f.h5ad->var();
  } else {
    const auto bc = f.tenx->barcodes();
    for (auto r : s.kept) obs.index.push_back(bc[static_cast<std::size_t>(r)]);
    const auto ft = f.tenx->features();
    var.index = ft.name;
    var.columns.push_back(io::Column::make_string("gene_ids", ft.id));
    var.columns.push_back(io::Column::make_string("feature_types", ft.feature_type));
  }
  const std::int64_t N = s.N_global;
  auto col = [&](int c) {
    std::vector<double> v(static_cast<std::size_t>(N));
    for (std::int64_t i = 0; i < N; ++i) v[i] = g_cols[static_cast<std::size_t>(i) * C + c];
    return v;
  };
  std::vector<std::int64_t> codes, pred;
  for (double v : col(0)) codes.push_back(static_cast<std::int64_t>(v));
  std::vector<std::string> cats;
  for (int k = 0; k < K; ++k) cats.push_back(std::to_string(k));
  std::vector<io::Column> added;
  added.push_back(io::Column::make_categorical("cluster", codes, cats));
  added.push_back(io::Column::make_real("n_counts", col(1)));
  added.push_back(io::Column::make_real("n_genes", col(2)));
  if (!s.rho.empty()) added.push_back(io::Column::make_real("contamination", col(3)));
  if (!s.doublet_score.empty()) {
    added.push_back(io::Column::make_real("doublet_score", col(4)));
    added.push_back(io::Column::make_real("doublet_prob", col(5)));
    for (double v : col(5)) pred.push_back(v >= 0.5 ? 1 : 0);
    added.push_back(io::Column::make_boolean("predicted_doublet", pred));
  }
  // An input column with the name of an output column is kept as "input_<name>".
  for (auto& c : obs.columns)
    for (const auto& a : added)
      if (c.name == a.name) c.name = "input_" + c.name;
  for (auto& a : added) obs.columns.push_back(std::move(a));
  for (auto& c : var.columns)
    if (c.name == "pca_mean" || c.name == "ambient_profile") c.name = "input_" + c.name;
  var.columns.push_back(io::Column::make_real("pca_mean", mu));
  if (!s.ambient_profile.empty()) var.columns.push_back(io::Column::make_real("ambient_profile", s.ambient_profile));
  w.set_obs(obs);
  w.set_var(var);
  auto dense = [&](const std::vector<double>& v, int c) {
    io::DenseMatrix<double> m;
    m.n_rows = N;
    m.n_cols = c;
    m.values = v;
    return m;
  };
  w.add_obsm("X_pca", dense(g_y, D));
  w.add_obsm("X_diffbio", dense(g_z, D));
  if (s.vae) w.add_obsm("X_vae", dense(g_z, D));
  w.add_obsm("soft_assignments", dense(g_soft, K));
  w.add_uns("diffbio_n_clusters", s.K);
  w.add_uns("diffbio_n_pcs", s.D);
  w.add_uns("diffbio_target_sum", s.o.target_sum);
  w.add_uns("diffbio_seed", static_cast<std::int64_t>(s.o.seed));
  w.add_uns("diffbio_tau_soft_assignments", tau_out);
  w.add_uns("diffbio_n_ranks", comm.size());
  w.add_uns("diffbio_batch_key", s.o.batch_key);
  w.add_uns("diffbio_min_counts", s.min_counts);
  w.add_uns("diffbio_n_barcodes", s.N_file);
  w.add_uns("diffbio_n_empty_filtered", s.N_file - s.N_global);
  for (const auto& [k, v] : uns_extra) w.add_uns(k, v);
  w.commit();
}

// ------------------------------------------------------------------------------ model file

void write_model(const ScState& s, const std::string& path, double tau, const std::vector<double>& doublet_params) {
  auto f = io::H5File::create(path);
  f.write_dataset("pca/projection_mean", s.pca_set.get_block(s.pca_block));
  f.write_dataset("batch_offsets", s.cl_set.get_block(s.off_block), {static_cast<std::size_t>(s.B), static_cast<std::size_t>(s.D)});
  f.write_dataset("soft_kmeans/centroids_log_tau", s.cl_set.get_block(s.km_block));
  f.write_dataset("doublet/params", doublet_params);
  f.write_dataset("batch_names", s.batch_names);
  f.write_attribute("/", "n_genes", s.G);
  f.write_attribute("/", "n_pcs", s.D);
  f.write_attribute("/", "n_clusters", s.K);
  f.write_attribute("/", "target_sum", s.o.target_sum);
  f.write_attribute("/", "tau", tau);
  f.write_attribute("/", "diffbio_version", DIFFBIO_VERSION_STRING);
  f.close_and_commit();
}

/// Loads a model from `sc train`; returns τ (and the doublet parameters).
double load_model(ScState& s, const std::string& path, std::vector<double>& doublet_params) {
  auto f = io::H5File::open_read(path);
  for (const char* n : {"pca/projection_mean", "batch_offsets", "soft_kmeans/centroids_log_tau"})
    if (!f.has(n)) throw input_error(path, -1, std::string("no dataset '") + n + "' (not written by sc train?)");
  const auto G = f.read_attribute_int64("/", "n_genes"), D = f.read_attribute_int64("/", "n_pcs"),
             K = f.read_attribute_int64("/", "n_clusters");
  if (G != s.G || D != s.D || K != s.K)
    throw input_error(path, -1, "model has " + std::to_string(G) + " genes, " + std::to_string(D) + " PCs, " +
                                    std::to_string(K) + " clusters; the run has " + std::to_string(s.G) + ", " +
                                    std::to_string(s.D) + ", " + std::to_string(s.K) + " (--pcs/--clusters)");
  s.pca_set.set_block(s.pca_block, f.read_dataset_double("pca/projection_mean"));
  auto off = f.read_dataset_double("batch_offsets");
  const auto names = f.read_dataset_string("batch_names");
  // offsets by batch name; batches unknown to the model get no offset
  std::vector<double> mine(static_cast<std::size_t>(s.B * s.D), 0.0);
  for (int b = 0; b < s.B; ++b)
    for (std::size_t m = 0; m < names.size(); ++m)
      if (names[m] == s.batch_names[b])
        for (int k = 0; k < s.D; ++k) mine[b * s.D + k] = off[m * s.D + k];
  s.cl_set.set_block(s.off_block, mine);
  s.cl_set.set_block(s.km_block, f.read_dataset_double("soft_kmeans/centroids_log_tau"));
  if (f.has("doublet/params")) doublet_params = f.read_dataset_double("doublet/params");
  return f.read_attribute_double("/", "tau");
}

/// Σ_i w_i v_i (w empty: Σ_i v_i). A named function, not a lambda: CUDA's extended lambdas
/// cannot live inside another lambda (the training step is one).
double weighted_sum(const Vec& w, const Vec& v) {
  double t = 0;
  const bool has_w = w.extent(0) > 0;
  Kokkos::parallel_reduce(
      label("sc::weighted_sum"), Kokkos::RangePolicy<Exec>(0, static_cast<int>(v.extent(0))),
      KOKKOS_LAMBDA(const int i, double& acc) { acc += (has_w ? w(i) : 1.0) * v(i); }, t);
  return t;
}

double elapsed(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string ari_text(double a) { return a < -1.5 ? "n/a" : fmt("%.4f", a); }

// ------------------------------------------------------------------------------ the classic chain

/// Normalise → PCA (fitted) → k-means++ + Lloyd on raw counts. Returns labels; sets spread.
std::vector<int> run_classic(ScState& s, const Comm& comm, Embedding& em, LloydResult& lr) {
  fit_pca(s, comm);
  embed(s, s.dev.values, em);
  s.spread = spread_of(comm, em.z);
  std::vector<int> labels;
  lr = classic_kmeans(s, comm, em.z, labels);
  return labels;
}

}  // namespace

std::int64_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream is(line.substr(6));
      std::int64_t kb = 0;
      is >> kb;
      return kb * 1024;
    }
  return 0;
}

// ------------------------------------------------------------------------------ diffbio sc

namespace {
ScOptions resolved(ScOptions o) {
  if (o.no_ambient) o.ambient = false;
  if (o.no_doublets) o.doublets = false;
  if (o.fixed_offsets) o.learn_offsets = false;
  return o;
}
}  // namespace

int run_sc_pipeline(const ScOptions& o_in, const Comm& comm) {
  const ScOptions o = resolved(o_in);
  if (o.out.empty()) throw Error(ExitCode::usage, "sc: --out is required");
  if (o.embedding != "pca" && o.embedding != "vae")
    throw Error(ExitCode::usage, "sc: --embedding must be 'pca' or 'vae', got '" + o.embedding + "'");
  if (o.embedding == "vae" && (comm.size() != 1 || !o.model.empty() || o.classic))
    throw Error(ExitCode::usage, "sc: --embedding vae runs on one rank, without --model and --classic");
  if (o.embedding == "vae" && (o.vae_epochs < 1 || o.vae_hidden < 1 || !(o.vae_lr > 0)))
    throw Error(ExitCode::usage, "sc: --vae-epochs, --vae-hidden and --vae-lr must be > 0");
  if (o.ambient_rho != "channel" && o.ambient_rho != "cell")
    throw Error(ExitCode::usage, "sc: --ambient-rho must be 'channel' or 'cell', got '" + o.ambient_rho + "'");
  const auto t0 = std::chrono::steady_clock::now();
  ScState s;
  s.o = o;
  std::map<std::string, io::UnsValue> uns;
  run_collectively(comm, [&] { load_input(s, comm); });
  Embedding em;
  std::vector<int> labels;
  double tau_out = 0;
  std::vector<double> doublet_params;
  run_collectively(comm, [&] {
    if (!o.model.empty()) {
      tau_out = load_model(s, o.model, doublet_params);
      embed(s, s.dev.values, em);
      s.spread = spread_of(comm, em.z);
      labels = assign_hard(s, em.z);
      uns["diffbio_chain"] = "model";
    } else {
      LloydResult lr;
      labels = run_classic(s, comm, em, lr);
      tau_out = o.tau_end * s.spread;
      uns["diffbio_kmeans_n_iter"] = lr.n_iter;
      uns["diffbio_kmeans_inertia"] = lr.inertia;
      uns["diffbio_chain"] = o.classic ? "classic" : "full";
      log_line(comm, "sc: classic chain (log-normalise -> PCA -> k-means): " + std::to_string(lr.n_iter) +
                         " Lloyd iterations, inertia " + fmt("%.6g", lr.inertia) + ", ARI " +
                         ari_text(global_ari(s, comm, labels, true)) + fmt(" (%.1fs)", elapsed(t0)));
    }
  });
  if (!o.classic && o.ambient) {
    run_collectively(comm, [&] {
      const auto src = estimate_ambient_profile(s, comm);
      AmbientRun a;
      // ρ from the genes that are off in each cluster, then the Poisson fit against cluster
      // profiles with the current ambient estimate removed (off genes ≈ 0 there, which is what
      // makes ρ identifiable), rounds re-pooling the profiles with the refined ρ.
      const int n_off = estimate_rho_from_off_genes(s, comm, labels);
      if (n_off > 0) {
        const auto off_rep = contamination_report(s, comm);
        log_line(comm, "sc: contamination from the off genes of " + std::to_string(n_off) + "/" + std::to_string(s.K) +
                           " clusters" + (off_rep.empty() ? "" : ": " + off_rep));
      } else {
        log_line(comm, "sc: no cluster has off genes (below --ambient-off-ratio): the Poisson fit starts from its default");
      }
      for (int round = 0; round < 2; ++round) {
        const auto P = pooled_profiles(s, comm, labels);
        setup_ambient(s, a, P, labels, /*hard=*/true, s.rho);
        fit_rho(s, comm, a, o.ambient_steps, 0.1, o.ambient_rho == "channel");
        const auto r = contamination_report(s, comm);
        if (!r.empty()) log_line(comm, "sc: Poisson fit round " + std::to_string(round + 1) + ": " + r);
      }
      s.values = a.out.corrected;
      embed(s, s.values, em);
      if (o.model.empty()) {
        // re-cluster the corrected embedding from the classic centroids
        std::vector<int> l2;
        auto lr = classic_kmeans(s, comm, em.z, l2);
        (void)lr;
        labels = l2;
      } else {
        labels = assign_hard(s, em.z);
      }
      double mean_rho = 0;
      for (double r : s.rho) mean_rho += r;
      mean_rho = comm.allreduce_sum(mean_rho) / static_cast<double>(s.N_global);
      const auto rep = contamination_report(s, comm);
      log_line(comm, "sc: ambient removal (profile from " + src + "): mean contamination " +
                         fmt("%.4f", mean_rho) + (rep.empty() ? "" : ", " + rep) + ", ARI " +
                         ari_text(global_ari(s, comm, labels, true)) + fmt(" (%.1fs)", elapsed(t0)));
    });
  }
  if (o.embedding == "vae") {
    run_collectively(comm, [&] {
      const auto losses = train_vae(s);
      auto z = vae_latent(s, s.dev.row_map, s.dev.entries, s.values, s.batch_dev);
      Kokkos::deep_copy(em.z, z);
      s.spread = spread_of(comm, em.z);
      std::vector<int> l2;
      const auto lr = classic_kmeans(s, comm, em.z, l2);
      labels = l2;
      tau_out = o.tau_end * s.spread;
      uns["diffbio_embedding"] = std::string("vae");
      uns["diffbio_vae_final_loss"] = losses.back();
      log_line(comm, "sc: VAE embedding (" + std::to_string(s.D) + " latent dims, " + std::to_string(o.vae_epochs) +
                         " epochs): loss per cell " + fmt("%.2f", losses.front()) + " -> " + fmt("%.2f", losses.back()) +
                         ", k-means " + std::to_string(lr.n_iter) + " iterations, ARI " +
                         ari_text(global_ari(s, comm, labels, true)) + fmt(" (%.1fs)", elapsed(t0)));
    });
  }
  if (!o.classic && o.doublets) {
    run_collectively(comm, [&] {
      score_doublets(s, comm, em, doublet_params);
      double n_pred = 0;
      for (double p : s.doublet_prob) n_pred += p >= 0.5 ? 1 : 0;
      n_pred = comm.allreduce_sum(n_pred);
      log_line(comm, "sc: doublet scoring: " + std::to_string(static_cast<long long>(n_pred)) +
                         " predicted doublets" +
                         (s.doublet_auroc >= 0 ? ", AUROC " + fmt("%.4f", s.doublet_auroc) : std::string()) +
                         fmt(" (%.1fs)", elapsed(t0)));
      if (s.doublet_auroc >= 0) uns["diffbio_doublet_auroc"] = s.doublet_auroc;
    });
  }
  const double ari = global_ari(s, comm, labels, true);
  if (ari > -1.5) {
    uns["diffbio_ari_singlets"] = ari;
    uns["diffbio_ari_all"] = global_ari(s, comm, labels, false);
  }
  run_collectively(comm, [&] { write_results(s, comm, em, labels, tau_out, uns); });
  const double peak = comm.allreduce_max(static_cast<double>(peak_rss_bytes()));
  log_line(comm, "sc: wrote " + o.out + ": " + std::to_string(s.N_global) + " cells, " + std::to_string(s.K) +
                     " clusters, ARI " + ari_text(ari) + fmt(", %.1fs", elapsed(t0)) +
                     fmt(", peak memory (VmHWM, max over ranks) %.1f MiB", peak / 1048576.0));
  return 0;
}

// ------------------------------------------------------------------------------ diffbio sc train

namespace {

struct TrainCheckpoint {
  int epoch = 0;  // epochs completed
  std::vector<double> pca, cl, amb;  // amb: global ρ logits
  std::map<std::string, std::vector<double>> opt_pca, opt_cl, opt_amb;  // amb m/v: global
};

void save_checkpoint(const std::string& path, const TrainCheckpoint& c) {
  auto f = io::H5File::create(path);
  f.write_attribute("/", "epoch", static_cast<std::int64_t>(c.epoch));
  f.write_dataset("params/pca", c.pca);
  f.write_dataset("params/cluster", c.cl);
  f.write_dataset("params/ambient", c.amb);
  for (const auto& [name, st] : std::map<std::string, const std::map<std::string, std::vector<double>>*>{
           {"pca", &c.opt_pca}, {"cluster", &c.opt_cl}, {"ambient", &c.opt_amb}})
    for (const auto& [k, v] : *st) f.write_dataset("optimizer/" + name + "/" + k, v);
  f.close_and_commit();
}

TrainCheckpoint load_checkpoint(const std::string& path) {
  auto f = io::H5File::open_read(path);
  TrainCheckpoint c;
  for (const char* n : {"params/pca", "params/cluster", "params/ambient"})
    if (!f.has(n)) throw input_error(path, -1, std::string("no dataset '") + n + "' (not an sc train checkpoint?)");
  c.epoch = static_cast<int>(f.read_attribute_int64("/", "epoch"));
  c.pca = f.read_dataset_double("params/pca");
  c.cl = f.read_dataset_double("params/cluster");
  c.amb = f.read_dataset_double("params/ambient");
  for (auto& [name, st] : std::map<std::string, std::map<std::string, std::vector<double>>*>{
           {"pca", &c.opt_pca}, {"cluster", &c.opt_cl}, {"ambient", &c.opt_amb}})
    for (const char* k : {"m", "v", "t"}) {
      const std::string n = "optimizer/" + name + "/" + k;
      if (!f.has(n)) throw input_error(path, -1, "no dataset '" + n + "'");
      (*st)[k] = f.read_dataset_double(n);
    }
  return c;
}

}  // namespace

int run_sc_train(const ScOptions& o_in, const Comm& comm) {
  const ScOptions o = resolved(o_in);
  if (o.epochs < 0) throw Error(ExitCode::usage, "sc train: --epochs must be >= 0");
  if (!(o.tau_start > 0 && o.tau_end > 0)) throw Error(ExitCode::usage, "sc train: --tau-start and --tau-end must be > 0");
  if (o.checkpoint_every < 1) throw Error(ExitCode::usage, "sc train: --checkpoint-every must be >= 1");
  if (o.model_out.empty() && o.out.empty()) throw Error(ExitCode::usage, "sc train: --model-out and/or --out is required");
  const auto t0 = std::chrono::steady_clock::now();
  ScState s;
  s.o = o;
  Embedding em;
  std::vector<int> classic_labels;
  LloydResult lr;
  AmbientRun a;
  std::vector<double> weight(static_cast<std::size_t>(0));
  double ari_before = -2;
  run_collectively(comm, [&] {
    load_input(s, comm);
    classic_labels = run_classic(s, comm, em, lr);
    ari_before = global_ari(s, comm, classic_labels, true);
    log_line(comm, "sc train: classic chain (log-normalise -> PCA -> k-means, hard): ARI " + ari_text(ari_before) +
                       " (singlets), " + std::to_string(lr.n_iter) + " Lloyd iterations" + fmt(" (%.1fs)", elapsed(t0)));
    // constant doublet weights from the classic embedding
    weight.assign(static_cast<std::size_t>(s.N), 1.0);
    if (o.doublets) {
      score_doublets(s, comm, em, {});
      for (std::int64_t i = 0; i < s.N; ++i) weight[i] = 1.0 - s.doublet_prob[i];
      if (s.doublet_auroc >= 0) log_line(comm, "sc train: doublet scorer on the classic embedding: AUROC " + fmt("%.4f", s.doublet_auroc));
    }
    if (o.ambient) {
      estimate_ambient_profile(s, comm);
      // start ρ at the off-gene estimate, with the cluster profiles cleaned of it (as in sc)
      estimate_rho_from_off_genes(s, comm, classic_labels);
      const auto P = pooled_profiles(s, comm, classic_labels);
      setup_ambient(s, a, P, classic_labels, /*hard=*/false, s.rho);
    }
  });
  Exec exec;
  // Adam per parameter group (their scales differ by orders of magnitude).
  OptimizerConfig oc;
  oc.learning_rate = o.lr;
  Optimizer<double, Exec> opt_cl(oc, s.cl_set.size());
  oc.learning_rate = o.lr_pca;
  Optimizer<double, Exec> opt_pca(oc, s.pca_set.size());
  oc.learning_rate = o.lr_ambient;
  std::unique_ptr<Optimizer<double, Exec>> opt_amb;
  if (o.ambient) opt_amb = std::make_unique<Optimizer<double, Exec>>(oc, a.set.size());
  int start_epoch = 0;
  if (!o.resume.empty()) {
    run_collectively(comm, [&] {
      const auto c = load_checkpoint(o.resume);
      if (c.pca.size() != s.pca_set.size() || c.cl.size() != s.cl_set.size() ||
          (o.ambient && c.amb.size() != static_cast<std::size_t>(s.N_global)))
        throw input_error(o.resume, -1, "checkpoint does not match this input and options");
      s.pca_set.set_all_values(c.pca);
      s.cl_set.set_all_values(c.cl);
      opt_pca.load_state(c.opt_pca);
      opt_cl.load_state(c.opt_cl);
      if (o.ambient) {
        std::vector<double> mine(c.amb.begin() + s.first, c.amb.begin() + s.first + s.N);
        a.set.set_all_values(mine);
        auto st = c.opt_amb;
        for (const char* k : {"m", "v"})
          st[k] = std::vector<double>(c.opt_amb.at(k).begin() + s.first, c.opt_amb.at(k).begin() + s.first + s.N);
        opt_amb->load_state(st);
      }
      start_epoch = c.epoch;
      log_line(comm, "sc train: resumed from " + o.resume + " after epoch " + std::to_string(c.epoch));
    });
  }
  const auto sched = TemperatureSchedule::exponential(
      o.tau_start * s.spread, o.epochs > 1 ? std::pow(o.tau_end / o.tau_start, 1.0 / (o.epochs - 1)) : 1.0,
      o.tau_end * s.spread);
  const double Ng = static_cast<double>(s.N_global);
  const int D = s.D, K = s.K, B = s.B, G = s.G;
  const int N = static_cast<int>(s.N);
  Mat dz(label("sc::dz"), static_cast<std::size_t>(N), static_cast<std::size_t>(D));
  Mat dyrec(label("sc::dy_rec"), static_cast<std::size_t>(N), static_cast<std::size_t>(D));
  Vec dnormed(label("sc::dnormed"), s.dev.values.extent(0));
  Vec dcorr(label("sc::dcorrected"), s.dev.values.extent(0));
  Vec de(label("sc::denergy"), static_cast<std::size_t>(N));
  Vec dnll(label("sc::dnll"), static_cast<std::size_t>(N));
  {
    auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), de);
    for (int i = 0; i < N; ++i) h(i) = weight[i] / Ng;
    Kokkos::deep_copy(de, h);
    Kokkos::deep_copy(dnll, o.ambient_weight / Ng);
  }
  typename KMeans::Inputs kin{em.z, {}};
  auto kout = s.km->allocate_outputs(kin);
  auto kws = s.km->allocate_workspace(kin);
  std::vector<int> labels = classic_labels;
  double tau = sched.at(start_epoch);
  // One evaluation of the joint loss at the current parameters: fills terms (energy, rec, nll:
  // local sums already scaled by 1/N_global) and, with backward, the gradients of all groups
  // (local: not yet all-reduced). Blocking.
  auto evaluate = [&](double tau, double* terms, bool backward) {
    set_log_tau(s, tau);
    // forward
    Vec values = s.dev.values;
    if (o.ambient) {
      a.op->forward(exec, a.set.values(a.block), a.in, a.out, a.ws);
      values = a.out.corrected;
    }
    embed(s, values, em);
    s.km->forward(exec, s.cl_set.values(s.km_block), kin, kout, kws);
    // loss terms (local sums)
    const double e_sum = weighted_sum(de, kout.energy);
    // reconstruction without its W-independent part: Σ_i (y_iᵀ M y_i − 2‖y_i‖²), M = WᵀW
    const auto Wh = s.pca_set.get_block(s.pca_block);
    std::vector<double> M(static_cast<std::size_t>(D * D), 0.0);
    for (int g = 0; g < G; ++g)
      for (int k = 0; k < D; ++k)
        for (int l = 0; l < D; ++l) M[k * D + l] += Wh[g * D + k] * Wh[g * D + l];
    const auto yh = to_host_vec(em.y);
    std::vector<double> S(static_cast<std::size_t>(D * D), 0.0);  // Σ_i y_i y_iᵀ (local)
    for (int i = 0; i < N; ++i)
      for (int k = 0; k < D; ++k)
        for (int l = 0; l < D; ++l) S[k * D + l] += yh[i * D + k] * yh[i * D + l];
    double rec = 0;
    for (int k = 0; k < D; ++k) {
      rec -= 2 * S[k * D + k];
      for (int l = 0; l < D; ++l) rec += M[k * D + l] * S[l * D + k];
    }
    const double nll = o.ambient ? weighted_sum(Vec(), a.out.nll) : 0.0;
    terms[0] = e_sum;  // de already holds w_i / N
    terms[1] = o.rec_weight * rec / Ng;
    terms[2] = o.ambient_weight * nll / Ng;
    if (!backward) return;
    // backward
    s.pca_set.zero_grads(exec);
    s.cl_set.zero_grads(exec);
    Kokkos::deep_copy(dz, 0.0);
    typename KMeans::OutputGrads kg;
    kg.d_energy = de;
    s.km->adjoint(exec, s.cl_set.values(s.km_block), kin, kws, kg, typename KMeans::InputGrads{dz},
                  s.cl_set.grads(s.km_block));
    // batch offsets: z = y − s_b  ⇒  s̄_b = −Σ_{i∈b} z̄_i (fixed row order)
    const auto dzh = to_host_vec(dz);
    if (o.learn_offsets && B > 1) {
      std::vector<double> ds(static_cast<std::size_t>(B * D), 0.0);
      for (int i = 0; i < N; ++i)
        for (int k = 0; k < D; ++k) ds[s.batch[i] * D + k] -= dzh[i * D + k];
      auto gv = s.cl_set.grads(s.off_block);
      auto gh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), gv);
      for (int c = 0; c < B * D; ++c) gh(c) += ds[c];
      Kokkos::deep_copy(gv, gh);
    }
    // PCA adjoint of the clustering path: ȳ = z̄, into W and the normalised values
    typename Pca::Inputs pin;
    pin.row_map = s.dev.row_map;
    pin.entries = s.dev.entries;
    pin.values = em.normed;
    Kokkos::deep_copy(dnormed, 0.0);
    s.pca->adjoint(exec, s.pca_set.values(s.pca_block), pin, em.pws, typename Pca::OutputGrads{dz},
                   typename Pca::InputGrads{dnormed}, s.pca_set.grads(s.pca_block));
    // reconstruction: ȳ_i = λ(2 M y_i − 4 y_i)/N into W only; explicit ∂/∂W of yᵀ(WᵀW)y = 2 W S
    {
      auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), dyrec);
      const double c = o.rec_weight / Ng;
      for (int i = 0; i < N; ++i)
        for (int k = 0; k < D; ++k) {
          double v = -4 * yh[i * D + k];
          for (int l = 0; l < D; ++l) v += 2 * M[k * D + l] * yh[i * D + l];
          h(i, k) = c * v;
        }
      Kokkos::deep_copy(dyrec, h);
      s.pca->adjoint(exec, s.pca_set.values(s.pca_block), pin, em.pws, typename Pca::OutputGrads{dyrec},
                     typename Pca::InputGrads{}, s.pca_set.grads(s.pca_block));
      auto gv = s.pca_set.grads(s.pca_block);
      auto gh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), gv);
      for (int g = 0; g < G; ++g)
        for (int k = 0; k < D; ++k) {
          double v = 0;
          for (int l = 0; l < D; ++l) v += Wh[g * D + l] * S[l * D + k];
          gh(g * D + k) += 2 * c * v;
        }
      Kokkos::deep_copy(gv, gh);
    }
    if (o.ambient) {
      // NormalizeLog1p adjoint into the corrected counts, then AmbientRemoval into ρ
      typename Norm::Inputs nin;
      nin.row_map = s.dev.row_map;
      nin.values = values;
      Kokkos::deep_copy(dcorr, 0.0);
      Vec dlogt(label("sc::dlogt"), 1);
      s.norm->adjoint(exec, s.norm_params, nin, em.nws, typename Norm::OutputGrads{dnormed},
                      typename Norm::InputGrads{dcorr, {}}, dlogt);
      a.set.zero_grads(exec);
      typename Ambient::OutputGrads ag;
      ag.d_corrected = dcorr;
      ag.d_nll = dnll;
      a.op->adjoint(exec, a.set.values(a.block), a.in, a.ws, ag, {}, a.set.grads(a.block));
    }
  };
  if (o.check_gradient) {
    // Central differences of the joint loss along a random direction vs the hand-derived
    // gradient: (1) PCA W, batch offsets and centroids (every loss term); (2) the contamination
    // logits, without the reconstruction term (by design it trains W only: its path into the
    // counts is not differentiated).
    run_collectively(comm, [&] {
      const double tau0 = sched.at(start_epoch);
      double t[3];
      evaluate(tau0, t, true);
      auto gp = s.pca_set.all_grads(), gc = s.cl_set.all_grads();
      comm.allreduce_sum(gp.data(), gp.size());
      comm.allreduce_sum(gc.data(), gc.size());
      const auto ga = o.ambient ? a.set.all_grads() : std::vector<double>{};
      const auto p0 = s.pca_set.all_values(), c0 = s.cl_set.all_values();
      const auto a0 = o.ambient ? a.set.all_values() : std::vector<double>{};
      const CounterRng rng(o.seed + 0x6772616463ull, static_cast<std::uint64_t>(comm.rank()));
      std::vector<double> vp(p0.size(), 0.0), vc(c0.size(), 0.0), va(a0.size(), 0.0);
      for (std::size_t j = 0; j < static_cast<std::size_t>(G) * D; ++j) vp[j] = 0.01 * CounterRng(o.seed + 1, 0).normal(j);
      for (std::size_t j = 0; j + 1 < vc.size(); ++j) vc[j] = CounterRng(o.seed + 2, 0).normal(j);
      for (std::size_t j = 0; j < va.size(); ++j) va[j] = rng.normal(j);
      auto loss_at = [&](double h, bool shared, bool with_rec) {
        std::vector<double> p = p0, c = c0, q = a0;
        if (shared) {
          for (std::size_t j = 0; j < p.size(); ++j) p[j] += h * vp[j];
          for (std::size_t j = 0; j < c.size(); ++j) c[j] += h * vc[j];
        } else {
          for (std::size_t j = 0; j < q.size(); ++j) q[j] += h * va[j];
        }
        s.pca_set.set_all_values(p);
        s.cl_set.set_all_values(c);
        if (o.ambient) a.set.set_all_values(q);
        double tt[3];
        evaluate(tau0, tt, false);
        double sum[3] = {tt[0], tt[1], tt[2]};
        comm.allreduce_sum(sum, 3);
        return sum[0] + (with_rec ? sum[1] : 0.0) + sum[2];
      };
      double worst = 0;
      for (int part = 0; part < (o.ambient ? 2 : 1); ++part) {
        const bool shared = part == 0;
        double dd = 0;
        if (shared) {
          for (std::size_t j = 0; j < vp.size(); ++j) dd += gp[j] * vp[j];
          for (std::size_t j = 0; j < vc.size(); ++j) dd += gc[j] * vc[j];
        } else {
          // the gradient without the reconstruction term: re-evaluate with λ_rec's path absent
          // (ρ never receives it), so ga is exactly that gradient
          for (std::size_t j = 0; j < va.size(); ++j) dd += ga[j] * va[j];
          dd = comm.allreduce_sum(dd);
        }
        double best = 1e300, best_h = 0, best_fd = 0;
        for (double h : {1e-3, 1e-4, 1e-5}) {
          const double fd = (loss_at(h, shared, shared) - loss_at(-h, shared, shared)) / (2 * h);
          const double rel = std::fabs(fd - dd) / std::max(std::fabs(dd), 1e-300);
          if (rel < best) {
            best = rel;
            best_h = h;
            best_fd = fd;
          }
        }
        worst = std::max(worst, best);
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "sc train: gradient check (%s): directional derivative %.10g, central difference %.10g "
                      "(h = %g), relative error %.2e",
                      shared ? "PCA W, batch offsets, centroids" : "contamination logits", dd, best_fd, best_h, best);
        log_line(comm, buf);
      }
      s.pca_set.set_all_values(p0);
      s.cl_set.set_all_values(c0);
      if (o.ambient) a.set.set_all_values(a0);
      if (!(worst < 1e-5))
        throw Error(ExitCode::numerical, "sc train: gradient check failed (relative error " + fmt("%.2e", worst) + ")");
    });
    return 0;
  }
  for (int ep = start_epoch; ep < o.epochs; ++ep) {
    tau = sched.at(ep);
    double terms[4] = {0, 0, 0, 0};  // energy, rec, nll, loss
    run_collectively(comm, [&] {
      evaluate(tau, terms, true);
      if (o.ambient) {
        if (o.ambient_rho == "channel") tie_to_channel_mean(s, comm, a);
        opt_amb->step(exec, a.set);
      }
      comm.allreduce_sum(s.pca_set.grads());
      comm.allreduce_sum(s.cl_set.grads());
      opt_pca.step(exec, s.pca_set);
      opt_cl.step(exec, s.cl_set);
      exec.fence();
    });
    double sums[3] = {terms[0], terms[1], terms[2]};
    comm.allreduce_sum(sums, 3);
    auto lh = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), kout.labels);
    labels.assign(lh.data(), lh.data() + lh.extent(0));
    const double ari = global_ari(s, comm, labels, true);
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "epoch %d/%d loss=%.6g energy=%.6g rec=%.6g nll=%.6g tau=%.4g ARI=%s elapsed=%.1fs", ep + 1,
                  o.epochs, sums[0] + sums[1] + sums[2], sums[0], sums[1], sums[2], tau, ari_text(ari).c_str(),
                  elapsed(t0));
    log_line(comm, buf);
    const bool stopping = o.stop_after > 0 && ep + 1 - start_epoch >= o.stop_after && ep + 1 < o.epochs;
    if (!o.checkpoint.empty() && ((ep + 1) % o.checkpoint_every == 0 || ep + 1 == o.epochs || stopping)) {
      run_collectively(comm, [&] {
        TrainCheckpoint c;
        c.epoch = ep + 1;
        c.pca = s.pca_set.all_values();
        c.cl = s.cl_set.all_values();
        c.opt_pca = opt_pca.state();
        c.opt_cl = opt_cl.state();
        if (o.ambient) {
          c.amb = gather_rows(comm, a.set.all_values(), s.first, s.N_global, 1);
          const auto st = opt_amb->state();
          c.opt_amb["m"] = gather_rows(comm, st.at("m"), s.first, s.N_global, 1);
          c.opt_amb["v"] = gather_rows(comm, st.at("v"), s.first, s.N_global, 1);
          c.opt_amb["t"] = st.at("t");
        } else {
          c.amb = {0.0};  // placeholder: HDF5 datasets are never empty here
          c.opt_amb = {{"m", {0.0}}, {"v", {0.0}}, {"t", {0.0}}};
        }
        if (comm.rank() == 0) save_checkpoint(o.checkpoint, c);
      });
    }
    if (stopping) {
      log_line(comm, "sc train: stopping after epoch " + std::to_string(ep + 1) + " (--stop-after " +
                         std::to_string(o.stop_after) + ")" + (o.checkpoint.empty() ? "" : ", checkpoint " + o.checkpoint));
      return 0;
    }
  }
  // Final evaluation: hard assignment of the trained embedding to the trained centroids.
  std::vector<double> doublet_params = Doublet(DoubletScorerConfig{}).initial_params();
  doublet_params[0] = o.doublet_threshold;
  std::map<std::string, io::UnsValue> uns;
  run_collectively(comm, [&] {
    Vec values = s.dev.values;
    if (o.ambient) {
      a.op->forward(exec, a.set.values(a.block), a.in, a.out, a.ws);
      values = a.out.corrected;
      s.rho = to_host_vec(a.out.rho);
    }
    embed(s, values, em);
    labels = assign_hard(s, em.z);
  });
  const double ari_after = global_ari(s, comm, labels, true);
  log_line(comm, "sc train: ARI against the true cell types (singlets): classic chain " + ari_text(ari_before) +
                     " -> joint training " + ari_text(ari_after) + (s.rho.empty() ? "" : ", " + contamination_report(s, comm)) +
                     fmt(" (%.1fs)", elapsed(t0)));
  uns["diffbio_chain"] = "trained";
  uns["diffbio_epochs"] = o.epochs;
  uns["diffbio_tau_start"] = o.tau_start * s.spread;
  uns["diffbio_tau_end"] = tau;
  if (ari_after > -1.5) {
    uns["diffbio_ari_classic"] = ari_before;
    uns["diffbio_ari_singlets"] = ari_after;
  }
  run_collectively(comm, [&] {
    if (!o.model_out.empty() && comm.rank() == 0) write_model(s, o.model_out, tau, doublet_params);
    if (!o.out.empty()) {
      if (o.doublets) score_doublets(s, comm, em, doublet_params);
      write_results(s, comm, em, labels, tau, uns);
    }
  });
  const double peak = comm.allreduce_max(static_cast<double>(peak_rss_bytes()));
  log_line(comm, "sc train: done" + (o.model_out.empty() ? std::string() : ", model " + o.model_out) +
                     (o.out.empty() ? std::string() : ", results " + o.out) + fmt(", %.1fs", elapsed(t0)) +
                     fmt(", peak memory %.1f MiB", peak / 1048576.0));
  return 0;
}

}  // namespace diffbio

#else  // no HDF5

namespace diffbio {
int run_sc_pipeline(const ScOptions&, const Comm&) {
  throw Error(ExitCode::usage, "sc: this diffbio was built without HDF5");
}
int run_sc_train(const ScOptions&, const Comm&) {
  throw Error(ExitCode::usage, "sc train: this diffbio was built without HDF5");
}
std::int64_t peak_rss_bytes() { return 0; }
}  // namespace diffbio

#endif
