#pragma once
// Weight reuse across steps (docs/profile.md): at small batches a CPU (or a GPU with a large
// cache) finds the experts it used a few steps before still in its last-level cache, and reads
// them far faster than from memory. A profile that measured warm experts (version 2) lets the
// cost model price them so; this decides which slots are warm in a step.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "costmodel/cost_model.h"
#include "routing/routing.h"
#include "trace/trace.h"

namespace epbench {

// How far back a step looks (steps): beyond it, caches hold nothing of the history anyway
// except at toy sizes.
inline constexpr size_t kReuseHistorySteps = 64;

// The tokens of one step: token[i] (an index into the TokenBlock) runs from GPU home[i].
struct StepTokens {
  const uint64_t* token = nullptr;
  const int32_t* home = nullptr;  // null: GPU 0, for routings that ignore it
  size_t n = 0;
  // The steps before it, oldest first: step j is history[history_offset[j] ..
  // history_offset[j + 1]), for weight reuse.
  const uint64_t* history = nullptr;
  const uint64_t* history_offset = nullptr;  // [history_steps + 1]
  size_t history_steps = 0;
  const int32_t* history_home = nullptr;  // history's home GPUs (null: GPU 0)
};

// warm [L, G*S]: how warm a slot's expert is in its GPU's cache when the step reaches its layer
// (0 cold .. ProfileTables::kWarm), as the profile finds an expert after as many other experts
// were read since, that share of them from the cache (ProfileTables::warmth). A step reads its
// layers in order, each layer's experts for all its tokens at once; walking back through those
// reads (the step's own layers below, then the earlier steps, the last kReuseHistorySteps of
// them, layers from the top), an expert's reads since are the distinct experts its GPU met
// before it, and the share from the cache that of the experts the walk met on the GPU that it
// met again further back (read twice within the curve's reach). The reads are the replicas `router`
// sends the tokens to, each layer of each step routed as pricing routes it (a replica no token used
// was not read). Cleared (empty) when the cost model does not model reuse or there is no
// history.
void mark_warm_slots(const TokenBlock& tokens, StepTokens steps,
                     const std::vector<LayerReplicas>& replicas, const CostModel& cost,
                     Router& router, std::vector<uint8_t>& warm);

}  // namespace epbench
