#pragma once
// The workload `steptime` prices layouts on: sampled steps of the fit range at each batch size
// of a target mix, as `evaluate` would form decode steps of B concurrent requests.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "placement/algorithm.h"

namespace epbench {

struct StepSample {
  int top_k = 0;
  std::vector<size_t> offset{0};  // step s holds tokens [offset[s], offset[s + 1])
  std::vector<int32_t> home;      // [tokens] home GPU
  std::vector<int> batch_index;   // [steps] which batch size of the mix
  // [L][tokens * k] expert ids of each sampled token in each layer
  std::vector<std::vector<uint16_t>> ids;

  size_t num_steps() const { return offset.size() - 1; }
  size_t step_size(size_t s) const { return offset[s + 1] - offset[s]; }
};

// Small batches are noisy: every size gets at least this many tokens in all.
inline constexpr int kMinSampleTokens = 256;
// Steps sampled at one batch size: `steps_per_batch`, more when that is under kMinSampleTokens.
// `min_factor` scales that minimum (a larger sample for the same sizes).
int steps_for(int batch, int steps_per_batch, int min_factor = 1);

// steps_for(B, `steps_per_batch`) steps of each size in `batch_sizes`: tokens drawn uniformly from
// the fit range (its decode tokens when it has at least a batch of them), homes round-robin over
// the GPUs. Without tokens (a load file), each token draws top-k distinct experts in proportion to
// the layer's loads. Deterministic in `seed`.
StepSample sample_steps(const PlacementInput& in, const std::vector<int>& batch_sizes,
                        int steps_per_batch, uint64_t seed, int min_factor = 1);

}  // namespace epbench
