// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_ProfileHMM_Config.hpp
/// \brief Host-side Plan7 search-profile configuration for ProfileHMM: HMMER's p7_ProfileConfig
/// (entry distribution, wing retraction, log-odds emissions) turning a core model — read from a
/// `.hmm` file or built from scratch — into the operator's parameter vector.
#ifndef DIFFBIO_PROFILE_HMM_CONFIG_HPP
#define DIFFBIO_PROFILE_HMM_CONFIG_HPP

#include <DiffBio_Error.hpp>
#include <DiffBio_HmmerFile.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace diffbio {

/// Alignment configuration of the search profile (HMMER's four modes).
///   multilocal  = hmmsearch's default "fs" (p7_LOCAL): local alignments, any number of domains
///   unilocal    = "sw" (p7_UNILOCAL): one local domain
///   multiglocal = "ls" (p7_GLOCAL): domains cover the whole model, any number of them
///   uniglocal   = "s" (p7_UNIGLOCAL): one domain covering the whole model
enum class Plan7Mode { multilocal, unilocal, multiglocal, uniglocal };

inline bool plan7_is_local(Plan7Mode m) {
  return m == Plan7Mode::multilocal || m == Plan7Mode::unilocal;
}
inline bool plan7_is_multihit(Plan7Mode m) {
  return m == Plan7Mode::multilocal || m == Plan7Mode::multiglocal;
}

/// Transition slots of one row of the parameter block, in HMMER's profile order (p7P_MM ...).
/// Row r (0 <= r < M) holds the transitions *into* node r+1 for MM, IM, DM (from M_r, I_r, D_r)
/// and BM (B -> M_{r+1}); into D_{r+1} for MD, DD (from M_r, D_r); into I_r for MI, II (from
/// M_r, I_r). Row 0 only uses BM (M_0, I_0, D_0 do not exist in a search profile).
enum Plan7Slot : int { p7_MM = 0, p7_IM, p7_DM, p7_BM, p7_MD, p7_DD, p7_MI, p7_II, p7_NSLOTS };

/// Scores of probability 0 ('*' in a .hmm file, or an impossible entry) are stored as this finite
/// value instead of −∞, so that optimisers and weight decay never see an infinity: e^−1000
/// underflows to exactly 0 in double, so the scores computed are the same.
constexpr double plan7_impossible_score = -1000.0;

