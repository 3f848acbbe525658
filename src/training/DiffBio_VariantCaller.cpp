// SPDX-License-Identifier: BSD-3-Clause
#include <htslib/hts.h>
#include <htslib/hts_log.h>
#include <htslib/sam.h>

#include <DiffBio_CandidateFeatures.hpp>
#include <DiffBio_Config.hpp>
#include <DiffBio_Loss.hpp>
#include <DiffBio_Reference.hpp>
#include <DiffBio_VariantCaller.hpp>
#include <DiffBio_VariantClassifier.hpp>
#ifdef DIFFBIO_ENABLE_HDF5
#include <DiffBio_HDF5.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <tuple>

namespace diffbio {

namespace {

// ---------------------------------------------------------------------------------------------
// Allele normalisation (bcftools norm's rules for one biallelic record): trim the common suffix,
// then the common prefix (keeping one anchor base), then shift an indel left while the base
// before it equals its last base.

struct Allele {
  std::int64_t pos;
  std::string ref, alt;
  bool operator<(const Allele& o) const {
    return std::tie(pos, ref, alt) < std::tie(o.pos, o.ref, o.alt);
  }
};

Allele trim(std::int64_t pos, std::string ref, std::string alt) {
  while (ref.size() > 1 && alt.size() > 1 && ref.back() == alt.back()) {
    ref.pop_back();
    alt.pop_back();
  }
  while (ref.size() > 1 && alt.size() > 1 && ref.front() == alt.front()) {
    ref.erase(0, 1);
    alt.erase(0, 1);
    ++pos;
  }
  return {pos, ref, alt};
}

// Left-aligns a deletion of `len` bases after anchor `a` (0-based, in ctx coordinates offset by
// ctx_beg) or an insertion `ins` after `a`; returns the VCF allele.
Allele left_align_deletion(const std::string& ctx, std::int64_t ctx_beg, std::int64_t a, int len) {
  while (a - 1 >= ctx_beg && a + len < ctx_beg + static_cast<std::int64_t>(ctx.size()) &&
         ctx[a - ctx_beg] == ctx[a + len - ctx_beg])
    --a;
  return {a, ctx.substr(static_cast<std::size_t>(a - ctx_beg), static_cast<std::size_t>(len) + 1),
          ctx.substr(static_cast<std::size_t>(a - ctx_beg), 1)};
}
Allele left_align_insertion(const std::string& ctx, std::int64_t ctx_beg, std::int64_t a,
                            std::string ins) {
  while (a - 1 >= ctx_beg && ctx[a - ctx_beg] == ins.back()) {
    ins.pop_back();
    ins.insert(ins.begin(), ctx[a - ctx_beg]);
    --a;
  }
  const std::string r = ctx.substr(static_cast<std::size_t>(a - ctx_beg), 1);
  return {a, r, r + ins};
}

class QuietHtslib {
 public:
  QuietHtslib() : saved_(hts_get_log_level()) { hts_set_log_level(HTS_LOG_OFF); }
  ~QuietHtslib() { hts_set_log_level(saved_); }
  QuietHtslib(const QuietHtslib&) = delete;
  QuietHtslib& operator=(const QuietHtslib&) = delete;

