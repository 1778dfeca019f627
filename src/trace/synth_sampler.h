#pragma once
// The hot path of the synthetic trace generator (internal to synth.cpp and its benchmark):
// sequential Plackett-Luce top-k without replacement. Each draw comes from the mixture of
// the (layer, domain) base weights, through an alias table, and a short list of experts
// boosted for this token (co-activation group-mates, cross-layer successors); draws that hit
// an expert already chosen are rejected, which keeps the draw exact.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "common/rng.h"

namespace epbench {

// Walker's alias method: one 64-bit random number per draw (32 bits pick the cell, 32 bits
// decide between the cell and its alias), one 8-byte cell read.
class AliasTable {
 public:
  void build(const std::vector<double>& weights);
  int draw(uint64_t r) const {
    const Cell& c = cells_[((r >> 32) * n_) >> 32];
    return static_cast<int>((r & 0xFFFFFFFFull) < c.threshold ? &c - cells_.data() : c.alias);
  }

 private:
  struct Cell {
    uint32_t threshold;  // keep the cell when the low 32 bits are below this
    uint32_t alias;
  };
  uint64_t n_ = 0;
  std::vector<Cell> cells_;
};

struct LayerStructure {
  std::vector<int> group_of;             // expert -> group, -1 when in none
  std::vector<std::vector<int>> groups;  // planted co-activation groups
  std::vector<uint16_t> members;         // the groups' experts, group after group
  std::vector<uint32_t> group_begin;     // [G+1] offsets into members
  std::vector<uint16_t> successor;       // expert -> expert of the next layer
};

struct LayerDomainTable {
  std::vector<double> weight;        // Plackett-Luce base weights, fitted by calibration
  std::vector<double> group_weight;  // [G] sum of the base weights of each group's members
  double total = 0;
  AliasTable alias;
  void rebuild(const LayerStructure& s);
};

struct SynthModel {
  int num_layers = 0, num_experts = 0, top_k = 0, num_domains = 1;
  double coact = 0, affinity = 0;
  std::vector<LayerStructure> layers;       // [L]
  std::vector<LayerDomainTable> tables;     // [L * D], index l * D + d
  std::vector<std::vector<double>> target;  // [L * D] wanted load, mean 1
  std::vector<double> calibrated_ratio;     // [L] max/mean reached in calibration
  std::vector<std::string> warnings;

  const LayerDomainTable& table(int l, int d) const { return tables[size_t(l) * num_domains + d]; }
  LayerDomainTable& table(int l, int d) { return tables[size_t(l) * num_domains + d]; }
};

// Per-thread scratch for sampling tokens; cheap to construct.
class TokenSampler {
 public:
  explicit TokenSampler(const SynthModel& m);
  // One token of domain `d` through every layer: ids [L * k] in draw order, and gate weights
  // (descending, summing to 1 per layer) when `gates` is not null.
  void sample_token(int d, Rng& rng, uint16_t* ids, float* gates);

 private:
  struct Boost {
    int id;        // expert (successor boosts) or group (group boosts)
    double extra;  // successor: extra weight; group: unchosen members' base weight
    int count;     // group: chosen members so far
  };

  void sample_layer(int l, const LayerDomainTable& t, const uint16_t* prev, Rng& rng,
                    uint16_t* out);
  int draw(const LayerStructure& s, const LayerDomainTable& t, Rng& rng);
  int draw_boosted(const LayerStructure& s, const LayerDomainTable& t, double u);
  int exact_draw(const LayerStructure& s, const LayerDomainTable& t, Rng& rng) const;
  void choose(const LayerStructure& s, const LayerDomainTable& t, int e);
  double boost_of(const LayerStructure& s, const LayerDomainTable& t, int e) const;
  bool chosen(int e) const { return stamp_[e] == epoch_; }
  void fill_gates(Rng& rng, float* g) const;

