// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SingleCell.hpp
/// \brief Single-cell matrix files: 10x Genomics feature-barcode HDF5 and AnnData .h5ad.
///
/// Reading (cells are rows; counts stay sparse):
///  - TenxH5Reader: Cell Ranger >= 3 `/matrix/{data,indices,indptr,shape,barcodes}` with
///    `/matrix/features/{id,name,feature_type[,genome]}`, and the Cell Ranger 2 layout
///    `/<genome>/{data,indices,indptr,shape,barcodes,genes,gene_names}`. On disk the matrix is
///    CSC over features × barcodes, which is CSR over cells × features: no transposition.
///  - H5adReader: AnnData's on-disk format (anndata >= 0.7 encoding attributes): X as a
///    csr_matrix / csc_matrix group or a dense array; obs/var dataframes (`_index`,
///    `column-order`, numeric, boolean, string, categorical, nullable-integer/-boolean (NaN for NA)
///    and nullable-string (NA → "") columns); dense obsm arrays; layers; scalar uns entries. The
///    pre-0.7 `h5sparse_format` sparse groups are read too; pre-0.7 dataframes and categoricals
///    (compound datasets, `categories` references) and other encodings (awkward arrays, sparse
///    obsm, nested uns) are refused or skipped with a message, never misread.
///  - Row ranges: `read_rows(begin, end)` reads only indptr[begin..end] and the matching
///    hyperslab of data/indices, so a matrix larger than memory can be streamed block by block
///    and an MPI rank can read just its own rows (every rank opens the file read-only):
///    \code
///      io::H5adReader r(path);
///      const Shard s = shard_rows(r.n_obs(), comm.rank(), comm.size());
///      io::CsrMatrix<float> mine = r.read_X_rows<float>(s.begin, s.end);  // first_row = s.begin
///    \endcode
///    (CSC X cannot be streamed by rows: it is read whole and transposed — documented
///    exception. Dense X is read by row hyperslabs and sparsified.)
///  - Every structural problem (indptr not non-decreasing or not starting at 0 / ending at nnz,
///    column index out of range, shape mismatches between datasets, missing or wrong
///    encoding-type attributes, categorical codes outside their categories, truncated or
///    unreadable datasets) is one diffbio::input_error line "<file>: <object>: <problem>";
///    nothing is trusted before it is checked, so a corrupt file never crashes the reader.
///
/// Writing: H5adWriter produces an .h5ad that anndata (>= 0.8) opens without warnings: X as
/// csr_matrix (appended block by block into extendable chunked datasets, so it can be streamed
/// too), obs/var dataframes with categorical columns, obsm (e.g. X_pca, soft assignments),
/// layers and scalar uns entries, all with their encoding-type/encoding-version attributes. The
/// file is written to a temporary sibling and renamed onto the target by commit(): a failed or
/// abandoned write leaves nothing (DiffBio_AtomicFile.hpp).
///
/// Only available when DiffBio was configured with HDF5 (DIFFBIO_ENABLE_HDF5). Scalar template
/// arguments are float and double (explicitly instantiated). Not thread-safe (HDF5 is not).
#ifndef DIFFBIO_SINGLE_CELL_HPP
#define DIFFBIO_SINGLE_CELL_HPP

#include <DiffBio_Config.hpp>
#include <DiffBio_SparseMatrix.hpp>