 private:
  enum htsLogLevel saved_;
};

// Reads per normalised indel allele anchored in [beg, end) (CIGAR walk over the region's reads,
// with the reader's flag and MAPQ filters). The files were validated by read_pileup already.
std::map<Allele, int> indel_alleles(const std::string& bam_path, const std::string& ref_path,
                                    const io::PileupBatch& batch, const io::PileupOptions& opt,
                                    const std::string& ctx, std::int64_t ctx_beg) {
  QuietHtslib quiet;
  std::map<Allele, int> counts;
  samFile* fp = sam_open(bam_path.c_str(), "r");
  if (!fp) throw input_error(bam_path, -1, "cannot open file");
  std::unique_ptr<samFile, int (*)(samFile*)> fp_guard(fp, hts_close);
  if (!ref_path.empty()) hts_set_fai_filename(fp, ref_path.c_str());
  sam_hdr_t* hdr = sam_hdr_read(fp);
  if (!hdr) throw input_error(bam_path, -1, "cannot read the header");
  std::unique_ptr<sam_hdr_t, void (*)(sam_hdr_t*)> hdr_guard(hdr, sam_hdr_destroy);
  hts_idx_t* idx = sam_index_load(fp, bam_path.c_str());
  if (!idx) throw input_error(bam_path, -1, "no index");
  std::unique_ptr<hts_idx_t, void (*)(hts_idx_t*)> idx_guard(idx, hts_idx_destroy);
  const int tid = sam_hdr_name2tid(hdr, batch.contig.c_str());
  if (tid < 0) throw input_error(bam_path, -1, "contig '" + batch.contig + "' not in the BAM header");
  hts_itr_t* itr = sam_itr_queryi(idx, tid, batch.beg > 0 ? batch.beg - 1 : 0, batch.end + 1);
  if (!itr) throw input_error(bam_path, -1, "cannot query region");
  std::unique_ptr<hts_itr_t, void (*)(hts_itr_t*)> itr_guard(itr, hts_itr_destroy);
  bam1_t* b = bam_init1();
  std::unique_ptr<bam1_t, void (*)(bam1_t*)> b_guard(b, bam_destroy1);
  const std::int64_t ctx_end = ctx_beg + static_cast<std::int64_t>(ctx.size());
  int r;
  while ((r = sam_itr_next(fp, itr, b)) >= 0) {
    const std::uint32_t flag = b->core.flag;
    if ((flag & io::bam_flag::unmapped) || b->core.tid < 0) continue;
    if (flag & opt.exclude_flags) continue;
    if ((flag & opt.require_flags) != opt.require_flags) continue;
    if (b->core.qual < opt.min_mapq) continue;
    if (!opt.count_orphans && (flag & io::bam_flag::paired) && !(flag & io::bam_flag::proper_pair))
      continue;
    const std::uint32_t* cig = bam_get_cigar(b);
    const std::uint8_t* seq = bam_get_seq(b);
    std::int64_t rpos = b->core.pos;
    int qpos = 0;
    bool aligned_before = false;
    for (std::uint32_t k = 0; k < b->core.n_cigar; ++k) {
      const int op = bam_cigar_op(cig[k]);
      const int len = static_cast<int>(bam_cigar_oplen(cig[k]));
      switch (op) {
        case BAM_CMATCH: case BAM_CEQUAL: case BAM_CDIFF:
          rpos += len; qpos += len; aligned_before = true; break;
        case BAM_CINS:
          if (aligned_before && rpos - 1 >= ctx_beg && rpos < ctx_end) {
            std::string ins(static_cast<std::size_t>(len), 'N');
            for (int i = 0; i < len; ++i) ins[i] = seq_nt16_str[bam_seqi(seq, qpos + i)];
            const Allele al = left_align_insertion(ctx, ctx_beg, rpos - 1, ins);
            if (al.pos >= batch.beg && al.pos < batch.end) ++counts[al];
          }
          qpos += len; break;
        case BAM_CDEL:
          if (aligned_before && rpos - 1 >= ctx_beg && rpos + len < ctx_end) {
            const Allele al = left_align_deletion(ctx, ctx_beg, rpos - 1, len);
            if (al.pos >= batch.beg && al.pos < batch.end) ++counts[al];
          }
          rpos += len; break;
        case BAM_CREF_SKIP: rpos += len; break;
        case BAM_CSOFT_CLIP: qpos += len; break;
        default: break;
      }
    }
  }
  if (r < -1) throw input_error(bam_path, -1, "corrupt or truncated record");
  return counts;
}

bool in_regions(const std::string& contig, std::int64_t pos, const std::vector<io::Region>& regions) {
  if (regions.empty()) return true;
  for (const auto& g : regions)
    if (g.contig == contig && pos >= g.beg && (g.end < 0 || pos < g.end)) return true;
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
namespace {

// log P(reads | 0/0, 0/1, 1/1) of the SNP (ref base ri, alt base ai) at pileup row `row`: the
// classic per-read model (samtools/bcftools): a read is wrong with probability
// e = max(10^(−BQ/10), 10^(−MQ/10)) (clipped to [1e−5, 3/4]) and then shows one of the three other
// bases uniformly; a heterozygote draws either allele with probability 1/2. Reads with a third
// base count through their error term; N and deletions carry no base evidence.
std::array<double, 3> snp_genotype_log_likelihoods(const io::PileupBatch& B, int row, int ri, int ai) {
  namespace pe = io::pileup_entry;
  std::array<double, 3> ll{{0.0, 0.0, 0.0}};
  for (int e = B.offsets[row]; e < B.offsets[row + 1]; ++e) {
    const std::uint32_t x = B.entries[e];
    const int ch = pe::channel(x);
    if (ch > 3) continue;
    const double eb = std::pow(10.0, -0.1 * pe::base_quality(x));
    const double em = std::pow(10.0, -0.1 * pe::mapping_quality(x));
    const double err = std::min(0.75, std::max(1e-5, std::max(eb, em)));
    const double p_ref = ch == ri ? 1.0 - err : err / 3.0;
    const double p_alt = ch == ai ? 1.0 - err : err / 3.0;
    ll[0] += std::log(p_ref);
    ll[1] += std::log(0.5 * (p_ref + p_alt));
    ll[2] += std::log(p_alt);
  }
  return ll;
}

// The same for an indel allele seen in k of n reads: a read shows the allele it carries except
// with a fixed indel error rate (reads carry no per-indel quality here).
std::array<double, 3> indel_genotype_log_likelihoods(int n, int k) {
  constexpr double err = 0.01;
  k = std::min(k, n);
  return {{k * std::log(err) + (n - k) * std::log1p(-err), n * std::log(0.5),
           k * std::log1p(-err) + (n - k) * std::log(err)}};
}

}  // namespace

CandidateRegion find_candidates(const std::string& bam_path, const std::string& reference_path,
                                const io::Region& region, const io::PileupOptions& options,
                                const CandidateConfig& cfg, int halo) {
  CandidateRegion out;
  io::PileupOptions opt = options;
  opt.window = 0;
  opt.halo = std::max(opt.halo, halo);
  out.batch = io::read_pileup(bam_path, reference_path, region, opt);
  const auto& B = out.batch;
  out.region.contig = B.contig;
  out.region.beg = B.beg;
  out.region.end = B.end;
  const io::ReferenceFasta ref(reference_path);
  const std::int64_t clen = ref.length(B.contig);
  if (clen < 0) throw input_error(reference_path, -1, "contig '" + B.contig + "' not in reference");
  // Rows' reference bases (N off the contig) and a wider context for left-alignment.
  const std::int64_t r0 = B.beg - B.halo, r1 = B.end + B.halo;
  out.reference.assign(static_cast<std::size_t>(r1 - r0), 'N');
  {
    io::Region q{B.contig, std::max<std::int64_t>(0, r0), std::min(clen, r1)};
    const std::string s = ref.fetch(q);
    for (std::size_t i = 0; i < s.size(); ++i)
      out.reference[static_cast<std::size_t>(q.beg - r0) + i] = s[i];
  }
  const std::int64_t ctx_beg = std::max<std::int64_t>(0, B.beg - 2000);
  const std::string ctx = ref.fetch({B.contig, ctx_beg, std::min(clen, B.end + 2000)});
  const auto indels = indel_alleles(bam_path, reference_path, B, opt, ctx, ctx_beg);
  std::map<std::int64_t, std::pair<Allele, int>> best_indel;
  for (const auto& [al, n] : indels) {
    auto it = best_indel.find(al.pos);
    if (it == best_indel.end() || n > it->second.second) best_indel[al.pos] = {al, n};
  }

  namespace pe = io::pileup_entry;
  const char* bases = "ACGT";
  for (int i = 0; i < B.positions(); ++i) {
    const int row = i + B.halo;
    const std::int64_t pos = B.beg + i;
    int cnt[7] = {0, 0, 0, 0, 0, 0, 0};
    for (int e = B.offsets[row]; e < B.offsets[row + 1]; ++e) ++cnt[pe::channel(B.entries[e])];
    const int depth = cnt[0] + cnt[1] + cnt[2] + cnt[3] + cnt[4] + cnt[5];
    const char rb = out.reference[static_cast<std::size_t>(row)];
    const int ri = rb == 'A' ? 0 : rb == 'C' ? 1 : rb == 'G' ? 2 : rb == 'T' ? 3 : -1;
    Candidate c;
    c.pos = pos;
    c.ref_base = rb;
    c.depth = depth;
    c.ref_count = ri >= 0 ? cnt[ri] : 0;
    auto enough = [&](int n) {
      return depth > 0 && ((n >= cfg.min_alt_count && n >= cfg.min_alt_fraction * depth) ||
                           (n >= 1 && n >= cfg.min_single_fraction * depth));
    };
    bool keep = false;
    int best = -1;  // most frequent non-reference base
    if (ri >= 0) {
      for (int b = 0; b < 4; ++b)
        if (b != ri && (best < 0 || cnt[b] > cnt[best])) best = b;
      c.snp_alt = bases[best];
      c.snp_alt_count = cnt[best];
      keep = enough(cnt[best]);
    }
    auto it = best_indel.find(pos);
    if (it != best_indel.end()) {
      c.indel_ref = it->second.first.ref;
      c.indel_alt = it->second.first.alt;
      c.indel_count = it->second.second;
      keep = keep || enough(c.indel_count);
      c.indel_gl = indel_genotype_log_likelihoods(depth, c.indel_count);
    }
    if (!keep) continue;
    if (ri >= 0) c.snp_gl = snp_genotype_log_likelihoods(B, row, ri, best);
    out.candidates.push_back(c);
  }
  return out;
}

int label_candidates(CandidateRegion& region, const std::vector<io::VcfVariant>& truth) {
  std::map<std::int64_t, int> label_at;
  std::set<std::int64_t> truth_pos;
  for (const auto& v : truth) {
    if (v.contig != region.region.contig || v.pos < region.region.beg || v.pos >= region.region.end)
      continue;
    const Allele a = trim(v.pos, v.ref, v.alt);
    const bool indel = a.ref.size() != a.alt.size();
    if (!indel && a.ref.size() != 1) continue;  // MNPs are not modelled
    const bool hom = v.dosage == 2;
    const int lab = indel ? (hom ? gt_hom_indel : gt_het_indel) : (hom ? gt_hom_snp : gt_het_snp);
    auto it = label_at.find(a.pos);
    // An indel wins over a SNP at the same anchor (one row per position).
    if (it == label_at.end() || (lab >= gt_het_indel && it->second < gt_het_indel))
      label_at[a.pos] = lab;
    truth_pos.insert(a.pos);
  }
  int missed = 0;
  std::set<std::int64_t> seen;
  for (auto& c : region.candidates) {
    auto it = label_at.find(c.pos);
    c.label = it == label_at.end() ? gt_ref : it->second;
    seen.insert(c.pos);
  }
  for (auto p : truth_pos)
    if (!seen.count(p)) ++missed;
  return missed;
}

CallMetrics& CallMetrics::operator+=(const CallMetrics& o) {
  for (auto [a, b] : {std::make_pair(&snp, &o.snp), std::make_pair(&indel, &o.indel),
                      std::make_pair(&all, &o.all)}) {
    a->tp += b->tp;
    a->fp += b->fp;
    a->fn += b->fn;
  }
  genotype_match += o.genotype_match;
  return *this;
}

std::string CallMetrics::summary() const {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "SNP P=%.4f R=%.4f F1=%.4f (TP %ld FP %ld FN %ld); indel P=%.4f R=%.4f F1=%.4f "
                "(TP %ld FP %ld FN %ld); GT concordance %.4f",
                snp.precision(), snp.recall(), snp.f1(), snp.tp, snp.fp, snp.fn, indel.precision(),
                indel.recall(), indel.f1(), indel.tp, indel.fp, indel.fn, genotype_concordance());
  return buf;
}

CallMetrics evaluate_calls(const std::vector<io::VcfVariant>& calls,
                           const std::vector<io::VcfVariant>& truth,
                           const std::vector<io::Region>& regions) {
  using Key = std::tuple<std::string, std::int64_t, std::string, std::string>;
  std::map<Key, int> t, c;
  auto key = [](const io::VcfVariant& v) {
    const Allele a = trim(v.pos, v.ref, v.alt);
    return Key{v.contig, a.pos, a.ref, a.alt};
  };
  for (const auto& v : truth)
    if (in_regions(v.contig, v.pos, regions)) t[key(v)] = v.dosage;
  for (const auto& v : calls)
    if (v.dosage != 0 && in_regions(v.contig, v.pos, regions)) c[key(v)] = v.dosage;
  CallMetrics m;
  auto type_of = [&](const Key& k) -> TypeMetrics& {
    return std::get<2>(k).size() == std::get<3>(k).size() ? m.snp : m.indel;
  };
  for (const auto& [k, d] : c) {
    auto it = t.find(k);
    if (it != t.end()) {
      ++type_of(k).tp;
      ++m.all.tp;
      if (it->second == d) ++m.genotype_match;
    } else {
      ++type_of(k).fp;
      ++m.all.fp;
    }
  }
  for (const auto& [k, d] : t)
    if (!c.count(k)) {
      ++type_of(k).fn;
      ++m.all.fn;
    }
  return m;
}

std::vector<io::VcfVariant> as_variants(const std::vector<io::VcfCall>& calls) {
  std::vector<io::VcfVariant> v;
  v.reserve(calls.size());
  for (const auto& c : calls) v.push_back({c.contig, c.pos, c.ref, c.alt, c.dosage, c.qual});
  return v;
}

std::vector<double> CallerModel::block(const std::string& name) const {
  for (std::size_t i = 0; i < block_names.size(); ++i)
    if (block_names[i] == name)
      return std::vector<double>(parameters.begin() + static_cast<std::ptrdiff_t>(block_offsets[i]),
                                 parameters.begin() +
                                     static_cast<std::ptrdiff_t>(block_offsets[i] + block_sizes[i]));
  throw Error(ExitCode::internal, "caller model has no parameter block '" + name + "'");
}
// ---------------------------------------------------------------------------------------------
// The joint model: pileup → candidate window features → classifier.

namespace {

using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;
using Scalar = double;
using Pileup = DifferentiablePileup<Scalar, Exec>;
using Classifier = VariantClassifier<Scalar, Exec>;
using Matrix = Kokkos::View<Scalar**, Kokkos::LayoutRight, Mem>;

using Features = CandidateFeatures<Scalar, Exec>;
// Host columns (hard-pileup constants): indel-allele fraction, "an indel allele was seen" (from
// CIGARs), then for SNP and indel the flat-prior genotype posteriors and the clipped LLR.
constexpr int n_extra = 10;

// Flat-prior posteriors of the three genotypes and the scaled, clipped evidence for a variant
// max(LL_0/1, LL_1/1) − LL_0/0, from natural-log genotype likelihoods.
void genotype_likelihood_columns(const std::array<double, 3>& ll, double* out) {
  const double mx = std::max({ll[0], ll[1], ll[2]});
  double sum = 0;
  for (int g = 0; g < 3; ++g) sum += std::exp(ll[g] - mx);
  for (int g = 0; g < 3; ++g) out[g] = std::exp(ll[g] - mx) / sum;
  out[3] = std::min(3.0, std::max(-3.0, (std::max(ll[1], ll[2]) - ll[0]) / 20.0));
}

CandidateFeaturesConfig features_config(int window) {
  CandidateFeaturesConfig c;
  c.half_window = window;
  return c;
}
int n_features_for(int window) { return Features(features_config(window)).n_features() + n_extra; }

Activation activation_of(const std::string& a) {
  if (a == "tanh") return Activation::tanh;
  if (a == "relu") return Activation::relu;
  if (a == "softplus") return Activation::softplus;
  throw Error(ExitCode::usage, "activation must be tanh, relu or softplus, got '" + a + "'");
}

VariantClassifierConfig classifier_config(const CallerModelConfig& c) {
  VariantClassifierConfig v;
  v.n_features = n_features_for(c.window);
  v.hidden = {c.hidden};
  v.n_classes = n_genotype_classes;
  v.activation = activation_of(c.activation);
  return v;
}

// A set of candidates of one region: CandidateFeatures (±w window of the pileup outputs, reference
// aware) followed by n_extra host columns that the pileup tensors cannot carry (indel alleles come
// from the CIGAR walk); the classifier sees [B × (n_cf + n_extra)].
struct CandidateSet {
  int B = 0;
  std::vector<std::size_t> index;        // into CandidateRegion::candidates
  Kokkos::View<int*, Mem> centre;        // [B] pileup output row (pos − beg)
  Kokkos::View<Scalar**, Mem> extra;     // [B][n_extra]
  Kokkos::View<int*, Mem> labels;        // [B]
  Features::Outputs cf;                  // [B × n_cf]
  Features::Workspace cf_ws;
  Matrix d_cf;                           // [B × n_cf]
  Matrix features, d_features, d_logits; // [B × F], [B × F], [B × 5]
  Classifier::Outputs logits;
  Classifier::Workspace cws;
};

CandidateSet make_set(const CandidateRegion& R, const std::vector<std::size_t>& index,
                      const Features& fop, const Classifier& clf,
                      const Features::Inputs& pile_in) {
  CandidateSet s;
  s.B = static_cast<int>(index.size());
  s.index = index;
  const int B = s.B;
  s.centre = Kokkos::View<int*, Mem>(label("VariantCaller::centre"), B);
  s.extra = Kokkos::View<Scalar**, Mem>(label("VariantCaller::extra"), B, n_extra);
  s.labels = Kokkos::View<int*, Mem>(label("VariantCaller::labels"), B);
  auto hc = Kokkos::create_mirror_view(s.centre);
  auto he = Kokkos::create_mirror_view(s.extra);
  auto hl = Kokkos::create_mirror_view(s.labels);
  for (int b = 0; b < B; ++b) {
    const Candidate& c = R.candidates[index[b]];
    hc(b) = static_cast<int>(c.pos - R.batch.beg);
    hl(b) = c.label;
    he(b, 0) = double(c.indel_count) / (c.depth + 1.0);
    he(b, 1) = c.indel_alt.empty() ? 0.0 : 1.0;
    double gl[4];
    genotype_likelihood_columns(c.snp_gl, gl);
    for (int k = 0; k < 4; ++k) he(b, 2 + k) = gl[k];
    genotype_likelihood_columns(c.indel_gl, gl);
    for (int k = 0; k < 4; ++k) he(b, 6 + k) = gl[k];
  }
  Kokkos::deep_copy(s.centre, hc);
  Kokkos::deep_copy(s.extra, he);
  Kokkos::deep_copy(s.labels, hl);
  Features::Inputs in = pile_in;
  in.centre = s.centre;
  s.cf = fop.allocate_outputs(in);
  s.cf_ws = fop.allocate_workspace(in);
  s.d_cf = Matrix(label("VariantCaller::d_candidate_features"), B, fop.n_features());
  const int F = clf.n_features();
  s.features = Matrix(label("VariantCaller::features"), B, F);
  s.d_features = Matrix(label("VariantCaller::d_features"), B, F);
  s.d_logits = Matrix(label("VariantCaller::d_logits"), B, n_genotype_classes);
  Classifier::Inputs cin{s.features, {}};
  s.logits = clf.allocate_outputs(cin);
  s.cws = clf.allocate_workspace(cin);
  return s;
}

// features = [cf | extra]; the adjoint of the concatenation is the copy of the first columns.
void concat_features(const Exec& exec, const CandidateSet& s) {
  auto cf = s.cf.features;
  auto ex = s.extra;
  auto f = s.features;
  const int Fc = static_cast<int>(cf.extent(1));
  Kokkos::parallel_for(
      label("VariantCaller::concat_features"), Kokkos::RangePolicy<Exec>(exec, 0, s.B),
      KOKKOS_LAMBDA(const int b) {
        for (int k = 0; k < Fc; ++k) f(b, k) = cf(b, k);
        for (int k = 0; k < n_extra; ++k) f(b, Fc + k) = ex(b, k);
      });
}
void split_feature_grads(const Exec& exec, const CandidateSet& s) {
  auto d = s.d_features;
  auto dcf = s.d_cf;
  const int Fc = static_cast<int>(dcf.extent(1));
  Kokkos::parallel_for(
      label("VariantCaller::split_feature_grads"), Kokkos::RangePolicy<Exec>(exec, 0, s.B),
      KOKKOS_LAMBDA(const int b) {
        for (int k = 0; k < Fc; ++k) dcf(b, k) = d(b, k);
      });
}

struct RegionState {
  const CandidateRegion* src = nullptr;
  Pileup::Inputs in;
  Pileup::Outputs out;
  Pileup::Workspace ws;
  Kokkos::View<Scalar**, Mem> dc, ds, dq;  // seeds of the pileup outputs
  Kokkos::View<int*, Mem> ref_base;         // [P] 0..3 ACGT, 4 N
  CandidateSet train, all;
  PileupUploader<Exec> uploader;
};

class Model {
 public:
  explicit Model(const CallerModel& m)
      : cfg_(m.config),
        pileup_(m.config.pileup),
        fop_(features_config(m.config.window)),
        clf_(classifier_config(m.config)) {
    ParameterLayout layout;
    pb_ = pileup_.declare(layout);
    cb_ = clf_.declare(layout);
    params_ = ParameterSet<Scalar, Mem>(layout, "VariantCaller");
    if (m.parameters.size() != layout.size())
      throw Error(ExitCode::input_error,
                  "caller model has " + std::to_string(m.parameters.size()) +
                      " parameters, its configuration needs " + std::to_string(layout.size()));
    params_.set_all_values(m.parameters);
  }
  const Classifier& classifier() const { return clf_; }
  ParameterSet<Scalar, Mem>& params() { return params_; }
  const ParamBlock& pileup_block() const { return pb_; }

