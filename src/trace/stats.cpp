#include "trace/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "common/error.h"
#include "common/numeric.h"
#include "common/progress.h"
#include "trace/trace_io.h"

namespace epbench {

namespace {

// Pending 32-bit counters are folded into s_ before any of them could wrap.
constexpr uint64_t kFlushTokens = 0xFFFFFFFFull;

// The hot loops, with K a compile-time constant for the common top-k values so the inner
// loops unroll (K = 0: read it at run time).
struct LayerView {
  const uint16_t* ids;   // this layer's ids, token t at ids + t * k (layer-major copy)
  const uint16_t* next;  // the next layer's, or null
  size_t n, E;
  int k;
};

template <int K>
void count_loads_pairs(const LayerView& v, const uint16_t* group, uint32_t* load, uint32_t* pair) {
  const int k = K ? K : v.k;
  for (size_t t = 0; t < v.n; ++t) {
    const uint16_t* x = v.ids + t * k;
    uint32_t* load_row = load + group[t] * v.E;
    for (int i = 0; i < k; ++i) ++load_row[x[i]];
    if (!pair) continue;
    // Ordered by rank (row: the higher-ranked expert), symmetrised in flush(). Sorting each
    // pair with min/max instead compiled to unpredictable branches: 3-4x slower at k = 8.
    for (int i = 0; i < k; ++i) {
      uint32_t* row = pair + x[i] * v.E;
      for (int j = i + 1; j < k; ++j) ++row[x[j]];
    }
  }
}

template <int K>
void count_transitions_k(const LayerView& v, uint32_t* top1, uint32_t* rank) {
  const int k = K ? K : v.k;
  for (size_t t = 0; t < v.n; ++t) {
    const uint16_t* x = v.ids + t * k;
    const uint16_t* y = v.next + t * k;  // the same token in the next layer
    ++top1[x[0] * v.E + y[0]];
    // Ranks 1..k-1 only: rank 0 is the top-1 matrix, added back in flush().
    for (int r = 1; r < k; ++r) ++rank[x[r] * v.E + y[r]];
  }
}

template <class Fn>
void dispatch_k(int k, Fn&& fn) {
  switch (k) {
    case 1:
      fn(std::integral_constant<int, 1>{});
      break;
    case 2:
      fn(std::integral_constant<int, 2>{});
      break;
    case 4:
      fn(std::integral_constant<int, 4>{});
      break;
    case 6:
      fn(std::integral_constant<int, 6>{});
      break;
    case 8:
      fn(std::integral_constant<int, 8>{});
      break;
    default:
      fn(std::integral_constant<int, 0>{});
      break;
  }
}

void add_into(std::vector<uint64_t>& dst, std::vector<uint32_t>& src) {
  for (size_t i = 0; i < src.size(); ++i) dst[i] += src[i];
  std::fill(src.begin(), src.end(), 0u);
}

}  // namespace

StatsAccumulator::StatsAccumulator(const TraceHeader& h, const TraceRequests& requests,
                                   StatsOptions opt)
    : requests_(requests), opt_(opt) {
  if (h.num_layers <= 0 || h.num_experts <= 0 || h.top_k <= 0 || h.top_k > h.num_experts)
    throw InputError("stats: bad model shape (layers " + std::to_string(h.num_layers) +
                     ", experts " + std::to_string(h.num_experts) + ", top_k " +
                     std::to_string(h.top_k) + ")");
  s_.num_layers = h.num_layers;
  s_.num_experts = h.num_experts;
  s_.top_k = h.top_k;
  const size_t L = sz(h.num_layers), E = sz(h.num_experts);
  const size_t D = requests.domain.empty() ? 0 : h.domains.size();
  if (D) s_.domains = h.domains;
  groups_per_phase_ = static_cast<int>(std::max<size_t>(D, 1));
  s_.tokens_by_domain.assign(D, 0);
  if (D && (requests.domain.size() + 1 != requests.token_offset.size() ||
            std::any_of(requests.domain.begin(), requests.domain.end(),
                        [&](uint16_t d) { return d >= D; })))
    throw InputError("stats: request domains do not match the trace's domain names");
  s_.load.assign(L * E, 0);
  s_.load_by_phase.assign(2 * L * E, 0);
  s_.load_by_domain.assign(D * L * E, 0);
  group_load_.assign(L * 2 * sz(groups_per_phase_) * E, 0);
  if (opt_.pairs) {
    s_.pairs.assign(L * E * E, 0);
    pair_.assign(L * E * E, 0);
  }
  if (opt_.transitions && L > 1) {
    for (auto* m : {&s_.transitions_top1, &s_.transitions_rank}) m->assign((L - 1) * E * E, 0);
    top1_.assign((L - 1) * E * E, 0);
    rank_.assign((L - 1) * E * E, 0);
  }
}

void StatsAccumulator::check_block(const TokenBlock& b) const {
  const size_t n = b.size();
  if (b.num_layers != s_.num_layers || b.top_k != s_.top_k ||
      b.expert_ids.size() != n * sz(s_.num_layers) * sz(s_.top_k))
    throw InputError("stats: token block shape does not match the trace header");
  const auto& off = requests_.token_offset;
  if (!off.empty() && b.first_token + n > off.back())
    throw InputError("stats: token block [" + std::to_string(b.first_token) + ", " +
                     std::to_string(b.first_token + n) + ") beyond the last request");
  if (b.phase.size() != n ||
      std::any_of(b.phase.begin(), b.phase.end(), [](uint8_t p) { return p > 1; }))
    throw InputError("stats: token phase must be 0 or 1 in token block at " +
                     std::to_string(b.first_token));
  // One vectorised pass; an id out of range would otherwise write out of bounds.
  if (!b.expert_ids.empty() &&
      *std::max_element(b.expert_ids.begin(), b.expert_ids.end()) >= s_.num_experts)
    throw InputError("stats: expert id out of range in token block at " +
                     std::to_string(b.first_token));
}

void StatsAccumulator::resolve_groups(const TokenBlock& b) {
  const size_t n = b.size();
  token_group_.resize(n);
  const auto& off = requests_.token_offset;
  const bool domains = !s_.tokens_by_domain.empty();
  // Binary search once for the request holding the block's first token, then walk.
  size_t r = 0;
  if (domains)
    r = static_cast<size_t>(std::upper_bound(off.begin(), off.end(), b.first_token) - off.begin()) -
        1;
  for (size_t t = 0; t < n; ++t) {
    const uint8_t phase = b.phase[t];
    ++s_.tokens_by_phase[phase];
    size_t d = 0;
    if (domains) {
      while (b.first_token + t >= off[r + 1]) ++r;
      d = requests_.domain[r];
      ++s_.tokens_by_domain[d];
    }
    token_group_[t] = static_cast<uint16_t>(phase * sz(groups_per_phase_) + d);
  }
  s_.tokens += n;
}

// Why a layer-major copy: a layer's ids in the token-major block are k of every L * k values,
// so each layer pass would pull a whole cache line per token (16x the data for k = 2, L = 32).
void StatsAccumulator::transpose(const TokenBlock& b) {
  const size_t n = b.size(), L = sz(s_.num_layers), K = sz(s_.top_k);
  layer_ids_.resize(n * L * K);
  dispatch_k(s_.top_k, [&](auto kc) {
    constexpr size_t KC = decltype(kc)::value;
    const size_t k = KC ? KC : K;  // constant k: each copy is one fixed-size move
    const uint16_t* src = b.expert_ids.data();
    uint16_t* dst = layer_ids_.data();
    // In tiles of 64 tokens: writing all L layers token by token would hit L addresses a
    // power-of-two apart, all in one cache set.
    for (size_t t0 = 0; t0 < n; t0 += 64) {
      const size_t t1 = std::min(n, t0 + 64);
      for (size_t l = 0; l < L; ++l)
        for (size_t t = t0; t < t1; ++t)
          std::copy_n(src + (t * L + l) * k, k, dst + (l * n + t) * k);
    }
  });
}

void StatsAccumulator::count_layer(size_t n, int layer) {
  const size_t E = sz(s_.num_experts), K = sz(s_.top_k), l = sz(layer);
  const bool next = !top1_.empty() && layer + 1 < s_.num_layers;
  LayerView v{&layer_ids_[l * n * K], next ? &layer_ids_[(l + 1) * n * K] : nullptr, n, E,
              s_.top_k};
  uint32_t* load = group_load_.data() + l * 2 * sz(groups_per_phase_) * E;
  uint32_t* pair = opt_.pairs ? pair_.data() + l * E * E : nullptr;
  const size_t at = l * E * E;
  // Separate passes so each works on one E x E matrix at a time (cache).
  dispatch_k(s_.top_k, [&](auto k) {
    count_loads_pairs<decltype(k)::value>(v, token_group_.data(), load, pair);
    if (next) count_transitions_k<decltype(k)::value>(v, top1_.data() + at, rank_.data() + at);
  });
}

void StatsAccumulator::add(const TokenBlock& block) {
  if (block.size() == 0) return;
  check_block(block);
  if (pending_tokens_ + block.size() > kFlushTokens) flush();
  resolve_groups(block);
  transpose(block);
  // Layer-major so one layer's E x E matrices stay in cache while the block streams by.
  for (int l = 0; l < s_.num_layers; ++l) count_layer(block.size(), l);
  pending_tokens_ += block.size();
}

void StatsAccumulator::flush() const {
  const size_t L = sz(s_.num_layers), E = sz(s_.num_experts), gpp = sz(groups_per_phase_);
  const bool domains = !s_.tokens_by_domain.empty();
  for (size_t l = 0; l < L; ++l)
    for (size_t g = 0; g < 2 * gpp; ++g)
      for (size_t e = 0; e < E; ++e) {
        uint32_t& c = group_load_[(l * 2 * gpp + g) * E + e];
        const size_t phase = g / gpp, domain = g % gpp;
        s_.load[l * E + e] += c;
        s_.load_by_phase[(phase * L + l) * E + e] += c;
        if (domains) s_.load_by_domain[(domain * L + l) * E + e] += c;
        c = 0;
      }
  if (!pair_.empty())
    for (size_t l = 0; l < L; ++l)
      for (size_t a = 0; a < E; ++a)
        for (size_t b = a + 1; b < E; ++b) {
          uint32_t& ab = pair_[(l * E + a) * E + b];
          uint32_t& ba = pair_[(l * E + b) * E + a];
          const uint64_t c = uint64_t{ab} + ba;
          s_.pairs[(l * E + a) * E + b] += c;
          s_.pairs[(l * E + b) * E + a] += c;
          ab = ba = 0;
        }
  if (!top1_.empty()) {
    for (size_t i = 0; i < top1_.size(); ++i) s_.transitions_rank[i] += top1_[i];
    add_into(s_.transitions_top1, top1_);
    add_into(s_.transitions_rank, rank_);
  }
  pending_tokens_ = 0;
}

const TraceStats& StatsAccumulator::stats() const {
  flush();
  return s_;
}

TraceStats StatsAccumulator::take() {
  flush();
  return std::move(s_);
}

uint64_t stats_block_tokens(const TraceHeader& h, uint64_t chunk_tokens) {
  const uint64_t chunk = std::max<uint64_t>(chunk_tokens, 1);
  const uint64_t E = static_cast<uint64_t>(std::max(h.num_experts, 0));
  const uint64_t cap = (uint64_t{64} << 20) / std::max<uint64_t>(h.ids_per_token() * 2, 1);
  const uint64_t want = std::min(E * E / 4, cap);
  return std::max<uint64_t>(1, (want + chunk - 1) / chunk) * chunk;  // whole chunks
}

TraceStats compute_stats(const TraceReader& reader, StatsOptions opt) {
  const TraceHeader& h = reader.header();
  StatsAccumulator acc(h, reader.requests(), opt);
  std::optional<Progress> progress;
  if (opt.progress) progress.emplace("stats " + reader.path(), h.num_tokens);
  uint64_t done = 0;
  reader.for_each_block(
      [&](const TokenBlock& b) {
        acc.add(b);
        done += b.size();
        if (progress) progress->update(done);
      },
      opt.block_tokens ? opt.block_tokens : stats_block_tokens(h, reader.chunk_tokens()));
  return acc.take();
}

// ---- summaries ----

LoadSummary summarize_load(const uint64_t* counts, int num_experts) {
  LoadSummary s;
  if (num_experts <= 0) return s;
  const size_t E = sz(num_experts);
  const uint64_t total = std::accumulate(counts, counts + E, uint64_t{0});
  if (total == 0) return s;
  const size_t hot = static_cast<size_t>(std::max_element(counts, counts + E) - counts);
  const double mean = dbl(total) / dbl(E);
  double var = 0, h = 0;
  for (size_t e = 0; e < E; ++e) {
    const double c = dbl(counts[e]), p = c / dbl(total);
    var += (c - mean) * (c - mean);
    if (p > 0) h -= p * std::log2(p);
  }
  s.hottest = static_cast<int>(hot);
  s.max_over_mean = dbl(counts[hot]) / mean;
  s.cv = std::sqrt(var / dbl(E)) / mean;
  s.entropy_bits = h;
  // One expert: the only possible distribution, call it uniform.
  s.entropy_norm = E > 1 ? h / std::log2(dbl(E)) : 1.0;
  return s;
}

double js_divergence_bits(const uint64_t* p, const uint64_t* q, int n) {
  const size_t N = sz(std::max(n, 0));
  const double sp = dbl(std::accumulate(p, p + N, uint64_t{0}));
  const double sq = dbl(std::accumulate(q, q + N, uint64_t{0}));
  if (sp == 0 || sq == 0) return 0;
  double js = 0;
  for (size_t i = 0; i < N; ++i) {
    const double a = dbl(p[i]) / sp, b = dbl(q[i]) / sq, m = 0.5 * (a + b);
    if (a > 0) js += 0.5 * a * std::log2(a / m);
    if (b > 0) js += 0.5 * b * std::log2(b / m);
  }
  return std::clamp(js, 0.0, 1.0);  // rounding can stray just outside
}

std::vector<int> hottest_experts(const uint64_t* counts, int num_experts, int n) {
  std::vector<int> idx(sz(std::max(num_experts, 0)));
  std::iota(idx.begin(), idx.end(), 0);
  const size_t m = std::min(idx.size(), sz(std::max(n, 0)));
  std::partial_sort(
      idx.begin(), idx.begin() + static_cast<ptrdiff_t>(m), idx.end(),
      [&](int a, int b) { return counts[a] != counts[b] ? counts[a] > counts[b] : a < b; });
  idx.resize(m);
  return idx;
}

namespace {

// tokens * k(k-1) / (k^2 - sum_e p_e^2): the factor turning p_a * p_b into an expected count.
double pair_scale(const TraceStats& s, int layer) {
  const double T = dbl(s.tokens), k = s.top_k;
  if (T == 0 || s.top_k < 2) return 0;
  double sumsq = 0;
  for (int e = 0; e < s.num_experts; ++e) {
    const double p = dbl(s.load_at(layer, e)) / T;
    sumsq += p * p;
  }
  const double denom = k * k - sumsq;
  return denom > 0 ? T * k * (k - 1) / denom : 0;
}

PairLift make_lift(const TraceStats& s, int layer, int a, int b, double scale) {
  PairLift p{layer, a, b, s.pairs.empty() ? 0 : s.pair_at(layer, a, b), 0, 0};
  const double T = dbl(s.tokens);
  if (T > 0) p.expected = scale * (dbl(s.load_at(layer, a)) / T) * (dbl(s.load_at(layer, b)) / T);
  p.lift = p.expected > 0 ? dbl(p.count) / p.expected : 0;
  return p;
}

}  // namespace

PairLift pair_lift(const TraceStats& s, int layer, int a, int b) {
  return make_lift(s, layer, a, b, pair_scale(s, layer));
}

std::vector<PairLift> top_pairs(const TraceStats& s, int layer, int n) {
  std::vector<PairLift> out;
  if (s.pairs.empty() || layer < 0 || layer >= s.num_layers || n <= 0) return out;
  const double scale = pair_scale(s, layer);
  for (int a = 0; a < s.num_experts; ++a)
    for (int b = a + 1; b < s.num_experts; ++b)
      if (s.pair_at(layer, a, b) > 0) out.push_back(make_lift(s, layer, a, b, scale));
  const size_t m = std::min(out.size(), sz(n));
  std::partial_sort(out.begin(), out.begin() + static_cast<ptrdiff_t>(m), out.end(),
                    [](const PairLift& x, const PairLift& y) {
                      if (x.count != y.count) return x.count > y.count;
                      return x.a != y.a ? x.a < y.a : x.b < y.b;
                    });
  out.resize(m);
  return out;
}

double transition_mutual_information(const TraceStats& s, int layer) {
  if (s.transitions_top1.empty() || layer < 0 || layer + 1 >= s.num_layers) return 0;
  const size_t E = sz(s.num_experts);
  const uint64_t* m = s.transitions_top1.data() + sz(layer) * E * E;
  std::vector<double> row(E, 0), col(E, 0);
  double total = 0;
  for (size_t a = 0; a < E; ++a)
    for (size_t b = 0; b < E; ++b) {
      row[a] += dbl(m[a * E + b]);
      col[b] += dbl(m[a * E + b]);
      total += dbl(m[a * E + b]);
    }
  if (total == 0) return 0;
  double mi = 0;
  for (size_t a = 0; a < E; ++a)
    for (size_t b = 0; b < E; ++b)
      if (const double c = dbl(m[a * E + b]); c > 0)
        mi += c / total * std::log2(c * total / (row[a] * col[b]));
  return std::max(mi, 0.0);
}

}  // namespace epbench
