#include "test_profile_util.h"

#include <fstream>
#include <memory>

namespace epbench::test {

double ffn_truth(double n) {
  return n <= 16 ? 20e-6 + 1e-6 * n : 36e-6 + 3e-6 * (n - 16);
}

double a2a_truth(double bytes) {
  return 4e-6 + bytes / 2e9;
}

Profile synthetic_profile(int d_model, int d_ff, int world) {
  Profile p;
  p.backend = "cpu", p.dtype = "fp32", p.created_at = "2026-01-01T00:00:00Z";
  p.command_line = "synthetic";
  p.d_model = d_model, p.d_ff = d_ff, p.world_size = world, p.ranks_per_node = world;
  p.repetitions = 1, p.hosts = {"localhost"};
  p.ffn_tokens = {1, 2, 4, 8, 16, 32, 64};
  p.ffn_active = {1, 2};
  for (int64_t a : p.ffn_active)
    for (int64_t n : p.ffn_tokens) p.ffn_time_s.push_back(double(a) * ffn_truth(double(n)));
  p.a2a_patterns = {kPatternSameNode};
  p.a2a_destinations = {world - 1};
  for (int64_t b = 8; b <= (1 << 20); b *= 2) {
    p.a2a_bytes.push_back(b);
    p.a2a_time_s.push_back(a2a_truth(double(b)));
  }
  p.count_exchange_s = kCountExchangeS;
  return p;
}

double warm_truth(double n) {
  return ffn_truth(n) / 2;
}

void add_warm_table(Profile& p, int experts_in_cache) {
  p.ffn_warm_time_s.clear();
  for (int64_t n : p.ffn_tokens) p.ffn_warm_time_s.push_back(warm_truth(double(n)));
  p.cache_bytes_per_rank = experts_in_cache * int64_t(expert_weight_bytes(p));
}

ClusterSpec profiled_cluster(const Profile& p) {
  ClusterSpec c = load_cluster("h800");
  c.nodes = 1, c.gpus_per_node = 2, c.slots_per_gpu = 2;
  c.profile = std::make_shared<const Profile>(p);
  return c;
}

void write_profile_cluster(const std::string& json_path, const std::string& profile_rel) {
  std::ofstream(json_path) << R"({"format": "epbench-cluster", "version": 1, "base": "h800",
    "nodes": 1, "gpus_per_node": 2, "profile": ")"
                           << profile_rel << "\"}\n";
}

}  // namespace epbench::test
