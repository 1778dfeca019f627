#include "sim/weight_reuse.h"

#include <algorithm>

#include "common/numeric.h"

namespace epbench {

namespace {

// One walk back through the expert reads before one layer of the step, as each cache saw them
// (a cache serves `sharers` consecutive GPUs: a CPU host's ranks share its L3): each (layer,
// slot) met is counted once on its cache; its reads since are the other distinct experts met on
// its cache before it (the more recent reads), per sharer, as the curves were measured with every
// sharer reading. A GPU whose sharers sat idle finds its experts warmer. An expert met again
// further back was read twice within the walk: its later read found it in the cache, as far as
// the curves go, and the share of such experts on a cache is the share of its reads that came
// from the cache.
class ReuseWalk {
 public:
  ReuseWalk(const std::vector<LayerReplicas>& replicas, const ProfileTables& p)
      : r_(replicas),
        GS_(replicas[0].slot_gpu.size()),
        tables_(p),
        sharers_(p.cache_sharers()),
        horizon_(p.reuse_horizon() * sharers_),
        met_on_((sz(replicas[0].num_gpus) + sharers_ - 1) / sharers_),
        met_again_on_(met_on_.size()),
        met_(replicas.size() * GS_, 0),
        met_again_(met_.size(), 0),
        others_(met_.size(), 0) {}

  void start() {
    ++epoch_;
    std::fill(met_on_.begin(), met_on_.end(), 0);
    std::fill(met_again_on_.begin(), met_again_on_.end(), 0);
    open_ = horizon_ > 0 ? met_on_.size() : 0;
  }
  bool all_cold() const { return open_ == 0; }
  uint8_t warmth(size_t layer, size_t slot) const {
    const size_t at = layer * GS_ + slot, c = cache_of(layer, slot);
    if (met_[at] != epoch_) return 0;
    const double per_sharer = double(others_[at]) / double(sharers_);
    return tables_.warmth(per_sharer, double(met_again_on_[c]) / double(met_on_[c]));
  }

  void meet(size_t layer, int32_t slot) {
    const size_t s = sz(slot), c = cache_of(layer, s), at = layer * GS_ + s;
    if (met_on_[c] >= horizon_) return;  // c's reads are cold from here on
    if (met_[at] == epoch_) {
      if (met_again_[at] != epoch_) met_again_[at] = epoch_, ++met_again_on_[c];
      return;
    }
    met_[at] = epoch_;
    others_[at] = static_cast<uint32_t>(met_on_[c]);
    if (++met_on_[c] == horizon_) --open_;  // everything older is cold on c
  }

 private:
  size_t cache_of(size_t layer, size_t slot) const {
    return sz(r_[layer].slot_gpu[slot]) / sharers_;
  }

  const std::vector<LayerReplicas>& r_;
  size_t GS_;
  const ProfileTables& tables_;
  size_t sharers_, horizon_;                   // horizon_: distinct experts a cache meets
  std::vector<size_t> met_on_, met_again_on_;  // [caches] distinct experts met, and met again
  std::vector<uint32_t> met_, met_again_;      // [L, G*S] the epoch of the walk that did
  std::vector<uint32_t> others_;               // [L, G*S] experts met on its cache before it
  uint32_t epoch_ = 0;
  size_t open_ = 0;  // caches whose reads are not all cold yet
};

// The slots each layer of each step read: its tokens routed as pricing routes them, once per
// (step, layer) and only when a walk reaches it. Step `steps.history_steps` is the step itself.
class RoutedReads {
 public:
  RoutedReads(const TokenBlock& tokens, StepTokens steps, size_t oldest,
              const std::vector<LayerReplicas>& replicas, const CostModel& cost, Router& router)
      : tokens_(tokens),
        steps_(steps),
        oldest_(oldest),
        L_(replicas.size()),
        k_(sz(tokens.top_k)),
        replicas_(replicas),
        cost_(cost),
        router_(router),
        start_((steps.history_steps - oldest + 1) * L_, -1) {}

  // Calls meet(slot) for every pair of step s in layer l.
  template <class F>
  void for_each_read(size_t s, size_t l, F meet) {
    int64_t& at = start_[(s - oldest_) * L_ + l];
    if (at < 0) at = route(s, l);
    const size_t pairs = pairs_of(s) * k_;
    for (size_t i = 0; i < pairs; ++i) meet(slots_[static_cast<size_t>(at) + i]);
  }

 private:
  size_t pairs_of(size_t s) const {
    return s == steps_.history_steps
               ? steps_.n
               : static_cast<size_t>(steps_.history_offset[s + 1] - steps_.history_offset[s]);
  }

  int64_t route(size_t s, size_t l) {
    const bool own = s == steps_.history_steps;
    const size_t n = pairs_of(s), first = own ? 0 : static_cast<size_t>(steps_.history_offset[s]);
    const uint64_t* token = own ? steps_.token : steps_.history + first;
    const int32_t* home =
        own ? steps_.home : (steps_.history_home ? steps_.history_home + first : nullptr);
    if (!home) {
      zeros_.assign(n, 0);
      home = zeros_.data();
    }
    ids_.resize(n * k_);
    for (size_t i = 0; i < n; ++i)
      std::copy_n(tokens_.experts(token[i], static_cast<int>(l)), k_, ids_.data() + i * k_);
    const auto at = static_cast<int64_t>(slots_.size());
    slots_.resize(slots_.size() + n * k_);
    router_.route(replicas_[l], ids_.data(), home, n, static_cast<int>(k_), slots_.data() + at,
                  &cost_);
    return at;
  }

  const TokenBlock& tokens_;
  StepTokens steps_;
  size_t oldest_, L_, k_;
  const std::vector<LayerReplicas>& replicas_;
  const CostModel& cost_;
  Router& router_;
  std::vector<int64_t> start_;  // [steps, L]: where its slots begin in slots_, -1 not routed
  std::vector<int32_t> slots_;
  std::vector<uint16_t> ids_;
  std::vector<int32_t> zeros_;
};

}  // namespace

void mark_warm_slots(const TokenBlock& tokens, StepTokens steps,
                     const std::vector<LayerReplicas>& replicas, const CostModel& cost,
                     Router& router, std::vector<uint8_t>& warm) {
  warm.clear();
  if (!cost.models_weight_reuse() || steps.history_steps == 0 || replicas.empty()) return;
  const size_t L = replicas.size(), GS = replicas[0].slot_gpu.size();
  warm.assign(L * GS, 0);
  const size_t oldest =
      steps.history_steps > kReuseHistorySteps ? steps.history_steps - kReuseHistorySteps : 0;
  ReuseWalk walk(replicas, *cost.profile());
  RoutedReads reads(tokens, steps, oldest, replicas, cost, router);
  const auto meet_layer = [&](size_t s, size_t l) {
    reads.for_each_read(s, l, [&](int32_t slot) { walk.meet(l, slot); });
  };
  for (size_t layer = 0; layer < L; ++layer) {
    walk.start();
    for (size_t l = layer; l-- > 0;) meet_layer(steps.history_steps, l);
    for (size_t s = steps.history_steps; s-- > oldest && !walk.all_cold();)
      for (size_t l = L; l-- > 0 && !walk.all_cold();) meet_layer(s, l);
    for (size_t s = 0; s < GS; ++s) warm[layer * GS + s] = walk.warmth(layer, s);
  }
}

}  // namespace epbench
