// SPDX-License-Identifier: BSD-3-Clause
#include <DiffBio_Error.hpp>
#include <DiffBio_HmmerFile.hpp>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace diffbio::io {

// ---------------------------------------------------------------------------------------------
// Alphabets (Easel's esl_alphabet.c: symbol order, degeneracies; HMMER's p7_bg.c: background)

namespace {

void set_degen(HmmerAlphabet& a, char sym, const std::string& residues) {
  const auto c = a.symbols.find(sym);
  for (char r : residues) a.degen[c * a.K + a.symbols.find(r)] = 1;
}

HmmerAlphabet make_nucleic(HmmerAlphabetType t) {
  HmmerAlphabet a;
  a.type = t;
  a.K = 4;
  a.symbols = t == HmmerAlphabetType::dna ? "ACGT-RYMKSWHBVDN*~" : "ACGU-RYMKSWHBVDN*~";
  a.Kp = static_cast<int>(a.symbols.size());
  a.degen.assign(static_cast<std::size_t>(a.Kp) * a.K, 0);
  for (int r = 0; r < a.K; ++r) a.degen[r * a.K + r] = 1;
  const char T = a.symbols[3];
  const std::string ct = std::string("C") + T, at = std::string("A") + T, gt = std::string("G") + T;
  set_degen(a, 'R', "AG");
  set_degen(a, 'Y', ct);
  set_degen(a, 'M', "AC");
  set_degen(a, 'K', gt);
  set_degen(a, 'S', "CG");
  set_degen(a, 'W', at);
  set_degen(a, 'H', "AC" + std::string(1, T));
  set_degen(a, 'B', "CG" + std::string(1, T));
  set_degen(a, 'V', "ACG");
  set_degen(a, 'D', "AG" + std::string(1, T));
  set_degen(a, 'N', a.symbols.substr(0, 4));
  a.background.assign(4, 0.25);  // p7_bg_Create: uniform for nucleic acids
  return a;
}

}  // namespace

HmmerAlphabet HmmerAlphabet::amino() {
  HmmerAlphabet a;
  a.type = HmmerAlphabetType::amino;
  a.K = 20;
  a.symbols = "ACDEFGHIKLMNPQRSTVWY-BJZOUX*~";
  a.Kp = static_cast<int>(a.symbols.size());
  a.degen.assign(static_cast<std::size_t>(a.Kp) * a.K, 0);
  for (int r = 0; r < a.K; ++r) a.degen[r * a.K + r] = 1;
  set_degen(a, 'B', "ND");
  set_degen(a, 'J', "IL");
  set_degen(a, 'Z', "QE");
  set_degen(a, 'O', "K");  // pyrrolysine scored as lysine
  set_degen(a, 'U', "C");  // selenocysteine scored as cysteine
  set_degen(a, 'X', a.symbols.substr(0, 20));
  // p7_AminoFrequencies(): Swiss-Prot 50.8 (Oct 2006), 86.0M residues.
  a.background = {0.0787945, 0.0151600, 0.0535222, 0.0668298, 0.0397062, 0.0695071, 0.0229198,
                  0.0590092, 0.0594422, 0.0963728, 0.0237718, 0.0414386, 0.0482904, 0.0395639,
                  0.0540978, 0.0683364, 0.0540687, 0.0673417, 0.0114135, 0.0304133};
  return a;
}
HmmerAlphabet HmmerAlphabet::dna() { return make_nucleic(HmmerAlphabetType::dna); }
HmmerAlphabet HmmerAlphabet::rna() { return make_nucleic(HmmerAlphabetType::rna); }
HmmerAlphabet HmmerAlphabet::of(HmmerAlphabetType t) {
  return t == HmmerAlphabetType::amino ? amino() : (t == HmmerAlphabetType::dna ? dna() : rna());
}

int HmmerAlphabet::code(char c) const {
  char u = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (u == '.' || u == '_') u = '-';
  if (type == HmmerAlphabetType::dna && u == 'U') u = 'T';
  if (type == HmmerAlphabetType::rna && u == 'T') u = 'U';
  if (u == '\0') return -1;
  const auto p = symbols.find(u);
  return p == std::string::npos ? -1 : static_cast<int>(p);
}

std::vector<std::uint8_t> HmmerAlphabet::encode(const std::string& seq, const std::string& where,
                                                long long record) const {
  std::vector<std::uint8_t> out(seq.size());
  for (std::size_t i = 0; i < seq.size(); ++i) {
    const int c = code(seq[i]);
    if (c < 0) {
      const auto u = static_cast<unsigned char>(seq[i]);
      const std::string shown =
          (u > 0x20 && u < 0x7F) ? std::string("'") + seq[i] + "'" : "byte " + std::to_string(u);
      throw input_error(where, record,
                        "invalid residue " + shown + " at position " + std::to_string(i + 1) +
                            " for alphabet " + symbols.substr(0, K));
    }
    out[i] = static_cast<std::uint8_t>(c);
  }
  return out;
}

