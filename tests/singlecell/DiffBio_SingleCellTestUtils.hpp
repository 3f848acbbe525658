// SPDX-License-Identifier: BSD-3-Clause
// Shared helpers of the single-cell tests: the Python peer (Debian python3-sklearn /
// python3-anndata / python3-h5py, called as a subprocess), exchange files, and the small
// deterministic count matrix the I/O tests write and read.
#ifndef DIFFBIO_SINGLECELL_TEST_UTILS_HPP
#define DIFFBIO_SINGLECELL_TEST_UTILS_HPP

#include <DiffBio_SparseMatrix.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#ifndef DIFFBIO_SC_PYTHON
#define DIFFBIO_SC_PYTHON "python3"
#endif
#ifndef DIFFBIO_SC_SCRIPTS
#define DIFFBIO_SC_SCRIPTS "."
#endif

namespace diffbio::test {

/// Runs `python3 sc_peer.py <args>`; returns the exit status (0 = success).
inline int run_peer(const std::string& args) {
  const std::string cmd = std::string("OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 '") +
                          DIFFBIO_SC_PYTHON + "' '" DIFFBIO_SC_SCRIPTS "/sc_peer.py' " + args;
  return std::system(cmd.c_str());
}

/// True if the peer Python can import what the tests need (configure-time check in
/// tests.cmake chose the interpreter; this catches a later uninstall).
inline bool peer_available(const std::string& modules) {
  const std::string cmd = std::string("'") + DIFFBIO_SC_PYTHON + "' -c 'import " + modules +
                          "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

#define DIFFBIO_REQUIRE_PEER(modules)                                                          \
  do {                                                                                         \
    if (!::diffbio::test::peer_available(modules))                                             \
      FAIL() << "Python peer with `" << modules                                                \
             << "` is required (Debian python3-sklearn python3-anndata python3-h5py; "         \
                "cmake/setup-deps.sh)";                                                        \
  } while (0)

inline void write_matrix_bin(const std::string& path, const std::vector<double>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(double)));
}

inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(f, l);) lines.push_back(l);
  return lines;
}

template <class T>
std::vector<T> parse(const std::string& line) {
  std::istringstream is(line);
  std::vector<T> v;
  for (T x; is >> x;) v.push_back(x);
  return v;
}

/// The I/O tests' count matrix: N cells × G genes, ~30 % non-zero integer counts 1..20, sorted
/// column indices; row 5 and the last row are empty.
inline io::CsrMatrix<float> sample_counts(int N = 57, int G = 23, std::uint64_t seed = 3) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::uniform_int_distribution<int> v(1, 20);
  io::CsrMatrix<float> m;
  m.n_rows = N;
  m.n_cols = G;
  for (int r = 0; r < N; ++r) {
    for (int c = 0; c < G; ++c) {
      const bool keep = u(gen) < 0.3;
      const int val = v(gen);
      if (keep && r != 5 && r != N - 1) {
        m.indices.push_back(c);
        m.data.push_back(static_cast<float>(val));
      }
    }
    m.indptr.push_back(static_cast<std::int64_t>(m.data.size()));
  }
  return m;
}

inline void write_triplets(const std::string& path, const io::CsrMatrix<float>& m) {
  std::ofstream f(path);
  f << m.n_rows << " " << m.n_cols << " " << m.nnz() << "\n";
  for (std::int64_t r = 0; r < m.n_rows; ++r)
    for (std::int64_t e = m.row_begin(r); e < m.row_end(r); ++e)
      f << r << " " << m.indices[static_cast<std::size_t>(e)] << " "
        << m.data[static_cast<std::size_t>(e)] << "\n";
}

/// Exact equality of two CSR matrices as dense matrices (entry order inside a row may differ).
template <class A, class B>
::testing::AssertionResult same_values(const io::CsrMatrix<A>& a, const io::CsrMatrix<B>& b) {
  if (a.n_rows != b.n_rows || a.n_cols != b.n_cols)
    return ::testing::AssertionFailure() << "shape " << a.n_rows << "x" << a.n_cols << " vs "
                                         << b.n_rows << "x" << b.n_cols;
  if (a.nnz() != b.nnz()) return ::testing::AssertionFailure() << "nnz " << a.nnz() << " vs " << b.nnz();
  const std::string pa = a.check(), pb = b.check();
  if (!pa.empty() || !pb.empty()) return ::testing::AssertionFailure() << "invalid: " << pa << pb;
  for (std::int64_t r = 0; r < a.n_rows; ++r)
    for (std::int64_t c = 0; c < a.n_cols; ++c)
      if (static_cast<double>(a.at(r, c)) != static_cast<double>(b.at(r, c)))
        return ::testing::AssertionFailure()
               << "entry (" << r << ", " << c << "): " << a.at(r, c) << " vs " << b.at(r, c);
  return ::testing::AssertionSuccess();
}

}  // namespace diffbio::test

#endif
