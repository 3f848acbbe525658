// SPDX-License-Identifier: BSD-3-Clause
#include <DiffBio_DepthTrack.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_Reference.hpp>

#include <algorithm>
#include <map>

namespace diffbio::io {

std::vector<DepthTrack> read_depth_tracks(const std::string& bam_path,
                                          const std::string& reference_path,
                                          const std::vector<Region>& regions,
                                          const DepthTrackOptions& options, PileupStats* stats) {
  if (options.bin <= 0)
    throw Error(ExitCode::usage, "depth track: bin width must be > 0, got " +
                                     std::to_string(options.bin));
  PileupOptions po = options.pileup;
  po.halo = 0;
  // Windows aligned to bins: ~100 kb of positions (or one bin) per batch.
  const int per = std::max(1, 100000 / options.bin);
  po.window = static_cast<int>(std::min<long long>(static_cast<long long>(per) * options.bin,
                                                   1LL << 30));
  BamPileupReader reader(bam_path, reference_path, po);
  std::vector<DepthTrack> out;
  PileupBatch batch;
  for (const auto& r : regions) {
    reader.set_region(r);
    DepthTrack track;
    track.bin = options.bin;
    track.region = r;
    std::vector<double> sum;
    bool resolved = false;
    while (reader.next(batch)) {
      if (!resolved) {
        // The reader resolved the region (open ends filled); its first window starts at beg.
        track.region.contig = batch.contig;
        track.region.beg = batch.beg;
        resolved = true;
      }
      track.region.end = batch.end;
      const std::int64_t need = (batch.end - track.region.beg + options.bin - 1) / options.bin;
      if (static_cast<std::int64_t>(sum.size()) < need) sum.resize(static_cast<std::size_t>(need), 0.0);
      for (int i = 0; i < batch.positions(); ++i) {
        const std::int64_t pos = batch.beg + i;
        sum[static_cast<std::size_t>((pos - track.region.beg) / options.bin)] +=
            batch.offsets[i + 1] - batch.offsets[i];
      }
    }
    if (!resolved) continue;  // set_region rejects empty regions; nothing to add
    track.depth.resize(sum.size());
    for (std::size_t i = 0; i < sum.size(); ++i)
      track.depth[i] = sum[i] / static_cast<double>(track.bin_end(i) - track.bin_beg(i));
    out.push_back(std::move(track));
  }
  if (stats) *stats = reader.stats();
  return out;
}

std::vector<Region> whole_contig_regions(const std::string& bam_path,
                                         const std::string& reference_path) {
  ReferenceFasta ref(reference_path);
  BamPileupReader reader(bam_path, reference_path);
  std::map<std::string, std::int64_t> in_bam;
  for (const auto& c : reader.contigs()) in_bam[c.name] = c.length;
  for (const auto& c : ref.contigs()) {
    auto it = in_bam.find(c.name);
    if (it == in_bam.end())
      throw input_error(bam_path, -1, "contig '" + c.name + "' of reference " + reference_path +
                                          " is not in the BAM header (wrong reference?)");
    if (it->second != c.length)
      throw input_error(bam_path, -1, "contig '" + c.name + "' has length " +
                                          std::to_string(it->second) + " in the BAM header but " +
                                          std::to_string(c.length) + " in reference " +
                                          reference_path + " (wrong reference?)");
  }
  for (const auto& c : reader.contigs())
    if (ref.length(c.name) < 0)
      throw input_error(bam_path, -1, "contig '" + c.name + "' of the BAM header is not in reference " +
                                          reference_path + " (wrong reference?)");
  std::vector<Region> out;
  for (const auto& c : ref.contigs()) out.push_back(Region{c.name, 0, c.length, {}, -1});
  return out;
}

}  // namespace diffbio::io
