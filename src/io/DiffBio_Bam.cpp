// SPDX-License-Identifier: BSD-3-Clause
// BAM/CRAM region streaming into pileup batches. The read selection reproduces samtools mpileup
// 1.16 (bam_plcmd.c: mplp_func; htslib 1.16 sam.c: bam_plp_push, overlap_push,
// tweak_overlap_quality, resolve_cigar2); the comments name the htslib function each step mirrors.
#include <htslib/hts.h>
#include <htslib/hts_log.h>
#include <htslib/khash.h>  // __ac_X31_hash_string, __ac_Wang_hash: htslib's choice of mate
#include <htslib/sam.h>

#include <DiffBio_Bam.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_Reference.hpp>
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <queue>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

namespace diffbio::io {

namespace {

namespace pe = pileup_entry;

class QuietHtslib {  // see DiffBio_Reference.cpp
 public:
  QuietHtslib() : saved_(hts_get_log_level()) { hts_set_log_level(HTS_LOG_OFF); }
  ~QuietHtslib() { hts_set_log_level(saved_); }
  QuietHtslib(const QuietHtslib&) = delete;
  QuietHtslib& operator=(const QuietHtslib&) = delete;

 private:
  htsLogLevel saved_;
};

// 4-bit BAM base code → channel ('=' is resolved against the reference separately).
constexpr int kNibbleChannel[16] = {pe::N, pe::A, pe::C, pe::N, pe::G, pe::N, pe::N, pe::N,
                                    pe::T, pe::N, pe::N, pe::N, pe::N, pe::N, pe::N, pe::N};

int channel_of_letter(char c) {
  switch (c) {
    case 'A':
      return pe::A;
    case 'C':
      return pe::C;
    case 'G':
      return pe::G;
    case 'T':
      return pe::T;
    default:
      return pe::N;
  }
}

inline int cig_op(std::uint32_t c) { return static_cast<int>(c & BAM_CIGAR_MASK); }
inline std::int64_t cig_len(std::uint32_t c) {
  return static_cast<std::int64_t>(c >> BAM_CIGAR_SHIFT);
}
inline bool is_match(int op) { return op == BAM_CMATCH || op == BAM_CEQUAL || op == BAM_CDIFF; }
inline bool occupies_ref(int op) { return is_match(op) || op == BAM_CDEL || op == BAM_CREF_SKIP; }

// A deletion's entries take the quality of the next query base at the time samtools emits them;
// when a later mate-overlap tweak changes that base, positions emitted before the tweak keep the
// old value (override applies to entries at reference positions < split).
struct Override {
  std::int64_t qpos;
  std::int64_t split;
  std::uint8_t old_q;
};

struct ReadRec {
  std::string name;
  std::int64_t pos = 0, end = 0;  // end = pos + reference span (htslib lbnode end)
  std::uint32_t flag = 0;
  int mapq = 0;
  int tid = -1, mtid = -1;
  std::int64_t mpos = -1, isize = 0;
  std::vector<std::uint32_t> cigar;
  std::vector<std::uint8_t> seq;  // one 4-bit code per base
  std::vector<std::uint8_t> qual;
  std::vector<Override> overrides;
  bool has_eq = false;  // a '=' base (resolved against the reference)
  bool in_buffer = false, in_pending = false;
};

// htslib's hash of read names (khash's X31), cheaper than std::hash for short names.
struct NameHash {
  std::size_t operator()(std::string_view s) const noexcept {
    std::size_t h = 0;
    for (char c : s) h = (h << 5) - h + static_cast<unsigned char>(c);
    return h;
  }
};

// htslib cigar_iref2iseq_set / _next (sam.c), on our copies of the CIGAR.
int iref2iseq_set(const std::uint32_t** cigar, const std::uint32_t* cigar_max, std::int64_t* icig,
                  std::int64_t* iseq, std::int64_t* iref) {
  std::int64_t pos = *iref;
  if (pos < 0) return -1;
  *icig = 0;
  *iseq = 0;
  *iref = 0;
  while (*cigar < cigar_max) {
    const int cig = cig_op(**cigar);
    const std::int64_t ncig = cig_len(**cigar);
    if (cig == BAM_CSOFT_CLIP) {
      (*cigar)++;
      *iseq += ncig;
      *icig = 0;
      continue;
    }
    if (cig == BAM_CHARD_CLIP || cig == BAM_CPAD) {
      (*cigar)++;
      *icig = 0;
      continue;
    }
    if (is_match(cig)) {
      pos -= ncig;
      if (pos < 0) {
        *icig = ncig + pos;
        *iseq += *icig;
        *iref += *icig;
        return BAM_CMATCH;
      }
      (*cigar)++;
      *iseq += ncig;
      *icig = 0;
      *iref += ncig;
      continue;
    }
    if (cig == BAM_CINS) {
      (*cigar)++;
      *iseq += ncig;
      *icig = 0;
      continue;
    }
    if (cig == BAM_CDEL || cig == BAM_CREF_SKIP) {
      pos -= ncig;
      if (pos < 0) pos = 0;
      (*cigar)++;
      *icig = 0;
      *iref += ncig;
      continue;
    }
    return -2;
  }
  *iseq = -1;
  return -1;
}

int iref2iseq_next(const std::uint32_t** cigar, const std::uint32_t* cigar_max, std::int64_t* icig,
                   std::int64_t* iseq, std::int64_t* iref) {
  while (*cigar < cigar_max) {
    const int cig = cig_op(**cigar);
    const std::int64_t ncig = cig_len(**cigar);
    if (is_match(cig)) {
      if (*icig >= ncig - 1) {
        *icig = -1;
        (*cigar)++;
        continue;
      }
      (*iseq)++;
      (*icig)++;
      (*iref)++;
      return BAM_CMATCH;
    }
    if (cig == BAM_CDEL || cig == BAM_CREF_SKIP) {
      (*cigar)++;
      (*iref) += ncig;
      *icig = -1;
      continue;
    }
    if (cig == BAM_CINS) {
      (*cigar)++;
      *iseq += ncig;
      *icig = -1;
      continue;
    }
    if (cig == BAM_CSOFT_CLIP) {
      (*cigar)++;
      *iseq += ncig;
      *icig = -1;
      continue;
    }
    if (cig == BAM_CHARD_CLIP || cig == BAM_CPAD) {
      (*cigar)++;
      *icig = -1;
      continue;
    }
    return -2;
  }
  *iseq = -1;
  *iref = -1;
  return -1;
}

// True if a D/N operation of r is followed (in query order) by query base `q`, i.e. entries of
// that deletion read their quality from base q.
bool has_deletion_before(const ReadRec& r, std::int64_t q) {
  std::int64_t qi = 0;
  for (std::uint32_t c : r.cigar) {
    const int op = cig_op(c);
    if ((op == BAM_CDEL || op == BAM_CREF_SKIP) && qi == q) return true;
    if (is_match(op) || op == BAM_CINS || op == BAM_CSOFT_CLIP) qi += cig_len(c);
    if (qi > q) return false;
  }
  return false;
}

// htslib resolve_cigar2: does the position at the end of operation k carry an insertion mark?
bool insertion_after(const std::vector<std::uint32_t>& cigar, std::size_t k) {
  if (k + 1 >= cigar.size()) return false;
  const int op2 = cig_op(cigar[k + 1]);
  if (op2 == BAM_CINS) return cig_len(cigar[k + 1]) > 0;
  if (op2 == BAM_CPAD && k + 2 < cigar.size()) {
    std::int64_t l3 = 0;
    for (std::size_t j = k + 2; j < cigar.size(); ++j) {
      const int op = cig_op(cigar[j]);
      if (op == BAM_CINS)
        l3 += cig_len(cigar[j]);
      else if (occupies_ref(op))
        break;
    }
    return l3 > 0;
  }
  return false;
}

std::string open_problem(const std::string& what) {
  const int err = errno;
  return what + (err != 0 ? ": " + std::generic_category().message(err) : std::string());
}

}  // namespace

std::string PileupStats::summary() const {
  return "records " + std::to_string(records) + ", used " + std::to_string(used) + ", unmapped " +
         std::to_string(unmapped) + ", flag-filtered " + std::to_string(filtered_flags) +
         ", low MAPQ " + std::to_string(filtered_mapq) + ", orphans " +
         std::to_string(filtered_orphan) + ", capped by max depth " + std::to_string(capped) +
         ", overlapping pairs " + std::to_string(overlap_pairs) + ", entries " +
         std::to_string(entries) + ", low-BQ entries " + std::to_string(low_baseq);
}

struct BamPileupReader::Impl {
  std::string path, ref_path;
  PileupOptions opt;
  htsFile* fp = nullptr;
  sam_hdr_t* hdr = nullptr;
  hts_idx_t* idx = nullptr;
  hts_itr_t* itr = nullptr;
  bam1_t* b = nullptr;
  std::unique_ptr<ReferenceFasta> ref;
  std::vector<ContigInfo> contigs;
  PileupStats stats;