std::vector<double> HmmerAlphabet::code_weights() const {
  std::vector<double> w(static_cast<std::size_t>(Kp) * K, 0.0);
  for (int c = 0; c < Kp; ++c) {
    double z = 0;
    for (int a = 0; a < K; ++a) z += degen[c * K + a] * background[a];
    if (z <= 0) continue;  // gap, '*', '~'
    for (int a = 0; a < K; ++a) w[c * K + a] = degen[c * K + a] * background[a] / z;
  }
  return w;
}

// ---------------------------------------------------------------------------------------------
// Reader

namespace {

class Parser {
 public:
  Parser(std::istream& in, std::string name) : in_(in), name_(std::move(name)) {}

  std::vector<HmmerModel> run() {
    std::vector<HmmerModel> models;
    std::string line;
    for (;;) {
      // Skip blank lines between models (and at the end of the file).
      bool got = false;
      while (next(line)) {
        if (!blank(line)) {
          got = true;
          break;
        }
      }
      if (!got) break;
      models.push_back(read_model(line, static_cast<long long>(models.size() + 1)));
    }
    if (models.empty()) {
      model_no_ = 1;
      fail("empty file: no HMMER3 model");
    }
    return models;
  }

 private:
  static bool blank(const std::string& s) {
    for (char c : s)
      if (!std::isspace(static_cast<unsigned char>(c))) return false;
    return true;
  }
  static std::vector<std::string> tokens(const std::string& s) {
    std::vector<std::string> t;
    std::istringstream is(s);
    std::string w;
    while (is >> w) t.push_back(w);
    return t;
  }

  bool next(std::string& line) {
    if (!std::getline(in_, line)) {
      if (in_.bad()) fail("read error after line " + std::to_string(line_no_));
      return false;
    }
    ++line_no_;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    for (std::size_t i = 0; i < line.size(); ++i) {
      const auto c = static_cast<unsigned char>(line[i]);
      if ((c < 0x20 && c != '\t') || c >= 0x7F) {
        if (line_no_ == 1 && i == 0 && c == 0x1F)
          fail_at("file is gzip-compressed; decompress it first");
        fail_at("non-ASCII or control byte " + std::to_string(c) + " in column " +
                std::to_string(i + 1));
      }
    }
    return true;
  }
  // A line that must exist: the model would be truncated without it.
  std::string need(const std::string& what) {
    std::string line;
    if (!next(line))
      fail("truncated model: file ends after line " + std::to_string(line_no_) + " where " + what +
           " was expected");
    return line;
  }

  [[noreturn]] void fail(const std::string& problem) const {
    throw input_error(name_, model_no_, problem);
  }
  [[noreturn]] void fail_at(const std::string& problem) const {
    fail("line " + std::to_string(line_no_) + ": " + problem);
  }

