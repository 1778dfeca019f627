#pragma once
// Shared by the profile tests: a profile written from known timing functions, and a cluster
// JSON file that names it.
#include <string>

#include "costmodel/profile.h"
#include "model/cluster.h"

namespace epbench::test {

// Known timings: one expert of n tokens costs ffn_truth(n) (a line with a kink at 16 tokens),
// `a` active experts cost a * ffn_truth(n); an all-to-all with b bytes per destination costs
// a2a_truth(b) = alpha + b / beta; same-node only (one destination: 2 GPUs in one node).
double ffn_truth(double tokens);
double a2a_truth(double bytes);
inline constexpr double kCountExchangeS = 5e-6;
Profile synthetic_profile(int d_model = 256, int d_ff = 512, int world = 2);

// Weight reuse (version 2): a warm expert costs warm_truth(n) = ffn_truth(n) / 2, and one
// rank's cache share holds `experts_in_cache` experts' weights.
double warm_truth(double tokens);
void add_warm_table(Profile& p, int experts_in_cache);

// The h800 preset reshaped to 1 node x 2 GPUs x 2 slots, pricing with profile p.
ClusterSpec profiled_cluster(const Profile& p);

// A cluster JSON (based on h800) at `json_path` whose "profile" is `profile_rel`.
void write_profile_cluster(const std::string& json_path, const std::string& profile_rel);

}  // namespace epbench::test
