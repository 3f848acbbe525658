// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SubstitutionMatrix.hpp
/// \brief Substitution matrices and alphabet encoders for the alignment operators.
///
/// BLOSUM62 is the public NCBI matrix (Henikoff & Henikoff 1992, ftp.ncbi.nih.gov/blast/matrices/
/// BLOSUM62), in NCBI's letter order "ARNDCQEGHILKMFPSTWYVBZX*". An alphabet of A ≤ 24 letters
/// uses the first A letters of that order (A = 20: the standard amino acids; 23: + B, Z, X; 24: + *).
/// DNA uses "ACGT" (+ "N" as a fifth letter) with a match/mismatch matrix.
#ifndef DIFFBIO_SUBSTITUTION_MATRIX_HPP
#define DIFFBIO_SUBSTITUTION_MATRIX_HPP

#include <DiffBio_Error.hpp>

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

namespace diffbio {

/// NCBI letter order of BLOSUM62.
inline const char* blosum62_alphabet() { return "ARNDCQEGHILKMFPSTWYVBZX*"; }

/// The 24 × 24 BLOSUM62 matrix (row-major, NCBI order), in half-bit units.
inline const int* blosum62_table() {
  static const int t[24 * 24] = {
      // A   R   N   D   C   Q   E   G   H   I   L   K   M   F   P   S   T   W   Y   V   B   Z   X   *
      4, -1, -2, -2,  0, -1, -1,  0, -2, -1, -1, -1, -1, -2, -1,  1,  0, -3, -2,  0, -2, -1,  0, -4,  // A
     -1,  5,  0, -2, -3,  1,  0, -2,  0, -3, -2,  2, -1, -3, -2, -1, -1, -3, -2, -3, -1,  0, -1, -4,  // R
     -2,  0,  6,  1, -3,  0,  0,  0,  1, -3, -3,  0, -2, -3, -2,  1,  0, -4, -2, -3,  3,  0, -1, -4,  // N
     -2, -2,  1,  6, -3,  0,  2, -1, -1, -3, -4, -1, -3, -3, -1,  0, -1, -4, -3, -3,  4,  1, -1, -4,  // D
      0, -3, -3, -3,  9, -3, -4, -3, -3, -1, -1, -3, -1, -2, -3, -1, -1, -2, -2, -1, -3, -3, -2, -4,  // C
     -1,  1,  0,  0, -3,  5,  2, -2,  0, -3, -2,  1,  0, -3, -1,  0, -1, -2, -1, -2,  0,  3, -1, -4,  // Q
     -1,  0,  0,  2, -4,  2,  5, -2,  0, -3, -3,  1, -2, -3, -1,  0, -1, -3, -2, -2,  1,  4, -1, -4,  // E
      0, -2,  0, -1, -3, -2, -2,  6, -2, -4, -4, -2, -3, -3, -2,  0, -2, -2, -3, -3, -1, -2, -1, -4,  // G
     -2,  0,  1, -1, -3,  0,  0, -2,  8, -3, -3, -1, -2, -1, -2, -1, -2, -2,  2, -3,  0,  0, -1, -4,  // H
     -1, -3, -3, -3, -1, -3, -3, -4, -3,  4,  2, -3,  1,  0, -3, -2, -1, -3, -1,  3, -3, -3, -1, -4,  // I
     -1, -2, -3, -4, -1, -2, -3, -4, -3,  2,  4, -2,  2,  0, -3, -2, -1, -2, -1,  1, -4, -3, -1, -4,  // L
     -1,  2,  0, -1, -3,  1,  1, -2, -1, -3, -2,  5, -1, -3, -1,  0, -1, -3, -2, -2,  0,  1, -1, -4,  // K
     -1, -1, -2, -3, -1,  0, -2, -3, -2,  1,  2, -1,  5,  0, -2, -1, -1, -1, -1,  1, -3, -1, -1, -4,  // M
     -2, -3, -3, -3, -2, -3, -3, -3, -1,  0,  0, -3,  0,  6, -4, -2, -2,  1,  3, -1, -3, -3, -1, -4,  // F
     -1, -2, -2, -1, -3, -1, -1, -2, -2, -3, -3, -1, -2, -4,  7, -1, -1, -4, -3, -2, -2, -1, -2, -4,  // P
      1, -1,  1,  0, -1,  0,  0,  0, -1, -2, -2,  0, -1, -2, -1,  4,  1, -3, -2, -2,  0,  0,  0, -4,  // S
      0, -1,  0, -1, -1, -1, -1, -2, -2, -1, -1, -1, -1, -2, -1,  1,  5, -2, -2,  0, -1, -1,  0, -4,  // T
     -3, -3, -4, -4, -2, -2, -3, -2, -2, -3, -2, -3, -1,  1, -4, -3, -2, 11,  2, -3, -4, -3, -2, -4,  // W
     -2, -2, -2, -3, -2, -1, -2, -3,  2, -1, -1, -2, -1,  3, -3, -2, -2,  2,  7, -1, -3, -2, -1, -4,  // Y
      0, -3, -3, -3, -1, -2, -2, -3, -3,  3,  1, -2,  1, -1, -2, -2,  0, -3, -1,  4, -3, -2, -1, -4,  // V
     -2, -1,  3,  4, -3,  0,  1, -1,  0, -3, -4,  0, -3, -3, -2,  0, -1, -4, -3, -3,  4,  1, -1, -4,  // B
     -1,  0,  0,  1, -3,  3,  4, -2,  0, -3, -3,  1, -1, -3, -1,  0, -1, -3, -2, -2,  1,  4, -1, -4,  // Z
      0, -1, -1, -1, -2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -2,  0,  0, -2, -1, -1, -1, -1, -1, -4,  // X
     -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4,  1   // *
  };
  return t;
}

/// BLOSUM62 restricted to the first A letters of the NCBI order, as A×A doubles (row-major).
inline std::vector<double> blosum62(int A = 20) {
  DIFFBIO_EXPECTS(A >= 1 && A <= 24, "BLOSUM62 has 24 letters, asked for " + std::to_string(A));
  std::vector<double> s(static_cast<std::size_t>(A) * A);
  for (int a = 0; a < A; ++a)
    for (int b = 0; b < A; ++b) s[a * A + b] = blosum62_table()[a * 24 + b];
  return s;
}

/// DNA match/mismatch matrix over "ACGT" (A = 4) or "ACGTN" (A = 5; N scores n_score with
/// everything, itself included).
inline std::vector<double> dna_substitution(int A = 4, double match = 2.0, double mismatch = -3.0,
                                            double n_score = 0.0) {
  DIFFBIO_EXPECTS(A == 4 || A == 5, "DNA alphabets have 4 (ACGT) or 5 (ACGTN) letters");
  std::vector<double> s(static_cast<std::size_t>(A) * A);
  for (int a = 0; a < A; ++a)
    for (int b = 0; b < A; ++b)
      s[a * A + b] = (a == 4 || b == 4) ? n_score : (a == b ? match : mismatch);
  return s;
}

/// Encodes DNA: A,C,G,T (either case; U as T) → 0..3; anything else → 4 (N).
inline std::vector<std::uint8_t> encode_dna(const std::string& s) {
  std::vector<std::uint8_t> out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    switch (std::toupper(static_cast<unsigned char>(s[i]))) {
      case 'A': out[i] = 0; break;
      case 'C': out[i] = 1; break;
      case 'G': out[i] = 2; break;
      case 'T': case 'U': out[i] = 3; break;
      default: out[i] = 4;
    }
  }
  return out;
}

/// Encodes a protein in BLOSUM62's NCBI order; letters outside it map to X (index 22).
inline std::vector<std::uint8_t> encode_protein(const std::string& s) {
  const std::string order = blosum62_alphabet();
  std::vector<std::uint8_t> out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto p = order.find(static_cast<char>(std::toupper(static_cast<unsigned char>(s[i]))));
    out[i] = static_cast<std::uint8_t>(p == std::string::npos ? 22 : p);
  }
  return out;
}

}  // namespace diffbio

#endif
