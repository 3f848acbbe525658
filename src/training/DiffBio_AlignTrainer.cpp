// SPDX-License-Identifier: BSD-3-Clause
#include <DiffBio_AlignTrainer.hpp>
#include <DiffBio_Optimizer.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numeric>
#include <random>

namespace diffbio {

using Exec = Kokkos::DefaultExecutionSpace;
using Mem = Exec::memory_space;
using SW = SmoothSmithWaterman<double, Exec>;

int alphabet_size_for(const std::string& alphabet, const std::vector<std::string>& sequences) {
  if (alphabet == "dna") return 5;
  if (alphabet == "protein") return 24;
  if (alphabet != "auto")
    throw Error(ExitCode::usage, "unknown alphabet '" + alphabet + "' (expected dna, protein or auto)");
  for (const auto& s : sequences)
    for (char c : s)
      if (std::string("ACGTUN").find(static_cast<char>(std::toupper(static_cast<unsigned char>(c)))) ==
          std::string::npos)
        return 24;
  return 5;
}

std::vector<std::uint8_t> encode_sequence(const std::string& s, int alphabet_size) {
  if (alphabet_size == 5) return encode_dna(s);
  if (alphabet_size == 24) return encode_protein(s);
  throw Error(ExitCode::usage, "alignment apps use alphabet sizes 5 (DNA) or 24 (protein), got " +
                                   std::to_string(alphabet_size));
}

AlignPairs pairs_from_msas(const std::vector<io::Msa>& msas, int alphabet_size, int partners,
                           int min_aligned) {
  AlignPairs out;
  out.alphabet_size = alphabet_size;
  for (const auto& msa : msas) {
    const std::size_t n = msa.rows.size();
    for (std::size_t a = 0; a < n; ++a)
      for (int k = 1; k <= partners; ++k) {
        const std::size_t b = a + static_cast<std::size_t>(k) * (n / (partners + 1) + 1);
        if (b >= n) break;
        const io::ReferencePair p = io::reference_pair(msa, a, b);
        if (static_cast<int>(p.aligned.size()) < min_aligned) continue;
        out.name_x.push_back(p.name_x);
        out.name_y.push_back(p.name_y);
        out.x.push_back(encode_sequence(p.x, alphabet_size));
        out.y.push_back(encode_sequence(p.y, alphabet_size));
        out.reference.push_back(p.aligned);
      }
  }
  return out;
}

namespace {
void append_pair(AlignPairs& dst, const AlignPairs& src, std::size_t i) {
  dst.name_x.push_back(src.name_x[i]);
  dst.name_y.push_back(src.name_y[i]);
  dst.x.push_back(src.x[i]);
  dst.y.push_back(src.y[i]);
  if (!src.reference.empty()) dst.reference.push_back(src.reference[i]);
}

/// Device batch of pairs [first, first + n) of `pairs`, padded to the longest sequence.
struct DeviceBatch {
  Kokkos::View<std::uint8_t**, Mem> x, y;
  Kokkos::View<int*, Mem> lx, ly;
  std::size_t n = 0, Lx = 0, Ly = 0;
};
DeviceBatch make_batch(const AlignPairs& pairs, const std::vector<std::size_t>& idx) {
  DeviceBatch d;
  d.n = idx.size();
  for (auto i : idx) {
    d.Lx = std::max(d.Lx, pairs.x[i].size());
    d.Ly = std::max(d.Ly, pairs.y[i].size());
  }
  d.Lx = std::max<std::size_t>(d.Lx, 1);
  d.Ly = std::max<std::size_t>(d.Ly, 1);
  d.x = Kokkos::View<std::uint8_t**, Mem>(label("align::x"), d.n, d.Lx);
  d.y = Kokkos::View<std::uint8_t**, Mem>(label("align::y"), d.n, d.Ly);
  d.lx = Kokkos::View<int*, Mem>(label("align::lx"), d.n);
  d.ly = Kokkos::View<int*, Mem>(label("align::ly"), d.n);
  auto hx = Kokkos::create_mirror_view(Kokkos::HostSpace(), d.x);
  auto hy = Kokkos::create_mirror_view(Kokkos::HostSpace(), d.y);
  auto hlx = Kokkos::create_mirror_view(Kokkos::HostSpace(), d.lx);
  auto hly = Kokkos::create_mirror_view(Kokkos::HostSpace(), d.ly);
  for (std::size_t b = 0; b < d.n; ++b) {
    const auto& xs = pairs.x[idx[b]];
    const auto& ys = pairs.y[idx[b]];
    hlx(b) = static_cast<int>(xs.size());
    hly(b) = static_cast<int>(ys.size());
    for (std::size_t i = 0; i < xs.size(); ++i) hx(b, i) = xs[i];
    for (std::size_t j = 0; j < ys.size(); ++j) hy(b, j) = ys[j];
  }
  Kokkos::deep_copy(d.x, hx);
  Kokkos::deep_copy(d.y, hy);
  Kokkos::deep_copy(d.lx, hlx);
  Kokkos::deep_copy(d.ly, hly);
  return d;
}
SW::Inputs inputs_of(const DeviceBatch& d) {
  SW::Inputs in;
  in.x_index = d.x;
  in.y_index = d.y;
  in.x_length = d.lx;
  in.y_length = d.ly;
  return in;
}
Kokkos::View<double*, Mem> device_params(const std::vector<double>& p) {
  Kokkos::View<double*, Mem> v(label("align::params"), p.size());
  auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), v);
  for (std::size_t k = 0; k < p.size(); ++k) h(k) = p[k];
  Kokkos::deep_copy(v, h);
  return v;
}
}  // namespace

