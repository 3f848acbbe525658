// SPDX-License-Identifier: BSD-3-Clause
/// \file AlignCommands.hpp
/// \brief `diffbio align` and `diffbio train-align`.
#ifndef DIFFBIO_APP_ALIGN_COMMANDS_HPP
#define DIFFBIO_APP_ALIGN_COMMANDS_HPP

#include <DiffBio_Comm.hpp>

#include <cstdint>
#include <string>

namespace diffbio {
namespace app {

struct AlignOptions {
  std::string fasta;         ///< pairs (records 1&2, 3&4, ...) or the queries
  std::string fasta_y;       ///< optional: second sequences (pairs) or the database
  std::string pairing = "pairs";  ///< "pairs" or "query-vs-db"
  std::string out;           ///< TSV of scores (atomic)
  std::string posterior_out; ///< optional HDF5 of expected alignments
  std::string params;        ///< optional HDF5 from train-align (substitution matrix and gaps)
  std::string mode = "local";
  std::string alphabet = "auto";
  bool hard = false;
  double tau = 1.0;
  double gap_open = -1, gap_extend = -1;  ///< < 0: defaults (DNA 5/2, protein 11/1)
  std::size_t batch = 256;
};

struct TrainAlignOptions {
  std::string stockholm;     ///< comma-separated Stockholm files (reference MSAs)
  std::string out;           ///< HDF5 with the learned parameters (atomic)
  std::string init = "blosum62";  ///< blosum62 (or DNA default) | poor (identity matrix, weak gaps)
  std::string mode = "local";
  std::string alphabet = "auto";
  double tau = 1.0;
  double gap_open = -1, gap_extend = -1;
  int epochs = 10;
  std::size_t batch = 16;
  double lr = 0.1;
  std::uint64_t seed = 7;
  int partners = 1;
  double train_fraction = 0.6, validation_fraction = 0.2;
};

int run_align(const AlignOptions& o, const Comm& comm);
int run_train_align(const TrainAlignOptions& o, const Comm& comm);

}  // namespace app
}  // namespace diffbio

#endif
