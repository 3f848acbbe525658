// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_DepthTrack.hpp
/// \brief Binned read depth of an indexed BAM/CRAM over regions: the input of copy-number
/// segmentation (operators/cnv/).
///
/// The depth is read through BamPileupReader (DiffBio_Bam.hpp), so the read filters, the region
/// parsing and checking, CRAM decoding and the one-line errors are exactly the pileup's: the
/// depth at a position is the number of pileup entries there (samtools mpileup's depth with
/// the same filters, deletions included), and a bin's depth is the mean over its positions (the
/// last bin of a region may be shorter). Memory is one pileup window plus one double per bin.
#ifndef DIFFBIO_DEPTH_TRACK_HPP
#define DIFFBIO_DEPTH_TRACK_HPP

#include <DiffBio_Bam.hpp>
#include <DiffBio_Region.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace diffbio::io {

struct DepthTrackOptions {
  int bin = 1000;          ///< bin width in bp (> 0)
  PileupOptions pileup;    ///< read filters (window is rounded to a multiple of bin)
};

/// Mean per-base depth of consecutive bins of one region.
struct DepthTrack {
  Region region;               ///< resolved, 0-based half-open
  int bin = 1000;
  std::vector<double> depth;   ///< one entry per bin
  std::int64_t bin_beg(std::size_t i) const { return region.beg + static_cast<std::int64_t>(i) * bin; }
  std::int64_t bin_end(std::size_t i) const {
    const std::int64_t e = bin_beg(i) + bin;
    return e < region.end ? e : region.end;
  }
};

/// Reads the binned depth of each region (resolved against the BAM header and, if given, the
/// reference: a contig missing from either or of another length is an input error naming the
/// file). \p reference_path is required for CRAM. Throws input_error / Error(usage) as
/// BamPileupReader does; Error(usage) for bin <= 0.
std::vector<DepthTrack> read_depth_tracks(const std::string& bam_path,
                                          const std::string& reference_path,
                                          const std::vector<Region>& regions,
                                          const DepthTrackOptions& options = {},
                                          PileupStats* stats = nullptr);

/// Whole-contig regions of every contig of the reference, after checking that the BAM header and
/// the reference list the same contigs with the same lengths (input_error naming the BAM and the
/// first mismatch otherwise).
std::vector<Region> whole_contig_regions(const std::string& bam_path,
                                         const std::string& reference_path);

}  // namespace diffbio::io

#endif
