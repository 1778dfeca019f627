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

  void meet(size_t layer, uint16_t expert) {
    const LayerReplicas& r = r_[layer];
    for (uint32_t i = r.offset[expert]; i < r.offset[expert + 1]; ++i) {
      const size_t s = sz(r.slot[i]), g = sz(r.slot_gpu[s]), at = layer * GS_ + s;
      if (met_[at] == epoch_ || bytes_[g] > cache_bytes_) continue;  // met, or g is full
      met_[at] = epoch_;
      bytes_[g] += expert_bytes_;
      if (bytes_[g] <= cache_bytes_)
        cached_[at] = epoch_;
      else
        --open_;  // this one no longer fits: it and everything older is cold on g
    }
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

}  // namespace

void mark_warm_slots(const TokenBlock& tokens, ReuseSteps steps,
                     const std::vector<LayerReplicas>& replicas, const CostModel& cost,
                     std::vector<uint8_t>& warm) {
  warm.clear();
  if (!cost.models_weight_reuse() || steps.history_steps == 0 || replicas.empty()) return;
  const size_t L = replicas.size(), GS = replicas[0].slot_gpu.size(), k = sz(tokens.top_k);
  warm.assign(L * GS, 0);
  ReuseWalk walk(replicas, *cost.profile());
  // Layer l of a step: every expert its tokens chose there.
  const auto meet_layer = [&](const uint64_t* token, size_t n, size_t l) {
    for (size_t i = 0; i < n; ++i) {
      const uint16_t* ids = tokens.experts(token[i], static_cast<int>(l));
      for (size_t j = 0; j < k; ++j) walk.meet(l, ids[j]);
    }
  };
  const size_t oldest =
      steps.history_steps > kReuseHistorySteps ? steps.history_steps - kReuseHistorySteps : 0;
  for (size_t layer = 0; layer < L; ++layer) {
    walk.start();
    for (size_t l = layer; l-- > 0;) meet_layer(steps.token, steps.n, l);
    for (size_t s = steps.history_steps; s-- > oldest && !walk.all_full();) {
      const uint64_t first = steps.history_offset[s], last = steps.history_offset[s + 1];
      for (size_t l = L; l-- > 0 && !walk.all_full();)
        meet_layer(steps.history + first, static_cast<size_t>(last - first), l);
    }
    for (size_t s = 0; s < GS; ++s) warm[layer * GS + s] = walk.cached(layer, s);
  }
}

}  // namespace epbench
