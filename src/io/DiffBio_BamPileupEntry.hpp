// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_BamPileupEntry.hpp
/// \brief The packed per-position pileup entry shared by the BAM reader (host, which writes it)
/// and the DifferentiablePileup operator (device, which reads it). Device-clean, header-only.
///
/// One entry is one read occupying one reference position, exactly the unit of `samtools mpileup`
/// (one character of its base column): an aligned base (CIGAR M/=/X), a deleted position (D) or a
/// reference skip (N). Insertions are not positions of the reference: as in samtools they are a
/// mark on the entry of the reference position they follow ("+n" after that base).
///
/// 32-bit layout:
/// \code
///   bits  0-2   channel: 0 A, 1 C, 2 G, 3 T, 4 other base (N, IUPAC), 5 deletion, 6 ref skip
///   bit   3     reverse strand (BAM flag 0x10)
///   bit   4     an insertion follows this position (samtools' "+n")
///   bits  8-15  base quality BQ: the base's Phred score; for D/N the quality samtools uses there,
///               that of the next query base (0 if none); 255 if the record has no qualities
///   bits 16-23  mapping quality MQ of the read
/// \endcode
#ifndef DIFFBIO_BAM_PILEUP_ENTRY_HPP
#define DIFFBIO_BAM_PILEUP_ENTRY_HPP

#include <Kokkos_Macros.hpp>
#include <cstdint>

namespace diffbio {
namespace io {
namespace pileup_entry {

/// Channels of an entry (its "occupancy" column); every entry fills exactly one of them.
enum Channel : int { A = 0, C = 1, G = 2, T = 3, N = 4, DEL = 5, SKIP = 6 };
constexpr int n_occupancy = 7;  ///< channels 0..6: their sum is samtools' depth column

KOKKOS_INLINE_FUNCTION constexpr std::uint32_t pack(int channel, bool reverse,
                                                    bool insertion_follows, int bq, int mq) {
  return static_cast<std::uint32_t>(channel) | (reverse ? 8u : 0u) |
         (insertion_follows ? 16u : 0u) | (static_cast<std::uint32_t>(bq & 0xFF) << 8) |
         (static_cast<std::uint32_t>(mq & 0xFF) << 16);
}
KOKKOS_INLINE_FUNCTION constexpr int channel(std::uint32_t e) { return static_cast<int>(e & 7u); }
KOKKOS_INLINE_FUNCTION constexpr bool reverse(std::uint32_t e) { return (e & 8u) != 0; }
KOKKOS_INLINE_FUNCTION constexpr bool insertion_follows(std::uint32_t e) { return (e & 16u) != 0; }
KOKKOS_INLINE_FUNCTION constexpr int base_quality(std::uint32_t e) {
  return static_cast<int>((e >> 8) & 0xFFu);
}
KOKKOS_INLINE_FUNCTION constexpr int mapping_quality(std::uint32_t e) {
  return static_cast<int>((e >> 16) & 0xFFu);
}

}  // namespace pileup_entry
}  // namespace io
}  // namespace diffbio

#endif
