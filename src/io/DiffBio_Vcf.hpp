// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_Vcf.hpp
/// \brief VCF/BCF input (truth sets, other callers' calls) and VCF 4.2 output of diploid
/// genotype calls, both through htslib.
///
/// Reading: VCF, bgzipped VCF or BCF (htslib detects the format). Each ALT allele of a record
/// becomes one VcfVariant with its dosage in the first sample (number of GT alleles equal to it);
/// multi-allelic records are thus split, and an allele the sample does not carry (dosage 0) is
/// dropped. Without samples or GT every allele counts as present with unknown dosage (−1).
/// Symbolic (<DEL>), breakend and `*` alleles are skipped. Every malformed input is one line:
/// input_error(path, record, problem) — record is the 1-based data record where htslib failed.
///
/// Writing: write_calls_vcf() writes a VCF 4.2 file (bgzipped if the path ends in .gz) with
/// ##fileformat, ##source=DiffBio, ##reference, one ##contig per reference .fai entry, ##INFO DP
/// and ##FORMAT GT, GQ, PL, AD, DP, and one sample column. Records are sorted by the reference's
/// contig order and position. The file goes to a temporary sibling that is renamed onto the
/// target only once complete (AtomicOutput): there is never a partial VCF.
#ifndef DIFFBIO_VCF_HPP
#define DIFFBIO_VCF_HPP

#include <DiffBio_Region.hpp>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace diffbio::io {

/// One ALT allele of a VCF record, in the record's own (not re-normalised) representation.
struct VcfVariant {
  std::string contig;
  std::int64_t pos = 0;  ///< 0-based position of the first REF base
  std::string ref, alt;
  int dosage = -1;       ///< copies of ALT in the (first) sample's GT: 1 het, 2 hom; −1 unknown
  double qual = 0;       ///< QUAL (0 if missing)

  bool is_snp() const { return ref.size() == 1 && alt.size() == 1; }
  bool is_indel() const { return ref.size() != alt.size(); }
};

/// Reads every ALT allele of \p path (VCF, VCF.gz or BCF) that the sample carries; keeps only
/// records whose first REF base lies in one of \p regions (all records if empty). The result is
/// in file order. Throws input_error(path, record, problem).
std::vector<VcfVariant> read_vcf(const std::string& path, const std::vector<Region>& regions = {});

/// One diploid call to write.
struct VcfCall {
  std::string contig;
  std::int64_t pos = 0;  ///< 0-based position of the first REF base
  std::string ref, alt;
  int dosage = 1;                 ///< 0 (0/0), 1 (0/1), 2 (1/1)
  double qual = 0;                ///< phred probability that the site is not variant
  int gq = 0;                     ///< phred probability that the genotype is wrong (capped 99)
  std::array<int, 3> pl{0, 0, 0};  ///< phred-scaled genotype likelihoods 0/0, 0/1, 1/1
  std::array<int, 2> ad{0, 0};     ///< reads supporting REF, ALT
  int dp = 0;                      ///< read depth at the site
};

/// Writes \p calls as a VCF 4.2 file for \p sample against the indexed FASTA \p reference_path
/// (contig lines from its .fai; a call on a contig absent from it is an internal error).
/// \p command_line goes into a ##DiffBioCommand header line if not empty. Sorted by contig order
/// and position; atomic (temporary file + rename). Throws Error(output_error) on write failure.
void write_calls_vcf(const std::string& path, const std::string& reference_path,
                     const std::string& sample, std::vector<VcfCall> calls,
                     const std::string& command_line = "");

}  // namespace diffbio::io

#endif