  void setup(RegionState& st, const CandidateRegion& R, const std::vector<std::size_t>& train_idx) {
    st.src = &R;
    Exec exec;
    DIFFBIO_EXPECTS(R.batch.halo >= std::max(cfg_.window, cfg_.pileup.max_offset),
                    "VariantCaller: region halo smaller than window / max offset");
    st.in = st.uploader.upload(exec, R.batch);
    st.out = Pileup::allocate_outputs(st.in);
    st.ws = pileup_.allocate_workspace();
    const int P = st.in.positions();
    st.dc = Kokkos::View<Scalar**, Mem>(label("VariantCaller::d_counts"), P, Pileup::n_count_channels);
    st.ds = Kokkos::View<Scalar**, Mem>(label("VariantCaller::d_strand"), P, 2);
    st.dq = Kokkos::View<Scalar**, Mem>(label("VariantCaller::d_quality"), P, 2);
    st.ref_base = Kokkos::View<int*, Mem>(label("VariantCaller::ref_base"), P);
    auto hb = Kokkos::create_mirror_view(st.ref_base);
    for (int i = 0; i < P; ++i) {
      const char c = R.reference[static_cast<std::size_t>(i + R.batch.halo)];
      hb(i) = c == 'A' ? 0 : c == 'C' ? 1 : c == 'G' ? 2 : c == 'T' ? 3 : 4;
    }
    Kokkos::deep_copy(st.ref_base, hb);
    std::vector<std::size_t> every(R.candidates.size());
    for (std::size_t i = 0; i < every.size(); ++i) every[i] = i;
    const auto pin = features_inputs(st, Kokkos::View<int*, Mem>());
    st.all = make_set(R, every, fop_, clf_, pin);
    st.train = make_set(R, train_idx, fop_, clf_, pin);
  }

