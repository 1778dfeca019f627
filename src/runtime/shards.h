#pragma once
// Expert shards: each rank holds weights only for the experts in its slots, layer by layer,
// seeded per (layer, expert) so every replica of an expert is identical. The memory they need
// is estimated before anything is allocated.
#include <cstdint>
#include <string>

#include "placement/layout.h"
#include "runtime/ffn_backend.h"
#include "runtime/seeded_values.h"

namespace epbench {

// Bytes of one rank's shards: layers x slots x 3 x d_model x d_ff values (the CPU backend holds
// fp32 in host memory; a GPU backend holds them on the device, in its dtype).
uint64_t shard_bytes(const Layout& layout, int d_model, int d_ff, size_t value_bytes);

// The memory a rank may use for its shards, and where that figure comes from (for messages).
struct MemoryBudget {
  uint64_t bytes = UINT64_MAX;  // UINT64_MAX: unknown, no limit
  std::string source;
};

// Host memory: limit if > 0, else MemAvailable / ranks on this host.
MemoryBudget memory_per_rank(uint64_t limit, int ranks_on_host);

// A GPU backend: limit if > 0, else the device's free memory (cudaMemGetInfo, measured before
// anything is loaded) divided by the ranks that share the device.
MemoryBudget device_memory_per_rank(uint64_t limit, uint64_t device_free, int ranks_on_device);

// Throws InputError with the numbers when `need` exceeds the budget.
void require_memory(const std::string& layout_path, uint64_t need, const MemoryBudget& have,
                    int layers, int slots, int d_model, int d_ff, size_t value_bytes);

// Generates and loads this rank's experts: backend shard l * slots + i holds
// layout.layers[l].gpu_experts[rank][i]. Returns how many experts were loaded.
size_t load_shards(const Layout& layout, int rank, int d_model, int d_ff, DType dtype,
                   uint64_t seed, FfnBackend& backend);

}  // namespace epbench