  // ---- the current region
  bool active = false, eof = false;
  Region region;
  int tid = -1;
  std::int64_t win_beg = 0;
  std::uint64_t region_records = 0;
  std::int64_t last_start = -1;  // start of the last record (sortedness check)
  std::int64_t prev_start = -1;  // htslib iter->max_pos: start of the last pushed read

  // ---- reads: a stable pool (std::deque never moves elements: hash keys view their names)
  std::deque<ReadRec> pool;
  std::vector<ReadRec*> free_list;
  using EndRead = std::pair<std::int64_t, ReadRec*>;
  std::priority_queue<EndRead, std::vector<EndRead>, std::greater<EndRead>> buffer;  // active reads
  std::unordered_map<std::string_view, ReadRec*, NameHash> olap;  // htslib iter->overlaps, by name
  std::vector<ReadRec*> pending;  // reads not yet past the current window, by start
  std::deque<std::pair<std::int64_t, std::uint64_t>> capped_runs;  // (start, count), by start

  // ---- window scratch
  std::vector<int> cursor;
  std::int64_t rows_beg = 0, rows_end = 0;  // reference positions of the window's rows
  std::string window_ref;
  std::int64_t window_ref_beg = -1, window_ref_end = -1;

  ~Impl() { close(); }
  void close() {
    if (itr) sam_itr_destroy(itr);
    if (b) bam_destroy1(b);
    if (idx) hts_idx_destroy(idx);
    if (hdr) sam_hdr_destroy(hdr);
    if (fp) hts_close(fp);
    itr = nullptr;
    b = nullptr;
    idx = nullptr;
    hdr = nullptr;
    fp = nullptr;
  }

