// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Bam.hpp
/// \brief Indexed BAM/CRAM input streamed by region into per-position pileup batches.
///
/// BamPileupReader reads the alignments of a region through the file's index (htslib) and turns
/// them into PileupBatch chunks: a window of reference positions with, per position, the CSR list
/// of packed entries (DiffBio_BamPileupEntry.hpp) that the DifferentiablePileup operator consumes.
/// Memory is bounded by one window (plus the reads that span it), never by the region or the file.
///
/// ### Read selection: `samtools mpileup` semantics (samtools 1.16, bam_plcmd.c + htslib sam.c)
/// Applied in samtools' order, each counted in PileupStats:
///  1. unmapped records (flag 0x4 or no contig) are skipped;
///  2. `require_flags` (samtools --rf) and `exclude_flags` (--ff; default UNMAP, SECONDARY,
///     QCFAIL, DUP — supplementary alignments are kept, as in samtools);
///  3. `min_mapq` (-q): reads with MAPQ below it are skipped;
///  4. orphans: paired reads (0x1) not in a proper pair (0x2) are skipped unless
///     `count_orphans` (-A);
///  5. depth cap `max_depth` (-d, 0 = none): htslib's rule, emulated exactly — a read is dropped
///     when it starts at the same position as the previous read and ≥ max_depth reads are still
///     active there. Dropped reads are counted (PileupStats::capped, PileupBatch::capped), never
///     dropped silently;
///  6. mate-overlap removal (`overlap_removal`, samtools' default; -x turns it off): where the
///     mates of a proper pair overlap, htslib's tweak_overlap_quality is reproduced — matching
///     bases: one mate (chosen by a hash of the read name) gets min(Qa + Qb, 200), the other 0;
///     mismatching: the better base keeps 0.8·Q, the other gets 0 — so a fragment is counted once;
///  7. `min_baseq` (-Q): entries whose quality (see the entry layout) is below it are dropped.
/// CIGAR handling is htslib's pileup: M/=/X give base entries, D and N give deletion / ref-skip
/// entries (quality: the next query base's), I marks the preceding position, S/H/P occupy no
/// reference position. BAQ is not computed: compare with `samtools mpileup -B`.
///
/// DiffBio's defaults differ from samtools' in two places, both so that the differentiable
/// operator sees every base and learns its own thresholds: min_baseq 0 (samtools: 13) and
/// max_depth 0 = unlimited (samtools: 8000).
///
/// Errors are one-line diffbio::input_error(file, record, problem): unreadable file, not a
/// BAM/CRAM, truncated file (no end-of-file marker), missing index, a region whose contig is
/// absent from the BAM header or the reference, an empty region, an unsorted or corrupt record.
#ifndef DIFFBIO_BAM_HPP
#define DIFFBIO_BAM_HPP

#include <DiffBio_BamPileupEntry.hpp>
#include <DiffBio_Region.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace diffbio::io {

/// BAM flag bits (SAM specification §1.4).
namespace bam_flag {
constexpr std::uint32_t paired = 0x1, proper_pair = 0x2, unmapped = 0x4, mate_unmapped = 0x8,
                        reverse = 0x10, mate_reverse = 0x20, first = 0x40, last = 0x80,
                        secondary = 0x100, qc_fail = 0x200, duplicate = 0x400,
                        supplementary = 0x800;
}  // namespace bam_flag

struct PileupOptions {
  std::uint32_t exclude_flags = bam_flag::unmapped | bam_flag::secondary | bam_flag::qc_fail |
                                bam_flag::duplicate;  ///< samtools --ff
  std::uint32_t require_flags = 0;                    ///< samtools --rf
  int min_mapq = 0;                                   ///< samtools -q
  int min_baseq = 0;                                  ///< samtools -Q (samtools' default is 13)
  bool count_orphans = false;                         ///< samtools -A
  bool overlap_removal = true;                        ///< samtools default; false = samtools -x
  int max_depth = 0;    ///< samtools -d; 0 = unlimited (samtools' default is 8000)
  int window = 100000;  ///< reference positions per batch (the memory bound); 0: whole region
  int halo = 0;         ///< extra positions on each side of a window (≥ operator offset k);
                        ///< reads overlapping only the halo join the read stream, so cap and
                        ///< overlap decisions at the region's edges can differ from
                        ///< `samtools mpileup -r <region>` (halo 0 reproduces it exactly)
  int threads = 0;      ///< extra htslib decompression threads (0: none)
};

