#include "runtime/shards.h"

#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/numeric.h"
#include "common/strprintf.h"

namespace epbench {

uint64_t shard_bytes(const Layout& layout, int d_model, int d_ff, size_t value_bytes) {
  return static_cast<uint64_t>(layout.layers.size()) * sz(layout.slots_per_gpu) * 3 * sz(d_model) *
         sz(d_ff) * value_bytes;
}

namespace {

uint64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    uint64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  return 0;  // unknown: no limit is better than a made-up one
}

double gib(uint64_t b) {
  return dbl(b) / double(1ull << 30);
}

}  // namespace

MemoryBudget memory_per_rank(uint64_t limit, int ranks_on_host) {
  if (limit > 0) return {limit, "--memory-limit"};
  const uint64_t avail = mem_available();
  if (avail == 0) return {UINT64_MAX, "MemAvailable unknown"};
  return {avail / sz(std::max(1, ranks_on_host)),
          strprintf("MemAvailable divided by the %d rank(s) on this host", ranks_on_host)};
}

MemoryBudget device_memory_per_rank(uint64_t limit, uint64_t device_free, int ranks_on_device) {
  if (limit > 0) return {limit, "--memory-limit"};
  const int sharing = std::max(1, ranks_on_device);
  return {device_free / sz(sharing),
          strprintf("%.2f GiB free on the GPU (cudaMemGetInfo) divided by the %d rank(s) using it",
                    gib(device_free), sharing)};
}

void require_memory(const std::string& layout_path, uint64_t need, const MemoryBudget& have,
                    int layers, int slots, int d_model, int d_ff, size_t value_bytes) {
  if (need <= have.bytes) return;
  throw InputError(strprintf(
      "%s: the expert shards need %.2f GiB per rank (%d layers x %d slots x 3 x d_model %d x "
      "d_ff %d x %zu bytes) but %.2f GiB is available per rank (%s); shrink the experts with "
      "--scale or --d-model/--d-ff, or use more ranks",
      layout_path.c_str(), gib(need), layers, slots, d_model, d_ff, value_bytes, gib(have.bytes),
      have.source.c_str()));
}

size_t load_shards(const Layout& layout, int rank, int d_model, int d_ff, DType dtype,
                   uint64_t seed, FfnBackend& backend) {
  ExpertWeightsF32 w;
  size_t loaded = 0;
  for (size_t l = 0; l < layout.layers.size(); ++l) {
    const std::vector<uint16_t>& mine = layout.layers[l].gpu_experts[sz(rank)];
    for (size_t i = 0; i < mine.size(); ++i) {
      if (is_empty_slot(mine[i])) continue;  // no weights, and routing never sends it tokens
      make_expert_weights(seed, static_cast<int>(l), mine[i], d_model, d_ff, dtype, w);
      backend.load(l * sz(layout.slots_per_gpu) + i, w.gate.data(), w.up.data(), w.down.data());
      ++loaded;
    }
  }
  return loaded;
}

}  // namespace epbench
