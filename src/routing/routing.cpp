#include "routing/routing.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "common/error.h"
#include "common/named.h"
#include "common/numeric.h"

namespace epbench {

namespace {

constexpr Named<RoutingPolicy> kPolicies[] = {{"first", RoutingPolicy::kFirst},
                                              {"round-robin", RoutingPolicy::kRoundRobin},
                                              {"least-loaded", RoutingPolicy::kLeastLoaded},
                                              {"local-first", RoutingPolicy::kLocalFirst},
                                              {"optimal", RoutingPolicy::kOptimal},
                                              {"min-time", RoutingPolicy::kMinTime}};

}  // namespace

std::vector<std::string> routing_names() {
  return names_of<RoutingPolicy>(kPolicies);
}

RoutingPolicy parse_routing(const std::string& name) {
  return parse_named<RoutingPolicy>(kPolicies, name, "routing");
}

const char* routing_name(RoutingPolicy p) {
  return name_of<RoutingPolicy>(kPolicies, p);
}

LayerReplicas make_replicas(const LayerPlacement& layer, int num_experts, int slots_per_gpu,
                            int gpus_per_node) {
  LayerReplicas r;
  r.num_gpus = static_cast<int>(layer.gpu_experts.size());
  r.slots_per_gpu = slots_per_gpu;
  r.gpus_per_node = gpus_per_node;
  std::vector<std::vector<int32_t>> by_expert(sz(num_experts));
  for (int g = 0; g < r.num_gpus; ++g) {
    const auto& list = layer.gpu_experts[sz(g)];
    if (static_cast<int>(list.size()) > slots_per_gpu)
      throw InputError("layout: GPU " + std::to_string(g) + " holds more experts than its " +
                       std::to_string(slots_per_gpu) + " slots");
    for (size_t i = 0; i < list.size(); ++i) {
      if (is_empty_slot(list[i])) continue;
      if (list[i] >= num_experts)
        throw InputError("layout: expert id " + std::to_string(list[i]) + " out of range");
      by_expert[list[i]].push_back(g * slots_per_gpu + static_cast<int32_t>(i));
    }
  }
  for (int s = 0; s < r.num_gpus * slots_per_gpu; ++s) {
    r.slot_gpu.push_back(s / slots_per_gpu);
    r.slot_node.push_back(s / slots_per_gpu / gpus_per_node);
  }
  r.offset.push_back(0);
  for (int e = 0; e < num_experts; ++e) {
    if (by_expert[sz(e)].empty())
      throw InputError("layout: expert " + std::to_string(e) + " has no replica");
    r.slot.insert(r.slot.end(), by_expert[sz(e)].begin(), by_expert[sz(e)].end());
    r.offset.push_back(static_cast<uint32_t>(r.slot.size()));
    r.first_slot.push_back(by_expert[sz(e)].front());
  }
  return r;
}

uint32_t max_gpu_load(const LayerReplicas& r, const int32_t* slot, size_t pairs) {
  std::vector<uint32_t> load(sz(r.num_gpus), 0);
  for (size_t i = 0; i < pairs; ++i) ++load[sz(r.gpu(slot[i]))];
  return load.empty() ? 0 : *std::max_element(load.begin(), load.end());
}

void Router::route(const LayerReplicas& r, const uint16_t* ids, const int32_t* home, size_t n,
                   int k, int32_t* slot, const CostModel* cost) {
  if (policy_ != RoutingPolicy::kMinTime) return route_as(policy_, r, ids, home, n, k, slot);
  if (!cost) throw std::logic_error("min-time routing needs the cost model");
  min_time(r, *cost, ids, home, n, k, slot);
}

void Router::route_as(RoutingPolicy policy, const LayerReplicas& r, const uint16_t* ids,
                      const int32_t* home, size_t n, int k, int32_t* slot) {
  const size_t pairs = n * sz(k);
  switch (policy) {
    case RoutingPolicy::kFirst:
      for (size_t i = 0; i < pairs; ++i) slot[i] = r.first_slot[ids[i]];
      return;
    case RoutingPolicy::kRoundRobin:
      // vLLM: the flattened (token * k + rank) index modulo the expert's replica count.
      for (size_t i = 0; i < pairs; ++i) {
        const uint32_t first = r.offset[ids[i]], count = r.offset[ids[i] + 1u] - first;
        slot[i] = r.slot[first +
                         (count == 1 ? 0 : static_cast<uint32_t>(i) % count)];  // 32-bit: i < n * k
      }
      return;
    case RoutingPolicy::kLeastLoaded:
      return least_loaded(r, ids, home, n, k, slot, false);
    case RoutingPolicy::kLocalFirst:
      return least_loaded(r, ids, home, n, k, slot, true);
    case RoutingPolicy::kOptimal:
    case RoutingPolicy::kMinTime:  // not routed here (route() prices it)
      return optimal(r, ids, home, n, k, slot);
  }
}

// Greedy in pair order onto the replica whose GPU has the fewest pairs so far (ties: the lower
// GPU). local_first: the home GPU's replica if any, else the least loaded on the home node,
// else the least loaded anywhere.
void Router::least_loaded(const LayerReplicas& r, const uint16_t* ids, const int32_t* home,
                          size_t n, int k, int32_t* slot, bool local_first) {
  load_.assign(sz(r.num_gpus), 0);
  const size_t kk = sz(k);
  for (size_t t = 0, i = 0; t < n; ++t) {
    for (size_t end = i + kk; i < end; ++i) {
      const uint32_t first = r.offset[ids[i]], last = r.offset[ids[i] + 1u];
      int32_t best = r.slot[first];
      if (!local_first) {
        // The least loaded GPU, the first on ties; selects rather than branches, as loads
        // are random.
        uint32_t best_load = load_[sz(r.gpu(best))];
        for (uint32_t q = first + 1; q < last; ++q) {
          const int32_t cand = r.slot[q];
          const uint32_t cand_load = load_[sz(r.gpu(cand))];
          const bool better = cand_load < best_load;
          best = better ? cand : best;
          best_load = better ? cand_load : best_load;
        }
      } else if (last - first > 1) {
        const int h = home[t], hn = r.slot_node[sz(h) * sz(r.slots_per_gpu)];
        int best_rank = std::numeric_limits<int>::max();
        uint32_t best_load = std::numeric_limits<uint32_t>::max();
        for (uint32_t q = first; q < last; ++q) {
          const int g = r.gpu(r.slot[q]);
          // rank 0: home GPU, 1: home node, 2: elsewhere.
          const int rank = g == h ? 0 : r.slot_node[sz(r.slot[q])] == hn ? 1 : 2;
          if (rank < best_rank || (rank == best_rank && load_[sz(g)] < best_load)) {
            best_rank = rank, best_load = load_[sz(g)], best = r.slot[q];
          }
        }
      }
      slot[i] = best;
      ++load_[sz(r.gpu(best))];
    }
  }
}

// The flow network of optimal(): source -> replicated expert (its pairs) -> GPUs holding it ->
// sink. Built once per layer; feasible() only changes the sink arcs' capacities.
void Router::build_network(const LayerReplicas& r) {
  const int m = static_cast<int>(replicated_.size()), G = r.num_gpus;
  flow_.reset(2 + m + G);
  want_ = 0;
  edge_.assign(r.slot.size(), -1);
  for (int i = 0; i < m; ++i) {
    const int e = replicated_[sz(i)];
    flow_.add_arc(0, 2 + i, demand_[sz(e)]);
    want_ += demand_[sz(e)];
    for (uint32_t q = r.offset[sz(e)]; q < r.offset[sz(e) + 1]; ++q)
      edge_[q] = flow_.add_arc(2 + i, 2 + m + r.gpu(r.slot[q]), demand_[sz(e)]);
  }
  sink_arc_.clear();
  for (int g = 0; g < G; ++g) sink_arc_.push_back(flow_.add_arc(2 + m + g, 1, 0));
}

// Can every replicated expert's pairs be spread over its replicas with no GPU above max_load,
// once the unreplicated experts' pairs are counted? Leaves the flow in flow_.
bool Router::feasible(int64_t max_load) {
  for (size_t g = 0; g < sink_arc_.size(); ++g) {
    if (base_[g] > max_load) return false;
    flow_.set_capacity(sink_arc_[g], max_load - base_[g]);
  }
  return flow_.run(0, 1) == want_;
}

// Exact: the smallest maximum GPU load, by binary search on it with a max-flow feasibility
// test (pairs of one expert are interchangeable for the load). The greedy least-loaded answer
// bounds the search from above and is kept when it already meets the lower bound.
void Router::optimal(const LayerReplicas& r, const uint16_t* ids, const int32_t* home, size_t n,
                     int k, int32_t* slot) {
  const size_t pairs = n * sz(k);
  const int G = r.num_gpus;
  demand_.assign(sz(r.num_experts()), 0);
  base_.assign(sz(G), 0);
  for (size_t i = 0; i < pairs; ++i) ++demand_[ids[i]];
  replicated_.clear();
  for (int e = 0; e < r.num_experts(); ++e) {
    if (demand_[sz(e)] == 0) continue;
    if (r.count(e) == 1)
      base_[sz(r.gpu(r.slot[r.offset[sz(e)]]))] += demand_[sz(e)];
    else
      replicated_.push_back(e);
  }
  least_loaded(r, ids, home, n, k, slot, false);
  int64_t hi = *std::max_element(load_.begin(), load_.end());
  int64_t lo = std::max<int64_t>(*std::max_element(base_.begin(), base_.end()),
                                 (static_cast<int64_t>(pairs) + G - 1) / G);
  if (replicated_.empty() || hi <= lo) return;
  build_network(r);
  while (lo < hi) {  // smallest feasible maximum load in [lo, hi]; hi is feasible
    const int64_t mid = lo + (hi - lo) / 2;
    if (feasible(mid))
      hi = mid;
    else
      lo = mid + 1;
  }
  feasible(hi);
  assign_quotas(r, ids, home, n, k, slot);
}

// Turns the flow's per-replica quotas into a replica per pair, preferring the token's home
// GPU, then its home node, so that the optimum also saves bytes where it can.
void Router::assign_quotas(const LayerReplicas& r, const uint16_t* ids, const int32_t* home,
                           size_t n, int k, int32_t* slot) {
  quota_.assign(r.slot.size(), 0);
  for (size_t q = 0; q < r.slot.size(); ++q)
    if (edge_[q] >= 0) quota_[q] = static_cast<uint32_t>(flow_.flow(edge_[q]));
  const size_t pairs = n * sz(k), kk = sz(k);
  pending_.clear();
  pending_home_.clear();
  for (size_t i = 0; i < pairs; ++i) {
    const bool single = r.count(ids[i]) == 1;
    slot[i] = single ? r.first_slot[ids[i]] : -1;
    if (single) continue;
    pending_.push_back(static_cast<uint32_t>(i));
    pending_home_.push_back(home[i / kk]);
  }
  // Pass 0: a replica on the home GPU, 1: on the home node, 2: anywhere with quota left.
  for (int pass = 0; pass < 3; ++pass) {
    size_t left = 0;
    for (size_t p = 0; p < pending_.size(); ++p) {
      const uint32_t i = pending_[p];
      const int h = pending_home_[p];
      const int hn = r.slot_node[sz(h) * sz(r.slots_per_gpu)];
      bool done = false;
      for (uint32_t q = r.offset[ids[i]]; q < r.offset[ids[i] + 1u]; ++q) {
        const int32_t s = r.slot[q];
        const bool ok = pass == 2 || (pass == 0 ? r.gpu(s) == h : r.slot_node[sz(s)] == hn);
        if (ok && quota_[q] > 0) {
          --quota_[q];
          slot[i] = s;
          done = true;
          break;
        }
      }
      if (!done) pending_[left] = i, pending_home_[left++] = h;
    }
    pending_.resize(left);
    pending_home_.resize(left);
  }
}

}  // namespace epbench
