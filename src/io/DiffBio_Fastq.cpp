// SPDX-License-Identifier: BSD-3-Clause
#include <DiffBio_AtomicFile.hpp>
#include <DiffBio_Error.hpp>
#include <DiffBio_Fastq.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <filesystem>
#include <string_view>
#include <system_error>

namespace diffbio::io {

namespace {

constexpr char kPhredOffset = '!';  // Phred+33: '!' is quality 0, '~' is quality 93

// Character classes by table: the reader touches every byte of the input, so one load per byte.
constexpr std::array<std::uint8_t, 256> make_base_codes() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = 4;
  t['A'] = t['a'] = 0;
  t['C'] = t['c'] = 1;
  t['G'] = t['g'] = 2;
  t['T'] = t['t'] = t['U'] = t['u'] = 3;
  return t;
}
constexpr std::array<std::uint8_t, 256> kBaseCode = make_base_codes();

constexpr std::array<bool, 256> make_iupac() {
  std::array<bool, 256> t{};
  // Nucleotide codes of the IUPAC-IUB nomenclature (NC-IUB 1985), U included for RNA reads.
  constexpr std::string_view codes = "ACGTURYSWKMBDHVN";
  for (char c : codes) {
    t[static_cast<unsigned char>(c)] = true;
    t[static_cast<unsigned char>(c - 'A' + 'a')] = true;
  }
  return t;
}
constexpr std::array<bool, 256> kIupac = make_iupac();

// Printable ASCII only; tab is tolerated in header-like lines because some tools put
// tab-separated tags into the read description.
std::size_t find_bad_byte(std::string_view s, bool allow_tab) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F) continue;
    if (c == '\t' && allow_tab) continue;
    return i;
  }
  return std::string_view::npos;
}

std::size_t find_non_iupac(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!kIupac[static_cast<unsigned char>(s[i])]) return i;
  return std::string_view::npos;
}

std::size_t find_bad_quality(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] < '!' || s[i] > '~') return i;
  return std::string_view::npos;
}

std::string hex_byte(char c) {
  static constexpr char digits[] = "0123456789ABCDEF";
  const auto u = static_cast<unsigned char>(c);
  return std::string("0x") + digits[u >> 4] + digits[u & 0xF];
}

// A character for a message: quoted if printable, else its hex value, so the message stays one
// readable line whatever the input contains.
std::string show_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u > 0x20 && u < 0x7F) return std::string("'") + c + "'";
  return hex_byte(c);
}

// The identifier is the name up to the first blank; a '+' line may repeat either form.
std::string_view read_id(std::string_view name) {
  return name.substr(0, name.find_first_of(" \t"));
}

std::string where(std::size_t line, std::size_t index) {
  return "line " + std::to_string(line) + ", column " + std::to_string(index + 1);
}

}  // namespace

std::uint8_t base_code(char c) noexcept { return kBaseCode[static_cast<unsigned char>(c)]; }

// ---------------------------------------------------------------------------------------------
// Reader

FastqReader::FastqReader(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  // An ifstream opens a directory "successfully" on Linux and only fails on reading; say why.
  if (std::filesystem::is_directory(path_, ec))
    throw input_error(path_, -1, "cannot open file: is a directory");
  errno = 0;
  in_.open(path_, std::ios::in | std::ios::binary);
  if (!in_.is_open()) {
    const int err = errno;
    throw input_error(path_, -1,
                      err != 0 ? "cannot open file: " + std::generic_category().message(err)
                               : std::string("cannot open file"));
  }
}

void FastqReader::fail(const std::string& problem) const {
  throw input_error(path_, static_cast<long long>(records_read_ + 1), problem);
}

bool FastqReader::next_line(std::string& line) {
  if (!std::getline(in_, line)) {
    if (in_.bad()) fail("read error after line " + std::to_string(line_no_));
    return false;
  }
  ++line_no_;
  if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF files
  return true;
}

std::size_t FastqReader::read_chunk(std::vector<FastqRecord>& out, std::size_t max_records) {
  DIFFBIO_EXPECTS(max_records > 0, "FastqReader::read_chunk: max_records must be positive");
  std::size_t n = 0;
  while (n < max_records && !at_end_) {
    // Reuse existing elements so their string buffers are recycled across chunks.
    if (n == out.size()) out.emplace_back();
    if (!read_record(out[n])) break;
    ++n;
    ++records_read_;
  }
  out.resize(n);
  return n;
}

