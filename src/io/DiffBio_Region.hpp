// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Region.hpp
/// \brief Genomic regions: samtools-style region strings and BED files, resolved against contigs.
///
/// Internally a region is 0-based and half-open, [beg, end), like BED and htslib. The two text
/// forms:
///   - region strings as samtools/htslib accept them, **1-based and inclusive**:
///     `chr` (whole contig), `chr:beg` (from beg to the contig's end), `chr:beg-end`, `chr:beg-`;
///     thousands separators are allowed (`chr1:1,000-2,000`); a contig name containing ':' is
///     written in braces (`{HLA-A*01:01}:100-200`);
///   - BED lines `chrom  start  end  [...]`, **0-based half-open**, tab or space separated; blank
///     lines, `#` comments and `track`/`browser` header lines are skipped.
/// Every malformed input throws diffbio::input_error(source, record, problem): for a region string
/// the source is what the caller names (usually the BAM it applies to) and there is no record; for
/// BED the record is the 1-based line number.
#ifndef DIFFBIO_REGION_HPP
#define DIFFBIO_REGION_HPP

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace diffbio::io {

/// A contig as named in a BAM header or a FASTA index.
struct ContigInfo {
  std::string name;
  std::int64_t length = 0;
};

/// A 0-based half-open interval [beg, end) of one contig. end < 0 means "to the contig's end"
/// (a parsed `chr` or `chr:beg` string) until resolve_region() fills it in.
struct Region {
  std::string contig;
  std::int64_t beg = 0;
  std::int64_t end = -1;
  /// Where the region was read from, for error messages: a BED file and its 1-based line
  /// (read_bed sets both); empty / -1 for a region string.
  std::string source;
  long long record = -1;

  std::int64_t length() const { return end < 0 ? -1 : end - beg; }
  /// The samtools form `contig:beg+1-end` (braces if the name contains ':'); `contig` or
  /// `contig:beg+1` if end is open.
  std::string to_string() const;
};

/// Parses a samtools-style region string (1-based inclusive). Throws input_error(source, -1,
/// "bad region string '<text>': <why>") for a malformed string and "... empty region" if end <
/// beg. Coordinates are not checked against any contig here (see resolve_region).
Region parse_region(std::string_view text, const std::string& source = "region");

/// Reads a BED file (0-based half-open; see the file comment). Throws input_error(path, line,
/// problem) for a short line, a non-numeric or negative coordinate, an empty interval (end <= beg)
/// or an unreadable file; an existing file with no interval is an error too ("no regions").
std::vector<Region> read_bed(const std::string& path);

/// Checks \p r against \p contigs and fills an open end: the contig must exist ("contig 'x' not in
/// <what>"), beg must lie inside it, and the interval must not be empty; an end beyond the contig
/// is clipped to its length (as samtools does). Errors name r.source / r.record when the region
/// came from a BED file, else \p source / \p record (record < 0: none); \p what names the
/// contig list.
Region resolve_region(const Region& r, const std::vector<ContigInfo>& contigs,
                      const std::string& source, long long record = -1,
                      const std::string& what = "the BAM header");

}  // namespace diffbio::io

#endif
