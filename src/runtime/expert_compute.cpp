#include "runtime/expert_compute.h"

#include <algorithm>

#include "runtime/pack_plan.h"

namespace epbench {

namespace {

// Lists the busy slots in scratch.group; returns the index of their first row in slot_rows.
size_t list_busy(const DispatchPlan& plan, size_t shard0, size_t d, ExpertScratch& scratch,
                 ExpertCounts& counts) {
  scratch.group.clear();
  scratch.group.width = d;
  for (size_t s = 0; s + 1 < plan.slot_off.size(); ++s) {
    const size_t rows = plan.slot_off[s + 1] - plan.slot_off[s];
    if (rows == 0) continue;
    counts.pairs += static_cast<uint32_t>(rows), ++counts.active;
    scratch.group.add(shard0 + s, rows);
  }
  return plan.slot_off.empty() ? 0 : plan.slot_off.front();
}

}  // namespace

ExpertCounts run_experts(FfnBackend& backend, const DispatchPlan& plan, size_t shard0,
                         const float* work, size_t d, float* out, ExpertScratch& scratch) {
  std::fill(out, out + plan.work_rows() * d, 0.f);
  ExpertCounts counts;
  const size_t first = list_busy(plan, shard0, d, scratch, counts);
  const size_t rows = counts.pairs;  // slots' rows are contiguous in slot_rows, in slot order
  if (rows == 0) return counts;
  scratch.xe.resize(rows * d), scratch.ye.resize(rows * d);
  const uint32_t* src = plan.slot_rows.data() + first;
  gather_rows(work, src, rows, d, scratch.xe.data());
  backend.forward_group(scratch.group, scratch.xe.data(), scratch.ye.data());
  const float* gate = plan.slot_gate.data() + first;
  for (size_t i = 0; i < rows; ++i) {
    float* o = out + src[i] * d;
    const float* yi = scratch.ye.data() + i * d;
    for (size_t c = 0; c < d; ++c) o[c] += gate[i] * yi[c];
  }
  return counts;
}

}  // namespace epbench