  Features::Inputs features_inputs(const RegionState& st, const Kokkos::View<int*, Mem>& centre) const {
    return {st.out.counts, st.out.strand, st.out.quality, centre, st.ref_base, {}};
  }

  // Logits of a set (pileup forward included).
  void forward(const Exec& exec, RegionState& st, CandidateSet& s) {
    pileup_.forward(exec, params_.values(pb_), st.in, st.out, st.ws);
    fop_.forward(exec, Kokkos::View<Scalar*, Mem>(), features_inputs(st, s.centre), s.cf, s.cf_ws);
    concat_features(exec, s);
    clf_.forward(exec, params_.values(cb_), Classifier::Inputs{s.features, {}}, s.logits, s.cws);
  }

  // Loss (summed) and gradients (+=) of one region's training shard.
  double loss_and_grad(const Exec& exec, RegionState& st, double scale, bool freeze_upstream) {
    CandidateSet& s = st.train;
    forward(exec, st, s);
    if (s.B == 0) return 0.0;
    Kokkos::deep_copy(exec, s.d_logits, Scalar(0));
    const double loss =
        softmax_cross_entropy(exec, s.logits.logits, s.labels, s.d_logits, scale, ReductionMode{});
    Kokkos::deep_copy(exec, s.d_features, Scalar(0));
    Classifier::Inputs cin{s.features, {}};
    clf_.adjoint(exec, params_.values(cb_), cin, s.cws, Classifier::OutputGrads{s.d_logits},
                 Classifier::InputGrads{freeze_upstream ? Matrix() : s.d_features},
                 params_.grads(cb_), ReductionMode{});
    if (!freeze_upstream && !cfg_.pileup.hard) {
      split_feature_grads(exec, s);
      Kokkos::deep_copy(exec, st.dc, Scalar(0));
      Kokkos::deep_copy(exec, st.ds, Scalar(0));
      Kokkos::deep_copy(exec, st.dq, Scalar(0));
      fop_.adjoint(exec, Kokkos::View<Scalar*, Mem>(), features_inputs(st, s.centre), s.cf_ws,
                   Features::OutputGrads{s.d_cf}, Features::InputGrads{st.dc, st.ds, st.dq},
                   Kokkos::View<double*, Mem>(), ReductionMode{});
      Pileup::OutputGrads g{st.dc, st.ds, st.dq};
      pileup_.adjoint(exec, params_.values(pb_), st.in, st.ws, g, {}, params_.grads(pb_),
                      ReductionMode{});
    }
    return loss;
  }

