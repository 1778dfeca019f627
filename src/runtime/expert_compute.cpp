#include "runtime/expert_compute.h"

#include <algorithm>

#include "runtime/pack_plan.h"

namespace epbench {

ExpertCounts run_experts(FfnBackend& backend, const DispatchPlan& plan, size_t shard0,
                         const float* work, size_t d, float* out, ExpertScratch& scratch) {
  std::fill(out, out + plan.work_rows() * d, 0.f);
  ExpertCounts counts;
  for (size_t s = 0; s + 1 < plan.slot_off.size(); ++s) {
    const size_t first = plan.slot_off[s], rows = plan.slot_off[s + 1] - first;
    if (rows == 0) continue;
    counts.pairs += static_cast<uint32_t>(rows), ++counts.active;
    scratch.xe.resize(rows * d), scratch.ye.resize(rows * d);
    gather_rows(work, plan.slot_rows.data() + first, rows, d, scratch.xe.data());
    backend.forward(shard0 + s, scratch.xe.data(), rows, scratch.ye.data());
    for (size_t i = 0; i < rows; ++i) {
      float* o = out + plan.slot_rows[first + i] * d;
      const float g = plan.slot_gate[first + i];
      const float* yi = scratch.ye.data() + i * d;
      for (size_t c = 0; c < d; ++c) o[c] += g * yi[c];
    }
  }
  return counts;
}

}  // namespace epbench
