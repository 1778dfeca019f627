#pragma once
// DeepSeek's Expert Parallelism Load Balancer (github.com/deepseek-ai/EPLB), the algorithm on
// its own, for tests and benchmarks; place_eplb (registry) wraps it for epbench layouts.
#include <vector>

namespace epbench {

// weights [L][E] (expert loads per layer); returns phy2log [L][num_replicas]: the expert in
// each physical slot, GPU = slot / (num_replicas / num_gpus). Hierarchical policy when
// num_groups is a multiple of num_nodes, else the global one (groups = nodes = 1), exactly as
// EPLB's rebalance_experts. Requires E % num_groups == 0, num_replicas >= E, num_replicas %
// num_gpus == 0 and num_gpus % num_nodes == 0 (InputError otherwise).
std::vector<std::vector<int>> eplb_rebalance(const std::vector<std::vector<double>>& weights,
                                             int num_replicas, int num_groups, int num_nodes,
                                             int num_gpus);

}  // namespace epbench
