#pragma once
// Routing statistics of a trace: per-layer expert load (overall, by phase, by domain),
// co-activation pair counts within a token's top-k, and cross-layer transitions.
// Computed in one streaming pass (StatsAccumulator), so traces larger than memory work.
#include <cstdint>
#include <string>
#include <vector>

#include "trace/trace.h"

namespace epbench {

class TraceReader;

struct TraceStats {
  int num_layers = 0, num_experts = 0, top_k = 0;
  std::vector<std::string> domains;  // D names (may be empty)
  uint64_t tokens = 0;
  uint64_t tokens_by_phase[2] = {0, 0};
  std::vector<uint64_t> tokens_by_domain;  // [D]

  std::vector<uint64_t> load;            // [L][E] selections of expert e in layer l
  std::vector<uint64_t> load_by_phase;   // [2][L][E]
  std::vector<uint64_t> load_by_domain;  // [D][L][E]
  // pairs[(l*E + a)*E + b]: tokens choosing both a and b in layer l; symmetric, zero diagonal.
  std::vector<uint64_t> pairs;  // [L][E][E]
  // Layer l -> l+1: top-1 expert to top-1 expert (exact), and rank-aligned over all k ranks
  // (rank r in layer l with rank r in layer l+1), as in the OLMoE routing analysis.
  std::vector<uint64_t> transitions_top1;  // [L-1][E][E]
  std::vector<uint64_t> transitions_rank;  // [L-1][E][E]

  uint64_t load_at(int l, int e) const { return load[static_cast<size_t>(l) * num_experts + e]; }
  uint64_t pair_at(int l, int a, int b) const {
    return pairs[(static_cast<size_t>(l) * num_experts + a) * num_experts + b];
  }
};

struct StatsOptions {
  bool pairs = true;          // co-activation pair counting (the costly part for large k)
  bool transitions = true;    // cross-layer transition matrices
  uint64_t block_tokens = 0;  // compute_stats: tokens per streamed block (0: automatic)
  bool progress = true;       // compute_stats: progress line on stderr (only on a terminal)
};

class StatsAccumulator {
 public:
  StatsAccumulator(const TraceHeader& header, const TraceRequests& requests, StatsOptions opt = {});
  void add(const TokenBlock& block);  // blocks in any order, each token once
  // Both fold the pending 32-bit counts into s_ first; add() may continue after stats().
  const TraceStats& stats() const;
  TraceStats take();

 private:
  void check_block(const TokenBlock& block) const;
  void resolve_groups(const TokenBlock& block);
  void transpose(const TokenBlock& block);
  void count_layer(size_t n, int layer);
  void flush() const;

  const TraceRequests& requests_;
  StatsOptions opt_;
  int groups_per_phase_ = 1;  // max(D, 1): a token's group is phase * groups_per_phase_ + domain
  // Why 32-bit pending counters flushed into s_: half the cache footprint of the hot E x E
  // matrices (256 experts: 256 KiB instead of 512 KiB). No counter grows by more than one per
  // token, so flushing before 2^32 tokens accumulate keeps them exact.
  mutable std::vector<uint32_t> group_load_;   // [L][2 * groups_per_phase_][E]
  mutable std::vector<uint32_t> pair_;         // [L][E][E]: a ranked above b in a token's top-k
  mutable std::vector<uint32_t> top1_, rank_;  // [L-1][E][E]; rank_ without rank 0 (= top1_)
  mutable uint64_t pending_tokens_ = 0;
  std::vector<uint16_t> token_group_;  // per token of the current block, reused
  std::vector<uint16_t> layer_ids_;    // the current block's ids, [L][n][K], reused
  mutable TraceStats s_;
};

// Tokens per block for compute_stats: whole file chunks, at least E^2 / 4 tokens (at most 64 MiB
// of ids). Each block-layer pass pulls that layer's E x E counters back into cache, so large E
// wants large blocks (256 experts: a 1129-token chunk runs at a third of the speed of 16k-token
// blocks), while small E wants the block itself to stay in cache (8 experts: 8k tokens run 2.5x
// faster than 128k).
uint64_t stats_block_tokens(const TraceHeader& h, uint64_t chunk_tokens);

// One streaming pass over the file (opt.block_tokens at a time, 0: stats_block_tokens).
TraceStats compute_stats(const TraceReader& reader, StatsOptions opt = {});

// Load balance of one layer's counts.
struct LoadSummary {
  double max_over_mean = 0;  // hottest expert over the mean (1 = perfectly balanced)
  double cv = 0;             // coefficient of variation (population std / mean)
  double entropy_bits = 0;   // Shannon entropy of the load distribution
  double entropy_norm = 0;   // entropy / log2(E) (1 = uniform)
  int hottest = -1;
};
LoadSummary summarize_load(const uint64_t* counts, int num_experts);

// Jensen-Shannon divergence (bits, in [0, 1]) between two count vectors, each normalised.
// 0 when either is all zero.
double js_divergence_bits(const uint64_t* p, const uint64_t* q, int n);

// The n experts with the largest counts, largest first (ties: lower index first).
std::vector<int> hottest_experts(const uint64_t* counts, int num_experts, int n);

// A co-activation pair with its lift: observed count over the count expected if the two
// experts were chosen independently with their marginal frequencies.
struct PairLift {
  int layer = 0, a = 0, b = 0;
  uint64_t count = 0;
  double expected = 0;
  double lift = 0;
};
// expected = tokens * k(k-1) * p_a * p_b / (k^2 - sum_e p_e^2), p_e = load_e / tokens (the
// probability that a token includes e). That is tokens * p_a * p_b rescaled so the expected
// pairs sum to the observed tokens * k(k-1)/2; without the rescaling a router choosing k of E
// uniformly at random would show lift (k-1)E / (k(E-1)) < 1 everywhere. docs/stats.md.
// The n most frequent pairs of one layer, most frequent first (ties: lower a, then b).
std::vector<PairLift> top_pairs(const TraceStats& s, int layer, int n);
PairLift pair_lift(const TraceStats& s, int layer, int a, int b);

// Mutual information (bits) of the top-1 transition layer l -> l+1: 0 when independent.
double transition_mutual_information(const TraceStats& s, int layer);

}  // namespace epbench