bool FastqReader::read_record(FastqRecord& rec) {
  using traits = std::ifstream::traits_type;
  const std::size_t first_line = line_no_ + 1;

  // Header. Peek at its first byte before reading the line: a binary or compressed file may have
  // no newline for gigabytes, and one byte is enough to reject it.
  std::size_t blank_line = 0;
  for (;;) {
    const int c = in_.peek();
    if (c == traits::eof()) {
      if (in_.bad()) fail("read error after line " + std::to_string(line_no_));
      at_end_ = true;
      if (records_read_ == 0) fail("empty file: no FASTQ records");
      return false;  // trailing blank lines, if any, are harmless
    }
    if (c != '\n' && c != '\r') break;
    next_line(rec.name);
    if (!rec.name.empty())  // a lone '\r' not followed by '\n'
      fail("non-ASCII or control byte 0x0D in line " + std::to_string(line_no_));
    if (blank_line == 0) blank_line = line_no_;
  }
  if (blank_line != 0)
    fail("unexpected blank line (line " + std::to_string(blank_line) +
         ") where a header line starting with '@' was expected");
  {
    const int c = in_.peek();
    if (c != '@') {
      const std::string line = std::to_string(first_line);
      if (records_read_ == 0 && c == 0x1F)
        fail("file is gzip-compressed; decompress it first (compressed FASTQ is not supported)");
      if (c < 0x20 || c >= 0x7F)
        fail("non-ASCII or control byte " + hex_byte(static_cast<char>(c)) +
             " in the header line (line " + line + ", column 1)");
      fail("header line does not start with '@' (line " + line + " starts with " +
           show_char(static_cast<char>(c)) + ")");
    }
  }
  next_line(rec.name);
  const std::size_t header_line = line_no_;
  if (const auto i = find_bad_byte(rec.name, true); i != std::string::npos)
    fail("non-ASCII or control byte " + hex_byte(rec.name[i]) + " in the header line (" +
         where(header_line, i) + ")");
  rec.name.erase(0, 1);  // the '@'
  if (rec.name.empty())
    fail("header line has an empty read name (line " + std::to_string(header_line) + ")");

  auto truncated = [&](const char* missing) {
    fail("truncated record: file ends after line " + std::to_string(line_no_) + " and the " +
         missing + " line is missing");
  };

  // Sequence.
  if (!next_line(rec.sequence)) truncated("sequence");
  const std::size_t seq_line = line_no_;
  if (const auto i = find_bad_byte(rec.sequence, false); i != std::string::npos)
    fail("non-ASCII or control byte " + hex_byte(rec.sequence[i]) + " in the sequence line (" +
         where(seq_line, i) + ")");
  if (const auto i = find_non_iupac(rec.sequence); i != std::string::npos)
    fail("invalid sequence character " + show_char(rec.sequence[i]) + " (" + where(seq_line, i) +
         "); expected IUPAC nucleotide codes");

  // Separator.
  if (!next_line(separator_)) truncated("'+' separator");
  if (separator_.empty() || separator_[0] != '+')
    fail("missing '+' separator line (line " + std::to_string(line_no_) +
         (separator_.empty() ? std::string(" is empty") : " starts with " + show_char(separator_[0])) +
         ")");
  if (const auto i = find_bad_byte(separator_, true); i != std::string::npos)
    fail("non-ASCII or control byte " + hex_byte(separator_[i]) + " in the '+' line (" +
         where(line_no_, i) + ")");
  if (separator_.size() > 1) {
    const std::string_view repeated = std::string_view(separator_).substr(1);
    if (repeated != rec.name && repeated != read_id(rec.name))
      fail("'+' line (line " + std::to_string(line_no_) +
           ") repeats a different read name than the header");
  }

  // Quality.
  if (!next_line(rec.quality)) truncated("quality");
  const std::size_t qual_line = line_no_;
  if (const auto i = find_bad_byte(rec.quality, false); i != std::string::npos)
    fail("non-ASCII or control byte " + hex_byte(rec.quality[i]) + " in the quality line (" +
         where(qual_line, i) + ")");
  if (rec.quality.size() != rec.sequence.size())
    fail("sequence and quality lengths differ (sequence " + std::to_string(rec.sequence.size()) +
         ", quality " + std::to_string(rec.quality.size()) + ", line " +
         std::to_string(qual_line) + ")");
  // Only the space can still be out of range here: control and non-ASCII bytes failed above.
  if (const auto i = find_bad_quality(rec.quality); i != std::string::npos)
    fail("quality character " + show_char(rec.quality[i]) + " (" + where(qual_line, i) +
         ") is outside '!'..'~' (Phred+33)");
  return true;
}

