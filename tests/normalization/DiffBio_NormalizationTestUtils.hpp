// SPDX-License-Identifier: BSD-3-Clause
// Shared helpers of the normalisation/PCA tests: the Python peer (pca_peer.py: numpy/scipy/sklearn
// from Debian, run as a subprocess), CSR exchange files, random count matrices, device views.
#ifndef DIFFBIO_NORMALIZATION_TEST_UTILS_HPP
#define DIFFBIO_NORMALIZATION_TEST_UTILS_HPP

#include <DiffBio_Dual.hpp>
#include <DiffBio_GradCheck.hpp>
#include <DiffBio_SparseMatrix.hpp>
#include <DiffBio_TestViews.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#ifndef DIFFBIO_NORM_PYTHON
#define DIFFBIO_NORM_PYTHON "python3"
#endif
#ifndef DIFFBIO_NORM_SCRIPTS
#define DIFFBIO_NORM_SCRIPTS "."
#endif

namespace diffbio::test {

/// Runs `python3 pca_peer.py <args>`; returns the exit status (0 = success).
inline int run_pca_peer(const std::string& args) {
  const std::string cmd = std::string("OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 '") +
                          DIFFBIO_NORM_PYTHON + "' '" DIFFBIO_NORM_SCRIPTS "/pca_peer.py' " + args;
  return std::system(cmd.c_str());
}

inline bool pca_peer_available() {
  const std::string cmd = std::string("'") + DIFFBIO_NORM_PYTHON +
                          "' -c 'import numpy, scipy, sklearn' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

#define DIFFBIO_REQUIRE_PCA_PEER()                                                           \
  do {                                                                                       \
    if (!::diffbio::test::pca_peer_available())                                              \
      FAIL() << "Python peer with numpy, scipy and sklearn is required (Debian python3-numpy " \
                "python3-scipy python3-sklearn)";                                            \
  } while (0)

inline std::vector<std::string> read_text_lines(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(f, l);) lines.push_back(l);
  return lines;
}

inline Vec parse_doubles(const std::string& line) {
  std::istringstream is(line);
  Vec v;
  for (double x; is >> x;) v.push_back(x);
  return v;
}

/// Writes the CSR exchange file of pca_peer.py (values as %.17g: exact round trip).
template <class S>
void write_csr(const std::string& path, const io::CsrMatrix<S>& m) {
  std::ofstream f(path);
  f << m.n_rows << " " << m.n_cols << " " << m.nnz() << "\n";
  for (auto v : m.indptr) f << v << " ";
  f << "\n";
  for (auto v : m.indices) f << v << " ";
  f << "\n";
  char buf[40];
  for (auto v : m.data) {
    std::snprintf(buf, sizeof buf, "%.17g ", static_cast<double>(v));
    f << buf;
  }
  f << "\n";
}

/// Random counts: N cells × G genes, cell type i % n_types with its own gene program (so the
/// principal components are well separated), ~density non-zeros, integer counts ≥ 1, sorted
/// column indices, the given rows empty.
inline io::CsrMatrix<double> random_counts(int N, int G, double density, std::uint64_t seed,
                                           std::vector<int> empty_rows = {}, int n_types = 4) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> program(static_cast<std::size_t>(n_types) * G);
  for (auto& p : program) p = std::exp(1.5 * (u(gen) - 0.5) * 2);
  io::CsrMatrix<double> m;
  m.n_rows = N;
  m.n_cols = G;
  m.indptr.assign(1, 0);
  for (int i = 0; i < N; ++i) {
    bool empty = false;
    for (int r : empty_rows) empty = empty || r == i;
    const double depth = 0.5 + 1.5 * u(gen);  // library-size variation
    for (int j = 0; j < G && !empty; ++j) {
      const double rate = program[static_cast<std::size_t>(i % n_types) * G + j];
      if (u(gen) < density * rate / 1.5) {
        std::poisson_distribution<int> pd(3.0 * rate * depth);
        m.indices.push_back(j);
        m.data.push_back(1.0 + pd(gen));
      }
    }
    m.indptr.push_back(static_cast<std::int64_t>(m.data.size()));
  }
  return m;
}

/// scanpy's normalize_total(1e4) + log1p of \p m on the host (the peer checks it separately):
/// the PCA tests' realistic input.
inline io::CsrMatrix<double> log_normalised(io::CsrMatrix<double> m, double target = 1e4) {
  for (std::int64_t i = 0; i < m.n_rows; ++i) {
    double s = 0;
    for (auto e = m.row_begin(i); e < m.row_end(i); ++e) s += m.data[e];
    for (auto e = m.row_begin(i); e < m.row_end(i); ++e)
      m.data[e] = s > 0 ? std::log1p(m.data[e] * target / s) : 0.0;
  }
  return m;
}

/// A rank-1 View of \p n values allocated and filled on \p exec (a Serial test never starts an
/// OpenMP region).
template <class T, class Exec, class Src>
Kokkos::View<T*, typename Exec::memory_space> exec_vec(const Exec& exec, const std::vector<Src>& v) {
  Kokkos::View<T*, typename Exec::memory_space> d(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "DiffBio::test::vec", exec), v.size());
  auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), d);
  for (std::size_t i = 0; i < v.size(); ++i) h(i) = static_cast<T>(v[i]);
  Kokkos::deep_copy(exec, d, h);
  exec.fence();
  return d;
}

template <class T, class Exec, class Src>
Kokkos::View<T**, Kokkos::LayoutRight, typename Exec::memory_space> exec_mat(
    const Exec& exec, const std::vector<Src>& v, std::size_t n0, std::size_t n1) {
  Kokkos::View<T**, Kokkos::LayoutRight, typename Exec::memory_space> d(
      Kokkos::view_alloc(Kokkos::WithoutInitializing, "DiffBio::test::mat", exec), n0, n1);
  auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), d);
  for (std::size_t i = 0; i < v.size(); ++i) h.data()[i] = static_cast<T>(v[i]);
  Kokkos::deep_copy(exec, d, h);
  exec.fence();
  return d;
}

template <class View>
Vec to_vec(const View& v) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  Vec out(h.size());
  using math::value_of;
  for (std::size_t i = 0; i < h.size(); ++i) out[i] = static_cast<double>(value_of(h.data()[i]));
  return out;
}
template <class View>
Vec tangents(const View& v) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  Vec out(h.size());
  for (std::size_t i = 0; i < h.size(); ++i) out[i] = h.data()[i].d;
  return out;
}

inline std::string scratch_path(const std::string& name, const char* backend) {
  return ::testing::TempDir() + "diffbio_norm_" + std::to_string(::getpid()) + "_" + backend +
         "_" + name;
}

}  // namespace diffbio::test

#endif