  std::vector<double> posteriors(const Exec& exec, RegionState& st) {
    CandidateSet& s = st.all;
    forward(exec, st, s);
    exec.fence();
    auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), s.logits.logits);
    std::vector<double> out(static_cast<std::size_t>(s.B) * n_genotype_classes);
    for (int b = 0; b < s.B; ++b) {
      double mx = h(b, 0);
      for (int c = 1; c < n_genotype_classes; ++c) mx = std::max(mx, double(h(b, c)));
      double sum = 0;
      for (int c = 0; c < n_genotype_classes; ++c) sum += std::exp(double(h(b, c)) - mx);
      for (int c = 0; c < n_genotype_classes; ++c)
        out[static_cast<std::size_t>(b) * n_genotype_classes + c] =
            std::exp(double(h(b, c)) - mx) / sum;
    }
    return out;
  }

  CallerModel snapshot(const CallerModel& base) const {
    CallerModel m = base;
    m.parameters = params_.all_values();
    return m;
  }

 private:
  CallerModelConfig cfg_;
  Pileup pileup_;
  Features fop_;
  Classifier clf_;
  ParamBlock pb_, cb_;
  ParameterSet<Scalar, Mem> params_;
};

int phred(double p) {
  const double q = -10.0 * std::log10(std::max(p, 1e-30));
  return static_cast<int>(std::lround(std::min(q, 999.0)));
}

std::vector<io::VcfCall> calls_from_posteriors(const CandidateRegion& R,
                                               const std::vector<double>& post) {
  std::vector<io::VcfCall> calls;
  for (std::size_t b = 0; b < R.candidates.size(); ++b) {
    const Candidate& c = R.candidates[b];
    const double* p = &post[b * n_genotype_classes];
    // A site is called when it is more likely variant than not (P(ref) < 1/2, rather than argmax
    // over five classes, which would split the variant mass); then the variant type with the larger
    // total mass, then het vs hom within that type.
    if (p[gt_ref] >= 0.5) continue;
    const bool indel_type = p[gt_het_indel] + p[gt_hom_indel] > p[gt_het_snp] + p[gt_hom_snp];
    const int best = indel_type ? (p[gt_hom_indel] > p[gt_het_indel] ? gt_hom_indel : gt_het_indel)
                                : (p[gt_hom_snp] > p[gt_het_snp] ? gt_hom_snp : gt_het_snp);
    const bool indel = best >= gt_het_indel;
    io::VcfCall v;
    v.contig = R.region.contig;
    if (indel) {
      if (c.indel_alt.empty()) continue;  // no read shows an allele to report
      v.pos = c.pos;
      v.ref = c.indel_ref;
      v.alt = c.indel_alt;
      v.ad = {c.ref_count, c.indel_count};
    } else {
      if (c.snp_alt == 'N' || c.ref_base == 'N') continue;
      v.pos = c.pos;
      v.ref = std::string(1, c.ref_base);
      v.alt = std::string(1, c.snp_alt);
      v.ad = {c.ref_count, c.snp_alt_count};
    }
    const double het = indel ? p[gt_het_indel] : p[gt_het_snp];
    const double hom = indel ? p[gt_hom_indel] : p[gt_hom_snp];
    v.dosage = (best == gt_hom_snp || best == gt_hom_indel) ? 2 : 1;
    v.qual = std::min(999.0, -10.0 * std::log10(std::max(p[gt_ref], 1e-100)));
    v.gq = std::min(99, phred(1.0 - p[best]));
    const double gl[3] = {p[gt_ref], het, hom};
    const double mx = std::max({gl[0], gl[1], gl[2]});
    for (int g = 0; g < 3; ++g) v.pl[g] = phred(gl[g] / mx);
    v.dp = c.depth;
    calls.push_back(v);
  }
  return calls;
}

}  // namespace

