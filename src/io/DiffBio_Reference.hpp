// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Reference.hpp
/// \brief Indexed reference FASTA (htslib faidx): contig names and lengths, sequence fetch.
///
/// The FASTA must have its `.fai` index next to it (`samtools faidx ref.fa`); a bgzip-compressed
/// FASTA also needs its `.gzi`. The index is never created implicitly: a missing index is an
/// input error, as a missing BAM index is, so a read-only reference directory never gets written
/// to. htslib is an implementation detail (no htslib header is included here).
#ifndef DIFFBIO_REFERENCE_HPP
#define DIFFBIO_REFERENCE_HPP

#include <DiffBio_Region.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace diffbio::io {

class ReferenceFasta {
 public:
  /// Opens \p path and loads its index. Throws input_error(path, -1, problem) if the file cannot
  /// be read ("cannot open file") or has no usable index ("no FASTA index (.fai) ...").
  explicit ReferenceFasta(const std::string& path);
  ~ReferenceFasta();
  ReferenceFasta(ReferenceFasta&&) noexcept;
  ReferenceFasta& operator=(ReferenceFasta&&) noexcept;
  ReferenceFasta(const ReferenceFasta&) = delete;
  ReferenceFasta& operator=(const ReferenceFasta&) = delete;

  const std::string& path() const noexcept { return path_; }
  /// Contigs in index order.
  const std::vector<ContigInfo>& contigs() const noexcept { return contigs_; }
  /// Length of contig \p name, or -1 if the reference has no such contig.
  std::int64_t length(const std::string& name) const;
  /// Upper-case sequence of [r.beg, r.end) (resolved region). Throws input_error(path, -1, ...) if
  /// the contig is absent ("contig 'x' not in reference") or the fetch fails.
  std::string fetch(const Region& r) const;

 private:
  struct Impl;
  std::string path_;
  std::unique_ptr<Impl> impl_;
  std::vector<ContigInfo> contigs_;
};

}  // namespace diffbio::io

#endif