std::vector<FastqRecord> read_fastq(const std::string& path) {
  FastqReader reader(path);
  std::vector<FastqRecord> all, chunk;
  while (reader.read_chunk(chunk, 4096) > 0)
    for (auto& r : chunk) all.push_back(std::move(r));
  return all;
}

// ---------------------------------------------------------------------------------------------
// Writer

void write_fastq(const std::string& path, const std::vector<FastqRecord>& records) {
  AtomicOutput out(path);
  auto bad = [&](std::size_t r, const std::string& problem) {
    throw Error(ExitCode::output_error,
                path + ": record " + std::to_string(r + 1) + ": cannot write: " + problem);
  };
  {
    std::ofstream f(out.temp_path(), std::ios::out | std::ios::binary | std::ios::trunc);
    if (!f.is_open())
      throw Error(ExitCode::output_error, path + ": cannot create temporary file '" +
                                               out.temp_path().string() + "'");
    for (std::size_t r = 0; r < records.size(); ++r) {
      const FastqRecord& rec = records[r];
      // Same rules as the reader, so every file written here reads back to the same records.
      if (rec.name.empty()) bad(r, "empty read name");
      if (const auto i = find_bad_byte(rec.name, true); i != std::string::npos)
        bad(r, "non-ASCII or control byte " + hex_byte(rec.name[i]) + " in the read name");
      if (const auto i = find_non_iupac(rec.sequence); i != std::string::npos)
        bad(r, "invalid sequence character " + show_char(rec.sequence[i]) + " at position " +
                   std::to_string(i + 1));
      if (rec.quality.size() != rec.sequence.size())
        bad(r, "sequence and quality lengths differ (sequence " +
                   std::to_string(rec.sequence.size()) + ", quality " +
                   std::to_string(rec.quality.size()) + ")");
      if (const auto i = find_bad_quality(rec.quality); i != std::string::npos)
        bad(r, "quality character " + show_char(rec.quality[i]) + " at position " +
                   std::to_string(i + 1) + " is outside '!'..'~' (Phred+33)");
      f << '@' << rec.name << '\n' << rec.sequence << "\n+\n" << rec.quality << '\n';
    }
    f.close();  // flushes; a full disk shows up here, not in the operator<< calls
    if (f.fail()) throw Error(ExitCode::output_error, path + ": write failed (disk full?)");
  }
  out.commit();
}

// ---------------------------------------------------------------------------------------------
// Packing

ReadBatch pack_reads(const std::vector<FastqRecord>& records, std::size_t max_len) {
  ReadBatch b;
  b.n_reads = records.size();
  if (max_len == 0)
    for (const auto& r : records) max_len = std::max(max_len, r.sequence.size());
  DIFFBIO_EXPECTS(max_len <= static_cast<std::size_t>(INT_MAX),
                  "pack_reads: max_len does not fit ReadBatch::length (int)");
  b.max_len = max_len;
  b.base.assign(b.n_reads * max_len, 4);  // padding reads as "other", like N
  b.quality.assign(b.n_reads * max_len, 0);
  b.length.resize(b.n_reads);
  b.names.reserve(b.n_reads);
  for (std::size_t r = 0; r < b.n_reads; ++r) {
    const FastqRecord& rec = records[r];
    DIFFBIO_EXPECTS(rec.quality.size() == rec.sequence.size(),
                    "pack_reads: record " + std::to_string(r + 1) +
                        " has sequence and quality of different lengths");
    const std::size_t len = std::min(rec.sequence.size(), max_len);
    std::uint8_t* base = b.base.data() + r * max_len;
    std::uint8_t* qual = b.quality.data() + r * max_len;
    for (std::size_t j = 0; j < len; ++j) {
      base[j] = kBaseCode[static_cast<unsigned char>(rec.sequence[j])];
      // Clamped so a hand-built record with a byte below '!' cannot wrap around to a high score.
      const char q = rec.quality[j];
      qual[j] = q > kPhredOffset ? static_cast<std::uint8_t>(q - kPhredOffset) : 0;
    }
    b.length[r] = static_cast<int>(len);
    b.names.push_back(rec.name);
  }
  return b;
}

}  // namespace diffbio::io
