// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_QcPeer.hpp
/// \brief The QC tests' Python peer (qc_peer.py: scikit-learn NearestNeighbors and
/// roc_auc_score, Debian python3-sklearn) run as a subprocess, and scratch-file names.
#ifndef DIFFBIO_QC_PEER_HPP
#define DIFFBIO_QC_PEER_HPP

#include "../singlecell/DiffBio_SingleCellTestUtils.hpp"  // DIFFBIO_REQUIRE_PEER, read_lines, parse

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <unistd.h>

#ifndef DIFFBIO_QC_SCRIPTS
#define DIFFBIO_QC_SCRIPTS "."
#endif

namespace diffbio::test {

/// Runs `python3 qc_peer.py <args>` with one BLAS/OpenMP thread; returns the exit status.
inline int run_qc_peer(const std::string& args) {
  const std::string cmd = std::string("OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 '") +
                          DIFFBIO_SC_PYTHON + "' '" DIFFBIO_QC_SCRIPTS "/qc_peer.py' " + args;
  return std::system(cmd.c_str());
}

inline std::string qc_scratch(const std::string& name) {
  return ::testing::TempDir() + "diffbio_qc_" + std::to_string(::getpid()) + "_" + name;
}

}  // namespace diffbio::test

#endif
