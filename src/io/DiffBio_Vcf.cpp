// SPDX-License-Identifier: BSD-3-Clause
#include <htslib/hts.h>
#include <htslib/hts_log.h>
#include <htslib/vcf.h>

#include <DiffBio_AtomicFile.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_Reference.hpp>
#include <DiffBio_Vcf.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

namespace diffbio::io {

namespace {

// htslib prints its own warnings and errors to stderr; ours must be the only (one) line.
class QuietHtslib {
 public:
  QuietHtslib() : saved_(hts_get_log_level()) { hts_set_log_level(HTS_LOG_OFF); }
  ~QuietHtslib() { hts_set_log_level(saved_); }
  QuietHtslib(const QuietHtslib&) = delete;
  QuietHtslib& operator=(const QuietHtslib&) = delete;

 private:
  enum htsLogLevel saved_;
};

struct HtsCloser {
  void operator()(htsFile* f) const {
    if (f) hts_close(f);
  }
};
struct HdrFree {
  void operator()(bcf_hdr_t* h) const {
    if (h) bcf_hdr_destroy(h);
  }
};
struct RecFree {
  void operator()(bcf1_t* r) const {
    if (r) bcf_destroy(r);
  }
};

bool symbolic(const char* a) {
  return a[0] == '<' || a[0] == '*' || a[0] == '.' || std::strchr(a, '[') != nullptr ||
         std::strchr(a, ']') != nullptr;
}

bool valid_bases(const char* a) {
  for (const char* p = a; *p; ++p)
    if (!std::strchr("ACGTNacgtn", *p)) return false;
  return *a != '\0';
}

std::string upper(const char* a) {
  std::string s(a);
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::vector<VcfVariant> read_vcf(const std::string& path, const std::vector<Region>& regions) {
  QuietHtslib quiet;
  std::unique_ptr<htsFile, HtsCloser> fp(hts_open(path.c_str(), "r"));
  if (!fp) throw input_error(path, -1, std::string("cannot open file: ") + std::strerror(errno));
  const htsFormat* fmt = hts_get_format(fp.get());
  if (fmt->format != vcf && fmt->format != bcf)
    throw input_error(path, -1, "not a VCF or BCF file");
  std::unique_ptr<bcf_hdr_t, HdrFree> hdr(bcf_hdr_read(fp.get()));
  if (!hdr) throw input_error(path, -1, "malformed VCF header");
  std::unique_ptr<bcf1_t, RecFree> rec(bcf_init());
  std::vector<VcfVariant> out;
  const bool has_sample = bcf_hdr_nsamples(hdr.get()) > 0;
  int32_t* gt = nullptr;
  int n_gt = 0;
  struct GtFree {
    int32_t** p;
    ~GtFree() { std::free(*p); }
  } gt_free{&gt};
  long long record = 0;
  for (;;) {
    const int r = bcf_read(fp.get(), hdr.get(), rec.get());
    if (r == -1) break;
    ++record;
    if (r < -1) throw input_error(path, record, "malformed record (htslib could not parse it)");
    if (rec->errcode) {
      std::string why = "malformed record";
      if (rec->errcode & BCF_ERR_CTG_UNDEF) why = "contig not defined in the header";
      else if (rec->errcode & BCF_ERR_TAG_UNDEF) why = "INFO/FORMAT tag not defined in the header";
      else if (rec->errcode & BCF_ERR_NCOLS) why = "wrong number of columns";
      else if (rec->errcode & BCF_ERR_LIMITS) why = "value out of htslib's limits";
      else if (rec->errcode & BCF_ERR_CHAR) why = "invalid character";
      throw input_error(path, record, why);
    }
    if (bcf_unpack(rec.get(), BCF_UN_STR) < 0) throw input_error(path, record, "cannot unpack record");
    const char* ctg = bcf_seqname(hdr.get(), rec.get());
    if (!ctg) throw input_error(path, record, "record without a contig");
    if (rec->n_allele < 1 || !valid_bases(rec->d.allele[0]))
      throw input_error(path, record, "REF must be bases A, C, G, T or N");
    // htslib reads a non-numeric POS as 0 (pos −1) without an error code.
    if (rec->pos < 0) throw input_error(path, record, "POS must be a positive integer");
    const std::int64_t pos = rec->pos;
    if (!regions.empty()) {
      bool in = false;
      for (const auto& g : regions)
        if (g.contig == ctg && pos >= g.beg && (g.end < 0 || pos < g.end)) in = true;
      if (!in) continue;
    }
    int dose[64] = {0};
    bool known = false;
    if (has_sample) {
      const int n = bcf_get_genotypes(hdr.get(), rec.get(), &gt, &n_gt);
      if (n > 0) {
        known = true;
        const int ploidy = n / bcf_hdr_nsamples(hdr.get());
        for (int i = 0; i < ploidy; ++i) {
          if (gt[i] == bcf_int32_vector_end) break;
          if (bcf_gt_is_missing(gt[i])) {
            known = false;
            continue;
          }
          const int a = bcf_gt_allele(gt[i]);
          if (a < 0 || a >= rec->n_allele)
            throw input_error(path, record, "GT allele index out of range");
          if (a < 64) ++dose[a];
        }
      }
    }
    const std::string ref = upper(rec->d.allele[0]);
    for (int a = 1; a < rec->n_allele && a < 64; ++a) {
      const char* alt = rec->d.allele[a];
      if (symbolic(alt)) continue;
      if (!valid_bases(alt)) throw input_error(path, record, "ALT must be bases A, C, G, T or N");
      if (known && dose[a] == 0) continue;
      VcfVariant v;
      v.contig = ctg;
      v.pos = pos;
      v.ref = ref;
      v.alt = upper(alt);
      v.dosage = known ? dose[a] : -1;
      v.qual = bcf_float_is_missing(rec->qual) ? 0.0 : static_cast<double>(rec->qual);
      out.push_back(std::move(v));
    }
  }
  return out;
}

void write_calls_vcf(const std::string& path, const std::string& reference_path,
                     const std::string& sample, std::vector<VcfCall> calls,
                     const std::string& command_line) {
  const ReferenceFasta reference(reference_path);
  std::map<std::string, int> order;
  for (std::size_t i = 0; i < reference.contigs().size(); ++i)
    order[reference.contigs()[i].name] = static_cast<int>(i);
  for (const auto& c : calls)
    if (!order.count(c.contig))
      throw Error(ExitCode::internal, path + ": call on contig '" + c.contig + "' absent from " +
                                          reference_path);
  std::stable_sort(calls.begin(), calls.end(), [&](const VcfCall& a, const VcfCall& b) {
    const int ca = order[a.contig], cb = order[b.contig];
    if (ca != cb) return ca < cb;
    if (a.pos != b.pos) return a.pos < b.pos;
    if (a.ref != b.ref) return a.ref < b.ref;
    return a.alt < b.alt;
  });

  QuietHtslib quiet;
  AtomicOutput out(path);
  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  const std::string tmp = out.temp_path().string();
  auto fail = [&](const std::string& what) {
    return Error(ExitCode::output_error, path + ": " + what);
  };
  {
    std::unique_ptr<htsFile, HtsCloser> fp(hts_open(tmp.c_str(), gz ? "wz" : "w"));
    if (!fp) throw fail(std::string("cannot create file: ") + std::strerror(errno));
    std::unique_ptr<bcf_hdr_t, HdrFree> hdr(bcf_hdr_init("w"));
    if (!hdr) throw fail("cannot create a VCF header");
    bcf_hdr_set_version(hdr.get(), "VCFv4.2");
    std::vector<std::string> lines{
        "##source=DiffBio",
        "##reference=file://" + std::string(reference_path),
    };
    if (!command_line.empty()) lines.push_back("##DiffBioCommand=" + command_line);
    for (const auto& c : reference.contigs())
      lines.push_back("##contig=<ID=" + c.name + ",length=" + std::to_string(c.length) + ">");
    lines.push_back(
        "##INFO=<ID=DP,Number=1,Type=Integer,Description=\"Read depth at the site (after "
        "filters)\">");
    lines.push_back("##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">");
    lines.push_back(
        "##FORMAT=<ID=GQ,Number=1,Type=Integer,Description=\"Genotype quality: phred-scaled "
        "probability that the genotype is wrong\">");
    lines.push_back(
        "##FORMAT=<ID=PL,Number=G,Type=Integer,Description=\"Phred-scaled genotype "
        "likelihoods (from the classifier's genotype posteriors), normalised so the most likely "
        "genotype has 0\">");
    lines.push_back(
        "##FORMAT=<ID=AD,Number=R,Type=Integer,Description=\"Reads supporting REF and "
        "ALT\">");
    lines.push_back("##FORMAT=<ID=DP,Number=1,Type=Integer,Description=\"Read depth\">");
    for (const auto& l : lines)
      if (bcf_hdr_append(hdr.get(), l.c_str()) != 0) throw fail("bad header line: " + l);
    if (bcf_hdr_add_sample(hdr.get(), sample.c_str()) != 0 || bcf_hdr_sync(hdr.get()) != 0)
      throw fail("cannot add sample '" + sample + "'");
    if (bcf_hdr_write(fp.get(), hdr.get()) != 0) throw fail("write failed (header)");
    std::unique_ptr<bcf1_t, RecFree> rec(bcf_init());
    for (const auto& c : calls) {
      bcf_clear(rec.get());
      rec->rid = bcf_hdr_name2id(hdr.get(), c.contig.c_str());
      rec->pos = c.pos;
      const std::string alleles = c.ref + "," + c.alt;
      bcf_update_alleles_str(hdr.get(), rec.get(), alleles.c_str());
      rec->qual = static_cast<float>(c.qual);
      const int32_t dp = c.dp;
      bcf_update_info_int32(hdr.get(), rec.get(), "DP", &dp, 1);
      int32_t g[2] = {bcf_gt_unphased(c.dosage >= 2 ? 1 : 0), bcf_gt_unphased(c.dosage >= 1 ? 1 : 0)};
      bcf_update_genotypes(hdr.get(), rec.get(), g, 2);
      const int32_t gq = c.gq;
      bcf_update_format_int32(hdr.get(), rec.get(), "GQ", &gq, 1);
      const int32_t pl[3] = {c.pl[0], c.pl[1], c.pl[2]};
      bcf_update_format_int32(hdr.get(), rec.get(), "PL", pl, 3);
      const int32_t ad[2] = {c.ad[0], c.ad[1]};
      bcf_update_format_int32(hdr.get(), rec.get(), "AD", ad, 2);
      bcf_update_format_int32(hdr.get(), rec.get(), "DP", &dp, 1);
      if (bcf_write(fp.get(), hdr.get(), rec.get()) != 0) throw fail("write failed");
    }
    htsFile* raw = fp.release();
    if (hts_close(raw) != 0) throw fail("write failed (close)");
  }
  out.commit();
}

}  // namespace diffbio::io
