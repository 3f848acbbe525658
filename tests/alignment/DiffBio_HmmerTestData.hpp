// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_HmmerTestData.hpp
/// \brief Real protein data for the ProfileHMM tests and benchmark, from Debian's hmmer-examples
/// (the HMMER tutorial: Pfam models Pkinase, fn3, globins4 and their seed alignments, example
/// sequences), plus running hmmsearch and HMMER's library oracle and parsing their output.
#ifndef DIFFBIO_HMMER_TEST_DATA_HPP
#define DIFFBIO_HMMER_TEST_DATA_HPP

#include <DiffBio_HmmerFile.hpp>

#include <sys/wait.h>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace diffbio {
namespace test {

struct SeqRecord {
  std::string name;
  std::string seq;
};

/// Directory of Debian's hmmer-examples (the HMMER tutorial and test suite files).
inline std::string hmmer_examples_dir() {
  if (const char* e = std::getenv("DIFFBIO_HMMER_EXAMPLES")) return e;
  return "/usr/share/doc/hmmer/examples";
}
inline std::string hmmer_tutorial(const std::string& f) {
  return hmmer_examples_dir() + "/tutorial/" + f;
}
inline std::string hmmer_testsuite(const std::string& f) {
  return hmmer_examples_dir() + "/testsuite/" + f;
}

inline bool file_exists(const std::string& p) {
  std::ifstream f(p);
  return f.good();
}

/// FASTA: name = first word of the header line.
inline std::vector<SeqRecord> read_fasta(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<SeqRecord> out;
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line[0] == '>') {
      std::istringstream is(line.substr(1));
      SeqRecord r;
      is >> r.name;
      out.push_back(r);
    } else if (!out.empty()) {
      for (char c : line)
        if (!std::isspace(static_cast<unsigned char>(c))) out.back().seq += c;
    }
  }
  return out;
}

/// UniProt/EMBL flat file (ID line, sequence after "SQ" until "//"), e.g. the tutorial's
/// 7LESS_DROME.
inline std::vector<SeqRecord> read_uniprot(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<SeqRecord> out;
  std::string line;
  bool in_seq = false;
  while (std::getline(f, line)) {
    if (line.rfind("ID ", 0) == 0) {
      std::istringstream is(line.substr(2));
      SeqRecord r;
      is >> r.name;
      out.push_back(r);
    } else if (line.rfind("SQ ", 0) == 0) {
      in_seq = true;
    } else if (line.rfind("//", 0) == 0) {
      in_seq = false;
    } else if (in_seq && !out.empty()) {
      for (char c : line)
        if (std::isalpha(static_cast<unsigned char>(c))) out.back().seq += c;
    }
  }
  return out;
}

/// Unaligned sequences of a Stockholm alignment (gaps '.', '-' removed), in file order.
inline std::vector<SeqRecord> read_stockholm_unaligned(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<SeqRecord> out;
  std::map<std::string, std::size_t> index;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#' || line.rfind("//", 0) == 0) continue;
    std::istringstream is(line);
    std::string name, aln;
    if (!(is >> name >> aln)) continue;
    auto it = index.find(name);
    if (it == index.end()) {
      it = index.emplace(name, out.size()).first;
      out.push_back({name, ""});
    }
    for (char c : aln)
      if (c != '.' && c != '-' && c != '_' && c != '~')
        out[it->second].seq += static_cast<char>(std::toupper(c));
  }
  return out;
}

inline void write_fasta(const std::string& path, const std::vector<SeqRecord>& seqs) {
  std::ofstream f(path);
  for (const auto& s : seqs) {
    f << '>' << s.name << '\n';
    for (std::size_t i = 0; i < s.seq.size(); i += 60) f << s.seq.substr(i, 60) << '\n';
  }
  if (!f) throw std::runtime_error("cannot write " + path);
}