CallerModel initial_caller_model(const CallerModelConfig& config, std::uint64_t seed) {
  if (config.hidden < 1) throw Error(ExitCode::usage, "hidden must be >= 1");
  if (config.window < 0 || config.window > 16) throw Error(ExitCode::usage, "window must be in [0, 16]");
  if (config.pileup.max_offset < 0 || config.pileup.max_offset > Pileup::max_offset_limit)
    throw Error(ExitCode::usage, "max offset must be in [0, 4]");
  Pileup pileup(config.pileup);
  Classifier clf(classifier_config(config));
  ParameterLayout layout;
  CallerModel m;
  m.config = config;
  for (const auto& b : {pileup.declare(layout), clf.declare(layout)}) {
    m.block_names.push_back(b.name);
    m.block_offsets.push_back(b.offset);
    m.block_sizes.push_back(b.size);
  }
  m.parameters = pileup.initial_params();
  const auto w = clf.initial_params(seed);
  m.parameters.insert(m.parameters.end(), w.begin(), w.end());
  return m;
}

double caller_loss_and_gradient(const CallerModel& model,
                                const std::vector<CandidateRegion>& regions,
                                std::vector<double>* gradient, bool freeze_upstream) {
  Model M(model);
  std::vector<RegionState> states(regions.size());
  std::size_t n = 0;
  for (std::size_t r = 0; r < regions.size(); ++r) {
    std::vector<std::size_t> labelled;
    for (std::size_t i = 0; i < regions[r].candidates.size(); ++i)
      if (regions[r].candidates[i].label >= 0) labelled.push_back(i);
    n += labelled.size();
    M.setup(states[r], regions[r], labelled);
  }
  if (n == 0) throw Error(ExitCode::input_error, "no labelled candidates");
  Exec exec;
  M.params().zero_grads(exec);
  double loss = 0;
  for (auto& st : states) loss += M.loss_and_grad(exec, st, 1.0 / double(n), freeze_upstream);
  exec.fence();
  if (gradient) {
    *gradient = M.params().all_grads();
    if (freeze_upstream) {
      const auto& b = M.pileup_block();
      std::fill(gradient->begin() + static_cast<std::ptrdiff_t>(b.offset),
                gradient->begin() + static_cast<std::ptrdiff_t>(b.offset + b.size), 0.0);
    }
  }
  return loss / double(n);
}