  const SynthModel& m_;
  std::vector<uint32_t> stamp_;  // [E] == epoch_: chosen in the current token-layer
  uint32_t epoch_ = 0;
  std::vector<Boost> succ_, group_;
  double succ_total_ = 0, group_total_ = 0;
};

// ---- inline definitions: this is the inner loop, so it stays visible to the optimiser ----

inline void AliasTable::build(const std::vector<double>& weights) {
  n_ = weights.size();
  cells_.assign(n_, Cell{0xFFFFFFFFu, 0});
  double total = 0;
  for (double w : weights) total += w;
  std::vector<double> scaled(n_);
  std::vector<uint32_t> small, large;
  for (uint32_t i = 0; i < n_; ++i) {
    scaled[i] = weights[i] * static_cast<double>(n_) / total;
    cells_[i].alias = i;
    (scaled[i] < 1 ? small : large).push_back(i);
  }
  while (!small.empty() && !large.empty()) {
    const uint32_t s = small.back(), l = large.back();
    small.pop_back();
    cells_[s].threshold = static_cast<uint32_t>(scaled[s] * 4294967295.0);
    cells_[s].alias = l;
    scaled[l] -= 1 - scaled[s];
    if (scaled[l] < 1) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // Cells left over are full up to rounding: they keep the defaults (always themselves).
}

inline void LayerDomainTable::rebuild(const LayerStructure& s) {
  total = 0;
  for (double w : weight) total += w;
  group_weight.assign(s.groups.size(), 0.0);
  for (size_t e = 0; e < weight.size(); ++e)
    if (s.group_of[e] >= 0) group_weight[size_t(s.group_of[e])] += weight[e];
  alias.build(weight);
}

inline TokenSampler::TokenSampler(const SynthModel& m)
    : m_(m), stamp_(static_cast<size_t>(m.num_experts), 0) {
  succ_.reserve(static_cast<size_t>(m.top_k));
  group_.reserve(static_cast<size_t>(m.top_k));
}

inline void TokenSampler::sample_token(int d, Rng& rng, uint16_t* ids, float* gates) {
  const int k = m_.top_k;
  for (int l = 0; l < m_.num_layers; ++l) {
    const uint16_t* prev = l > 0 && m_.affinity > 0 ? ids + (l - 1) * k : nullptr;
    sample_layer(l, m_.table(l, d), prev, rng, ids + l * k);
    if (gates) fill_gates(rng, gates + l * k);
  }
}

inline void TokenSampler::sample_layer(int l, const LayerDomainTable& t, const uint16_t* prev,
                                       Rng& rng, uint16_t* out) {
  const int k = m_.top_k;
  if (++epoch_ == 0) {  // wrapped: old stamps could match again
    std::fill(stamp_.begin(), stamp_.end(), 0);
    epoch_ = 1;
  }
  succ_.clear();
  group_.clear();
  succ_total_ = group_total_ = 0;
  if (prev) {
    const auto& succ = m_.layers[static_cast<size_t>(l) - 1].successor;
    for (int j = 0; j < k; ++j) {
      const int e = succ[prev[j]];
      succ_.push_back({e, m_.affinity * t.weight[e], 0});
      succ_total_ += succ_.back().extra;
    }
  }
  const LayerStructure& s = m_.layers[static_cast<size_t>(l)];
  for (int j = 0; j < k; ++j) {
    const int e = draw(s, t, rng);
    out[j] = static_cast<uint16_t>(e);
    if (j + 1 < k) choose(s, t, e);
    stamp_[e] = epoch_;
  }
}

// Marks `e` chosen in the boosts: its own successor boost goes, its group's boost grows.
inline void TokenSampler::choose(const LayerStructure& s, const LayerDomainTable& t, int e) {
  for (auto& b : succ_)
    if (b.id == e) succ_total_ -= b.extra, b.extra = 0;
  const int g = s.group_of[e];
  if (g < 0 || m_.coact <= 0) return;
  Boost* gb = nullptr;
  for (auto& b : group_)
    if (b.id == g) gb = &b;
  if (!gb) {
    group_.push_back({g, t.group_weight[g], 0});
    gb = &group_.back();
  }
  gb->extra = std::max(0.0, gb->extra - t.weight[e]);
  ++gb->count;
  group_total_ = 0;
  for (const auto& b : group_) group_total_ += m_.coact * b.count * b.extra;
}

inline int TokenSampler::draw(const LayerStructure& s, const LayerDomainTable& t, Rng& rng) {
  const double boosted = succ_total_ + group_total_;
  for (int tries = 0; tries < 64; ++tries) {
    if (boosted > 0) {
      const double u = rng.uniform() * (t.total + boosted);
      if (u < boosted) {
        const int e = draw_boosted(s, t, u);
        if (e >= 0) return e;
        continue;  // rounding ran past the last boost: draw again
      }
    }
    const int e = t.alias.draw(rng.next());
    if (!chosen(e)) return e;
  }
  // Chosen experts hold nearly all the weight: rejection would crawl, so scan once.
  return exact_draw(s, t, rng);
}

// `u` falls in the boosts: a successor, or a boosted group's unchosen member by base weight.
inline int TokenSampler::draw_boosted(const LayerStructure& s, const LayerDomainTable& t,
                                      double u) {
  for (const auto& b : succ_)
    if ((u -= b.extra) < 0 && b.extra > 0) return b.id;
  for (const auto& b : group_) {
    const double mass = m_.coact * b.count * b.extra;
    if ((u -= mass) >= 0 || mass <= 0) continue;
    double v = (u + mass) / (m_.coact * b.count);  // position within the group's free weight
    int last = -1;
    for (uint32_t i = s.group_begin[b.id]; i < s.group_begin[b.id + 1]; ++i) {
      const int e = s.members[i];
      if (chosen(e)) continue;
      last = e;
      if ((v -= t.weight[e]) < 0) return e;
    }
    return last;
  }
  return -1;
}

inline double TokenSampler::boost_of(const LayerStructure& s, const LayerDomainTable& t,
                                     int e) const {
  double extra = 0;
  for (const auto& b : succ_)
    if (b.id == e) extra += b.extra;
  for (const auto& b : group_)
    if (b.id == s.group_of[e]) extra += m_.coact * b.count * t.weight[e];
  return extra;
}

inline int TokenSampler::exact_draw(const LayerStructure& s, const LayerDomainTable& t,
                                    Rng& rng) const {
  double total = 0;
  for (int e = 0; e < m_.num_experts; ++e)
    if (!chosen(e)) total += t.weight[e] + boost_of(s, t, e);
  double u = rng.uniform() * total;
  int last = -1;
  for (int e = 0; e < m_.num_experts; ++e) {
    if (chosen(e)) continue;
    last = e;
    if ((u -= t.weight[e] + boost_of(s, t, e)) < 0) return e;
  }
  return last;
}

// Gate weights: sorted uniforms plus a floor, normalised. Real routers' renormalised top-k
// weights look alike (top-1 of top-2 near 0.65); nothing downstream depends on their shape.
inline void TokenSampler::fill_gates(Rng& rng, float* g) const {
  const int k = m_.top_k;
  float sum = 0;
  for (int j = 0; j < k; ++j) {
    float v = 0.05f + static_cast<float>(rng.next() >> 40) * 0x1.0p-24f;
    int i = j;
    for (; i > 0 && g[i - 1] < v; --i) g[i] = g[i - 1];
    g[i] = v;
    sum += v;
  }
  for (int j = 0; j < k; ++j) g[j] /= sum;
}

}  // namespace epbench