  // "−ln p" field: a non-negative decimal, or "*" for p = 0. Returns p.
  double prob(const std::string& tok, const std::string& what) const {
    if (tok == "*") return 0.0;
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(tok.c_str(), &end);
    if (end == tok.c_str() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
      fail_at(what + ": '" + tok + "' is not a number or '*'");
    if (v < 0) fail_at(what + ": negative value '" + tok + "' (fields are -ln p >= 0)");
    return std::exp(-v);
  }
  int integer(const std::string& tok, const std::string& what) const {
    errno = 0;
    char* end = nullptr;
    const long v = std::strtol(tok.c_str(), &end, 10);
    if (end == tok.c_str() || *end != '\0' || errno == ERANGE || v < -2147483647L ||
        v > 2147483647L)
      fail_at(what + ": '" + tok + "' is not an integer");
    return static_cast<int>(v);
  }
  double real(const std::string& tok, const std::string& what) const {
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(tok.c_str(), &end);
    if (end == tok.c_str() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
      fail_at(what + ": '" + tok + "' is not a number");
    return v;
  }

  // Reads `n` probabilities from tokens [first, first+n) of a line.
  void probs(const std::vector<std::string>& t, std::size_t first, int n, const std::string& what,
             double* out, bool check_sum) const {
    if (t.size() < first + static_cast<std::size_t>(n))
      fail_at(what + ": expected " + std::to_string(n) + " values, got " +
              std::to_string(t.size() > first ? t.size() - first : 0));
    double s = 0;
    for (int a = 0; a < n; ++a) s += (out[a] = prob(t[first + a], what));
    // Five decimals of −ln p: each p is exact to ~5e-6 relative; 1e-3 catches real damage only.
    if (check_sum && std::fabs(s - 1.0) > 1e-3)
      fail_at(what + ": probabilities sum to " + std::to_string(s) + ", not 1");
  }

  void transitions(const std::string& line, int k, double* t) const {
    const auto tok = tokens(line);
    const std::string what = "node " + std::to_string(k) + " transitions";
    if (tok.size() != 7)
      fail_at(what + ": expected 7 values (m->m m->i m->d i->m i->i d->m d->d), got " +
              std::to_string(tok.size()));
    probs(tok, 0, 7, what, t, false);
    auto check = [&](double s, const char* state) {
      if (std::fabs(s - 1.0) > 1e-3)
        fail_at(what + ": " + state + " transitions sum to " + std::to_string(s) + ", not 1");
    };
    check(t[hmmer_MM] + t[hmmer_MI] + t[hmmer_MD], "match");
    check(t[hmmer_IM] + t[hmmer_II], "insert");
    check(t[hmmer_DM] + t[hmmer_DD], "delete");
  }

  HmmerModel read_model(const std::string& first, long long model_no) {
    model_no_ = model_no;
    HmmerModel m;
    const auto ft = tokens(first);
    if (ft.empty() || ft[0].rfind("HMMER3/", 0) != 0) {
      if (!ft.empty() && ft[0].rfind("HMMER2", 0) == 0)
        fail_at("HMMER2 format is not supported; convert the file with 'hmmconvert'");
      fail_at(
          "expected a format line starting with 'HMMER3/' (e.g. 'HMMER3/f [3.1b2 | February "
          "2015]'), found '" +
          first.substr(0, 40) + "'");
    }
    m.format = ft[0];
    if (m.format.size() != 8 || m.format[7] < 'a' || m.format[7] > 'f')
      fail_at("unknown HMMER3 format version '" + m.format + "' (HMMER3/a to HMMER3/f are read)");

    // ---- header
    bool have_alph = false;
    int leng = -1;
    std::string line;
    for (;;) {
      line = need("a header tag or the 'HMM' line");
      const auto t = tokens(line);
      if (t.empty()) fail_at("blank line inside the header");
      const std::string& tag = t[0];
      auto rest = [&]() {
        const auto p = line.find_first_not_of(" \t", line.find(tag) + tag.size());
        return p == std::string::npos ? std::string() : line.substr(p);
      };
      if (tag == "HMM") break;
      if (tag == "NAME") {
        if (t.size() != 2) fail_at("NAME must be followed by one word");
        m.name = t[1];
      } else if (tag == "ACC") {
        if (t.size() != 2) fail_at("ACC must be followed by one word");
        m.accession = t[1];
      } else if (tag == "DESC") {
        m.description = rest();
      } else if (tag == "LENG") {
        if (t.size() != 2) fail_at("LENG must be followed by one integer");
        leng = integer(t[1], "LENG");
        if (leng < 1) fail_at("LENG must be at least 1, got " + t[1]);
        if (leng > 100000) fail_at("LENG " + t[1] + " is implausibly large (limit 100000)");
      } else if (tag == "ALPH") {
        if (t.size() != 2) fail_at("ALPH must be followed by one word");
        std::string a = t[1];
        for (char& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (a == "amino")
          m.alphabet = HmmerAlphabet::amino();
        else if (a == "dna")
          m.alphabet = HmmerAlphabet::dna();
        else if (a == "rna")
          m.alphabet = HmmerAlphabet::rna();
        else
          fail_at("unsupported alphabet '" + t[1] + "' (amino, DNA and RNA are read)");
        have_alph = true;
      } else if (tag == "NSEQ") {
        if (t.size() != 2) fail_at("NSEQ must be followed by one integer");
        m.nseq = integer(t[1], "NSEQ");
      } else if (tag == "EFFN") {
        if (t.size() != 2) fail_at("EFFN must be followed by one number");
        m.effn = real(t[1], "EFFN");
      } else if (tag == "MAXL" || tag == "RF" || tag == "MM" || tag == "CONS" || tag == "CS" ||
                 tag == "MAP" || tag == "DATE" || tag == "COM" || tag == "CKSUM" || tag == "GA" ||
                 tag == "TC" || tag == "NC" || tag == "STATS" || tag == "BM" || tag == "SM") {
        // Annotation, search cutoffs and calibration: not needed to score.
      } else {
        fail_at("unknown header tag '" + tag + "'");
      }
    }
    if (m.name.empty()) fail_at("the header has no NAME line");
    if (leng < 0) fail_at("the header has no LENG line");
    if (!have_alph) fail_at("the header has no ALPH line");
    m.M = leng;
    const int K = m.alphabet.K;

    // ---- "HMM" symbol line and the transition header line
    {
      const auto t = tokens(line);
      std::string syms;
      for (std::size_t i = 1; i < t.size(); ++i) syms += t[i];
      if (syms != m.alphabet.symbols.substr(0, K))
        fail_at("the HMM line lists symbols '" + syms + "', expected '" +
                m.alphabet.symbols.substr(0, K) + "' for this alphabet");
      line = need("the transition header 'm->m m->i m->d i->m i->i d->m d->d'");
      const auto h = tokens(line);
      const std::vector<std::string> want{"m->m", "m->i", "m->d", "i->m", "i->i", "d->m", "d->d"};
      if (h != want) fail_at("expected the transition header 'm->m m->i m->d i->m i->i d->m d->d'");
    }

    m.match.assign(static_cast<std::size_t>(m.M + 1) * K, 0.0);
    m.insert.assign(static_cast<std::size_t>(m.M + 1) * K, 0.0);
    m.transitions.assign(static_cast<std::size_t>(m.M + 1) * 7, 0.0);

    // ---- optional COMPO, then node 0 (insert-0 emissions, B transitions)
    line = need("the COMPO line or the node 0 insert emissions");
    {
      const auto t = tokens(line);
      if (!t.empty() && t[0] == "COMPO") {
        m.compo.resize(K);
        if (t.size() != static_cast<std::size_t>(K) + 1)
          fail_at("COMPO: expected " + std::to_string(K) + " values, got " +
                  std::to_string(t.size() - 1));
        probs(t, 1, K, "COMPO", m.compo.data(), true);
        line = need("the node 0 insert emissions");
      }
    }
    {
      const auto t = tokens(line);
      if (t.size() != static_cast<std::size_t>(K))
        fail_at("node 0 insert emissions: expected " + std::to_string(K) + " values, got " +
                std::to_string(t.size()));
      probs(t, 0, K, "node 0 insert emissions", &m.insert[0], true);
    }
    transitions(need("the node 0 transitions"), 0, &m.transitions[0]);

    // ---- nodes 1..M
    for (int k = 1; k <= m.M; ++k) {
      const std::string node = "node " + std::to_string(k);
      line = need(node + " match emissions");
      auto t = tokens(line);
      if (!t.empty() && t[0] == "//")
        fail_at("model ends after " + std::to_string(k - 1) + " nodes but LENG is " +
                std::to_string(m.M));
      if (t.empty()) fail_at(node + " match emissions: blank line");
      if (integer(t[0], node + " number") != k)
        fail_at("expected node " + std::to_string(k) + ", found node number '" + t[0] + "'");
      probs(t, 1, K, node + " match emissions", &m.match[static_cast<std::size_t>(k) * K], true);
      // 3/f writes MAP, CONS, RF, MM and CS after the emissions; older versions fewer.
      if (t.size() > static_cast<std::size_t>(K) + 1 + 5)
        fail_at(node + " match line: " + std::to_string(t.size() - K - 1) +
                " annotation columns after the emissions, at most 5 expected");
      line = need(node + " insert emissions");
      t = tokens(line);
      if (t.size() != static_cast<std::size_t>(K))
        fail_at(node + " insert emissions: expected " + std::to_string(K) + " values, got " +
                std::to_string(t.size()));
      probs(t, 0, K, node + " insert emissions", &m.insert[static_cast<std::size_t>(k) * K], true);
      transitions(need(node + " transitions"), k, &m.transitions[static_cast<std::size_t>(k) * 7]);
    }
    line = need("the end-of-model line '//'");
    {
      const auto t = tokens(line);
      if (t.size() != 1 || t[0] != "//") {
        if (!t.empty() && t[0] == std::to_string(m.M + 1))
          fail_at("model has more nodes than LENG " + std::to_string(m.M));
        fail_at("expected the end-of-model line '//'");
      }
    }
    return m;
  }

  std::istream& in_;
  std::string name_;
  long long model_no_ = 1;
  std::size_t line_no_ = 0;
};

}  // namespace

std::vector<HmmerModel> parse_hmmer3(std::istream& in, const std::string& name) {
  return Parser(in, name).run();
}

std::vector<HmmerModel> read_hmmer3_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw input_error(path, -1, "cannot open file: is a directory");
  errno = 0;
  std::ifstream in(path, std::ios::in | std::ios::binary);
  if (!in.is_open()) {
    const int err = errno;
    throw input_error(path, -1,
                      err != 0 ? "cannot open file: " + std::generic_category().message(err)
                               : std::string("cannot open file"));
  }
  return parse_hmmer3(in, path);
}

HmmerModel read_hmmer3_model(const std::string& path) {
  auto all = read_hmmer3_file(path);
  return std::move(all.front());
}

}  // namespace diffbio::io
