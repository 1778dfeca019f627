#include "placement/bound.h"

#include <algorithm>
#include <numeric>
#include <vector>

namespace epbench {

namespace {

// Compute: replicas of an expert split its tokens, and splitting never lowers the roofline
// sum (sum_r max(a t_r, w) >= max(a sum_r t_r, w)), so the total work is at least the sum of
// every expert run once; the slowest GPU carries at least its share. The hottest expert has
// at most min(G, G*S - (E-1)) replicas (the other experts need a slot each), so one of them
// serves at least ceil(t / replicas) tokens. Each of the A experts with a token has at least
// one active replica, and each active replica costs at least the weight read w on its GPU, so
// the GPU with the most active replicas (at least ceil(A / G)) computes for ceil(A / G) w.
double compute_bound(const CostModel& model, const uint32_t* tokens, int num_experts) {
  const int G = model.num_gpus();
  const int max_replicas = std::max(1, std::min(G, G * model.slots_per_gpu() - (num_experts - 1)));
  double work = 0;
  uint32_t most = 0;
  int active = 0;
  for (int e = 0; e < num_experts; ++e) {
    work += model.fastest_expert_time(tokens[e]);  // an expert may find its weights cached
    most = std::max(most, tokens[e]);
    active += tokens[e] > 0;
  }
  // expert_time and the share are monotone in the count: the hottest expert gives the maximum.
  const uint32_t share = (most + static_cast<uint32_t>(max_replicas) - 1) / max_replicas;
  const double reads = ((active + G - 1) / G) * model.weight_time();
  return std::max({work / G, model.fastest_expert_time(share), reads});
}

// The tokens bucketed by home GPU (a counting sort): home h's are order[start[h] ..
// start[h + 1]).
struct HomeBuckets {
  std::vector<size_t> start, order;
  void fill(const int32_t* home, size_t n) {
    const auto homes = static_cast<size_t>(*std::max_element(home, home + n)) + 1;
    start.assign(homes + 1, 0);
    for (size_t t = 0; t < n; ++t) ++start[static_cast<size_t>(home[t]) + 1];
    std::partial_sum(start.begin(), start.end(), start.begin());
    order.resize(n);
    for (size_t t = 0; t < n; ++t) order[start[static_cast<size_t>(home[t])]++] = t;
    start.insert(start.begin(), 0), start.pop_back();  // each now its home's end: shift back
  }
  size_t homes() const { return start.size() - 1; }
};

// Whether more than `most` distinct experts are among some tokens: stamps per expert, so no
// clearing between calls.
class DistinctExperts {
 public:
  bool more_than(size_t most, const uint16_t* ids, const size_t* tokens, size_t count, size_t k,
                 size_t num_experts) {
    if (stamp_.size() < num_experts) stamp_.assign(num_experts, 0), epoch_ = 0;
    if (++epoch_ == 0) std::fill(stamp_.begin(), stamp_.end(), 0), epoch_ = 1;
    size_t distinct = 0;
    for (size_t i = 0; i < count; ++i)
      for (size_t j = 0; j < k; ++j) {
        uint32_t& seen = stamp_[ids[tokens[i] * k + j]];
        if (seen == epoch_) continue;
        seen = epoch_;
        if (++distinct > most) return true;
      }
    return false;
  }

 private:
  std::vector<uint32_t> stamp_;  // == epoch_: counted in this call
  uint32_t epoch_ = 0;
};

// Whether some home GPU's tokens choose more distinct experts than a GPU has slots: then one
// of its tokens has an expert off its home, whatever the placement. O(n k + homes + E) a
// layer: sorting the (home, expert) pairs instead made this the evaluator's largest cost.
bool home_overflows(const uint16_t* ids, const int32_t* home, size_t n, int k, int num_experts,
                    int slots) {
  const auto K = static_cast<size_t>(k), S = static_cast<size_t>(slots);
  if (S >= n * K) return false;
  thread_local HomeBuckets buckets;  // reused: evaluate calls this per layer and step
  thread_local DistinctExperts distinct;
  buckets.fill(home, n);
  for (size_t h = 0; h < buckets.homes(); ++h) {
    const size_t first = buckets.start[h], count = buckets.start[h + 1] - first;
    if (count * K > S && distinct.more_than(S, ids, buckets.order.data() + first, count, K,
                                            static_cast<size_t>(num_experts)))
      return true;
  }
  return false;
}

// One token sent over the cheapest link there is: alpha + token_bytes / beta, the other-node
// link at the NIC's full bandwidth (its load is at least the token).
double one_message(const CostModel& model) {
  const ClusterSpec& c = model.cluster();
  const double tb = static_cast<double>(model.token_bytes());
  double best = 1e300;
  if (c.gpus_per_node > 1)
    best = std::min(best, CostModel::link_time(c.same_node, tb, c.same_node.bandwidth_Bps));
  if (c.nodes > 1)
    best = std::min(
        best, CostModel::link_time(c.other_node, tb, c.other_node.bandwidth_Bps * c.gpus_per_nic));
  return best < 1e300 ? best : 0;
}

// Dispatch: a GPU holds at most S experts, so a token's k distinct experts span at least
// ceil(k/S) GPUs, all but one remote from its home. The busiest sender sends at least the
// average, over the fastest link there is.
double dispatch_bound(const CostModel& model, size_t n, int k) {
  const ClusterSpec& c = model.cluster();
  const int remote = (k + model.slots_per_gpu() - 1) / model.slots_per_gpu() - 1;
  if (remote <= 0 || n == 0) return 0;
  const double bytes_per_gpu =
      static_cast<double>(n) * remote * static_cast<double>(model.token_bytes()) / model.num_gpus();
  const double fastest = std::max(c.same_node.bandwidth_Bps,
                                  c.nodes > 1 ? c.other_node.bandwidth_Bps * c.gpus_per_nic : 0);
  const double latency =
      c.nodes > 1 ? std::min(c.same_node.latency_s, c.other_node.latency_s) : c.same_node.latency_s;
  return latency + (fastest > 0 ? bytes_per_gpu / fastest : 0);
}

}  // namespace

LayerBound layer_lower_bound_counts(const CostModel& model, const uint32_t* tokens, size_t n, int k,
                                    int num_experts, const uint16_t* ids, const int32_t* home) {
  LayerBound b;
  b.compute_s = compute_bound(model, tokens, num_experts);
  b.dispatch_s = dispatch_bound(model, n, k);
  // A home whose tokens need more experts than its slots sends at least one token.
  if (ids && home && home_overflows(ids, home, n, k, num_experts, model.slots_per_gpu()))
    b.dispatch_s = std::max(b.dispatch_s, one_message(model));
  b.combine_s = b.dispatch_s;
  return b;
}

LayerBound layer_lower_bound(const CostModel& model, const uint16_t* ids, const int32_t* home,
                             size_t n, int k, int num_experts) {
  thread_local std::vector<uint32_t> tokens;  // reused: evaluate calls this per layer and step
  tokens.assign(static_cast<size_t>(num_experts), 0);
  for (size_t i = 0; i < n * static_cast<size_t>(k); ++i) ++tokens[ids[i]];
  return layer_lower_bound_counts(model, tokens.data(), n, k, num_experts, ids, home);
}

LayerBound layer_lower_bound(const CostModel& model, const uint16_t* ids, size_t n, int k,
                             int num_experts) {
  return layer_lower_bound(model, ids, nullptr, n, k, num_experts);
}

}  // namespace epbench