  ReadRec* alloc() {
    if (!free_list.empty()) {
      ReadRec* r = free_list.back();
      free_list.pop_back();
      return r;
    }
    pool.emplace_back();
    return &pool.back();
  }
  void maybe_recycle(ReadRec* r) {
    if (!r->in_buffer && !r->in_pending) {
      r->overrides.clear();
      free_list.push_back(r);
    }
  }

  void reset_region_state() {
    while (!buffer.empty()) buffer.pop();
    olap.clear();
    pending.clear();
    capped_runs.clear();
    free_list.clear();
    for (auto& r : pool) {
      r.in_buffer = r.in_pending = false;
      r.overrides.clear();
      free_list.push_back(&r);
    }
    if (itr) sam_itr_destroy(itr);
    itr = nullptr;
    active = eof = false;
    region_records = 0;
    last_start = prev_start = -1;
    window_ref_beg = window_ref_end = -1;
  }

  [[noreturn]] void record_error(const std::string& problem) const {
    throw input_error(path, static_cast<long long>(region_records),
                      problem + " in region " + region.to_string());
  }

  // htslib bam_plp64_next removes reads with end <= x when it emits position x.
  void evict_through(std::int64_t x) {
    while (!buffer.empty() && buffer.top().first <= x) {
      ReadRec* r = buffer.top().second;
      buffer.pop();
      if (opt.overlap_removal) olap.erase(std::string_view(r->name));  // overlap_remove: by name
      r->in_buffer = false;
      maybe_recycle(r);
    }
  }

