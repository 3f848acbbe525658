// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Fasta.hpp
/// \brief FASTA and Stockholm readers for the alignment operators and apps.
///
/// Both report malformed input as one-line diffbio::input_error("<file>: record <n>: <problem>").
/// Sequences are returned as the letters of the file (upper-cased); mapping letters to alphabet
/// indices is the caller's job (see DiffBio_Alphabet.hpp), so a wrong letter is reported there with
/// the record and position.
#ifndef DIFFBIO_FASTA_HPP
#define DIFFBIO_FASTA_HPP

#include <string>
#include <utility>
#include <vector>

namespace diffbio {
namespace io {

struct FastaRecord {
  std::string name;      ///< first word of the header line (after '>')
  std::string sequence;  ///< upper-cased letters, line breaks and spaces removed
};

/// Reads a whole FASTA file (multi-line sequences allowed). Errors: cannot open, empty file,
/// text before the first '>', empty header, empty sequence, non-printable or non-ASCII byte.
std::vector<FastaRecord> read_fasta(const std::string& path);

/// A multiple sequence alignment read from Stockholm 1.0 (multi-block, #=G* annotation skipped).
struct Msa {
  std::vector<std::string> names;
  std::vector<std::string> rows;  ///< aligned rows, all of one length; gaps are '-', '.', '_', '~'
};

/// Reads the first alignment of a Stockholm file. Errors: missing "# STOCKHOLM 1.0" header,
/// missing "//" terminator, rows of unequal length, a name seen in one block but not another.
Msa read_stockholm(const std::string& path);

/// A pair of sequences with their reference alignment: the residue pairs (i, j) (0-based positions
/// in the ungapped sequences) that share a column of the MSA.
struct ReferencePair {
  std::string name_x, name_y;
  std::string x, y;  ///< ungapped, upper-cased
  std::vector<std::pair<int, int>> aligned;
};

/// Extracts the pairwise reference alignment of rows a and b of an MSA.
ReferencePair reference_pair(const Msa& msa, std::size_t a, std::size_t b);

/// True for the gap characters of Stockholm/A2M ('-', '.', '_', '~').
inline bool is_gap(char c) { return c == '-' || c == '.' || c == '_' || c == '~'; }

}  // namespace io
}  // namespace diffbio

#endif
