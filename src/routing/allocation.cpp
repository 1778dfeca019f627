#include "routing/allocation.h"

#include <limits>

#include "common/error.h"
#include "common/named.h"
#include "common/numeric.h"

namespace epbench {

namespace {

constexpr Named<AllocationPolicy> kPolicies[] = {{"round-robin", AllocationPolicy::kRoundRobin},
                                                 {"least-loaded", AllocationPolicy::kLeastLoaded},
                                                 {"affinity", AllocationPolicy::kAffinity}};

}  // namespace

std::vector<std::string> allocation_names() {
  return names_of<AllocationPolicy>(kPolicies);
}

AllocationPolicy parse_allocation(const std::string& name) {
  return parse_named<AllocationPolicy>(kPolicies, name, "allocation");
}

const char* allocation_name(AllocationPolicy p) {
  return name_of<AllocationPolicy>(kPolicies, p);
}

Allocator::Allocator(AllocationPolicy policy, const ClusterSpec& cluster)
    : policy_(policy),
      G_(cluster.num_gpus()),
      gpn_(cluster.gpus_per_node),
      capacity_(cluster.kv_capacity_tokens),
      used_(sz(cluster.num_gpus()), 0.0) {}

bool Allocator::room(int gpu, double kv_tokens) const {
  return capacity_ <= 0 || used_[sz(gpu)] + kv_tokens <= capacity_;
}

bool Allocator::fits_anywhere(double kv_tokens) const {
  return capacity_ <= 0 || kv_tokens <= capacity_;
}

int Allocator::least_loaded(double kv_tokens, int first_gpu, int last_gpu) const {
  int best = -1;
  for (int g = first_gpu; g < last_gpu; ++g)
    if (room(g, kv_tokens) && (best < 0 || used_[sz(g)] < used_[sz(best)])) best = g;
  return best;
}

// The node serving most of the request's prompt experts, then its GPU serving most of them,
// among those with room (ties: less KV in use). Keeps a request's tokens near its experts.
int Allocator::by_affinity(double kv_tokens, std::span<const double> affinity) const {
  const int nodes = G_ / gpn_;
  int best_node = -1;
  double best_score = -1;
  for (int n = 0; n < nodes; ++n) {
    if (least_loaded(kv_tokens, n * gpn_, (n + 1) * gpn_) < 0) continue;
    double score = 0;
    for (int g = n * gpn_; g < (n + 1) * gpn_; ++g) score += affinity[sz(g)];
    if (score > best_score) best_score = score, best_node = n;
  }
  if (best_node < 0) return -1;
  int best = -1;
  for (int g = best_node * gpn_; g < (best_node + 1) * gpn_; ++g) {
    if (!room(g, kv_tokens)) continue;
    if (best < 0 || affinity[sz(g)] > affinity[sz(best)] ||
        (affinity[sz(g)] == affinity[sz(best)] && used_[sz(g)] < used_[sz(best)]))
      best = g;
  }
  return best;
}

int Allocator::place(double kv_tokens, std::span<const double> affinity) {
  int g = -1;
  switch (policy_) {
    case AllocationPolicy::kRoundRobin:
      for (int i = 0; i < G_ && g < 0; ++i)
        if (room((next_ + i) % G_, kv_tokens)) g = (next_ + i) % G_;
      if (g >= 0) next_ = (g + 1) % G_;
      break;
    case AllocationPolicy::kLeastLoaded:
      g = least_loaded(kv_tokens, 0, G_);
      break;
    case AllocationPolicy::kAffinity:
      g = affinity.size() == sz(G_) ? by_affinity(kv_tokens, affinity)
                                    : least_loaded(kv_tokens, 0, G_);
      break;
  }
  if (g >= 0) used_[sz(g)] += kv_tokens;
  return g;
}

void Allocator::release(int gpu, double kv_tokens) {
  used_[sz(gpu)] -= kv_tokens;
}

void add_affinity(const std::vector<LayerReplicas>& layers, const TokenBlock& block, size_t first,
                  size_t last, std::span<double> out) {
  const int k = block.top_k;
  for (size_t t = first; t < last; ++t)
    for (size_t l = 0; l < layers.size(); ++l) {
      const LayerReplicas& r = layers[l];
      const uint16_t* ids = block.experts(t, static_cast<int>(l));
      for (int j = 0; j < k; ++j) {
        const double w = 1.0 / r.count(ids[j]);
        for (uint32_t q = r.offset[ids[j]]; q < r.offset[ids[j] + 1u]; ++q)
          out[sz(r.gpu(r.slot[q]))] += w;
      }
    }
}

}  // namespace epbench
