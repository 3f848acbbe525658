// SPDX-License-Identifier: BSD-3-Clause
// Single-cell I/O against the real tools: 10x files written by h5py in Cell Ranger's layout and
// .h5ad files written by anndata are read by DiffBio; .h5ad files written by DiffBio are opened
// by anndata (no format warnings) and checked element by element; row-range reads equal slices;
// malformed files give one-line input errors naming file, object and problem.
#include <DiffBio_Comm.hpp>
#include <DiffBio_SingleCell.hpp>

#include "../io/DiffBio_IoTestUtils.hpp"
#include "DiffBio_SingleCellTestUtils.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

namespace {

using namespace diffbio;
using namespace diffbio::io;
using diffbio::test::catch_error;
using diffbio::test::expect_input_error;
using diffbio::test::run_peer;
using diffbio::test::same_values;
using diffbio::test::TempDir;

const char* kPeerIO = "anndata, h5py, scipy";

std::string str(const std::filesystem::path& p) { return p.string(); }

/// The obs/var tables the Python fixtures build (sc_peer.py obs_frame / var_frame).
DataFrame expected_obs(const CsrMatrix<float>& m) {
  DataFrame df;
  const int n = static_cast<int>(m.n_rows);
  std::vector<std::int64_t> codes, batch, doublet;
  std::vector<double> counts;
  std::vector<std::string> note;
  for (int i = 0; i < n; ++i) {
    df.index.push_back([&] {
      char b[16];
      std::snprintf(b, sizeof b, "BC%04d", i);
      return std::string(b);
    }());
    codes.push_back(i == 4 ? -1 : i % 3);
    double s = 0;
    for (auto e = m.row_begin(i); e < m.row_end(i); ++e) s += m.data[static_cast<std::size_t>(e)];
    counts.push_back(s);
    batch.push_back(i % 2);
    doublet.push_back(i % 5 == 0);
    note.push_back("cell" + std::to_string(i));
  }
  df.columns.push_back(Column::make_categorical("cell_type", codes, {"B", "NK", "T"}));
  df.columns.push_back(Column::make_real("n_counts", counts));
  df.columns.push_back(Column::make_integer("batch", batch));
  df.columns.push_back(Column::make_boolean("is_doublet", doublet));
  df.columns.push_back(Column::make_string("note", note));
  return df;
}

DataFrame expected_var(int g) {
  DataFrame df;
  std::vector<std::string> ids;
  std::vector<std::int64_t> hv;
  for (int j = 0; j < g; ++j) {
    df.index.push_back("gene" + std::to_string(j));
    char b[16];
    std::snprintf(b, sizeof b, "ENSG%05d", j);
    ids.push_back(b);
    hv.push_back(j % 2 == 0);
  }
  df.columns.push_back(Column::make_string("gene_ids", ids));
  df.columns.push_back(Column::make_boolean("highly_variable", hv));
  return df;
}

DenseMatrix<double> expected_pca(int n) {
  DenseMatrix<double> m{n, 4, {}};
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < 4; ++j) m.values.push_back(i * 0.5 + j * 0.25 - 3.0);
  return m;
}

void expect_same_frame(const DataFrame& got, const DataFrame& want) {
  EXPECT_EQ(got.index, want.index);
  ASSERT_EQ(got.columns.size(), want.columns.size());
  for (std::size_t c = 0; c < want.columns.size(); ++c) {
    const Column& g = got.columns[c];
    const Column& w = want.columns[c];
    EXPECT_EQ(g.name, w.name);
    EXPECT_EQ(static_cast<int>(g.kind), static_cast<int>(w.kind)) << w.name;
    EXPECT_EQ(g.real, w.real) << w.name;
    EXPECT_EQ(g.integer, w.integer) << w.name;
    EXPECT_EQ(g.strings, w.strings) << w.name;
    EXPECT_EQ(g.categories, w.categories) << w.name;
    EXPECT_EQ(g.ordered, w.ordered) << w.name;
  }
}

// --------------------------------------------------------------------------------- 10x

