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

// Host bytes of one rank's shards: layers x slots x 3 x d_model x d_ff fp32 values (the CPU
// backend's copy; a GPU backend holds them on the device instead, in its dtype).
uint64_t shard_bytes(const Layout& layout, int d_model, int d_ff, size_t value_bytes);

// The memory a rank may use: limit if > 0, else MemAvailable / ranks on this host.
uint64_t memory_per_rank(uint64_t limit, int ranks_on_host);

// Throws InputError with the numbers when `need` exceeds `have`.
void require_memory(const std::string& layout_path, uint64_t need, uint64_t have, int layers,
                    int slots, int d_model, int d_ff, size_t value_bytes, uint64_t limit);

// Generates and loads this rank's experts: backend shard l * slots + i holds
// layout.layers[l].gpu_experts[rank][i]. Returns how many experts were loaded.
size_t load_shards(const Layout& layout, int rank, int d_model, int d_ff, DType dtype,
                   uint64_t seed, FfnBackend& backend);

}  // namespace epbench
