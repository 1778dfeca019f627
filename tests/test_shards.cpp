// The shard memory estimate: host or device budget, and a refusal with the numbers.
#include <gtest/gtest.h>

#include "common/error.h"
#include "runtime/shards.h"

namespace epbench {
namespace {

Layout layout_of(int layers, int gpus, int slots) {
  Layout l;
  l.num_layers = layers, l.slots_per_gpu = slots;
  l.layers.resize(size_t(layers));
  for (auto& layer : l.layers) layer.gpu_experts.assign(size_t(gpus), std::vector<uint16_t>());
  return l;
}

// Mixtral-8x7B's experts (4096 x 14336), 32 layers, 2 slots per GPU, bf16: 21 GiB per rank.
TEST(Shards, DeviceBudgetRefusesShardsTooLargeForTheGpu) {
  const Layout l = layout_of(32, 8, 2);
  const uint64_t need = shard_bytes(l, 4096, 14336, 2);
  EXPECT_EQ(need, 32ull * 2 * 3 * 4096 * 14336 * 2);
  const uint64_t gib = 1ull << 30;
  // An 80 GB GPU with 79 GiB free holds it for one rank, not for four ranks sharing it.
  const MemoryBudget one = device_memory_per_rank(0, 79 * gib, 1);
  EXPECT_NO_THROW(require_memory("mixtral.json", need, one, 32, 2, 4096, 14336, 2));
  const MemoryBudget four = device_memory_per_rank(0, 79 * gib, 4);
  EXPECT_EQ(four.bytes, 79 * gib / 4);
  try {
    require_memory("mixtral.json", need, four, 32, 2, 4096, 14336, 2);
    FAIL() << "21 GiB does not fit in 19.75 GiB";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("mixtral.json: the expert shards need 21.00 GiB"), std::string::npos) << m;
    EXPECT_NE(m.find("19.75 GiB is available per rank"), std::string::npos) << m;
    EXPECT_NE(m.find("cudaMemGetInfo"), std::string::npos) << m;
    EXPECT_NE(m.find("4 rank(s) using it"), std::string::npos) << m;
  }
  // --memory-limit overrides the device's figure.
  EXPECT_EQ(device_memory_per_rank(gib, 79 * gib, 1).source, "--memory-limit");
}

}  // namespace
}  // namespace epbench