TEST(TenxH5, ReadsCellRangerV3LayoutWrittenByH5py) {
  DIFFBIO_REQUIRE_PEER(kPeerIO);
  TempDir dir;
  const auto m = diffbio::test::sample_counts();
  diffbio::test::write_triplets(str(dir / "m.txt"), m);
  ASSERT_EQ(run_peer("write10x " + str(dir / "m.txt") + " " + str(dir / "f.h5") + " v3"), 0);

  TenxH5Reader r(str(dir / "f.h5"));
  EXPECT_EQ(r.group(), "/matrix");
  EXPECT_EQ(r.n_cells(), m.n_rows);
  EXPECT_EQ(r.n_features(), m.n_cols);
  EXPECT_EQ(r.nnz(), m.nnz());
  const auto all = r.read_all<float>();
  EXPECT_TRUE(same_values(all, m));
  EXPECT_EQ(all.indptr, m.indptr);  // same cells, same order: identical structure
  EXPECT_EQ(all.indices, m.indices);

  // Row blocks read independently (streaming / one MPI rank's rows) equal the slices.
  std::int64_t covered = 0;
  for (auto [b, e] : {std::pair<int, int>{0, 5}, {5, 6}, {6, 31}, {31, 57}}) {
    const auto blk = r.read_rows<double>(b, e);
    EXPECT_EQ(blk.first_row, b);
    EXPECT_EQ(blk.n_rows, e - b);
    EXPECT_EQ(blk.check(), "");
    for (int i = b; i < e; ++i)
      for (int c = 0; c < m.n_cols; ++c) ASSERT_EQ(blk.at(i - b, c), m.at(i, c));
    covered += blk.nnz();
  }
  EXPECT_EQ(covered, m.nnz());
  EXPECT_EQ(r.read_rows<float>(10, 10).nnz(), 0);

  const auto bc = r.barcodes();
  ASSERT_EQ(bc.size(), 57u);
  EXPECT_EQ(bc[0], "AAACCTG0000-1");
  EXPECT_EQ(r.barcodes(55, 57), (std::vector<std::string>{"AAACCTG0055-1", "AAACCTG0056-1"}));
  const FeatureTable ft = r.features();
  ASSERT_EQ(ft.size(), 23u);
  EXPECT_EQ(ft.id[7], "ENSG00007");
  EXPECT_EQ(ft.name[7], "GENE7");
  EXPECT_EQ(ft.feature_type[0], "Gene Expression");
  EXPECT_EQ(ft.feature_type[22], "Antibody Capture");
  EXPECT_EQ(ft.genome[3], "GRCh38");

  // The device copy holds exactly the CSR arrays.
  const auto d = to_device<Kokkos::HostSpace>(all, "test::counts");
  ASSERT_EQ(d.values.extent(0), static_cast<std::size_t>(m.nnz()));
  for (std::size_t e = 0; e < d.values.extent(0); ++e) EXPECT_EQ(d.values(e), m.data[e]);
  for (std::size_t r_ = 0; r_ < d.row_map.extent(0); ++r_) EXPECT_EQ(d.row_map(r_), m.indptr[r_]);
  const auto dd = to_device<Kokkos::HostSpace, double>(all);
  EXPECT_EQ(dd.values(3), static_cast<double>(m.data[3]));
}

TEST(TenxH5, ReadsCellRangerV2Layout) {
  DIFFBIO_REQUIRE_PEER(kPeerIO);
  TempDir dir;
  const auto m = diffbio::test::sample_counts(30, 11, 9);
  diffbio::test::write_triplets(str(dir / "m.txt"), m);
  ASSERT_EQ(run_peer("write10x " + str(dir / "m.txt") + " " + str(dir / "f.h5") + " v2"), 0);
  const auto t = read_10x_h5<double>(str(dir / "f.h5"));
  EXPECT_TRUE(same_values(t.counts, m));
  ASSERT_EQ(t.features.size(), 11u);
  EXPECT_EQ(t.features.id[2], "ENSG00002");
  EXPECT_EQ(t.features.name[2], "GENE2");
  EXPECT_EQ(t.features.genome[2], "GRCh38");
  EXPECT_EQ(t.barcodes.size(), 30u);
}

// --------------------------------------------------------------------------------- h5ad read

class H5adFromAnndata : public ::testing::TestWithParam<std::string> {};

