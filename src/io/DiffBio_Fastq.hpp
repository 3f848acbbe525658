// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Fastq.hpp
/// \brief Streaming, validating FASTQ reader and writer, and packing of reads into dense arrays.
///
/// Format accepted: the four-line FASTQ of Cock et al. (NAR 2010), Phred+33 ("Sanger") quality:
/// \code
///   @<name and optional description>
///   <sequence: IUPAC nucleotide letters, either case>
///   +[optional repeat of the name]
///   <quality: one character '!'..'~' per base>
/// \endcode
/// CRLF line endings and a missing final newline are accepted; blank lines are accepted only at
/// the end of the file. Wrapped (multi-line) sequences are not supported. Every malformed input
/// throws diffbio::input_error(path, record, problem) whose message is one line naming the file,
/// the 1-based record number and the problem (including the line number where useful).
#ifndef DIFFBIO_FASTQ_HPP
#define DIFFBIO_FASTQ_HPP

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace diffbio::io {

/// One FASTQ read as text.
struct FastqRecord {
  std::string name;      ///< header line without the leading '@' (identifier and description)
  std::string sequence;  ///< bases as written in the file (IUPAC letters, case preserved)
  std::string quality;   ///< Phred+33 characters, same length as sequence
};

/// Reads a FASTQ file in bounded chunks so that memory use depends on the chunk size, not on the
/// file size. Not thread-safe; after it has thrown, the reader must not be used again.
class FastqReader {
 public:
  /// Opens \p path. Throws input_error(path, -1, "cannot open file: ...") if it cannot be read.
  explicit FastqReader(std::string path);

  /// Replaces the contents of \p out with up to \p max_records (> 0) next records and returns
  /// how many were read; 0 means end of file. Element storage in \p out is reused across calls,
  /// so a loop over chunks allocates only while the longest read grows.
  /// Throws input_error on malformed input, including a file with no records at all (reported
  /// as record 1 by the first call). On throw the contents of \p out are unspecified.
  std::size_t read_chunk(std::vector<FastqRecord>& out, std::size_t max_records);

  /// The file being read, as given to the constructor.
  const std::string& path() const noexcept { return path_; }
  /// Number of complete records returned so far.
  std::size_t records_read() const noexcept { return records_read_; }

 private:
  bool read_record(FastqRecord& rec);  // false at a clean end of file
  bool next_line(std::string& line);   // false at end of file; strips '\n' and a final '\r'
  [[noreturn]] void fail(const std::string& problem) const;

  std::string path_;
  std::ifstream in_;
  std::string separator_;        ///< scratch for the '+' line, kept to reuse its buffer
  std::size_t line_no_ = 0;      ///< 1-based number of the last line consumed
  std::size_t records_read_ = 0;
  bool at_end_ = false;
};

/// Reads a whole FASTQ file (convenience for small inputs and tests; use FastqReader for large
/// ones). Throws input_error exactly as FastqReader does.
std::vector<FastqRecord> read_fastq(const std::string& path);

/// Writes \p records as four-line FASTQ with '\n' line endings, atomically: the file appears
/// complete or not at all (see AtomicOutput). Records are validated with the reader's rules
/// first, so whatever is written reads back unchanged; an invalid record or an I/O failure throws
/// diffbio::Error(ExitCode::output_error, "<path>: [record <n>: ]<problem>") and leaves no file.
void write_fastq(const std::string& path, const std::vector<FastqRecord>& records);

/// Reads packed into dense row-major arrays for kernels: read r, position j is at r*max_len + j.
struct ReadBatch {
  std::size_t n_reads = 0;
  std::size_t max_len = 0;          ///< row stride; every row is padded to this length
  std::vector<std::uint8_t> base;   ///< n_reads*max_len codes: A=0 C=1 G=2 T/U=3, other=4;
                                    ///< padding is 4 (like N), so use `length` to mask it
  std::vector<std::uint8_t> quality;  ///< n_reads*max_len Phred scores (char - 33); 0 in padding
  std::vector<int> length;          ///< n_reads stored lengths (<= max_len after truncation)
  std::vector<std::string> names;   ///< n_reads read names
};

/// Base code of a nucleotide letter as used in ReadBatch::base (case-insensitive; U counts as
/// T; every other IUPAC code, including N, is 4).
std::uint8_t base_code(char c) noexcept;

/// Packs \p records into a ReadBatch with row length \p max_len, or the longest read's length if
/// \p max_len is 0. Reads longer than \p max_len are truncated to their first max_len bases
/// (the dropped tail is lost; `length` records the stored length, not the original one).
/// Precondition (diffbio::Error internal): every record's quality has its sequence's length,
/// which holds for anything FastqReader returned.
ReadBatch pack_reads(const std::vector<FastqRecord>& records, std::size_t max_len = 0);

}  // namespace diffbio::io

#endif
