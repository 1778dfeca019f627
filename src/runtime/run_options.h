#pragma once
// The options of `epbench run` (docs/run.md), as the job sees them on every rank.
#include <cstdint>
#include <string>
#include <vector>

#include "routing/allocation.h"
#include "routing/batching.h"
#include "routing/routing.h"
#include "runtime/seeded_values.h"

namespace epbench {

struct RunOptions {
  std::string trace;
  uint64_t begin = 0, end = 0;  // token range replayed, [begin, end)
  std::vector<std::string> layouts;
  std::string cluster = "h800";  // parameters of the predictions (a calibrated JSON is best)
  std::vector<RoutingPolicy> routings{RoutingPolicy::kFirst};
  AllocationPolicy allocation = AllocationPolicy::kRoundRobin;
  BatchingPolicy batching = BatchingPolicy::kFifo;
  std::vector<int> batch_sizes{1, 16, 64};
  uint64_t prefill_chunk = 0;  // 0: decode tokens only, as most serving steps are
  uint64_t steps = 10;         // measured steps per configuration, 0: all the range gives
  // With steps > 0: at least ceil(this / B) measured steps at batch size B, so that small
  // batches, whose steps are short and noisy, are measured over as many tokens as large ones.
  uint64_t min_step_tokens = 0;
  uint64_t warmup = 2;  // unmeasured steps before them (the first ones, run twice)
  std::string backend = "cpu", comm = "mpi";
  DType dtype = DType::kFp32;
  int d_model = 0, d_ff = 0;  // 0: the trace's model
  double scale = 1;           // multiplies d_model and d_ff
  int ranks_per_node = 0;     // > 0: virtual nodes of this many ranks
  bool check = false;
  int check_stride = 1;  // every token (its cost: docs/run.md)
  bool baseline = true;
  int baseline_reps = 10;     // repetitions of each side of the a2a baseline (medians kept)
  int threads = 1;            // BLAS threads per rank
  uint64_t memory_limit = 0;  // bytes per rank for the shards, 0: MemAvailable / ranks per host
  uint64_t seed = 1;
  int fault_rank = -1;  // --inject-fault RANK:STEP: that rank dies at that measured step
  uint64_t fault_step = 0;
  std::string schedule;  // a serve --schedule-out file: run its steps instead of batches
  bool announce = true;  // print the job's line and its topology warnings (validate: once)
  std::string output, command_line;
};

}  // namespace epbench