/// Cumulative counts since the reader was opened (all regions).
struct PileupStats {
  std::uint64_t records = 0;          ///< records returned by the region iterators
  std::uint64_t unmapped = 0;         ///< skipped: unmapped
  std::uint64_t filtered_flags = 0;   ///< skipped: exclude_flags / require_flags
  std::uint64_t filtered_mapq = 0;    ///< skipped: MAPQ < min_mapq
  std::uint64_t filtered_orphan = 0;  ///< skipped: improper pair without count_orphans
  std::uint64_t capped = 0;           ///< dropped by the depth cap
  std::uint64_t used = 0;             ///< reads that entered the pileup
  std::uint64_t overlap_pairs = 0;    ///< mate pairs whose overlapping bases were de-duplicated
  std::uint64_t low_baseq = 0;        ///< entries of output windows dropped by min_baseq
  std::uint64_t entries = 0;          ///< entries of output windows (Σ samtools depth)
  /// One line: "records N, used N, unmapped N, flags N, mapq N, orphans N, capped N, ...".
  std::string summary() const;
};

/// One window of the pileup: positions [beg, end) of a contig, and `halo` extra positions on
/// each side, as CSR over rows. Row i is reference position beg − halo + i (0-based); rows outside
/// the contig are empty. The entries of a row are in BAM order (deterministic).
struct PileupBatch {
  std::string contig;
  int tid = -1;
  std::int64_t beg = 0, end = 0;  ///< output positions [beg, end), 0-based
  int halo = 0;
  std::vector<int> offsets;            ///< rows() + 1
  std::vector<std::uint32_t> entries;  ///< packed entries, row-major
  std::uint64_t n_reads = 0;           ///< reads with at least one position in the rows
  std::uint64_t capped = 0;  ///< reads dropped by the depth cap starting before `end` and not
                             ///< reported by an earlier batch (the last batch takes the rest)

  int rows() const { return static_cast<int>(end - beg) + 2 * halo; }
  int positions() const { return static_cast<int>(end - beg); }
};

class BamPileupReader {
 public:
  /// Opens \p bam_path (BAM or CRAM) and its index; \p reference_path (indexed FASTA) is required
  /// for CRAM, optional for BAM (then contigs are checked against it and `=` bases resolved).
  /// Throws input_error for an unreadable, truncated or unindexed file, or Error(usage) for
  /// invalid options.
  BamPileupReader(const std::string& bam_path, const std::string& reference_path = "",
                  const PileupOptions& options = {});
  ~BamPileupReader();
  BamPileupReader(BamPileupReader&&) noexcept;
  BamPileupReader& operator=(BamPileupReader&&) noexcept;
  BamPileupReader(const BamPileupReader&) = delete;
  BamPileupReader& operator=(const BamPileupReader&) = delete;

  const std::string& path() const noexcept;
  const PileupOptions& options() const noexcept;
  /// Contigs of the BAM header.
  const std::vector<ContigInfo>& contigs() const noexcept;

  /// Starts streaming region \p r (resolved against the header, and the reference if given);
  /// abandons any region in progress. Throws input_error(bam, -1, ...) naming the problem.
  void set_region(const Region& r);
  /// Convenience: parse_region(text) then set_region.
  void set_region(const std::string& text);

  /// Fills \p batch with the next window of the current region (its vectors' storage is reused)
  /// and returns true; false once the region is exhausted. Windows cover the region in order,
  /// including windows without reads. Throws input_error for corrupt or unsorted records.
  bool next(PileupBatch& batch);

  const PileupStats& stats() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Reads a whole region into one batch (window = region length): for tests and small regions.
PileupBatch read_pileup(const std::string& bam_path, const std::string& reference_path,
                        const Region& region, PileupOptions options = {},
                        PileupStats* stats = nullptr);

}  // namespace diffbio::io

#endif