std::vector<double> caller_posteriors(const CallerModel& model, const CandidateRegion& region) {
  Model M(model);
  RegionState st;
  M.setup(st, region, {});
  return M.posteriors(Exec(), st);
}

std::vector<io::VcfCall> predict_calls(const CallerModel& model, const CandidateRegion& region) {
  return calls_from_posteriors(region, caller_posteriors(model, region));
}

std::vector<io::VcfCall> predict_calls(const std::vector<CallerModel>& models,
                                       const CandidateRegion& region) {
  if (models.empty()) throw Error(ExitCode::usage, "predict_calls: no model");
  std::vector<double> mean = caller_posteriors(models[0], region);
  for (std::size_t m = 1; m < models.size(); ++m) {
    const auto p = caller_posteriors(models[m], region);
    for (std::size_t i = 0; i < mean.size(); ++i) mean[i] += p[i];
  }
  for (double& x : mean) x /= static_cast<double>(models.size());
  return calls_from_posteriors(region, mean);
}

std::vector<CallerEpoch> train_variant_caller(CallerModel& model,
                                              std::vector<CandidateRegion>& regions,
                                              const std::vector<const std::vector<io::VcfVariant>*>& truth,
                                              const CallerTrainConfig& config, const Comm& comm,
                                              const CallerProgress& progress,
                                              const CallerCheckpoint& checkpoint) {
  if (config.epochs < 0) throw Error(ExitCode::usage, "epochs must be >= 0");
  Model M(model);
  DIFFBIO_EXPECTS(truth.size() == regions.size(), "train_variant_caller: one truth set per region");
  std::size_t N = 0;
  for (const auto& R : regions) N += R.candidates.size();
  if (N == 0) throw Error(ExitCode::input_error, "call train: no candidate sites in the training regions");
  // Contiguous candidate shards over the concatenation of all regions.
  const Shard sh = shard_rows(N, comm.rank(), comm.size(), 1);
  std::vector<RegionState> states(regions.size());
  std::size_t base = 0;
  for (std::size_t r = 0; r < regions.size(); ++r) {
    std::vector<std::size_t> mine;
    for (std::size_t i = 0; i < regions[r].candidates.size(); ++i)
      if (base + i >= sh.begin && base + i < sh.end && regions[r].candidates[i].label >= 0)
        mine.push_back(i);
    base += regions[r].candidates.size();
    M.setup(states[r], regions[r], mine);
  }
  std::size_t n_labelled = 0;
  for (const auto& R : regions)
    for (const auto& c : R.candidates) n_labelled += c.label >= 0 ? 1 : 0;
  Optimizer<Scalar, Exec> opt(config.optimizer, M.params().size());
  Exec exec;
  std::vector<CallerEpoch> history;
  const auto t0 = std::chrono::steady_clock::now();
  const auto pb = M.pileup_block();
  for (int e = 1; e <= config.epochs; ++e) {
    double loss = 0;
    run_collectively(comm, [&] {
      M.params().zero_grads(exec);
      for (auto& st : states)
        loss += M.loss_and_grad(exec, st, 1.0 / static_cast<double>(n_labelled),
                                config.freeze_upstream);
      if (config.freeze_upstream)
        Kokkos::deep_copy(exec, M.params().grads(pb), 0.0);
      exec.fence();
      const auto g = M.params().all_grads();
      for (double x : g)
        if (!std::isfinite(x))
          throw Error(ExitCode::numerical, "call train: non-finite gradient at epoch " + std::to_string(e));
    });
    comm.allreduce_sum(M.params().grads());
    loss = comm.allreduce_sum(loss);
    opt.step(exec, M.params());
    CallerEpoch ep;
    ep.epoch = e;
    ep.epochs = config.epochs;
    ep.loss = loss / static_cast<double>(n_labelled);
    if ((config.eval_every > 0 && e % config.eval_every == 0) || e == config.epochs) {
      for (std::size_t r = 0; r < states.size(); ++r) {
        const auto v = as_variants(calls_from_posteriors(*states[r].src, M.posteriors(exec, states[r])));
        ep.train += evaluate_calls(v, *truth[r], {regions[r].region});
      }
      ep.evaluated = true;
    }
    ep.elapsed_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    history.push_back(ep);
    if (progress) progress(ep);
    if (checkpoint && config.checkpoint_every > 0 && e % config.checkpoint_every == 0)
      checkpoint(e, M.snapshot(model));
  }
  model = M.snapshot(model);
  return history;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints.

void save_caller_model(const std::string& path, const CallerModel& model,
                       const std::vector<std::pair<std::string, double>>& attributes) {
#ifdef DIFFBIO_ENABLE_HDF5
  auto f = io::H5File::create(path);
  for (std::size_t i = 0; i < model.block_names.size(); ++i)
    f.write_dataset(model.block_names[i], model.block(model.block_names[i]));
  const auto& c = model.config;
  f.write_attribute("/", "model", "diffbio-variant-caller");
  f.write_attribute("/", "window", static_cast<std::int64_t>(c.window));
  f.write_attribute("/", "hidden", static_cast<std::int64_t>(c.hidden));
  f.write_attribute("/", "activation", c.activation);
  f.write_attribute("/", "max_offset", static_cast<std::int64_t>(c.pileup.max_offset));
  f.write_attribute("/", "pileup_hard", static_cast<std::int64_t>(c.pileup.hard));
  f.write_attribute("/", "diffbio_version", DIFFBIO_VERSION_STRING);
  for (const auto& [k, v] : attributes) f.write_attribute("/", k, v);
  f.close_and_commit();
#else
  (void)model;
  (void)attributes;
  throw Error(ExitCode::usage, path + ": this diffbio was built without HDF5; models need it");
#endif
}

CallerModel load_caller_model(const std::string& path) {
#ifdef DIFFBIO_ENABLE_HDF5
  auto f = io::H5File::open_read(path);
  if (!f.has_attribute("/", "model") ||
      f.read_attribute_string("/", "model") != "diffbio-variant-caller")
    throw input_error(path, -1, "not a DiffBio variant-caller model (written by `diffbio call train`)");
  CallerModelConfig c;
  c.window = static_cast<int>(f.read_attribute_int64("/", "window"));
  c.hidden = static_cast<int>(f.read_attribute_int64("/", "hidden"));
  c.activation = f.read_attribute_string("/", "activation");
  c.pileup.max_offset = static_cast<int>(f.read_attribute_int64("/", "max_offset"));
  c.pileup.hard = f.read_attribute_int64("/", "pileup_hard") != 0;
  if (c.window < 0 || c.window > 16 || c.hidden < 1 || c.pileup.max_offset < 0 ||
      c.pileup.max_offset > Pileup::max_offset_limit)
    throw input_error(path, -1, "model attributes out of range");
  CallerModel m = initial_caller_model(c, 1);
  for (std::size_t i = 0; i < m.block_names.size(); ++i) {
    const auto& name = m.block_names[i];
    if (!f.has(name)) throw input_error(path, -1, "no dataset '" + name + "'");
    const auto v = f.read_dataset_double(name);
    if (v.size() != m.block_sizes[i])
      throw input_error(path, -1, "dataset '" + name + "' has " + std::to_string(v.size()) +
                                      " values, expected " + std::to_string(m.block_sizes[i]));
    std::copy(v.begin(), v.end(), m.parameters.begin() + static_cast<std::ptrdiff_t>(m.block_offsets[i]));
  }
  return m;
#else
  throw Error(ExitCode::usage, path + ": this diffbio was built without HDF5; models need it");
#endif
}

}  // namespace diffbio