TEST_P(H5adFromAnndata, ReadsEveryElement) {
  DIFFBIO_REQUIRE_PEER(kPeerIO);
  TempDir dir;
  const auto m = diffbio::test::sample_counts();
  diffbio::test::write_triplets(str(dir / "m.txt"), m);
  const std::string path = str(dir / "a.h5ad");
  ASSERT_EQ(run_peer("writeh5ad " + str(dir / "m.txt") + " " + path + " " + GetParam()), 0);

  H5adReader r(path);
  EXPECT_EQ(r.n_obs(), m.n_rows);
  EXPECT_EQ(r.n_vars(), m.n_cols);
  EXPECT_EQ(r.X_encoding(), GetParam() == "dense" ? "array" : GetParam() + "_matrix");
  EXPECT_TRUE(same_values(r.read_X<float>(), m));
  for (auto [b, e] : {std::pair<int, int>{0, 13}, {13, 40}, {40, 57}}) {
    const auto blk = r.read_X_rows<double>(b, e);
    EXPECT_EQ(blk.first_row, b);
    for (int i = b; i < e; ++i)
      for (int c = 0; c < m.n_cols; ++c) ASSERT_EQ(blk.at(i - b, c), m.at(i, c));
  }
  // Each of 3 "ranks" reads only its shard (shard_rows, as the MPI training loop deals rows);
  // together they hold every entry exactly once.
  std::int64_t nnz = 0;
  for (int rank = 0; rank < 3; ++rank) {
    const Shard sh = shard_rows(static_cast<std::size_t>(r.n_obs()), rank, 3, 8);
    const auto part = r.read_X_rows<float>(static_cast<std::int64_t>(sh.begin),
                                           static_cast<std::int64_t>(sh.end));
    EXPECT_EQ(part.first_row, static_cast<std::int64_t>(sh.begin));
    for (std::int64_t i = 0; i < part.n_rows; ++i)
      for (int c = 0; c < m.n_cols; ++c) ASSERT_EQ(part.at(i, c), m.at(part.first_row + i, c));
    nnz += part.nnz();
  }
  EXPECT_EQ(nnz, m.nnz());
  DataFrame obs = r.obs();
  ASSERT_EQ(obs.columns.size(), 7u);
  // The two nullable columns anndata wrote as nullable-integer / nullable-boolean groups: real
  // values with NaN for NA.
  const Column* ng = obs.find("n_genes");
  const Column* qc = obs.find("passed_qc");
  ASSERT_TRUE(ng && qc);
  for (int i = 0; i < m.n_rows; ++i) {
    if (i % 7 == 3) {
      EXPECT_TRUE(std::isnan(ng->real[static_cast<std::size_t>(i)])) << i;
    } else {
      EXPECT_EQ(ng->real[static_cast<std::size_t>(i)], i * 2.0) << i;
    }
    if (i % 11 == 2) {
      EXPECT_TRUE(std::isnan(qc->real[static_cast<std::size_t>(i)])) << i;
    } else {
      EXPECT_EQ(qc->real[static_cast<std::size_t>(i)], i % 2 == 0 ? 1.0 : 0.0) << i;
    }
  }
  obs.columns.resize(5);  // the rest as DiffBio writes them
  expect_same_frame(obs, expected_obs(m));
  expect_same_frame(r.var(), expected_var(static_cast<int>(m.n_cols)));
  EXPECT_EQ(r.obsm_names(), std::vector<std::string>{"X_pca"});
  const auto pca = r.obsm("X_pca");
  const auto want_pca = expected_pca(57);
  EXPECT_EQ(pca.n_cols, 4);
  EXPECT_EQ(pca.values, want_pca.values);
  EXPECT_EQ(r.obsm("X_pca", 50, 52).values,
            std::vector<double>(want_pca.values.begin() + 200, want_pca.values.begin() + 208));
  EXPECT_EQ(r.layer_names(), std::vector<std::string>{"counts"});
  EXPECT_TRUE(same_values(r.read_layer_rows<float>("counts", 0, 57), m));
  const auto uns = r.uns_scalars();
  ASSERT_EQ(uns.size(), 3u);
  EXPECT_EQ(uns.at("title").text, "diffbio test");
  EXPECT_EQ(uns.at("n_pcs").integer, 4);
  EXPECT_EQ(uns.at("tau").real, 0.5);

  const auto a = read_h5ad<float>(path);
  EXPECT_TRUE(same_values(a.X, m));
  EXPECT_EQ(a.obsm.at("X_pca").values, pca.values);
  EXPECT_TRUE(same_values(a.layers.at("counts"), m));
}

INSTANTIATE_TEST_SUITE_P(Encodings, H5adFromAnndata, ::testing::Values("csr", "csc", "dense"));

// --------------------------------------------------------------------------------- h5ad write

