// SPDX-License-Identifier: BSD-3-Clause
#include <DiffBio_Error.hpp>
#include <DiffBio_Region.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <system_error>

namespace diffbio::io {

namespace {

// Largest coordinate accepted (htslib's HTS_POS_MAX is 2^62 - 1; stay well inside int64).
constexpr std::int64_t kMaxCoord = (std::int64_t(1) << 62) - 1;

// A printable, single-line rendering of user text for messages.
std::string show(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) {
      out += c;
    } else {
      static constexpr char hex[] = "0123456789ABCDEF";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xF];
    }
    if (out.size() > 80) return out + "...";
  }
  return out;
}

// Non-negative decimal with optional thousands separators; false if malformed or too large.
bool parse_coord(std::string_view s, std::int64_t& value) {
  value = 0;
  bool any = false;
  for (char c : s) {
    if (c == ',') continue;
    if (c < '0' || c > '9') return false;
    if (value > (kMaxCoord - (c - '0')) / 10) return false;
    value = value * 10 + (c - '0');
    any = true;
  }
  return any;
}

// Plain non-negative decimal (BED: no separators).
bool parse_plain(std::string_view s, std::int64_t& value) {
  if (s.empty()) return false;
  value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    if (value > (kMaxCoord - (c - '0')) / 10) return false;
    value = value * 10 + (c - '0');
  }
  return true;
}

}  // namespace

std::string Region::to_string() const {
  std::string name = contig.find(':') != std::string::npos ? "{" + contig + "}" : contig;
  if (end < 0) return beg == 0 ? name : name + ":" + std::to_string(beg + 1);
  return name + ":" + std::to_string(beg + 1) + "-" + std::to_string(end);
}

Region parse_region(std::string_view text, const std::string& source) {
  auto bad = [&](const std::string& why) {
    return input_error(source, -1, "bad region string '" + show(text) + "': " + why);
  };
  if (text.empty()) throw bad("empty string");
  Region r;
  std::string_view coords;
  bool has_coords = false;
  if (text.front() == '{') {
    const auto close = text.find('}');
    if (close == std::string_view::npos) throw bad("'{' without a closing '}'");
    r.contig = std::string(text.substr(1, close - 1));
    const auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw bad("expected ':' after '}'");
      coords = rest.substr(1);
      has_coords = true;
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      r.contig = std::string(text);
    } else {
      r.contig = std::string(text.substr(0, colon));
      coords = text.substr(colon + 1);
      has_coords = true;
    }
  }
  if (r.contig.empty()) throw bad("no contig name");
  for (char c : r.contig) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F) throw bad("contig name contains a blank or non-printable byte");
  }
  if (!has_coords) return r;  // whole contig
  if (coords.empty()) throw bad("no coordinates after ':'");
  const auto dash = coords.find('-');
  std::int64_t beg1 = 1, end1 = -1;
  const std::string_view beg_text = coords.substr(0, dash);
  if (!beg_text.empty() && !parse_coord(beg_text, beg1))
    throw bad("start '" + show(beg_text) + "' is not a number");
  if (beg_text.empty() && (dash == std::string_view::npos || dash + 1 == coords.size()))
    throw bad("no start coordinate");
  if (beg1 < 1) throw bad("start must be >= 1 (region strings are 1-based)");
  if (dash != std::string_view::npos) {
    const std::string_view end_text = coords.substr(dash + 1);
    if (!end_text.empty()) {
      if (!parse_coord(end_text, end1)) throw bad("end '" + show(end_text) + "' is not a number");
      if (end1 < beg1)
        throw input_error(source, -1,
                          "empty region '" + show(text) + "': end " + std::to_string(end1) +
                              " < start " + std::to_string(beg1));
    }
  }
  r.beg = beg1 - 1;
  r.end = end1;  // 1-based inclusive end == 0-based exclusive end; -1 stays open
  return r;
}

std::vector<Region> read_bed(const std::string& path) {
  std::ifstream in(path, std::ios::in | std::ios::binary);
  if (!in.is_open()) {
    const int err = errno;
    throw input_error(path, -1,
                      "cannot open BED file" +
                          (err != 0 ? ": " + std::generic_category().message(err) : std::string()));
  }
  std::vector<Region> out;
  std::string line;
  long long line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string_view s(line);
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) continue;  // blank
    s.remove_prefix(first);
    auto header_word = [&](std::string_view w) {
      return s.rfind(w, 0) == 0 &&
             (s.size() == w.size() || s[w.size()] == ' ' || s[w.size()] == '\t');
    };
    if (s.front() == '#' || header_word("track") || header_word("browser")) continue;
    std::string_view field[3];
    int n = 0;
    std::size_t i = 0;
    while (n < 3 && i < s.size()) {
      const auto e = s.find_first_of(" \t", i);
      field[n++] = s.substr(i, e == std::string_view::npos ? std::string_view::npos : e - i);
      if (e == std::string_view::npos) {
        i = s.size();
        break;
      }
      i = s.find_first_not_of(" \t", e);
      if (i == std::string_view::npos) i = s.size();
    }
    if (n < 3)
      throw input_error(
          path, line_no,
          "expected at least 3 fields (chrom, start, end), found " + std::to_string(n));
    for (char c : line)
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t')
        throw input_error(path, line_no, "control byte in line");
    Region r;
    r.contig = std::string(field[0]);
    r.source = path;
    r.record = line_no;
    if (!parse_plain(field[1], r.beg))
      throw input_error(path, line_no,
                        "start '" + show(field[1]) + "' is not a non-negative integer");
    if (!parse_plain(field[2], r.end))
      throw input_error(path, line_no,
                        "end '" + show(field[2]) + "' is not a non-negative integer");
    if (r.end <= r.beg)
      throw input_error(path, line_no,
                        "empty interval: end " + std::to_string(r.end) + " <= start " +
                            std::to_string(r.beg) + " (BED is 0-based half-open)");
    out.push_back(std::move(r));
  }
  if (in.bad()) throw input_error(path, line_no + 1, "read error");
  if (out.empty()) throw input_error(path, -1, "no regions in BED file");
  return out;
}

Region resolve_region(const Region& r, const std::vector<ContigInfo>& contigs,
                      const std::string& source_arg, long long record_arg,
                      const std::string& what) {
  const std::string& source = r.source.empty() ? source_arg : r.source;
  const long long record = r.source.empty() ? record_arg : r.record;
  const ContigInfo* c = nullptr;
  for (const auto& ci : contigs)
    if (ci.name == r.contig) {
      c = &ci;
      break;
    }
  if (c == nullptr)
    throw input_error(source, record, "contig '" + show(r.contig) + "' not in " + what);
  Region out = r;
  if (out.end < 0 || out.end > c->length) out.end = c->length;
  if (out.beg >= c->length)
    throw input_error(source, record,
                      "region " + r.to_string() + " starts beyond the end of contig '" + c->name +
                          "' (length " + std::to_string(c->length) + ")");
  if (out.end <= out.beg) throw input_error(source, record, "empty region " + r.to_string());
  return out;
}

}  // namespace diffbio::io
