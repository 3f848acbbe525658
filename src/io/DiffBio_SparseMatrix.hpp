// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SparseMatrix.hpp
/// \brief Host CSR / dense matrices of the single-cell I/O, and their copies to Kokkos Views.
///
/// A cells × genes count matrix is ~95 % zeros, so it never becomes dense here: readers return a
/// CsrMatrix (rows = cells), possibly a row block [first_row, first_row + n_rows) of a larger
/// matrix, and to_device() copies exactly those three arrays. Column indices are int32 (genes and
/// features number far below 2^31); row offsets are int64 (a 1.3M-cell atlas has ~2.6e9 entries).
/// The device form is the (row_map, entries, values) triple that KokkosSparse::CrsMatrix and the
/// kernels in operators/singlecell take.
#ifndef DIFFBIO_SPARSE_MATRIX_HPP
#define DIFFBIO_SPARSE_MATRIX_HPP

#include <DiffBio_Error.hpp>
#include <DiffBio_Types.hpp>

#include <Kokkos_Core.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace diffbio::io {

/// Compressed sparse rows on the host (scipy.sparse.csr_matrix without the object).
template <class Scalar>
struct CsrMatrix {
  using value_type = Scalar;
  std::int64_t n_rows = 0;
  std::int64_t n_cols = 0;
  /// Global index of row 0 when this is a block [first_row, first_row + n_rows) of a file.
  std::int64_t first_row = 0;
  std::vector<std::int64_t> indptr = {0};  ///< n_rows + 1 offsets, indptr[0] == 0
  std::vector<std::int32_t> indices;       ///< column of each stored entry
  std::vector<Scalar> data;                ///< value of each stored entry

  std::int64_t nnz() const { return static_cast<std::int64_t>(data.size()); }
  std::int64_t row_begin(std::int64_t r) const { return indptr[static_cast<std::size_t>(r)]; }
  std::int64_t row_end(std::int64_t r) const { return indptr[static_cast<std::size_t>(r) + 1]; }

  /// Structural consistency: "" if valid, else the first problem found (one line). Entries need
  /// not be sorted within a row (scipy does not require it either); duplicates are allowed.
  std::string check() const {
    if (n_rows < 0 || n_cols < 0) return "negative shape";
    if (static_cast<std::int64_t>(indptr.size()) != n_rows + 1)
      return "indptr has " + std::to_string(indptr.size()) + " entries, expected n_rows + 1 = " +
             std::to_string(n_rows + 1);
    if (indptr.front() != 0) return "indptr[0] = " + std::to_string(indptr.front()) + ", expected 0";
    for (std::int64_t r = 0; r < n_rows; ++r)
      if (row_end(r) < row_begin(r))
        return "indptr decreases at row " + std::to_string(r);
    if (indptr.back() != nnz() || indices.size() != data.size())
      return "indptr ends at " + std::to_string(indptr.back()) + " but there are " +
             std::to_string(indices.size()) + " indices and " + std::to_string(data.size()) +
             " values";
    for (std::size_t e = 0; e < indices.size(); ++e)
      if (indices[e] < 0 || indices[e] >= n_cols)
        return "column index " + std::to_string(indices[e]) + " of entry " + std::to_string(e) +
               " is outside [0, " + std::to_string(n_cols) + ")";
    return {};
  }

  /// Dense value (r, c) by a scan of row r: for tests and small look-ups only.
  Scalar at(std::int64_t r, std::int64_t c) const {
    Scalar v = Scalar(0);
    for (std::int64_t e = row_begin(r); e < row_end(r); ++e)
      if (indices[static_cast<std::size_t>(e)] == c) v += data[static_cast<std::size_t>(e)];
    return v;
  }
};

/// Row-major dense matrix on the host (obsm embeddings, soft assignments).
template <class Scalar>
struct DenseMatrix {
  using value_type = Scalar;
  std::int64_t n_rows = 0;
  std::int64_t n_cols = 0;
  std::vector<Scalar> values;  ///< n_rows · n_cols, row-major
  Scalar& operator()(std::int64_t r, std::int64_t c) {
    return values[static_cast<std::size_t>(r * n_cols + c)];
  }
  const Scalar& operator()(std::int64_t r, std::int64_t c) const {
    return values[static_cast<std::size_t>(r * n_cols + c)];
  }
};

/// A CSR matrix in Kokkos Views of one memory space.
template <class Scalar, class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space>
struct DeviceCsr {
  std::int64_t n_rows = 0;
  std::int64_t n_cols = 0;
  std::int64_t first_row = 0;
  Kokkos::View<std::int64_t*, MemorySpace> row_map;  ///< n_rows + 1
  Kokkos::View<std::int32_t*, MemorySpace> entries;  ///< nnz
  Kokkos::View<Scalar*, MemorySpace> values;          ///< nnz
};