void split_pairs(const AlignPairs& all, double train_fraction, double validation_fraction,
                 std::uint64_t seed, AlignPairs& train, AlignPairs& validation, AlignPairs& test) {
  std::vector<std::size_t> order(all.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 gen(seed);
  std::shuffle(order.begin(), order.end(), gen);
  const auto n_train = static_cast<std::size_t>(train_fraction * static_cast<double>(all.size()));
  const auto n_val = static_cast<std::size_t>(validation_fraction * static_cast<double>(all.size()));
  for (auto* s : {&train, &validation, &test}) {
    *s = AlignPairs{};
    s->alphabet_size = all.alphabet_size;
  }
  for (std::size_t k = 0; k < order.size(); ++k)
    append_pair(k < n_train ? train : (k < n_train + n_val ? validation : test), all, order[k]);
}

std::vector<double> align_scores(const SmoothSmithWatermanConfig& cfg,
                                 const std::vector<double>& params, const AlignPairs& pairs,
                                 std::vector<std::vector<double>>* posteriors, std::size_t batch) {
  SW sw(cfg);
  const auto p = device_params(params);
  std::vector<double> scores(pairs.size());
  if (posteriors) posteriors->assign(pairs.size(), {});
  // Sort by length so a batch pads little (scores are written back by original index).
  std::vector<std::size_t> order(pairs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return pairs.x[a].size() * pairs.y[a].size() < pairs.x[b].size() * pairs.y[b].size();
  });
  for (std::size_t first = 0; first < order.size(); first += batch) {
    std::vector<std::size_t> idx(order.begin() + first,
                                 order.begin() + std::min(order.size(), first + batch));
    const DeviceBatch d = make_batch(pairs, idx);
    const auto in = inputs_of(d);
    auto out = sw.allocate_outputs(in, posteriors != nullptr);
    auto ws = sw.allocate_workspace(in);
    sw.forward(Exec(), p, in, out, ws);
    auto hs = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.score);
    for (std::size_t b = 0; b < idx.size(); ++b) scores[idx[b]] = hs(b);
    if (posteriors) {
      auto hp = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.posterior);
      for (std::size_t b = 0; b < idx.size(); ++b) {
        const std::size_t lx = pairs.x[idx[b]].size(), ly = pairs.y[idx[b]].size();
        auto& post = (*posteriors)[idx[b]];
        post.resize(lx * ly);
        for (std::size_t i = 0; i < lx; ++i)
          for (std::size_t j = 0; j < ly; ++j) post[i * ly + j] = hp(b, i, j);
      }
    }
  }
  return scores;
}

double alignment_accuracy(SmoothSmithWatermanConfig cfg, const std::vector<double>& params,
                          const AlignPairs& pairs) {
  cfg.hard = true;
  std::vector<std::vector<double>> post;
  align_scores(cfg, params, pairs, &post);
  std::size_t total = 0, recovered = 0;
  for (std::size_t k = 0; k < pairs.size(); ++k) {
    const std::size_t ly = pairs.y[k].size();
    for (const auto& [i, j] : pairs.reference[k]) {
      ++total;
      // Hard mode: the posterior is the indicator of the max-scoring path's match cells.
      recovered += post[k][static_cast<std::size_t>(i) * ly + j] > 0.5;
    }
  }
  return total ? static_cast<double>(recovered) / static_cast<double>(total) : 0.0;
}