namespace Impl {

inline double log_or_impossible(double p) { return p > 0 ? std::log(p) : plan7_impossible_score; }

/// HMMER's p7_ProfileConfig in double precision: core model -> search-profile scores, laid out as
/// ProfileHMM's parameter block [transitions M×8 | match log-odds M×K | insert log-odds M×K].
/// Insert log-odds are 0 (HMMER hard-wires them so) unless `informative_inserts`.
inline std::vector<double> plan7_profile_params(const io::HmmerModel& hmm, Plan7Mode mode,
                                                const std::vector<double>& bg,
                                                bool informative_inserts) {
  const int M = hmm.M, K = hmm.alphabet.K;
  DIFFBIO_EXPECTS(M >= 1 && static_cast<int>(bg.size()) == K, "plan7_profile_params: bad model");
  std::vector<double> p(static_cast<std::size_t>(M) * (p7_NSLOTS + 2 * K), 0.0);
  auto T = [&](int r, int s) -> double& { return p[static_cast<std::size_t>(r) * p7_NSLOTS + s]; };
  using io::hmmer_DD;
  using io::hmmer_DM;
  using io::hmmer_II;
  using io::hmmer_IM;
  using io::hmmer_MD;
  using io::hmmer_MI;
  using io::hmmer_MM;

  // Entry scores B -> M_k stored in row k-1.
  if (plan7_is_local(mode)) {
    // occ[k] / Σ_i occ[i]·(M−i+1)   (p7_hmm_CalculateOccupancy; uniform 2/(M(M+1)) if occ = 1)
    std::vector<double> occ(M + 1, 0.0);
    occ[1] = hmm.t(0, hmmer_MI) + hmm.t(0, hmmer_MM);
    for (int k = 2; k <= M; ++k)
      occ[k] = occ[k - 1] * (hmm.t(k - 1, hmmer_MM) + hmm.t(k - 1, hmmer_MI)) +
               (1.0 - occ[k - 1]) * hmm.t(k - 1, hmmer_DM);
    double Z = 0;
    for (int k = 1; k <= M; ++k) Z += occ[k] * (M - k + 1);
    for (int k = 1; k <= M; ++k) T(k - 1, p7_BM) = log_or_impossible(occ[k] / Z);
  } else {
    // Glocal: left wing retraction B -> D_1 -> ... -> D_k -> M_{k+1} folded into the entries.
    double Z = log_or_impossible(hmm.t(0, hmmer_MD));
    T(0, p7_BM) = log_or_impossible(1.0 - hmm.t(0, hmmer_MD));
    for (int k = 1; k < M; ++k) {
      T(k, p7_BM) = Z + log_or_impossible(hmm.t(k, hmmer_DM));
      Z += log_or_impossible(hmm.t(k, hmmer_DD));
    }
    for (int k = 1; k < M; ++k)
      if (T(k, p7_BM) < plan7_impossible_score) T(k, p7_BM) = plan7_impossible_score;
  }
  // Main transitions of nodes 1..M-1 (row k). Row 0's other slots stay 0: never read.
  for (int k = 1; k < M; ++k) {
    T(k, p7_MM) = log_or_impossible(hmm.t(k, hmmer_MM));
    T(k, p7_MI) = log_or_impossible(hmm.t(k, hmmer_MI));
    T(k, p7_MD) = log_or_impossible(hmm.t(k, hmmer_MD));
    T(k, p7_IM) = log_or_impossible(hmm.t(k, hmmer_IM));
    T(k, p7_II) = log_or_impossible(hmm.t(k, hmmer_II));
    T(k, p7_DM) = log_or_impossible(hmm.t(k, hmmer_DM));
    T(k, p7_DD) = log_or_impossible(hmm.t(k, hmmer_DD));
  }
  const std::size_t m0 = static_cast<std::size_t>(M) * p7_NSLOTS;
  const std::size_t i0 = m0 + static_cast<std::size_t>(M) * K;
  for (int k = 1; k <= M; ++k)
    for (int a = 0; a < K; ++a) {
      p[m0 + static_cast<std::size_t>(k - 1) * K + a] = log_or_impossible(hmm.mat(k, a) / bg[a]);
      if (informative_inserts && k < M)
        p[i0 + static_cast<std::size_t>(k - 1) * K + a] = log_or_impossible(hmm.ins(k, a) / bg[a]);
    }
  return p;
}

/// A core model built from scratch: every node has the given transition probabilities; match
/// emissions are the background tilted by e^{σ·z} (z standard normal, seeded; σ = 0 gives the
/// uniform model "every residue at background frequency"); insert emissions are the background.
struct Plan7InitSpec {
  double mm = 0.90, mi = 0.05, md = 0.05;  ///< from M_k
  double im = 0.50, ii = 0.50;             ///< from I_k
  double dm = 0.50, dd = 0.50;             ///< from D_k
  double noise = 0.0;                      ///< σ of the log-emission perturbation
  std::uint64_t seed = 1;
};

inline io::HmmerModel plan7_scratch_model(int M, const io::HmmerAlphabet& alphabet,
                                          const Plan7InitSpec& s) {
  DIFFBIO_EXPECTS(M >= 1, "ProfileHMM: a model needs at least one node");
  const int K = alphabet.K;
  io::HmmerModel m;
  m.format = "scratch";
  m.name = "scratch";
  m.alphabet = alphabet;
  m.M = M;
  m.match.assign(static_cast<std::size_t>(M + 1) * K, 0.0);
  m.insert.assign(static_cast<std::size_t>(M + 1) * K, 0.0);
  m.transitions.assign(static_cast<std::size_t>(M + 1) * 7, 0.0);
  std::mt19937_64 gen(s.seed);
  std::normal_distribution<double> z(0.0, 1.0);
  for (int k = 0; k <= M; ++k) {
    double* t = &m.transitions[static_cast<std::size_t>(k) * 7];
    t[io::hmmer_MM] = s.mm;
    t[io::hmmer_MI] = s.mi;
    t[io::hmmer_MD] = s.md;
    t[io::hmmer_IM] = s.im;
    t[io::hmmer_II] = s.ii;
    t[io::hmmer_DM] = s.dm;
    t[io::hmmer_DD] = s.dd;
    if (k == M) {  // node M: M_M -> E, D_M -> E (HMMER's convention for the last node)
      t[io::hmmer_MM] = 1.0 - s.mi;
      t[io::hmmer_MD] = 0.0;
      t[io::hmmer_DM] = 1.0;
      t[io::hmmer_DD] = 0.0;
    }
    if (k == 0) {  // B: no D_0
      t[io::hmmer_DM] = 1.0;
      t[io::hmmer_DD] = 0.0;
    }
    for (int a = 0; a < K; ++a)
      m.insert[static_cast<std::size_t>(k) * K + a] = alphabet.background[a];
    if (k == 0) continue;
    double sum = 0;
    for (int a = 0; a < K; ++a) {
      const double v = alphabet.background[a] * std::exp(s.noise * z(gen));
      m.match[static_cast<std::size_t>(k) * K + a] = v;
      sum += v;
    }
    for (int a = 0; a < K; ++a) m.match[static_cast<std::size_t>(k) * K + a] /= sum;
  }
  return m;
}

}  // namespace Impl
}  // namespace diffbio

#endif