namespace Impl {
template <class Dst, class T>
void copy_vector_to(const Dst& dst, const std::vector<T>& src) {
  using Src = Kokkos::View<const T*, Kokkos::HostSpace, Kokkos::MemoryTraits<Kokkos::Unmanaged>>;
  Kokkos::deep_copy(dst, Src(src.data(), src.size()));
}
}  // namespace Impl

/// Copies a host CSR matrix (or row block) into Views of \p MemorySpace, labelled
/// "DiffBio::<name>::{row_map,entries,values}". Blocking. Value type converts if needed
/// (counts read as double, kernels in float).
template <class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space, class DeviceScalar = void,
          class Scalar>
auto to_device(const CsrMatrix<Scalar>& m, const std::string& name = "csr") {
  using S = std::conditional_t<std::is_void<DeviceScalar>::value, Scalar, DeviceScalar>;
  DIFFBIO_EXPECTS(static_cast<std::int64_t>(m.indptr.size()) == m.n_rows + 1,
                  "to_device: CSR matrix with inconsistent indptr");
  DeviceCsr<S, MemorySpace> d;
  d.n_rows = m.n_rows;
  d.n_cols = m.n_cols;
  d.first_row = m.first_row;
  d.row_map = Kokkos::View<std::int64_t*, MemorySpace>(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, label(name + "::row_map")), m.indptr.size());
  d.entries = Kokkos::View<std::int32_t*, MemorySpace>(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, label(name + "::entries")), m.indices.size());
  d.values = Kokkos::View<S*, MemorySpace>(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, label(name + "::values")), m.data.size());
  Impl::copy_vector_to(d.row_map, m.indptr);
  Impl::copy_vector_to(d.entries, m.indices);
  if constexpr (std::is_same<S, Scalar>::value) {
    Impl::copy_vector_to(d.values, m.data);
  } else {
    std::vector<S> conv(m.data.begin(), m.data.end());
    Impl::copy_vector_to(d.values, conv);
  }
  return d;
}

/// Copies a host dense matrix into a LayoutRight [n_rows × n_cols] View of \p MemorySpace.
template <class MemorySpace = Kokkos::DefaultExecutionSpace::memory_space, class DeviceScalar = void,
          class Scalar>
auto to_device(const DenseMatrix<Scalar>& m, const std::string& name = "dense") {
  using S = std::conditional_t<std::is_void<DeviceScalar>::value, Scalar, DeviceScalar>;
  Kokkos::View<S**, Kokkos::LayoutRight, MemorySpace> v(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, label(name)), m.n_rows, m.n_cols);
  auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), v);
  for (std::int64_t r = 0; r < m.n_rows; ++r)
    for (std::int64_t c = 0; c < m.n_cols; ++c) h(r, c) = static_cast<S>(m(r, c));
  Kokkos::deep_copy(v, h);
  return v;
}

/// Host copy of a rank-2 View as a DenseMatrix (any layout, any memory space). Blocking.
template <class View>
DenseMatrix<typename View::non_const_value_type> to_host_dense(const View& v) {
  static_assert(View::rank == 2, "to_host_dense: rank-2 View expected");
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  DenseMatrix<typename View::non_const_value_type> m;
  m.n_rows = static_cast<std::int64_t>(h.extent(0));
  m.n_cols = static_cast<std::int64_t>(h.extent(1));
  m.values.resize(static_cast<std::size_t>(m.n_rows * m.n_cols));
  for (std::int64_t r = 0; r < m.n_rows; ++r)
    for (std::int64_t c = 0; c < m.n_cols; ++c) m(r, c) = h(r, c);
  return m;
}

/// Transposes CSR ↔ CSC in O(nnz) (counting sort; entries of each output row come out in input
/// row order). Used to read AnnData csc_matrix X as cell rows.
template <class Scalar>
CsrMatrix<Scalar> transpose(const CsrMatrix<Scalar>& a) {
  CsrMatrix<Scalar> t;
  t.n_rows = a.n_cols;
  t.n_cols = a.n_rows;
  t.indptr.assign(static_cast<std::size_t>(t.n_rows) + 1, 0);
  for (std::int32_t c : a.indices) ++t.indptr[static_cast<std::size_t>(c) + 1];
  for (std::size_t r = 0; r + 1 < t.indptr.size(); ++r) t.indptr[r + 1] += t.indptr[r];
  t.indices.resize(a.indices.size());
  t.data.resize(a.data.size());
  std::vector<std::int64_t> next(t.indptr.begin(), t.indptr.end() - 1);
  for (std::int64_t r = 0; r < a.n_rows; ++r)
    for (std::int64_t e = a.row_begin(r); e < a.row_end(r); ++e) {
      const auto c = static_cast<std::size_t>(a.indices[static_cast<std::size_t>(e)]);
      const auto dst = static_cast<std::size_t>(next[c]++);
      t.indices[dst] = static_cast<std::int32_t>(r);
      t.data[dst] = a.data[static_cast<std::size_t>(e)];
    }
  return t;
}

}  // namespace diffbio::io

#endif