  // htslib tweak_overlap_quality(a, b): a = earlier mate (in the hash), b = the read being pushed.
  // Returns true if the mates shared at least one aligned reference position.
  bool tweak(ReadRec& a, ReadRec& bb, std::int64_t split) {
    const std::uint32_t *a_cigar = a.cigar.data(), *a_max = a_cigar + a.cigar.size();
    const std::uint32_t *b_cigar = bb.cigar.data(), *b_max = b_cigar + bb.cigar.size();
    std::int64_t a_icig = 0, a_iseq = 0, b_icig = 0, b_iseq = 0;
    std::int64_t iref = bb.pos;
    std::int64_t a_iref = iref - a.pos;
    std::int64_t b_iref = iref - bb.pos;
    int a_ret = iref2iseq_set(&a_cigar, a_max, &a_icig, &a_iseq, &a_iref);
    if (a_ret < 0) return false;
    int b_ret = iref2iseq_set(&b_cigar, b_max, &b_icig, &b_iseq, &b_iref);
    if (b_ret < 0) return false;
    std::uint8_t amul, bmul;
    if (__ac_Wang_hash(__ac_X31_hash_string(a.name.c_str())) & 1) {
      amul = 1;
      bmul = 0;
    } else {
      amul = 0;
      bmul = 1;
    }
    const std::int64_t a_len = static_cast<std::int64_t>(a.seq.size());
    const std::int64_t b_len = static_cast<std::int64_t>(bb.seq.size());
    bool any = false;
    auto set_a = [&](std::int64_t i, int value) {
      const auto v = static_cast<std::uint8_t>(value);
      if (a.qual[i] != v && split > a.pos && has_deletion_before(a, i))
        a.overrides.push_back({i, split, a.qual[i]});
      a.qual[i] = v;
    };
    for (;;) {
      while (a_ret >= 0 && a_iref >= 0 && a_iref < iref - a.pos)
        a_ret = iref2iseq_next(&a_cigar, a_max, &a_icig, &a_iseq, &a_iref);
      if (a_ret < 0) break;
      if (iref < a_iref + a.pos) iref = a_iref + a.pos;
      while (b_ret >= 0 && b_iref >= 0 && b_iref < iref - bb.pos)
        b_ret = iref2iseq_next(&b_cigar, b_max, &b_icig, &b_iseq, &b_iref);
      if (b_ret < 0) break;
      if (iref < b_iref + bb.pos) iref = b_iref + bb.pos;
      iref++;
      if (a_iref + a.pos != b_iref + bb.pos) continue;  // only M/=/X positions of both
      // htslib stops at a_iseq > l_qseq; at == l_qseq (no SEQ) it would read past the qualities.
      if (a_iseq >= a_len || b_iseq >= b_len) break;
      any = true;
      const int qa = a.qual[a_iseq], qb = bb.qual[b_iseq];
      if (a.seq[a_iseq] == bb.seq[b_iseq]) {
        const int q = qa + qb > 200 ? 200 : qa + qb;
        set_a(a_iseq, amul * q);
        bb.qual[b_iseq] = static_cast<std::uint8_t>(bmul * q);
      } else if (qa > qb) {
        set_a(a_iseq, static_cast<int>(0.8 * qa));
        bb.qual[b_iseq] = 0;
      } else if (qa < qb) {
        bb.qual[b_iseq] = static_cast<std::uint8_t>(0.8 * qb);
        set_a(a_iseq, 0);
      } else {
        set_a(a_iseq, static_cast<int>(amul * 0.8 * qa));
        bb.qual[b_iseq] = static_cast<std::uint8_t>(bmul * 0.8 * qb);
      }
    }
    return any;
  }

  // htslib overlap_push for a kept read.
  void overlap_push(ReadRec& r, std::int64_t split) {
    if ((r.flag & BAM_FMUNMAP) || !(r.flag & BAM_FPROPER_PAIR)) return;
    if ((r.mtid >= 0 && r.tid != r.mtid) ||
        (std::llabs(r.isize) >= 2 * static_cast<long long>(r.seq.size()) && r.mpos >= r.end))
      return;
    const auto it = olap.find(std::string_view(r.name));
    if (it == olap.end()) {
      if (r.mpos >= r.pos || ((r.flag & BAM_FPAIRED) && r.mpos == -1))
        olap.emplace(std::string_view(r.name), &r);
    } else {
      ReadRec* a = it->second;
      olap.erase(it);
      if (tweak(*a, r, split)) ++stats.overlap_pairs;
    }
  }

