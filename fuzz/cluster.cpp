// Fuzzes the cluster JSON reader. An accepted cluster must describe usable hardware: a
// shape >= 1, finite positive speeds, NICs that divide the node.
#include <cmath>

#include "fuzz_util.h"
#include "model/cluster.h"

namespace {

using epbench::fuzz::require;

bool positive(double v) {
  return std::isfinite(v) && v > 0;
}

void parse(const std::string& path) {
  const epbench::ClusterSpec c = epbench::load_cluster(path);
  require(c.nodes >= 1 && c.gpus_per_node >= 1 && c.slots_per_gpu >= 0, "shape");
  require(c.gpus_per_nic >= 1 && c.gpus_per_node % c.gpus_per_nic == 0, "GPUs per NIC");
  require(c.bytes_per_activation >= 1 && c.bytes_per_weight >= 1, "element sizes");
  require(positive(c.kv_capacity_tokens), "KV capacity");
  require(positive(c.same_node.latency_s) && positive(c.same_node.bandwidth_Bps), "same_node");
  require(positive(c.other_node.latency_s) && positive(c.other_node.bandwidth_Bps), "other_node");
  require(positive(c.gpu_flops) && positive(c.hbm_bandwidth_Bps), "GPU speeds");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = epbench::fuzz::write_input("cluster.json", data, size);
  epbench::fuzz::expect_parse_or_input_error([&] { parse(path); });
  return 0;
}
