// SPDX-License-Identifier: BSD-3-Clause
#include <DiffBio_Comm.hpp>

#include <algorithm>
#include <climits>

#ifdef DIFFBIO_ENABLE_MPI
#include <mpi.h>
#endif

namespace diffbio {

#ifdef DIFFBIO_ENABLE_MPI
namespace {

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, buf, &len);
  throw Error(ExitCode::parallel, std::string("MPI: ") + what + " failed: " + std::string(buf, len));
}

// MPI counts are int; split longer buffers so a large model never overflows the count.
constexpr std::size_t max_chunk = static_cast<std::size_t>(INT_MAX);

}  // namespace
#endif

Comm::Comm(int* argc, char*** argv) {
#ifdef DIFFBIO_ENABLE_MPI
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  // MPI cannot be initialised twice in a process: a second Comm after the first one finalised
  // MPI has no communicator to use.
  if (finalised)
    throw Error(ExitCode::parallel, "MPI: already finalised; create one Comm for the whole run");
  if (!initialised) {
    int provided = 0;
    check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    initialised_here_ = true;
  }
  uses_mpi_ = true;
  // Errors are reported as return codes so they become Error(parallel) instead of an abort
  // without a message (the default handler is MPI_ERRORS_ARE_FATAL).
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
#else
  (void)argc;
  (void)argv;
#endif
}

Comm::~Comm() {
#ifdef DIFFBIO_ENABLE_MPI
  if (initialised_here_) {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
  }
#endif
}

void Comm::barrier() const {
#ifdef DIFFBIO_ENABLE_MPI
  if (size_ > 1) check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

void Comm::allreduce_sum(double* data, std::size_t n) const {
#ifdef DIFFBIO_ENABLE_MPI
  if (size_ == 1) return;
  for (std::size_t off = 0; off < n; off += max_chunk) {
    const int count = static_cast<int>(std::min(max_chunk, n - off));
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + off, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce");
  }
#else
  (void)data;
  (void)n;
#endif
}

double Comm::allreduce_sum(double value) const {
  allreduce_sum(&value, 1);
  return value;
}

double Comm::allreduce_max(double value) const {
#ifdef DIFFBIO_ENABLE_MPI
  if (size_ > 1)
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD),
              "MPI_Allreduce");
#endif
  return value;
}

void Comm::broadcast(std::vector<double>& data, int root) const {
  DIFFBIO_EXPECTS(root >= 0 && root < size_, "Comm::broadcast: root out of range");
#ifdef DIFFBIO_ENABLE_MPI
  if (size_ == 1) return;
  // The size goes first so receivers can resize; it travels as a double (exact below 2^53).
  double n = static_cast<double>(data.size());
  check_mpi(MPI_Bcast(&n, 1, MPI_DOUBLE, root, MPI_COMM_WORLD), "MPI_Bcast");
  data.resize(static_cast<std::size_t>(n));
  for (std::size_t off = 0; off < data.size(); off += max_chunk) {
    const int count = static_cast<int>(std::min(max_chunk, data.size() - off));
    check_mpi(MPI_Bcast(data.data() + off, count, MPI_DOUBLE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
#else
  (void)data;
#endif
}

void Comm::broadcast(std::string& text, int root) const {
  DIFFBIO_EXPECTS(root >= 0 && root < size_, "Comm::broadcast: root out of range");
#ifdef DIFFBIO_ENABLE_MPI
  if (size_ == 1) return;
  long long n = static_cast<long long>(text.size());
  check_mpi(MPI_Bcast(&n, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD), "MPI_Bcast");
  DIFFBIO_EXPECTS(n >= 0 && n < INT_MAX, "Comm::broadcast: string too long");
  text.resize(static_cast<std::size_t>(n));
  if (n > 0)
    check_mpi(MPI_Bcast(&text[0], static_cast<int>(n), MPI_CHAR, root, MPI_COMM_WORLD),
              "MPI_Bcast");
#else
  (void)text;
#endif
}

Shard shard_rows(std::size_t n_global, int rank, int size, std::size_t block) {
  DIFFBIO_EXPECTS(size >= 1, "shard_rows: size must be >= 1");
  DIFFBIO_EXPECTS(rank >= 0 && rank < size, "shard_rows: rank out of range");
  DIFFBIO_EXPECTS(block >= 1, "shard_rows: block must be >= 1");
  const std::size_t n_blocks = (n_global + block - 1) / block;
  const std::size_t p = static_cast<std::size_t>(size);
  const std::size_t r = static_cast<std::size_t>(rank);
  const std::size_t base = n_blocks / p, extra = n_blocks % p;
  // Blocks before this rank: r·base plus one per earlier rank that got an extra block.
  const std::size_t first = r * base + std::min(r, extra);
  const std::size_t count = base + (r < extra ? 1 : 0);
  Shard s;
  s.begin = std::min(n_global, first * block);
  s.end = std::min(n_global, (first + count) * block);
  return s;
}

}  // namespace diffbio