  // One record of the region iterator; false at the end of the region.
  bool read_one() {
    const int ret = sam_itr_next(fp, itr, b);
    if (ret == -1) return false;
    if (ret < -1) {
      ++region_records;
      record_error("corrupt or truncated record (htslib error " + std::to_string(ret) + ")");
    }
    ++region_records;
    ++stats.records;
    const bam1_core_t& c = b->core;
    if (c.pos < last_start)
      record_error("records are not sorted by coordinate (position " + std::to_string(c.pos + 1) +
                   " after " + std::to_string(last_start + 1) + "); run 'samtools sort'");
    last_start = c.pos;
    // bam_plcmd.c mplp_func, in its order.
    if (c.tid < 0 || (c.flag & BAM_FUNMAP)) {
      ++stats.unmapped;
      return true;
    }
    if (opt.require_flags && !(opt.require_flags & c.flag)) {
      ++stats.filtered_flags;
      return true;
    }
    if (opt.exclude_flags & c.flag) {
      ++stats.filtered_flags;
      return true;
    }
    if (c.qual < opt.min_mapq) {
      ++stats.filtered_mapq;
      return true;
    }
    if (!opt.count_orphans && (c.flag & BAM_FPAIRED) && !(c.flag & BAM_FPROPER_PAIR)) {
      ++stats.filtered_orphan;
      return true;
    }
    // htslib bam_plp_push. Positions < prev_start have been emitted by now.
    if (prev_start >= 0) evict_through(prev_start - 1);
    if (opt.max_depth > 0 && prev_start == c.pos &&
        buffer.size() >= static_cast<std::size_t>(opt.max_depth)) {
      ++stats.capped;
      if (!capped_runs.empty() && capped_runs.back().first == c.pos)
        ++capped_runs.back().second;
      else
        capped_runs.emplace_back(c.pos, 1);
      if (opt.overlap_removal) olap.erase(std::string_view(bam_get_qname(b)));
      return true;
    }
    const std::int64_t iter_pos = std::max<std::int64_t>(prev_start, 0);
    prev_start = c.pos;
    const std::uint32_t* cig = bam_get_cigar(b);
    const std::int64_t end = c.pos + bam_cigar2rlen(static_cast<int>(c.n_cigar), cig);
    if (!(end > iter_pos)) return true;  // zero-span read at an emitted position: never piled up

    ReadRec& r = *alloc();
    r.name.assign(bam_get_qname(b));
    r.pos = c.pos;
    r.end = end;
    r.flag = c.flag;
    r.mapq = c.qual;
    r.tid = c.tid;
    r.mtid = c.mtid;
    r.mpos = c.mpos;
    r.isize = c.isize;
    r.cigar.assign(cig, cig + c.n_cigar);
    const int lq = c.l_qseq;
    r.seq.resize(lq);
    r.qual.resize(lq);
    const std::uint8_t* s = bam_get_seq(b);
    const std::uint8_t* q = bam_get_qual(b);
    // Unpack two 4-bit codes per byte (bam_seqi order: high nibble first).
    std::uint8_t* dst = r.seq.data();
    for (int i = 0; i < lq / 2; ++i) {
      dst[2 * i] = static_cast<std::uint8_t>(s[i] >> 4);
      dst[2 * i + 1] = static_cast<std::uint8_t>(s[i] & 0xF);
    }
    if (lq & 1) dst[lq - 1] = static_cast<std::uint8_t>(s[lq / 2] >> 4);
    r.has_eq = lq > 0 && std::memchr(dst, 0, static_cast<std::size_t>(lq)) != nullptr;
    std::copy(q, q + lq, r.qual.begin());
    r.overrides.clear();
    ++stats.used;
    if (opt.overlap_removal) overlap_push(r, iter_pos);
    r.in_buffer = true;
    buffer.emplace(end, &r);
    r.in_pending = true;
    pending.push_back(&r);
    return true;
  }

  // Reference base at u for '=' read bases; the window's reference is fetched on first use.
  char ref_base(std::int64_t u) {
    if (window_ref_beg < 0) {
      const std::int64_t len = contigs[tid].length;
      window_ref_beg = std::max<std::int64_t>(rows_beg, 0);
      window_ref_end = std::min<std::int64_t>(rows_end, len);
      window_ref = window_ref_end > window_ref_beg
                       ? ref->fetch(Region{region.contig, window_ref_beg, window_ref_end, {}, -1})
                       : std::string();
    }
    if (u < window_ref_beg || u >= window_ref_end) return 'N';
    return window_ref[static_cast<std::size_t>(u - window_ref_beg)];
  }