TEST(H5adWriter, AnndataOpensWhatWeWrite) {
  DIFFBIO_REQUIRE_PEER(kPeerIO);
  TempDir dir;
  const auto m = diffbio::test::sample_counts();
  diffbio::test::write_triplets(str(dir / "m.txt"), m);
  const std::string path = str(dir / "ours.h5ad");
  const int K = 3;
  DenseMatrix<float> soft{m.n_rows, K, {}};
  for (int i = 0; i < m.n_rows; ++i) {
    const float a = 0.2f + 0.01f * static_cast<float>(i % 7), b = 0.3f;
    soft.values.insert(soft.values.end(), {a, b, 1.0f - a - b});
  }
  {
    H5adWriter w(path, m.n_cols);
    // Streamed in three blocks, the way a chunked pipeline writes.
    std::int64_t b = 0;
    for (std::int64_t e : {20, 21, 57}) {
      CsrMatrix<float> blk;
      blk.n_rows = e - b;
      blk.n_cols = m.n_cols;
      blk.indptr.assign(1, 0);
      for (auto r = b; r < e; ++r) {
        for (auto k = m.row_begin(r); k < m.row_end(r); ++k) {
          blk.indices.push_back(m.indices[static_cast<std::size_t>(k)]);
          blk.data.push_back(m.data[static_cast<std::size_t>(k)]);
        }
        blk.indptr.push_back(blk.nnz());
      }
      w.append_X_rows(blk);
      b = e;
    }
    EXPECT_EQ(w.n_obs(), 57);
    w.set_obs(expected_obs(m));
    w.set_var(expected_var(static_cast<int>(m.n_cols)));
    w.add_obsm("X_pca", expected_pca(57));
    w.add_obsm("soft_assign", soft);
    w.add_layer("counts", m);
    w.add_uns("title", "diffbio test");
    w.add_uns("n_pcs", 4);
    w.add_uns("tau", 0.5);
    EXPECT_FALSE(std::filesystem::exists(path));  // nothing visible before commit
    w.commit();
  }
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"m.txt", "ours.h5ad"}));
  // anndata opens it without format warnings and finds every element.
  ASSERT_EQ(run_peer("checkh5ad " + path + " " + str(dir / "m.txt") + " " + std::to_string(K)), 0);
  // And our own reader reads back what we wrote.
  const auto a = read_h5ad<float>(path);
  EXPECT_TRUE(same_values(a.X, m));
  expect_same_frame(a.obs, expected_obs(m));
  EXPECT_EQ(a.obsm.at("soft_assign").values,
            std::vector<double>(soft.values.begin(), soft.values.end()));
}

TEST(H5adWriter, WholeFileRoundTripAndDoubleData) {
  TempDir dir;
  AnnData<double> a;
  const auto m = diffbio::test::sample_counts(12, 5, 4);
  a.X.n_rows = m.n_rows;
  a.X.n_cols = m.n_cols;
  a.X.indptr = m.indptr;
  a.X.indices = m.indices;
  a.X.data.assign(m.data.begin(), m.data.end());
  a.X.data[0] = 0.1;  // not representable in float: must survive as double
  a.obs.index = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"};
  a.obs.columns.push_back(Column::make_categorical(
      "cluster", {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, -1, 1}, {"c0", "c1", "c2"}, /*ordered=*/true));
  a.uns["k"] = 3;
  const std::string path = str(dir / "rt.h5ad");
  write_h5ad(path, a);
  const auto b = read_h5ad<double>(path);
  EXPECT_TRUE(same_values(b.X, a.X));
  EXPECT_EQ(b.X.data[0], 0.1);
  EXPECT_EQ(b.obs.index, a.obs.index);
  ASSERT_EQ(b.obs.columns.size(), 1u);
  EXPECT_TRUE(b.obs.columns[0].ordered);
  EXPECT_EQ(b.obs.columns[0].integer, a.obs.columns[0].integer);
  EXPECT_EQ(b.var.index.size(), 5u);  // default index "0".."4"
  EXPECT_EQ(b.var.index[4], "4");
  EXPECT_EQ(b.uns.at("k").integer, 3);
}

TEST(H5adWriter, AbandonedOrFailedWritesLeaveNothing) {
  TempDir dir;
  {
    H5adWriter w(str(dir / "never.h5ad"), 4);
    CsrMatrix<float> blk;
    blk.n_rows = 1;
    blk.n_cols = 4;
    blk.indptr = {0, 1};
    blk.indices = {2};
    blk.data = {1.0f};
    w.append_X_rows(blk);
  }  // destroyed without commit()
  EXPECT_TRUE(dir.entries().empty());
  const auto e = catch_error([&] { H5adWriter w(str(dir / "no_such_dir" / "x.h5ad"), 4); });
  EXPECT_EQ(e.code(), ExitCode::output_error) << e.what();
  // Shape violations are caller bugs, reported before anything is committed.
  {
    H5adWriter w(str(dir / "bad.h5ad"), 4);
    DataFrame obs;
    obs.index = {"only-one"};
    w.set_obs(obs);  // but no rows of X
    const auto e2 = catch_error([&] { w.commit(); });
    EXPECT_EQ(e2.code(), ExitCode::internal) << e2.what();
  }
  EXPECT_TRUE(dir.entries().empty());
}

