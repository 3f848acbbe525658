// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_HmmerFile.hpp
/// \brief Reader of HMMER3 ASCII profile HMM files (`.hmm`, as written by hmmbuild / Pfam), and
/// HMMER's digital alphabets (residue codes, degenerate residues, default background).
///
/// Format accepted: "HMMER3/f" (HMMER 3.1 and later) and the older HMMER3/a..e variants, which
/// differ only in optional header tags and in the number of annotation columns after the match
/// emissions. A file may hold several models, each ended by a line "//". Per model:
/// \code
///   HMMER3/f [3.1b2 | February 2015]      format line
///   NAME  Pkinase                          header tags: NAME, LENG, ALPH required; ACC, DESC,
///   LENG  260                              MAXL, RF, MM, CONS, CS, MAP, DATE, COM, NSEQ, EFFN,
///   ALPH  amino                            CKSUM, GA, TC, NC, STATS, BM, SM optional
///   HMM   A  C  D ...  Y                   the alphabet's K symbols, in Easel's order
///         m->m m->i m->d i->m i->i d->m d->d
///   COMPO 2.60 4.19 ...                    optional: K model composition values
///         2.68 4.42 ...                    node 0: K insert-0 emissions
///         0.00990 5.01631 ... *            node 0: 7 transitions (B->M1, B->I0, B->D1, ...)
///    1    2.91 4.31 ... 1 y - - E          node k: k, K match emissions, annotation columns
///         2.68 4.42 ...                    node k: K insert emissions
///         0.00990 5.01631 ...              node k: 7 transitions
///   //
/// \endcode
/// Every probability is stored as −ln p with five decimals; "*" means p = 0. The reader converts
/// them back to probabilities (exp(−x), 0 for "*"). Every malformed input throws
/// diffbio::input_error(path, model, "line <n>: <problem>"): one line naming the file, the 1-based
/// model number, the line and the problem.
#ifndef DIFFBIO_HMMER_FILE_HPP
#define DIFFBIO_HMMER_FILE_HPP

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

namespace diffbio::io {

enum class HmmerAlphabetType { amino, dna, rna };

/// HMMER's (Easel's) digital alphabet: codes 0..K-1 are the canonical residues, code K is the gap,
/// then the degenerate codes, then '*' (not a residue) and '~' (missing data): Kp codes in all.
///   amino: "ACDEFGHIKLMNPQRSTVWY-BJZOUX*~"  (K = 20, Kp = 29)
///   dna:   "ACGT-RYMKSWHBVDN*~"             (K = 4,  Kp = 18)
///   rna:   "ACGU-RYMKSWHBVDN*~"             (K = 4,  Kp = 18)
struct HmmerAlphabet {
  HmmerAlphabetType type = HmmerAlphabetType::amino;
  int K = 0;
  int Kp = 0;
  std::string symbols;              ///< Kp symbols in code order
  std::vector<std::uint8_t> degen;  ///< Kp × K: degen[c*K + a] = 1 if code c includes residue a
  std::vector<double> background;   ///< K: HMMER's default null model frequencies (p7_bg_Create)

  static HmmerAlphabet amino();
  static HmmerAlphabet dna();
  static HmmerAlphabet rna();
  static HmmerAlphabet of(HmmerAlphabetType t);

  /// Code of a sequence letter (either case; U counts as T for DNA, T as U for RNA; '.' and '_'
  /// are gaps like '-'), or -1 if the letter is not in the alphabet.
  int code(char c) const;
  /// Codes of a whole sequence. Throws diffbio::input_error(where, record, ...) naming the first
  /// invalid letter and its 1-based position.
  std::vector<std::uint8_t> encode(const std::string& seq, const std::string& where = "sequence",
                                   long long record = -1) const;

  /// Emission weights of every code, Kp × K row-major: the score of code c at a state with
  /// residue log-odds s_a is Σ_a w[c][a]·s_a. Canonical codes are one-hot; a degenerate code is
  /// HMMER's expected score over its residues weighted by the background,
  /// w[c][a] = degen[c][a]·f_a / Σ_b degen[c][b]·f_b (esl_abc_FExpectScVec). Gap, '*' and '~'
  /// rows are zero (HMMER scores them −∞; they cannot occur in a valid target sequence).
  std::vector<double> code_weights() const;
};

/// The 7 transitions of a node in file order (HMMER's p7H_MM ... p7H_DD).
enum HmmerTransition : int {
  hmmer_MM = 0,
  hmmer_MI,
  hmmer_MD,
  hmmer_IM,
  hmmer_II,
  hmmer_DM,
  hmmer_DD
};

/// One profile HMM: the "core" probabilities of HMMER's P7_HMM, nodes 0..M.
struct HmmerModel {
  std::string format;       ///< "HMMER3/f" etc.
  std::string name;         ///< NAME
  std::string accession;    ///< ACC (empty if absent)
  std::string description;  ///< DESC (empty if absent)
  HmmerAlphabet alphabet;
  int M = 0;                        ///< LENG: number of match states (nodes)
  int nseq = -1;                    ///< NSEQ (-1 if absent)
  double effn = -1;                 ///< EFFN (-1 if absent)
  std::vector<double> compo;        ///< K model composition (empty if there is no COMPO line)
  std::vector<double> match;        ///< (M+1) × K match emissions; row 0 is unused (zeros)
  std::vector<double> insert;       ///< (M+1) × K insert emissions; row 0 is insert state I_0
  std::vector<double> transitions;  ///< (M+1) × 7 transitions (HmmerTransition order); row 0 = B

  double t(int k, HmmerTransition x) const {
    return transitions[static_cast<std::size_t>(k) * 7 + x];
  }
  double mat(int k, int a) const { return match[static_cast<std::size_t>(k) * alphabet.K + a]; }
  double ins(int k, int a) const { return insert[static_cast<std::size_t>(k) * alphabet.K + a]; }
};

/// Reads every model of an HMMER3 ASCII file. Throws input_error as described above, including
/// for a file with no model ("record 1: line 1: empty file").
std::vector<HmmerModel> read_hmmer3_file(const std::string& path);

/// Reads the first model of an HMMER3 ASCII file (convenience for single-model files).
HmmerModel read_hmmer3_model(const std::string& path);

/// Parses models from a stream; `name` is used in error messages in place of a path.
std::vector<HmmerModel> parse_hmmer3(std::istream& in, const std::string& name);

}  // namespace diffbio::io

#endif