  // htslib resolve_cigar2 over rows [r0, r1): emit(row, packed entry) for every position of r.
  template <class Emit>
  void walk(const ReadRec& r, std::int64_t r0, std::int64_t r1, Emit&& emit) {
    const int mq = r.mapq;
    const bool rev = (r.flag & BAM_FREVERSE) != 0;
    const std::int64_t lq = static_cast<std::int64_t>(r.seq.size());
    std::int64_t ri = r.pos, qi = 0;
    const std::size_t n = r.cigar.size();
    for (std::size_t k = 0; k < n && ri < r1; ++k) {
      const int op = cig_op(r.cigar[k]);
      const std::int64_t len = cig_len(r.cigar[k]);
      if (is_match(op)) {
        const std::int64_t lo = std::max(ri, r0), hi = std::min(ri + len, r1);
        const bool ins = hi == ri + len && insertion_after(r.cigar, k);
        if (!r.has_eq && lo < hi && qi + (hi - ri) <= lq) {
          // Fast path: every base present, none to resolve against the reference.
          const std::uint32_t bits = pe::pack(0, rev, false, 0, mq);
          const std::uint8_t* sq = r.seq.data() + qi;
          const std::uint8_t* ql = r.qual.data() + qi;
          auto entry = [&](std::int64_t u) {
            const std::int64_t j = u - ri;
            return bits | static_cast<std::uint32_t>(kNibbleChannel[sq[j]]) |
                   (static_cast<std::uint32_t>(ql[j]) << 8);
          };
          for (std::int64_t u = lo; u < hi - 1; ++u) emit(static_cast<int>(u - r0), entry(u));
          emit(static_cast<int>(hi - 1 - r0),
               entry(hi - 1) | (ins ? pe::pack(0, false, true, 0, 0) : 0u));
          ri += len;
          qi += len;
          continue;
        }
        for (std::int64_t u = lo; u < hi; ++u) {
          const std::int64_t qp = qi + (u - ri);
          int ch = pe::N, bq = 0;
          if (qp < lq) {
            const int nib = r.seq[qp];
            ch = nib == 0 ? (ref ? channel_of_letter(ref_base(u)) : pe::N) : kNibbleChannel[nib];
            bq = r.qual[qp];
          }
          emit(static_cast<int>(u - r0), pe::pack(ch, rev, ins && u == hi - 1, bq, mq));
        }
        ri += len;
        qi += len;
      } else if (op == BAM_CDEL || op == BAM_CREF_SKIP) {
        const std::int64_t lo = std::max(ri, r0), hi = std::min(ri + len, r1);
        const bool ins = hi == ri + len && insertion_after(r.cigar, k);
        const int ch = op == BAM_CDEL ? pe::DEL : pe::SKIP;
        int bq_now = qi < lq ? r.qual[qi] : 0;
        for (std::int64_t u = lo; u < hi; ++u) {
          int bq = bq_now;
          for (const auto& o : r.overrides)
            if (o.qpos == qi && u < o.split) bq = o.old_q;
          emit(static_cast<int>(u - r0), pe::pack(ch, rev, ins && u == hi - 1, bq, mq));
        }
        ri += len;
      } else if (op == BAM_CINS || op == BAM_CSOFT_CLIP) {
        qi += len;
      }
    }
  }

  std::int64_t window_end() const {
    return opt.window == 0 ? region.end : std::min<std::int64_t>(win_beg + opt.window, region.end);
  }

  void flush(PileupBatch& out) {
    const std::int64_t win_end = window_end();
    const std::int64_t r0 = win_beg - opt.halo, r1 = win_end + opt.halo;
    const int rows = static_cast<int>(r1 - r0);
    out.contig = region.contig;
    out.tid = tid;
    out.beg = win_beg;
    out.end = win_end;
    out.halo = opt.halo;
    out.n_reads = 0;
    const int min_bq = opt.min_baseq;
    rows_beg = r0;
    rows_end = r1;
    window_ref_beg = window_ref_end = -1;  // fetched by ref_base() if a '=' base needs it
    // Pass 1: entries per row. Without a base-quality filter the count is the coverage of the
    // M/=/X/D/N operations (a difference array); otherwise every entry is examined.
    auto& counts = out.offsets;
    counts.assign(static_cast<std::size_t>(rows) + 1, 0);
    std::int64_t total = 0;
    for (const ReadRec* rp : pending) {
      const ReadRec& r = *rp;
      if (r.pos >= r1) break;
      if (r.end <= r0) continue;
      ++out.n_reads;
      if (min_bq == 0) {
        std::int64_t ri = r.pos;
        for (std::uint32_t c : r.cigar) {
          const int op = cig_op(c);
          if (!occupies_ref(op)) continue;
          const std::int64_t lo = std::max(ri, r0), hi = std::min(ri + cig_len(c), r1);
          if (lo < hi) {
            counts[lo - r0] += 1;
            counts[hi - r0] -= 1;
            total += hi - lo;
          }
          ri += cig_len(c);
        }
      } else {
        walk(r, r0, r1, [&](int row, std::uint32_t e) {
          if (pe::base_quality(e) >= min_bq) {
            ++counts[row + 1];
            ++total;
          } else if (row >= opt.halo && row < rows - opt.halo) {
            ++stats.low_baseq;
          }
        });
      }
    }
    if (total > INT_MAX)
      throw Error(ExitCode::usage, "DiffBio: pileup window " + region.contig + ":" +
                                       std::to_string(win_beg + 1) + "-" + std::to_string(win_end) +
                                       " has " + std::to_string(total) +
                                       " entries (more than 2^31 - 1); use a smaller window");
    // Offsets: exclusive scan (difference array: running sum first).
    if (min_bq == 0) {
      int run = 0, acc = 0;
      for (int i = 0; i < rows; ++i) {
        run += counts[i];
        counts[i] = acc;
        acc += run;
      }
      counts[rows] = acc;
    } else {
      for (int i = 0; i < rows; ++i) counts[i + 1] += counts[i];
    }
    out.entries.resize(static_cast<std::size_t>(total));
    cursor.assign(counts.begin(), counts.end() - 1);
    std::uint32_t* dst = out.entries.data();
    int* cur = cursor.data();
    for (const ReadRec* rp : pending) {
      const ReadRec& r = *rp;
      if (r.pos >= r1) break;
      if (r.end <= r0) continue;
      if (min_bq == 0) {
        walk(r, r0, r1, [&](int row, std::uint32_t e) { dst[cur[row]++] = e; });
      } else {
        walk(r, r0, r1, [&](int row, std::uint32_t e) {
          if (pe::base_quality(e) >= min_bq) dst[cur[row]++] = e;
        });
      }
    }
    stats.entries += static_cast<std::uint64_t>(counts[rows - opt.halo] - counts[opt.halo]);
    // Cap reports: every capped read starting before this window's end not reported yet (the
    // last window of the region takes the rest).
    out.capped = 0;
    const bool last = win_end >= region.end;
    while (!capped_runs.empty() && (last || capped_runs.front().first < win_end)) {
      out.capped += capped_runs.front().second;
      capped_runs.pop_front();
    }
    // Next window: drop reads that end before its first row.
    win_beg = win_end;
    const std::int64_t next_r0 = win_beg - opt.halo;
    std::size_t keep = 0;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      ReadRec* r = pending[i];
      if (!last && r->end > next_r0) {
        pending[keep++] = r;
        continue;
      }
      r->in_pending = false;
      maybe_recycle(r);
    }
    pending.resize(keep);
    if (last) reset_region_state();
  }
};

