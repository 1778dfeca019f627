// `min-time` routing: the replica of each (token, expert) pair chosen to minimise the layer's
// predicted time as the cost model prices it (slowest GPU's dispatch + compute + combine,
// every active replica's weight read included), not the largest token count. In the
// memory-bound regime tokens gather on few replicas; at large batches they spread.
//
// Exact when the choices are few (every assignment of the replicated experts' pairs priced);
// otherwise the cheapest of every other policy's routing and a concentrated one (each expert
// on one replica), improved by moving all or half of an expert's pairs on one replica to
// another while the price drops. Since the other policies are starts and only improvements
// are kept, the result is never slower than any of them under the model.
#include <algorithm>
#include <numeric>

#include "common/numeric.h"
#include "routing/routing.h"

namespace epbench {

namespace {

// A move is kept only if it lowers the price by more than rounding.
constexpr double kGain = 1e-12;
constexpr int kRounds = 4;

}  // namespace

double Router::price(const CostModel& cost, const int32_t* home, const int32_t* slot, size_t n,
                     int k) {
  cost.price_layer_sparse(home, slot, n, k, priced_);
  return priced_.total();
}

// Every assignment of the pairs whose expert has several replicas, when there are few.
bool Router::enumerate(const LayerReplicas& r, const CostModel& cost, const uint16_t* ids,
                       const int32_t* home, size_t n, int k, int32_t* slot) {
  const size_t pairs = n * sz(k);
  moved_.clear();  // the free pairs
  uint64_t combos = 1;
  for (size_t i = 0; i < pairs; ++i) {
    slot[i] = r.first_slot[ids[i]];
    if (r.count(ids[i]) == 1) continue;
    moved_.push_back(static_cast<uint32_t>(i));
    combos *= r.count(ids[i]);
    if (combos > exhaustive_limit_) return false;
  }
  std::vector<uint32_t> digit(moved_.size(), 0);
  candidate_.assign(slot, slot + pairs);
  double best = price(cost, home, candidate_.data(), n, k);
  for (uint64_t c = 1; c < combos; ++c) {
    for (size_t d = 0; d < digit.size(); ++d) {  // odometer: next assignment
      const uint32_t i = moved_[d];
      digit[d] = (digit[d] + 1) % r.count(ids[i]);
      candidate_[i] = r.slot[r.offset[ids[i]] + digit[d]];
      if (digit[d] != 0) break;
    }
    const double p = price(cost, home, candidate_.data(), n, k);
    if (p < best) best = p, std::copy(candidate_.begin(), candidate_.end(), slot);
  }
  return true;
}

// Each expert's pairs all on one replica: the one on the GPU with the least predicted compute
// so far, costliest experts first (one weight read per expert, GPUs balanced by the roofline
// time, so in the memory-bound regime by the number of experts they run).
void Router::concentrate(const LayerReplicas& r, const CostModel& cost, const uint16_t* ids,
                         size_t pairs, int32_t* slot) {
  busy_.assign(sz(r.num_gpus), 0);
  std::vector<int> order;
  for (int e = 0; e < r.num_experts(); ++e)
    if (demand_[sz(e)] > 0) order.push_back(e);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return demand_[sz(a)] > demand_[sz(b)]; });
  std::vector<int32_t> chosen(sz(r.num_experts()), -1);
  for (int e : order) {
    int32_t best = r.slot[r.offset[sz(e)]];
    for (uint32_t q = r.offset[sz(e)] + 1; q < r.offset[sz(e) + 1]; ++q)
      if (busy_[sz(r.gpu(r.slot[q]))] < busy_[sz(r.gpu(best))]) best = r.slot[q];
    chosen[sz(e)] = best;
    busy_[sz(r.gpu(best))] += cost.expert_time(demand_[sz(e)]);
  }
  for (size_t i = 0; i < pairs; ++i) slot[i] = chosen[ids[i]];
}

// Moves up to `limit` of `pairs` served by slot `from` to slot `to`; keeps the move if the
// layer gets cheaper, else restores it.
bool Router::try_move(const CostModel& cost, const int32_t* home, size_t n, int k, int32_t* slot,
                      const std::vector<uint32_t>& pairs, int32_t from, int32_t to, size_t limit,
                      double& best) {
  moved_.clear();
  for (uint32_t i : pairs)
    if (slot[i] == from && moved_.size() < limit) slot[i] = to, moved_.push_back(i);
  if (moved_.empty()) return false;
  const double p = price(cost, home, slot, n, k);
  if (p < best * (1 - kGain)) {
    best = p;
    return true;
  }
  for (uint32_t i : moved_) slot[i] = from;
  return false;
}

// Local search over whole and half groups of an expert's pairs between its replicas.
double Router::improve(const LayerReplicas& r, const CostModel& cost, const int32_t* home, size_t n,
                       int k, int32_t* slot, double best) {
  std::vector<uint32_t> mine;
  for (int round = 0; round < kRounds; ++round) {
    bool better = false;
    for (int e : replicated_) {
      mine.assign(pair_index_.begin() + pair_offset_[sz(e)],
                  pair_index_.begin() + pair_offset_[sz(e) + 1]);
      for (uint32_t a = r.offset[sz(e)]; a < r.offset[sz(e) + 1]; ++a)
        for (uint32_t b = r.offset[sz(e)]; b < r.offset[sz(e) + 1]; ++b) {
          if (a == b) continue;
          const auto on_a = static_cast<size_t>(std::count_if(
              mine.begin(), mine.end(), [&](uint32_t i) { return slot[i] == r.slot[a]; }));
          if (on_a == 0) break;
          better |= try_move(cost, home, n, k, slot, mine, r.slot[a], r.slot[b], on_a, best) ||
                    (on_a > 1 &&
                     try_move(cost, home, n, k, slot, mine, r.slot[a], r.slot[b], on_a / 2, best));
        }
    }
    if (!better) break;
  }
  return best;
}

void Router::min_time(const LayerReplicas& r, const CostModel& cost, const uint16_t* ids,
                      const int32_t* home, size_t n, int k, int32_t* slot) {
  if (enumerate(r, cost, ids, home, n, k, slot)) return;
  const size_t pairs = n * sz(k);
  optimal(r, ids, home, n, k, slot);  // also fills demand_ and replicated_
  double best = price(cost, home, slot, n, k);
  candidate_.resize(pairs);
  const auto keep_if_cheaper = [&] {
    const double c = price(cost, home, candidate_.data(), n, k);
    if (c < best) best = c, std::copy(candidate_.begin(), candidate_.end(), slot);
  };
  for (RoutingPolicy p : {RoutingPolicy::kFirst, RoutingPolicy::kRoundRobin,
                          RoutingPolicy::kLeastLoaded, RoutingPolicy::kLocalFirst}) {
    route_as(p, r, ids, home, n, k, candidate_.data());
    keep_if_cheaper();
  }
  concentrate(r, cost, ids, pairs, candidate_.data());
  keep_if_cheaper();
  // The pairs of each expert, for the moves (a counting sort by expert).
  pair_offset_.assign(sz(r.num_experts()) + 1, 0);
  for (size_t i = 0; i < pairs; ++i) ++pair_offset_[ids[i] + 1u];
  std::partial_sum(pair_offset_.begin(), pair_offset_.end(), pair_offset_.begin());
  pair_index_.resize(pairs);
  std::vector<uint32_t> fill(pair_offset_.begin(), pair_offset_.end() - 1);
  for (size_t i = 0; i < pairs; ++i) pair_index_[fill[ids[i]]++] = static_cast<uint32_t>(i);
  improve(r, cost, home, n, k, slot, best);
}

}  // namespace epbench
