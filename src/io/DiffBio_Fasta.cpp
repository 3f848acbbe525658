// SPDX-License-Identifier: BSD-3-Clause
#include <DiffBio_Error.hpp>
#include <DiffBio_Fasta.hpp>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>

namespace diffbio {
namespace io {

namespace {

std::string hex_byte(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", c);
  return buf;
}

/// Strips a trailing CR (CRLF files) and rejects bytes that cannot be in a text record.
void clean_line(std::string& line, const std::string& path, long long record, long long line_no) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  for (std::size_t k = 0; k < line.size(); ++k) {
    const unsigned char c = static_cast<unsigned char>(line[k]);
    if (c >= 0x80 || (c < 0x20 && c != '\t'))
      throw input_error(path, record, "line " + std::to_string(line_no) + " column " +
                                          std::to_string(k + 1) + ": non-ASCII or control byte " +
                                          hex_byte(c));
  }
}

}  // namespace

std::vector<FastaRecord> read_fasta(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path, -1, "cannot open file");
  std::vector<FastaRecord> out;
  std::string line;
  long long line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    // The record being read: the next one on a header line, else the current one.
    const bool header_line = !line.empty() && line[0] == '>';
    clean_line(line, path, static_cast<long long>(out.size()) + (header_line || out.empty() ? 1 : 0), line_no);
    if (line.empty()) continue;
    if (line[0] == '>') {
      if (!out.empty() && out.back().sequence.empty())
        throw input_error(path, static_cast<long long>(out.size()), "empty sequence for '" + out.back().name + "'");
      std::size_t e = line.find_first_of(" \t", 1);
      std::string name = line.substr(1, e == std::string::npos ? std::string::npos : e - 1);
      if (name.empty())
        throw input_error(path, static_cast<long long>(out.size()) + 1, "empty name in header line " + std::to_string(line_no));
      out.push_back({name, {}});
      continue;
    }
    if (out.empty())
      throw input_error(path, 1, "line " + std::to_string(line_no) + ": sequence data before the first '>' header");
    for (char c : line) {
      if (c == ' ' || c == '\t') continue;
      if (!std::isalpha(static_cast<unsigned char>(c)) && c != '*' && c != '-')
        throw input_error(path, static_cast<long long>(out.size()),
                          "line " + std::to_string(line_no) + ": invalid sequence character '" +
                              std::string(1, c) + "'");
      out.back().sequence.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
  }
  if (out.empty()) throw input_error(path, 1, "empty file: no FASTA records");
  if (out.back().sequence.empty())
    throw input_error(path, static_cast<long long>(out.size()), "empty sequence for '" + out.back().name + "'");
  return out;
}

Msa read_stockholm(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw input_error(path, -1, "cannot open file");
  std::string line;
  long long line_no = 0;
  bool header = false, ended = false;
  Msa msa;
  std::map<std::string, std::size_t> index;
  std::vector<std::size_t> seen_in_block;  // rows extended in the current block
  while (std::getline(in, line)) {
    ++line_no;
    clean_line(line, path, -1, line_no);
    if (!header) {
      if (line.empty()) continue;
      if (line.rfind("# STOCKHOLM 1.", 0) != 0)
        throw input_error(path, -1, "line " + std::to_string(line_no) + ": not a Stockholm file (missing '# STOCKHOLM 1.0' header)");
      header = true;
      continue;
    }
    if (line.rfind("//", 0) == 0) {
      ended = true;
      break;
    }
    if (line.empty() || line[0] == '#') continue;
    const std::size_t s = line.find_first_of(" \t");
    if (s == std::string::npos)
      throw input_error(path, -1, "line " + std::to_string(line_no) + ": expected '<name> <aligned sequence>'");
    const std::string name = line.substr(0, s);
    const std::size_t b = line.find_first_not_of(" \t", s);
    std::string seq = b == std::string::npos ? "" : line.substr(b);
    while (!seq.empty() && (seq.back() == ' ' || seq.back() == '\t')) seq.pop_back();
    auto it = index.find(name);
    if (it == index.end()) {
      index[name] = msa.names.size();
      msa.names.push_back(name);
      msa.rows.push_back(seq);
    } else {
      msa.rows[it->second] += seq;
    }
  }
  if (!header) throw input_error(path, -1, "empty file: no Stockholm alignment");
  if (!ended) throw input_error(path, -1, "truncated alignment: no '//' terminator");
  if (msa.rows.empty()) throw input_error(path, -1, "alignment has no sequences");
  for (std::size_t r = 0; r < msa.rows.size(); ++r)
    if (msa.rows[r].size() != msa.rows[0].size())
      throw input_error(path, static_cast<long long>(r) + 1,
                        "row '" + msa.names[r] + "' has " + std::to_string(msa.rows[r].size()) +
                            " columns, the first row has " + std::to_string(msa.rows[0].size()));
  return msa;
}

ReferencePair reference_pair(const Msa& msa, std::size_t a, std::size_t b) {
  ReferencePair p;
  p.name_x = msa.names.at(a);
  p.name_y = msa.names.at(b);
  const std::string& ra = msa.rows.at(a);
  const std::string& rb = msa.rows.at(b);
  int i = 0, j = 0;
  for (std::size_t c = 0; c < ra.size(); ++c) {
    const bool ga = is_gap(ra[c]), gb = is_gap(rb[c]);
    if (!ga && !gb) p.aligned.emplace_back(i, j);
    if (!ga) {
      p.x.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ra[c]))));
      ++i;
    }
    if (!gb) {
      p.y.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(rb[c]))));
      ++j;
    }
  }
  return p;
}

}  // namespace io
}  // namespace diffbio