BamPileupReader::BamPileupReader(const std::string& bam_path, const std::string& reference_path,
                                 const PileupOptions& options)
    : impl_(new Impl) {
  Impl& m = *impl_;
  m.path = bam_path;
  m.ref_path = reference_path;
  m.opt = options;
  auto usage = [](const std::string& what) {
    return Error(ExitCode::usage, "DiffBio: pileup option " + what);
  };
  if (options.window < 0) throw usage("window must be >= 0 (0: whole region)");
  if (options.halo < 0) throw usage("halo must be >= 0");
  if (static_cast<long long>(options.window) + 2LL * options.halo >= INT_MAX)
    throw usage("window + 2 halo must be < 2^31 - 1");
  if (options.max_depth < 0) throw usage("max_depth must be >= 0 (0: no cap)");
  if (options.min_mapq < 0 || options.min_mapq > 255) throw usage("min_mapq must be in [0, 255]");
  if (options.min_baseq < 0 || options.min_baseq > 255)
    throw usage("min_baseq must be in [0, 255]");
  if (options.threads < 0) throw usage("threads must be >= 0");

  std::error_code ec;
  if (std::filesystem::is_directory(bam_path, ec))
    throw input_error(bam_path, -1, "cannot open file: is a directory");
  {
    errno = 0;
    std::ifstream probe(bam_path, std::ios::binary);
    if (!probe.is_open()) throw input_error(bam_path, -1, open_problem("cannot open file"));
  }
  if (!reference_path.empty()) m.ref = std::make_unique<ReferenceFasta>(reference_path);

  QuietHtslib quiet;
  errno = 0;
  m.fp = hts_open(bam_path.c_str(), "r");
  if (m.fp == nullptr) throw input_error(bam_path, -1, open_problem("cannot open file"));
  const htsFormat* fmt = hts_get_format(m.fp);
  const bool is_cram = fmt->format == cram;
  if (fmt->format != bam && !is_cram) {
    char* d = hts_format_description(fmt);
    const std::string desc = d ? d : "unknown";
    std::free(d);
    throw input_error(bam_path, -1, "not a BAM or CRAM file (detected: " + desc + ")");
  }
  if (is_cram) {
    if (reference_path.empty())
      throw input_error(bam_path, -1,
                        "CRAM input needs the reference FASTA it was written against");
    if (hts_set_fai_filename(m.fp, reference_path.c_str()) != 0)
      throw input_error(bam_path, -1,
                        "cannot use reference " + reference_path + " for CRAM decoding");
    hts_set_opt(m.fp, CRAM_OPT_REQUIRED_FIELDS,
                SAM_QNAME | SAM_FLAG | SAM_RNAME | SAM_POS | SAM_MAPQ | SAM_CIGAR | SAM_RNEXT |
                    SAM_PNEXT | SAM_TLEN | SAM_SEQ | SAM_QUAL);
  }
  if (hts_check_EOF(m.fp) == 0)
    throw input_error(bam_path, -1,
                      "truncated file: no end-of-file marker (incomplete copy or download?)");
  m.hdr = sam_hdr_read(m.fp);
  if (m.hdr == nullptr) throw input_error(bam_path, -1, "cannot read the header (corrupt file?)");
  m.idx = sam_index_load(m.fp, bam_path.c_str());
  if (m.idx == nullptr)
    throw input_error(bam_path, -1,
                      std::string("no index (") + (is_cram ? ".crai" : ".bai or .csi") +
                          ") next to the file; run 'samtools index " + bam_path + "'");
  const int n = sam_hdr_nref(m.hdr);
  for (int i = 0; i < n; ++i)
    m.contigs.push_back(ContigInfo{sam_hdr_tid2name(m.hdr, i),
                                   static_cast<std::int64_t>(sam_hdr_tid2len(m.hdr, i))});
  if (options.threads > 0) hts_set_threads(m.fp, options.threads);
  m.b = bam_init1();
  if (m.b == nullptr) throw Error(ExitCode::internal, "DiffBio: out of memory (bam_init1)");
}