double reference_path_score(const SmoothSmithWatermanConfig& cfg, const std::vector<double>& params,
                            const std::vector<std::uint8_t>& x, const std::vector<std::uint8_t>& y,
                            const std::vector<std::pair<int, int>>& aligned,
                            std::vector<double>* grad) {
  const int A = cfg.alphabet_size;
  const std::size_t io = static_cast<std::size_t>(A) * A, ie = io + 1;
  const double open = params[io], extend = params[ie];
  if (grad) grad->assign(params.size(), 0.0);
  double s = 0;
  auto gap = [&](int k) {  // a run of k gap positions costs open + (k − 1)·extend
    if (k <= 0) return;
    s -= open + (k - 1) * extend;
    if (grad) {
      (*grad)[io] -= 1.0;
      (*grad)[ie] -= static_cast<double>(k - 1);
    }
  };
  int pi = -1, pj = -1;
  for (const auto& [i, j] : aligned) {
    if (pi >= 0 || !cfg.local) {  // gaps before the first pair count only in global mode
      gap(i - pi - 1);
      gap(j - pj - 1);
    }
    const std::size_t k = static_cast<std::size_t>(x[i]) * A + y[j];
    s += params[k];
    if (grad) (*grad)[k] += 1.0;
    pi = i;
    pj = j;
  }
  if (!cfg.local) {
    gap(static_cast<int>(x.size()) - pi - 1);
    gap(static_cast<int>(y.size()) - pj - 1);
  }
  return s;
}

AlignTrainResult train_alignment(const SmoothSmithWatermanConfig& cfg_in,
                                 const std::vector<double>& initial, const AlignPairs& train,
                                 const AlignPairs& validation, const AlignPairs& test,
                                 const AlignTrainConfig& tc,
                                 const std::function<void(const AlignEpoch&)>& progress) {
  SmoothSmithWatermanConfig cfg = cfg_in;
  cfg.hard = false;
  DIFFBIO_EXPECTS(!cfg.learn_temperature, "train_alignment keeps τ fixed");
  DIFFBIO_EXPECTS(train.size() > 0, "no training pairs");
  const int A = cfg.alphabet_size;
  const double tau = cfg.temperature;
  SW sw(cfg);
  ParameterLayout layout;
  const ParamBlock blk = sw.declare(layout);
  ParameterSet<double, Mem> ps(layout, "align");
  ps.set_block(blk, initial);
  OptimizerConfig oc;
  oc.learning_rate = tc.learning_rate;
  Optimizer<double, Exec> opt(oc, ps.size());

  AlignTrainResult r;
  r.params = initial;
  r.validation_before = alignment_accuracy(cfg, initial, validation);
  r.test_before = alignment_accuracy(cfg, initial, test);
  double best = r.validation_before;

  std::vector<std::size_t> order(train.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 gen(tc.seed);
  for (int epoch = 1; epoch <= tc.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), gen);
    double loss = 0;
    for (std::size_t first = 0; first < order.size(); first += tc.batch) {
      std::vector<std::size_t> idx(order.begin() + first,
                                   order.begin() + std::min(order.size(), first + tc.batch));
      const DeviceBatch d = make_batch(train, idx);
      const auto in = inputs_of(d);
      auto out = sw.allocate_outputs(in);
      auto ws = sw.allocate_workspace(in);
      ps.zero_grads(Exec());
      sw.forward(Exec(), ps.values(blk), in, out, ws);
      Kokkos::View<double*, Mem> dscore(label("align::dscore"), idx.size());
      Kokkos::deep_copy(dscore, 1.0 / tau);
      sw.adjoint(Exec(), ps.values(blk), in, ws, {dscore}, {}, ps.grads(blk));
      // ∂ℓ/∂θ = (E[φ] − φ(ref))/τ: subtract the reference counts on the host.
      const std::vector<double> p = ps.get_block(blk);
      std::vector<double> g = ps.get_block_grads(blk);
      auto hs = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), out.score);
      std::vector<double> phi;
      for (std::size_t b = 0; b < idx.size(); ++b) {
        const std::size_t i = idx[b];
        const double sref = reference_path_score(cfg, p, train.x[i], train.y[i], train.reference[i], &phi);
        loss += (hs(b) - sref) / tau;
        for (std::size_t k = 0; k < g.size(); ++k) g[k] -= phi[k] / tau;
      }
      if (tc.symmetric)
        for (int a = 0; a < A; ++a)
          for (int c = a + 1; c < A; ++c) {
            const double m = 0.5 * (g[a * A + c] + g[c * A + a]);
            g[a * A + c] = g[c * A + a] = m;
          }
      auto hg = Kokkos::create_mirror_view(Kokkos::HostSpace(), ps.grads(blk));
      for (std::size_t k = 0; k < g.size(); ++k) hg(k) = g[k];
      Kokkos::deep_copy(ps.grads(blk), hg);
      opt.step(Exec(), ps, 1.0 / static_cast<double>(idx.size()));
    }
    const std::vector<double> now = ps.get_block(blk);
    AlignEpoch e{epoch, loss / static_cast<double>(train.size()), alignment_accuracy(cfg, now, train),
                 alignment_accuracy(cfg, now, validation)};
    r.history.push_back(e);
    if (progress) progress(e);
    if (e.validation_accuracy > best) {
      best = e.validation_accuracy;
      r.best_epoch = epoch;
      r.params = now;
    }
  }
  r.validation_after = best;
  r.test_after = alignment_accuracy(cfg, r.params, test);
  return r;
}

}  // namespace diffbio
