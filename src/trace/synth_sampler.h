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
// decide between the cell and its alias).
class AliasTable {
 public:
  void build(const std::vector<double>& weights);
  int draw(uint64_t r) const {
    const auto cell = static_cast<uint32_t>(((r >> 32) * n_) >> 32);
    return (r & 0xFFFFFFFFull) < threshold_[cell] ? static_cast<int>(cell) : alias_[cell];
  }

 private:
  uint64_t n_ = 0;
  std::vector<uint64_t> threshold_;  // 2^32 * probability of keeping the cell
  std::vector<int> alias_;
};

struct LayerDomainTable {
  std::vector<double> weight;  // Plackett-Luce base weights, fitted by calibration
  double total = 0;
  AliasTable alias;
  void rebuild();
};

struct LayerStructure {
  std::vector<int> group_of;                // expert -> group, -1 when in none
  std::vector<std::vector<int>> groups;     // planted co-activation groups
  std::vector<uint16_t> successor;          // expert -> expert of the next layer
};

struct SynthModel {
  int num_layers = 0, num_experts = 0, top_k = 0, num_domains = 1;
  double coact = 0, affinity = 0;
  std::vector<LayerStructure> layers;     // [L]
  std::vector<LayerDomainTable> tables;   // [L * D], index l * D + d
  std::vector<std::vector<double>> target;  // [L * D] wanted load, mean 1
  std::vector<double> calibrated_ratio;   // [L] max/mean reached in calibration
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
  void sample_layer(int l, const LayerDomainTable& t, const uint16_t* prev, Rng& rng,
                    uint16_t* out);
  int draw(const LayerDomainTable& t, const uint16_t* chosen, int n, Rng& rng);
  int exact_draw(const LayerDomainTable& t, const uint16_t* chosen, int n, Rng& rng) const;
  void boost(int e, double amount);
  void reset_boosts();
  void fill_gates(Rng& rng, float* g) const;

  const SynthModel& m_;
  std::vector<double> extra_;    // [E] boost of each expert for the current token-layer
  std::vector<int> touched_;     // experts with extra_ > 0
  double extra_total_ = 0;
};

// ---- inline definitions: this is the inner loop, so it stays visible to the optimiser ----

inline void AliasTable::build(const std::vector<double>& weights) {
  n_ = weights.size();
  threshold_.assign(n_, 0);
  alias_.assign(n_, 0);
  double total = 0;
  for (double w : weights) total += w;
  std::vector<double> scaled(n_);
  std::vector<int> small, large;
  for (size_t i = 0; i < n_; ++i) {
    scaled[i] = weights[i] * static_cast<double>(n_) / total;
    (scaled[i] < 1 ? small : large).push_back(static_cast<int>(i));
  }
  while (!small.empty() && !large.empty()) {
    const int s = small.back(), l = large.back();
    small.pop_back();
    threshold_[s] = static_cast<uint64_t>(scaled[s] * 4294967296.0);
    alias_[s] = l;
    scaled[l] -= 1 - scaled[s];
    if (scaled[l] < 1) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // What is left is 1 up to rounding: always keep the cell.
  for (int i : small) threshold_[i] = 1ull << 32, alias_[i] = i;
  for (int i : large) threshold_[i] = 1ull << 32, alias_[i] = i;
}

inline void LayerDomainTable::rebuild() {
  total = 0;
  for (double w : weight) total += w;
  alias.build(weight);
}

inline TokenSampler::TokenSampler(const SynthModel& m)
    : m_(m), extra_(static_cast<size_t>(m.num_experts), 0.0) {
  touched_.reserve(static_cast<size_t>(m.num_experts));
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
  if (prev) {
    const auto& succ = m_.layers[static_cast<size_t>(l) - 1].successor;
    for (int j = 0; j < k; ++j) boost(succ[prev[j]], m_.affinity * t.weight[succ[prev[j]]]);
  }
  const LayerStructure& st = m_.layers[static_cast<size_t>(l)];
  for (int j = 0; j < k; ++j) {
    const int e = draw(t, out, j, rng);
    out[j] = static_cast<uint16_t>(e);
    extra_total_ -= extra_[e];
    extra_[e] = 0;
    if (m_.coact > 0 && st.group_of[e] >= 0 && j + 1 < k) {
      for (int mate : st.groups[static_cast<size_t>(st.group_of[e])])
        if (mate != e && std::find(out, out + j, mate) == out + j)
          boost(mate, m_.coact * t.weight[mate]);
    }
  }
  reset_boosts();
}

inline int TokenSampler::draw(const LayerDomainTable& t, const uint16_t* chosen, int n,
                              Rng& rng) {
  for (int tries = 0; tries < 64; ++tries) {
    if (extra_total_ > 0) {
      double u = rng.uniform() * (t.total + extra_total_);
      if (u < extra_total_) {
        for (int e : touched_) {
          if ((u -= extra_[e]) < 0 && extra_[e] > 0) return e;
        }
        continue;  // rounding left u past the last boost: draw again
      }
    }
    const int e = t.alias.draw(rng.next());
    if (std::find(chosen, chosen + n, e) == chosen + n) return e;
  }
  // Chosen experts hold nearly all the weight: rejection would crawl, so scan once.
  return exact_draw(t, chosen, n, rng);
}

inline int TokenSampler::exact_draw(const LayerDomainTable& t, const uint16_t* chosen, int n,
                                    Rng& rng) const {
  auto free_weight = [&](int e) {
    return std::find(chosen, chosen + n, e) == chosen + n ? t.weight[e] + extra_[e] : 0.0;
  };
  double total = 0;
  for (int e = 0; e < m_.num_experts; ++e) total += free_weight(e);
  double u = rng.uniform() * total;
  int last = -1;
  for (int e = 0; e < m_.num_experts; ++e) {
    const double w = free_weight(e);
    if (w <= 0) continue;
    last = e;
    if ((u -= w) < 0) return e;
  }
  return last;
}

inline void TokenSampler::boost(int e, double amount) {
  if (extra_[e] == 0) touched_.push_back(e);
  extra_[e] += amount;
  extra_total_ += amount;
}

inline void TokenSampler::reset_boosts() {
  for (int e : touched_) extra_[e] = 0;
  touched_.clear();
  extra_total_ = 0;
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
