#pragma once
// Static batching (docs/evaluate.md): requests run in batches of up to B; a batch first
// prefills its prompts in chunks, then runs decode steps in which every unfinished request
// contributes one token; the next batch starts when the batch's longest request ends.
// KV capacity (the Allocator) can close a batch before it reaches B requests.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "routing/allocation.h"

namespace epbench {

enum class BatchingPolicy { kFifo, kAffinity };

std::vector<std::string> batching_names();
BatchingPolicy parse_batching(const std::string& name);  // OptionError of field "batching"
const char* batching_name(BatchingPolicy p);

// One request's tokens within the evaluated range, as indices into the evaluated block.
struct RequestSpan {
  uint64_t first = 0, prompt_end = 0, end = 0;  // prefill [first, prompt_end), decode after
  double kv_tokens = 0;                         // context it holds at its last token
};

struct BatchingOptions {
  BatchingPolicy policy = BatchingPolicy::kFifo;
  int batch_size = 1;          // B, concurrent requests
  uint64_t prefill_chunk = 0;  // prompt tokens per prefill step; 0: prompts are not evaluated
  uint64_t max_steps = 0;      // stop after this many steps (0: all)
  int window = 0;              // affinity: pending requests considered (0: 4 B)
};

// Steps flattened: step s runs tokens token[offset[s] .. offset[s+1]) from home GPUs home[..].
struct StepPlan {
  std::vector<uint64_t> offset{0};  // [S+1]
  std::vector<uint64_t> token;
  std::vector<int32_t> home;
  std::vector<uint8_t> prefill;          // [S]: 1 for a prefill chunk
  std::vector<uint32_t> batch_requests;  // requests per batch, in order (for reports)

  size_t num_steps() const { return prefill.size(); }
  uint64_t num_tokens() const { return token.size(); }
};

// Plans every step. profile[r] (size G, may be empty unless policy is affinity or the
// allocator's is) is request r's share of expert work per GPU. Every request runs exactly
// once unless max_steps cuts the plan short. Throws InputError when a request cannot fit in
// one GPU's KV capacity.
StepPlan plan_steps(const std::vector<RequestSpan>& requests,
                    const std::vector<std::vector<double>>& profile, const BatchingOptions& opt,
                    Allocator& alloc);

}  // namespace epbench
