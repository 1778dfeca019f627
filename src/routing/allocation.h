#pragma once
// Request allocation: the home GPU of each request, where its KV cache lives and where its
// tokens start and end every layer (docs/evaluate.md). A GPU holds at most the cluster's KV
// capacity in tokens of context; 0 means unlimited.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/cluster.h"
#include "routing/routing.h"
#include "trace/trace.h"

namespace epbench {

enum class AllocationPolicy { kRoundRobin, kLeastLoaded, kAffinity };

std::vector<std::string> allocation_names();
AllocationPolicy parse_allocation(const std::string& name);  // OptionError of field "allocation"
const char* allocation_name(AllocationPolicy p);

class Allocator {
 public:
  Allocator(AllocationPolicy policy, const ClusterSpec& cluster);

  // The home GPU for a request needing kv_tokens of context, or -1 when no GPU has room.
  // affinity[g]: how much of the request's prompt GPU g serves (only the affinity policy
  // reads it; it may be empty, which falls back to least-loaded).
  int place(double kv_tokens, std::span<const double> affinity = {});
  void release(int gpu, double kv_tokens);
  // For contexts that grow (serve): whether `gpu` can hold kv_tokens more, and taking them.
  bool has_room(int gpu, double kv_tokens) const { return room(gpu, kv_tokens); }
  void grow(int gpu, double kv_tokens) { used_[static_cast<size_t>(gpu)] += kv_tokens; }
  double capacity() const { return capacity_; }
  double used(int gpu) const { return used_[static_cast<size_t>(gpu)]; }
  bool fits_anywhere(double kv_tokens) const;  // on an empty GPU
  AllocationPolicy policy() const { return policy_; }

 private:
  bool room(int gpu, double kv_tokens) const;
  int least_loaded(double kv_tokens, int first_gpu, int last_gpu) const;
  int by_affinity(double kv_tokens, std::span<const double> affinity) const;

  AllocationPolicy policy_;
  int G_, gpn_;
  double capacity_;  // per GPU, 0: unlimited
  std::vector<double> used_;
  int next_ = 0;  // round-robin cursor
};

// Adds to out[g] (size G) the share of tokens [first, last) of `block` that GPU g would serve:
// each (layer, expert) choice counts 1/replicas on each GPU holding that expert.
void add_affinity(const std::vector<LayerReplicas>& layers, const TokenBlock& block, size_t first,
                  size_t last, std::span<double> out);

}  // namespace epbench