#ifdef DIFFBIO_ENABLE_HDF5

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace diffbio::io {

/// Features (genes, antibody tags, ...) of a 10x matrix, one entry per column.
struct FeatureTable {
  std::vector<std::string> id;            ///< e.g. Ensembl gene id
  std::vector<std::string> name;          ///< gene symbol
  std::vector<std::string> feature_type;  ///< "Gene Expression", "Antibody Capture", ...
  std::vector<std::string> genome;        ///< empty if the file has none
  std::size_t size() const { return id.size(); }
};

/// One column of an obs/var dataframe.
struct Column {
  enum class Kind { real, integer, boolean, string, categorical };
  std::string name;
  Kind kind = Kind::real;
  std::vector<double> real;               ///< real (NaN marks a missing nullable entry)
  std::vector<std::int64_t> integer;      ///< integer, boolean (0/1), categorical codes (-1: NA)
  std::vector<std::string> strings;       ///< string
  std::vector<std::string> categories;    ///< categorical (numeric categories as text)
  bool ordered = false;                   ///< categorical

  std::size_t size() const;
  static Column make_real(std::string name, std::vector<double> v);
  static Column make_integer(std::string name, std::vector<std::int64_t> v);
  static Column make_boolean(std::string name, std::vector<std::int64_t> v01);
  static Column make_string(std::string name, std::vector<std::string> v);
  /// codes in [-1, categories.size()); -1 is a missing value.
  static Column make_categorical(std::string name, std::vector<std::int64_t> codes,
                                 std::vector<std::string> categories, bool ordered = false);
};

/// An obs or var table: the index (cell barcodes / gene names) and its columns.
struct DataFrame {
  std::string index_name = "_index";
  std::vector<std::string> index;
  std::vector<Column> columns;
  std::size_t n_rows() const { return index.size(); }
  /// The column named \p name, or nullptr.
  const Column* find(const std::string& name) const;
};

/// A scalar entry of AnnData.uns.
struct UnsValue {
  enum class Kind { real, integer, string };
  Kind kind = Kind::real;
  double real = 0;
  std::int64_t integer = 0;
  std::string text;
  UnsValue() = default;
  UnsValue(double v) : kind(Kind::real), real(v) {}  // NOLINT: implicit by design
  UnsValue(std::int64_t v) : kind(Kind::integer), integer(v) {}  // NOLINT
  UnsValue(int v) : kind(Kind::integer), integer(v) {}  // NOLINT
  UnsValue(std::string v) : kind(Kind::string), text(std::move(v)) {}  // NOLINT
  UnsValue(const char* v) : kind(Kind::string), text(v) {}  // NOLINT
};

// ------------------------------------------------------------------------------- 10x Genomics

/// A 10x Genomics feature-barcode matrix file, open for reading. Opening checks the whole
/// structure that does not need the (large) data: shapes, dataset lengths, indptr[0] == 0 and
/// indptr[n_cells] == nnz. read_rows() checks the rest for the rows it reads.
class TenxH5Reader {
 public:
  explicit TenxH5Reader(const std::string& path);
  ~TenxH5Reader();
  TenxH5Reader(TenxH5Reader&&) noexcept;
  TenxH5Reader& operator=(TenxH5Reader&&) noexcept;

  const std::string& path() const;
  std::int64_t n_cells() const;     ///< rows (barcodes)
  std::int64_t n_features() const;  ///< columns
  std::int64_t nnz() const;
  /// The matrix group ("/matrix", or "/<genome>" for Cell Ranger 2 files).
  const std::string& group() const;

  /// Rows (cells) [begin, end) as CSR with first_row = begin; reads only that block.
  template <class Scalar>
  CsrMatrix<Scalar> read_rows(std::int64_t begin, std::int64_t end) const;
  /// All rows.
  template <class Scalar>
  CsrMatrix<Scalar> read_all() const {
    return read_rows<Scalar>(0, n_cells());
  }
  /// Barcodes of rows [begin, end) (end < 0: to the last row).
  std::vector<std::string> barcodes(std::int64_t begin = 0, std::int64_t end = -1) const;
  FeatureTable features() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

template <class Scalar>
struct TenxData {
  CsrMatrix<Scalar> counts;  ///< cells × features
  std::vector<std::string> barcodes;
  FeatureTable features;
};

/// Reads a whole 10x file.
template <class Scalar>
TenxData<Scalar> read_10x_h5(const std::string& path);

// ------------------------------------------------------------------------------- AnnData

/// An .h5ad file, open for reading. Opening checks X's encoding and structure (as
/// TenxH5Reader) and that obs/var indices match X's shape; the other elements are checked when
/// read.
class H5adReader {
 public:
  explicit H5adReader(const std::string& path);
  ~H5adReader();
  H5adReader(H5adReader&&) noexcept;
  H5adReader& operator=(H5adReader&&) noexcept;

  const std::string& path() const;
  std::int64_t n_obs() const;
  std::int64_t n_vars() const;
  bool has_X() const;
  /// "csr_matrix", "csc_matrix" or "array" (dense).
  const std::string& X_encoding() const;

  /// Rows [begin, end) of X as CSR (dense X is sparsified: exact zeros are not stored).
  template <class Scalar>
  CsrMatrix<Scalar> read_X_rows(std::int64_t begin, std::int64_t end) const;
  template <class Scalar>
  CsrMatrix<Scalar> read_X() const {
    return read_X_rows<Scalar>(0, n_obs());
  }
  std::vector<std::string> layer_names() const;
  template <class Scalar>
  CsrMatrix<Scalar> read_layer_rows(const std::string& layer, std::int64_t begin,
                                    std::int64_t end) const;

  DataFrame obs() const;
  DataFrame var() const;
  std::vector<std::string> obsm_names() const;
  /// A dense obsm array (n_obs × d; a 1-D array is n_obs × 1), rows [begin, end) (end < 0: all).
  DenseMatrix<double> obsm(const std::string& name, std::int64_t begin = 0,
                           std::int64_t end = -1) const;
  /// Scalar uns entries (numeric-scalar, string); other uns elements are skipped.
  std::map<std::string, UnsValue> uns_scalars() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Everything read_h5ad() reads and write_h5ad() writes.
template <class Scalar>
struct AnnData {
  CsrMatrix<Scalar> X;  ///< n_obs × n_vars
  DataFrame obs, var;
  std::map<std::string, DenseMatrix<double>> obsm;
  std::map<std::string, CsrMatrix<Scalar>> layers;
  std::map<std::string, UnsValue> uns;
};

template <class Scalar>
AnnData<Scalar> read_h5ad(const std::string& path);

/// Writes an .h5ad file incrementally; nothing appears at \p path before commit().
///
/// Call append_X_rows() any number of times (rows accumulate in order), set obs/var, add
/// obsm/layers/uns, then commit(). Shapes are checked at commit(): obs and obsm must have
/// n_obs rows (the rows appended), var must have n_vars rows; violations are caller bugs
/// (ExitCode::internal). An unset obs/var index defaults to "0", "1", ... as in anndata.
/// Write failures (disk full, unwritable directory) are ExitCode::output_error.
class H5adWriter {
 public:
  H5adWriter(const std::string& path, std::int64_t n_vars);
  ~H5adWriter();  ///< abandons an uncommitted file (deletes the temporary)
  H5adWriter(H5adWriter&&) noexcept;
  H5adWriter& operator=(H5adWriter&&) noexcept;

  /// Appends a row block of X (its n_cols must be n_vars). X's dtype is fixed by the first
  /// block (float32 for float, float64 for double); later blocks are converted to it.
  template <class Scalar>
  void append_X_rows(const CsrMatrix<Scalar>& block);
  std::int64_t n_obs() const;  ///< rows appended so far

  void set_obs(const DataFrame& obs);
  void set_var(const DataFrame& var);
  template <class Scalar>
  void add_obsm(const std::string& name, const DenseMatrix<Scalar>& m);
  template <class Scalar>
  void add_layer(const std::string& name, const CsrMatrix<Scalar>& m);
  void add_uns(const std::string& name, const UnsValue& value);

  /// Writes the remaining elements, closes the file and renames it onto the target.
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

template <class Scalar>
void write_h5ad(const std::string& path, const AnnData<Scalar>& adata);

}  // namespace diffbio::io

#endif  // DIFFBIO_ENABLE_HDF5
#endif
