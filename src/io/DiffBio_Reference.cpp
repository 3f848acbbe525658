// SPDX-License-Identifier: BSD-3-Clause
#include <htslib/faidx.h>
#include <htslib/hts.h>
#include <htslib/hts_log.h>

#include <DiffBio_Error.hpp>
#include <DiffBio_Reference.hpp>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace diffbio::io {

namespace {

// htslib reports problems on stderr itself; DiffBio reports them as one-line errors instead, so
// htslib is silenced for the duration of a call (and the caller's level restored).
class QuietHtslib {
 public:
  QuietHtslib() : saved_(hts_get_log_level()) { hts_set_log_level(HTS_LOG_OFF); }
  ~QuietHtslib() { hts_set_log_level(saved_); }
  QuietHtslib(const QuietHtslib&) = delete;
  QuietHtslib& operator=(const QuietHtslib&) = delete;

 private:
  htsLogLevel saved_;
};

void check_readable(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw input_error(path, -1, "cannot open file: is a directory");
  std::ifstream f(path, std::ios::binary);
  if (!f.is_open()) {
    const int err = errno;
    throw input_error(path, -1,
                      "cannot open file" +
                          (err != 0 ? ": " + std::generic_category().message(err) : std::string()));
  }
}

}  // namespace

struct ReferenceFasta::Impl {
  faidx_t* fai = nullptr;
  ~Impl() {
    if (fai) fai_destroy(fai);
  }
};

ReferenceFasta::ReferenceFasta(const std::string& path) : path_(path), impl_(new Impl) {
  check_readable(path_);
  QuietHtslib quiet;
  // flags 0: never build a missing index (FAI_CREATE is not passed).
  impl_->fai = fai_load3(path_.c_str(), nullptr, nullptr, 0);
  if (impl_->fai == nullptr) {
    std::error_code ec;
    const bool has_fai = std::filesystem::exists(path_ + ".fai", ec);
    throw input_error(
        path_, -1,
        has_fai ? "cannot load the FASTA index " + path_ +
                      ".fai (bgzip-compressed FASTA also needs its .gzi)"
                : "no FASTA index (" + path_ + ".fai); run 'samtools faidx " + path_ + "'");
  }
  const int n = faidx_nseq(impl_->fai);
  contigs_.reserve(n);
  for (int i = 0; i < n; ++i) {
    const char* name = faidx_iseq(impl_->fai, i);
#if HTS_VERSION >= 101700
    const std::int64_t len = faidx_seq_len64(impl_->fai, name);
#else
    const std::int64_t len = faidx_seq_len(impl_->fai, name);  // int before htslib 1.17
#endif
    contigs_.push_back(ContigInfo{name, len});
  }
}

ReferenceFasta::~ReferenceFasta() = default;
ReferenceFasta::ReferenceFasta(ReferenceFasta&&) noexcept = default;
ReferenceFasta& ReferenceFasta::operator=(ReferenceFasta&&) noexcept = default;

std::int64_t ReferenceFasta::length(const std::string& name) const {
  for (const auto& c : contigs_)
    if (c.name == name) return c.length;
  return -1;
}

std::string ReferenceFasta::fetch(const Region& r) const {
  if (length(r.contig) < 0)
    throw input_error(path_, -1, "contig '" + r.contig + "' not in reference");
  const Region rr = resolve_region(r, contigs_, path_, -1, "reference");
  QuietHtslib quiet;
  hts_pos_t len = 0;
  char* s = faidx_fetch_seq64(impl_->fai, rr.contig.c_str(), rr.beg, rr.end - 1, &len);
  if (s == nullptr || len != rr.end - rr.beg) {
    std::free(s);
    throw input_error(path_, -1,
                      "cannot read " + rr.to_string() + " (truncated or corrupt FASTA?)");
  }
  std::string out(s, static_cast<std::size_t>(len));
  std::free(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace diffbio::io