// --------------------------------------------------------------------------------- malformed

struct Malformed {
  const char* file;
  const char* problem;  ///< substring of the one-line message
};

TEST(SingleCellMalformed, EveryDefectIsOneInputErrorLine) {
  DIFFBIO_REQUIRE_PEER(kPeerIO);
  TempDir dir;
  const auto m = diffbio::test::sample_counts();
  diffbio::test::write_triplets(str(dir / "m.txt"), m);
  ASSERT_EQ(run_peer("write10x " + str(dir / "m.txt") + " " + str(dir / "good.h5") + " v3"), 0);
  ASSERT_EQ(run_peer("writeh5ad " + str(dir / "m.txt") + " " + str(dir / "good.h5ad") + " csr"), 0);
  ASSERT_EQ(run_peer("malformed " + str(dir / "good.h5") + " " + str(dir / "good.h5ad") + " " +
                     str(dir.path())),
            0);
  const Malformed tenx[] = {
      {"10x_non_monotone.h5", "'/matrix/indptr': not non-decreasing at barcode 7"},
      {"10x_index_out_of_range.h5", "is outside [0, 23)"},
      {"10x_negative_index.h5", "index -1 at entry 3"},
      {"10x_shape_mismatch.h5", "'/matrix/indptr' has 58 entries, expected 60"},
      {"10x_barcodes_short.h5", "'/matrix/barcodes' has 56 entries but the shape has 57"},
      {"10x_truncated_data.h5", "but data has"},
      {"10x_float_indices.h5", "'/matrix/indices' holds floating-point values"},
      {"10x_no_matrix.h5", "not a 10x feature-barcode matrix"},
  };
  for (const auto& c : tenx) {
    const auto path = dir / c.file;
    const auto e = catch_error([&] {
      TenxH5Reader r(str(path));
      (void)r.read_all<float>();
    });
    expect_input_error(e, path, -1, c.problem);
  }
  const Malformed h5ad[] = {
      {"h5ad_X_no_encoding.h5ad", "group '/X' has no encoding-type attribute"},
      {"h5ad_X_wrong_encoding.h5ad", "encoding-type is 'dataframe', expected csr_matrix"},
      {"h5ad_X_no_version.h5ad", "without an encoding-version attribute"},
      {"h5ad_X_bad_shape_attr.h5ad", "attribute 'shape' must hold two"},
      {"h5ad_X_indptr_short.h5ad", "'/X/indptr' has 57 entries, expected 58"},
      {"h5ad_obs_length.h5ad", "obs has 56 rows but X has 57"},
      {"h5ad_obs_no_encoding.h5ad", "group '/obs' has no encoding-type attribute"},
      {"h5ad_cat_code_range.h5ad", "code 7 at row 2 is outside [-1, 3)"},
      {"h5ad_cat_wrong_encoding.h5ad", "unsupported column encoding-type 'categorial'"},
      {"h5ad_column_missing.h5ad", "column '/obs/batch' listed in column-order is missing"},
  };
  for (const auto& c : h5ad) {
    const auto path = dir / c.file;
    const auto e = catch_error([&] {
      H5adReader r(str(path));
      (void)r.read_X<float>();
      (void)r.obs();
    });
    expect_input_error(e, path, -1, c.problem);
  }
  // Not HDF5 / truncated / missing: H5File's classification, same one-line contract.
  diffbio::test::write_bytes(dir / "text.h5ad", "just some text\n");
  expect_input_error(catch_error([&] { H5adReader r(str(dir / "text.h5ad")); }),
                     dir / "text.h5ad", -1, "not an HDF5 file");
  const std::string good = diffbio::test::read_bytes(dir / "good.h5");
  diffbio::test::write_bytes(dir / "cut.h5", good.substr(0, good.size() / 2));
  expect_input_error(catch_error([&] {
                       TenxH5Reader r(str(dir / "cut.h5"));
                       (void)r.read_all<float>();
                     }),
                     dir / "cut.h5", -1, "truncated");
  expect_input_error(catch_error([&] { TenxH5Reader r(str(dir / "missing.h5")); }),
                     dir / "missing.h5", -1, "cannot open file");
}

}  // namespace
