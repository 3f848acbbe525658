// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Comm.hpp
/// \brief The world communicator DiffBio trains over, and the row sharding that goes with it.
///
/// Data parallelism in DiffBio is deliberately simple: every rank holds the same model, takes a
/// contiguous shard of each global minibatch, and the gradient buffer (one contiguous View, see
/// DiffBio_Parameters.hpp) is summed over ranks with a single all-reduce before an identical
/// optimiser step on every rank. Comm wraps exactly the collectives this needs.
///
/// Built without MPI (DIFFBIO_ENABLE_MPI undefined), Comm is a one-rank communicator whose
/// collectives are no-ops, so the library, the app and the tests run unchanged without MPI.
#ifndef DIFFBIO_COMM_HPP
#define DIFFBIO_COMM_HPP

#include <DiffBio_Config.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_Types.hpp>

#include <cstddef>
#include <exception>
#include <string>
#include <type_traits>
#include <vector>

namespace diffbio {

/// RAII handle on the world communicator.
///
/// With MPI, the constructor calls MPI_Init_thread (MPI_THREAD_FUNNELED: only the main thread
/// talks to MPI, OpenMP threads only run kernels) unless MPI is already initialised, and the
/// destructor finalises MPI only if this object initialised it — so Comm composes with codes that
/// manage MPI themselves. Create it before Kokkos::initialize and destroy it after
/// Kokkos::finalize (MPI must outlive every Kokkos object that might still be fenced).
///
/// Every collective must be called by all ranks in the same order (the usual MPI rule). Failures
/// of MPI calls throw Error(ExitCode::parallel). Not thread-safe: call from the main thread only.
class Comm {
 public:
  /// Initialises MPI if needed. \p argc / \p argv are passed to MPI_Init_thread (may be null).
  explicit Comm(int* argc = nullptr, char*** argv = nullptr);
  /// Finalises MPI if this object initialised it (and it is not finalised yet). Never throws.
  ~Comm();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  /// This process's rank in the world communicator (0 without MPI).
  int rank() const noexcept { return rank_; }
  /// Number of ranks (1 without MPI).
  int size() const noexcept { return size_; }
  /// True if MPI is compiled in and initialised (a one-rank MPI run included).
  bool uses_mpi() const noexcept { return uses_mpi_; }

  /// Blocks until every rank has reached it.
  void barrier() const;

  /// In-place element-wise sum over ranks of \p n contiguous host doubles.
  void allreduce_sum(double* data, std::size_t n) const;
  /// Sum of one double over ranks.
  double allreduce_sum(double value) const;
  /// Maximum of one double over ranks.
  double allreduce_max(double value) const;
  /// Replaces \p data on every rank by \p root's vector (sizes may differ beforehand).
  void broadcast(std::vector<double>& data, int root) const;
  /// Replaces \p text on every rank by \p root's string (used to share one error message).
  void broadcast(std::string& text, int root) const;

  /// In-place element-wise sum over ranks of a contiguous rank-1 View of doubles.
  ///
  /// Host-accessible memory is handed to MPI directly; device memory goes through a host mirror
  /// (portable, as not every MPI is GPU-aware). The View's execution space is fenced first
  /// because kernels that wrote it may still be running asynchronously, and MPI knows nothing
  /// about Kokkos streams. Blocking.
  template <class... P>
  void allreduce_sum(const Kokkos::View<double*, P...>& v) const {
    using view_t = Kokkos::View<double*, P...>;
    using mem = typename view_t::memory_space;
    DIFFBIO_EXPECTS(v.span_is_contiguous(), "Comm::allreduce_sum needs a contiguous View");
    // Fence every execution space, not only the View's: the writer may have been a different
    // instance (stream) than the View's default one.
    Kokkos::fence();
    if (size_ == 1) return;  // nothing to add
    if constexpr (Kokkos::SpaceAccessibility<Kokkos::HostSpace, mem>::accessible) {
      allreduce_sum(v.data(), v.extent(0));
    } else {
      auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
      allreduce_sum(h.data(), h.extent(0));
      Kokkos::deep_copy(v, h);
    }
  }

 private:
  int rank_ = 0;
  int size_ = 1;
  bool uses_mpi_ = false;
  bool initialised_here_ = false;
};

/// Runs \p f on every rank of \p comm and makes its failure collective: if \p f throws on any
/// rank, every rank throws the same diffbio::Error (code and message of the lowest failing rank;
/// a non-diffbio exception counts as ExitCode::internal). Without this, a rank that throws between
/// two collectives would leave the others blocked in the next one. Costs one scalar all-reduce
/// (plus two broadcasts on failure). Nesting is fine: an inner failure is already collective.
template <class F>
void run_collectively(const Comm& comm, F&& f) {
  int code = 0;
  std::string msg;
  try {
    f();
  } catch (const Error& e) {
    code = static_cast<int>(e.code());
    msg = e.what();
  } catch (const std::exception& e) {
    code = static_cast<int>(ExitCode::internal);
    msg = std::string("DiffBio: internal error: ") + e.what();
  }
  if (comm.size() > 1) {
    // max of (size - rank) over the failing ranks identifies the lowest failing rank.
    const double g =
        comm.allreduce_max(code != 0 ? static_cast<double>(comm.size() - comm.rank()) : 0.0);
    if (g == 0.0) return;
    const int root = comm.size() - static_cast<int>(g);
    std::vector<double> c{static_cast<double>(code)};
    comm.broadcast(c, root);
    comm.broadcast(msg, root);
    code = static_cast<int>(c[0]);
  }
  if (code != 0) throw Error(static_cast<ExitCode>(code), msg);
}

/// A half-open range [begin, end) of global row indices owned by one rank.
struct Shard {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t size() const noexcept { return end - begin; }
  bool empty() const noexcept { return end <= begin; }
};

/// The contiguous rows of an \p n_global-row batch that rank \p rank of \p size owns.
///
/// Rows are grouped in blocks of \p block consecutive rows (the last block may be shorter) and
/// whole blocks are dealt out in rank order: the first (n_blocks mod size) ranks get one block
/// more than the others. Hence shards are disjoint, cover [0, n_global) in rank order, every
/// shard starts at a multiple of \p block, and only the shard holding the last row can have a
/// length that is not a multiple of \p block. Ranks left without a block get an empty shard
/// (begin == end == n_global). Blocks keep shard boundaries aligned, e.g. to a team size or SIMD
/// width; the training loop's results never depend on them in deterministic mode.
///
/// Preconditions (Error(internal) otherwise): size >= 1, 0 <= rank < size, block >= 1.
Shard shard_rows(std::size_t n_global, int rank, int size, std::size_t block = 1);

}  // namespace diffbio

#endif