/// The protein test database: the 54 Pkinase seed domains, the fn3 seed domains, 45 globins, the
/// tutorial's full-length sevenless (2554 aa, kinase + fn3 repeats), HBB_HUMAN and PAX8_HUMAN.
/// Sequence names are made unique (Stockholm names like CDC15_YEAST/25-272 are kept as they are).
inline std::vector<SeqRecord> protein_test_database() {
  std::vector<SeqRecord> db;
  auto add = [&](const std::vector<SeqRecord>& v) { db.insert(db.end(), v.begin(), v.end()); };
  add(read_stockholm_unaligned(hmmer_tutorial("Pkinase.sto")));
  add(read_stockholm_unaligned(hmmer_tutorial("fn3.sto")));
  add(read_fasta(hmmer_tutorial("globins45.fa")));
  add(read_uniprot(hmmer_tutorial("7LESS_DROME")));
  add(read_fasta(hmmer_tutorial("HBB_HUMAN")));
  add(read_fasta(hmmer_testsuite("PAX8_HUMAN")));
  std::map<std::string, int> seen;
  for (auto& s : db)
    if (seen[s.name]++ > 0) s.name += "_" + std::to_string(seen[s.name]);
  return db;
}

/// Runs a shell command and returns its standard output; throws if it exits non-zero.
inline std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run: " + cmd);
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int st = pclose(p);
  if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    throw std::runtime_error("command failed (status " + std::to_string(st) + "): " + cmd);
  return out;
}

inline bool have_command(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

/// One row of hmmsearch --tblout: full-sequence score and bias (bits).
struct TbloutHit {
  double score = 0, bias = 0;
  int n_domains = 0;  ///< "ndom" column: domains reported
};
inline std::map<std::string, TbloutHit> parse_tblout(const std::string& path) {
  std::ifstream f(path);
  std::map<std::string, TbloutHit> hits;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    std::vector<std::string> t;
    std::string w;
    while (is >> w) t.push_back(w);
    if (t.size() < 18) continue;
    TbloutHit h;
    h.score = std::stod(t[5]);
    h.bias = std::stod(t[6]);
    h.n_domains = std::stoi(t[17]);
    hits[t[0]] = h;
  }
  return hits;
}

/// Domains of one target from --domtblout: domain score (bits) and envelope coordinates.
struct DomHit {
  double score = 0;
  int env_from = 0, env_to = 0;
};
inline std::map<std::string, std::vector<DomHit>> parse_domtblout(const std::string& path) {
  std::ifstream f(path);
  std::map<std::string, std::vector<DomHit>> hits;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream is(line);
    std::vector<std::string> t;
    std::string w;
    while (is >> w) t.push_back(w);
    if (t.size() < 22) continue;
    DomHit d;
    d.score = std::stod(t[13]);
    d.env_from = std::stoi(t[19]);
    d.env_to = std::stoi(t[20]);
    hits[t[0]].push_back(d);
  }
  return hits;
}

/// One line of the HMMER library oracle (tests/alignment/DiffBio_HmmerOracle.c), all in nats.
struct OracleScores {
  int L = 0;
  double null1 = 0, viterbi = 0, gforward = 0, forward = 0;
};
inline std::map<std::string, OracleScores> parse_oracle(const std::string& text) {
  std::map<std::string, OracleScores> r;
  std::istringstream is(text);
  std::string line;
  while (std::getline(is, line)) {
    if (line.empty() || line[0] == 'P' || line[0] == 'S') {
      if (line.size() > 1 && line[1] == '\t') continue;
    }
    std::istringstream ls(line);
    std::string name, fwd;
    OracleScores o;
    if (!(ls >> name >> o.L >> o.null1 >> o.viterbi >> o.gforward >> fwd)) continue;
    o.forward = fwd == "nan" ? std::nan("") : std::stod(fwd);
    r[name] = o;
  }
  return r;
}

}  // namespace test
}  // namespace diffbio

#endif