BamPileupReader::~BamPileupReader() = default;
BamPileupReader::BamPileupReader(BamPileupReader&&) noexcept = default;
BamPileupReader& BamPileupReader::operator=(BamPileupReader&&) noexcept = default;

const std::string& BamPileupReader::path() const noexcept { return impl_->path; }
const PileupOptions& BamPileupReader::options() const noexcept { return impl_->opt; }
const std::vector<ContigInfo>& BamPileupReader::contigs() const noexcept { return impl_->contigs; }
const PileupStats& BamPileupReader::stats() const noexcept { return impl_->stats; }

void BamPileupReader::set_region(const std::string& text) {
  set_region(parse_region(text, impl_->path));
}

void BamPileupReader::set_region(const Region& r) {
  Impl& m = *impl_;
  m.reset_region_state();
  // A region from a BED file is reported against the BED line; otherwise against the file
  // that lacks the contig.
  const bool from_bed = !r.source.empty();
  const Region rr = resolve_region(r, m.contigs, m.path, -1,
                                   from_bed ? "the BAM header of " + m.path : "the BAM header");
  if (m.ref) {
    const std::int64_t len = m.ref->length(rr.contig);
    const std::string& src = from_bed ? r.source : m.ref->path();
    const long long rec = from_bed ? r.record : -1;
    if (len < 0)
      throw input_error(src, rec,
                        "contig '" + rr.contig + "' not in reference" +
                            (from_bed ? " " + m.ref->path() : std::string()));
    const std::int64_t hlen = m.contigs[sam_hdr_name2tid(m.hdr, rr.contig.c_str())].length;
    if (len != hlen)
      throw input_error(src, rec,
                        "contig '" + rr.contig + "' has length " + std::to_string(len) + " in " +
                            m.ref->path() + " but " + std::to_string(hlen) + " in " + m.path);
  }
  if (m.opt.window == 0 && rr.end - rr.beg + 2LL * m.opt.halo >= INT_MAX)
    throw Error(ExitCode::usage, "DiffBio: pileup region " + rr.to_string() +
                                     " is too long for one window (window = 0); set a window size");
  m.tid = sam_hdr_name2tid(m.hdr, rr.contig.c_str());
  m.region = rr;
  const std::int64_t len = m.contigs[m.tid].length;
  const std::int64_t qbeg = std::max<std::int64_t>(rr.beg - m.opt.halo, 0);
  const std::int64_t qend = std::min<std::int64_t>(rr.end + m.opt.halo, len);
  QuietHtslib quiet;
  m.itr = sam_itr_queryi(m.idx, m.tid, qbeg, qend);
  if (m.itr == nullptr)
    throw input_error(m.path, -1, "cannot query region " + rr.to_string() + " through the index");
  m.win_beg = rr.beg;
  m.active = true;
}

bool BamPileupReader::next(PileupBatch& batch) {
  Impl& m = *impl_;
  if (!m.active) return false;
  const std::int64_t win_end = m.window_end();
  QuietHtslib quiet;
  // Reads that can still change this window's rows: every read up to and including the first
  // pushed read starting at or after the window's last row (its mate-overlap tweak can reach back
  // to the previous read's start).
  while (!m.eof && m.prev_start < win_end + m.opt.halo) {
    if (!m.read_one()) m.eof = true;
  }
  m.flush(batch);
  return true;
}

PileupBatch read_pileup(const std::string& bam_path, const std::string& reference_path,
                        const Region& region, PileupOptions options, PileupStats* stats) {
  options.window = 0;
  BamPileupReader reader(bam_path, reference_path, options);
  reader.set_region(region);
  PileupBatch batch;
  reader.next(batch);
  if (stats) *stats = reader.stats();
  return batch;
}

}  // namespace diffbio::io
