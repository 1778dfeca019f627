#include "sim/weight_reuse.h"

#include <algorithm>

#include "common/numeric.h"

namespace epbench {

namespace {

// One walk back through the expert reads before one layer of the step, as an LRU cache per
// GPU would have seen them: each (layer, slot) met is counted once on its GPU; it is still
// cached if its GPU's distinct expert weights met up to it fit in the cache.
class ReuseWalk {
 public:
  ReuseWalk(const std::vector<LayerReplicas>& replicas, const ProfileTables& p)
      : r_(replicas),
        GS_(replicas[0].slot_gpu.size()),
        expert_bytes_(p.expert_bytes()),
        cache_bytes_(p.cache_bytes()),
        bytes_(sz(replicas[0].num_gpus)),
        met_(replicas.size() * GS_, 0),
        cached_(met_.size(), 0) {}

  void start() {
    ++epoch_;
    std::fill(bytes_.begin(), bytes_.end(), 0);
    open_ = bytes_.size();
  }
  bool all_full() const { return open_ == 0; }
  bool cached(size_t layer, size_t slot) const { return cached_[layer * GS_ + slot] == epoch_; }

  void meet(size_t layer, int32_t slot) {
    const size_t s = sz(slot), g = sz(r_[layer].slot_gpu[s]), at = layer * GS_ + s;
    if (met_[at] == epoch_ || bytes_[g] > cache_bytes_) return;  // met, or g is full
    met_[at] = epoch_;
    bytes_[g] += expert_bytes_;
    if (bytes_[g] <= cache_bytes_)
      cached_[at] = epoch_;
    else
      --open_;  // this one no longer fits: it and everything older is cold on g
  }

 private:
  const std::vector<LayerReplicas>& r_;
  size_t GS_;
  uint64_t expert_bytes_, cache_bytes_;
  std::vector<uint64_t> bytes_;         // [G] distinct expert weights met in this walk
  std::vector<uint32_t> met_, cached_;  // [L, G*S] the epoch of the walk that met / kept it
  uint32_t epoch_ = 0;
  size_t open_ = 0;  // GPUs whose cache is not full yet
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
    for (size_t s = steps.history_steps; s-- > oldest && !walk.all_full();)
      for (size_t l = L; l-- > 0 && !walk.all_full();) meet_layer(s, l);
    for (size_t s = 0; s < GS; ++s) warm[layer * GS + s] = walk.cached(layer, s);
  }
}

}  // namespace epbench
