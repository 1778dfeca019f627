// eplb: DeepSeek's Expert Parallelism Load Balancer, step for step as its eplb.py
// (rebalance_experts_hierarchical), one layer at a time:
//   1. pack expert groups onto nodes with balanced_packing (groups whole, so a token limited to
//      few groups reaches few nodes);
//   2. inside each node, replicate: each extra slot to the expert with the largest load per
//      replica (replicate_experts);
//   3. pack the node's physical replicas onto its GPUs with balanced_packing.
// The global policy is the same with one group and one node. Ties follow torch: stable
// descending sorts, argmax returns the first maximum, Python's min the first minimum. EPLB
// computes in float32; we use double, which can only differ on loads that tie in float32.
#include "placement/eplb.h"

#include <algorithm>
#include <string>

#include "common/error.h"
#include "model/presets.h"
#include "placement/common.h"

namespace epbench {

namespace {

struct Shape {
  int experts, replicas, groups, nodes, gpus;
};

std::vector<int> inverse(const std::vector<int>& perm) {
  std::vector<int> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[static_cast<size_t>(perm[i])] = static_cast<int>(i);
  return inv;
}

// Step 1: log2mlog[e] = position of expert e once groups are laid out node after node.
std::vector<int> groups_to_nodes(const std::vector<double>& w, const Shape& s) {
  const int group_size = s.experts / s.groups, groups_per_node = s.groups / s.nodes;
  std::vector<double> per_group(static_cast<size_t>(s.groups), 0);
  for (int e = 0; e < s.experts; ++e)
    per_group[static_cast<size_t>(e / group_size)] += w[static_cast<size_t>(e)];
  const Packing p = balanced_packing(per_group, s.nodes);
  std::vector<int> log2mlog(static_cast<size_t>(s.experts));
  for (int e = 0; e < s.experts; ++e) {
    const auto g = static_cast<size_t>(e / group_size);
    log2mlog[static_cast<size_t>(e)] =
        (p.pack[g] * groups_per_node + p.rank[g]) * group_size + e % group_size;
  }
  return log2mlog;
}

// Steps 2 and 3 for one node: its experts' loads -> its slots' node-local expert indices.
std::vector<int> place_in_node(const std::vector<double>& node_w, const Shape& s) {
  const int phy_per_node = s.replicas / s.nodes, gpus_per_node = s.gpus / s.nodes;
  const int per_gpu = s.replicas / s.gpus;
  const Replication r = replicate_experts(node_w, phy_per_node);
  std::vector<double> per_phy(static_cast<size_t>(phy_per_node));
  for (size_t p = 0; p < per_phy.size(); ++p) {
    const auto e = static_cast<size_t>(r.phy2log[p]);
    per_phy[p] = node_w[e] / r.count[e];
  }
  const Packing pk = balanced_packing(per_phy, gpus_per_node);
  std::vector<int> phy2pphy(per_phy.size());
  for (size_t p = 0; p < per_phy.size(); ++p) phy2pphy[p] = pk.pack[p] * per_gpu + pk.rank[p];
  const std::vector<int> pphy2phy = inverse(phy2pphy);
  std::vector<int> out(per_phy.size());
  for (size_t q = 0; q < out.size(); ++q) out[q] = r.phy2log[static_cast<size_t>(pphy2phy[q])];
  return out;
}

std::vector<int> rebalance_layer(const std::vector<double>& w, const Shape& s) {
  const std::vector<int> log2mlog = groups_to_nodes(w, s);
  const std::vector<int> mlog2log = inverse(log2mlog);
  const int per_node = s.experts / s.nodes, phy_per_node = s.replicas / s.nodes;
  std::vector<int> phy2log(static_cast<size_t>(s.replicas));
  for (int n = 0; n < s.nodes; ++n) {
    std::vector<double> node_w(static_cast<size_t>(per_node));
    for (int i = 0; i < per_node; ++i)
      node_w[static_cast<size_t>(i)] =
          w[static_cast<size_t>(mlog2log[static_cast<size_t>(n * per_node + i)])];
    const std::vector<int> local = place_in_node(node_w, s);
    for (int q = 0; q < phy_per_node; ++q)
      phy2log[static_cast<size_t>(n * phy_per_node + q)] =
          mlog2log[static_cast<size_t>(n * per_node + local[static_cast<size_t>(q)])];
  }
  return phy2log;
}

void check_shape(const Shape& s) {
  auto fail = [](const std::string& what) { throw InputError("eplb: expected " + what); };
  if (s.groups < 1 || s.experts % s.groups != 0)
    fail("the number of experts (" + std::to_string(s.experts) +
         ") to be a multiple of the number of groups (" + std::to_string(s.groups) + ")");
  if (s.nodes < 1 || s.gpus < 1 || s.gpus % s.nodes != 0) fail("GPUs a multiple of nodes");
  if (s.replicas < s.experts || s.replicas % s.gpus != 0)
    fail("replicas (" + std::to_string(s.replicas) + ") >= experts and a multiple of GPUs");
  // Hierarchical: each node holds whole groups, so its replicas must cover its experts.
  if (s.experts % s.nodes != 0) fail("experts a multiple of nodes (hierarchical policy)");
}

}  // namespace

std::vector<std::vector<int>> eplb_rebalance(const std::vector<std::vector<double>>& weights,
                                             int num_replicas, int num_groups, int num_nodes,
                                             int num_gpus) {
  std::vector<std::vector<int>> out;
  if (weights.empty()) return out;
  Shape s{static_cast<int>(weights[0].size()), num_replicas, num_groups, num_nodes, num_gpus};
  if (s.groups < 1 || s.nodes < 1 || s.groups % s.nodes != 0) s.groups = s.nodes = 1;  // global
  check_shape(s);
  for (const auto& w : weights) {
    if (static_cast<int>(w.size()) != s.experts) throw InputError("eplb: ragged weights");
    out.push_back(rebalance_layer(w, s));
  }
  return out;
}

namespace {

int default_groups(const std::string& model) {
  // A model that is no preset has no known groups: global balancing unless params say.
  const ModelPreset* p = preset_or_null(model);
  return p ? p->expert_groups : 1;
}

// Physical slot p of EPLB's phy2log is slot p % per_gpu of GPU p / per_gpu, kept as is:
// EPLB may put two replicas of a very hot expert on one GPU, and so does the layout.
LayerPlacement to_layer(const std::vector<int>& phy2log, int gpus) {
  const size_t per_gpu = phy2log.size() / static_cast<size_t>(gpus);
  LayerPlacement layer;
  layer.gpu_experts.resize(static_cast<size_t>(gpus));
  for (size_t p = 0; p < phy2log.size(); ++p)
    layer.gpu_experts[p / per_gpu].push_back(static_cast<uint16_t>(phy2log[p]));
  return layer;
}

}  // namespace

Layout place_eplb(const PlacementInput& in) {
  Layout lay = empty_layout(in, "eplb");
  const int groups = param_int(in.params, "groups", default_groups(in.model), 1);
  lay.params["groups"] = groups;
  lay.params["policy"] = groups % lay.nodes == 0 ? "hierarchical" : "global";
  std::vector<std::vector<double>> w;
  for (int l = 0; l < lay.num_layers; ++l) w.push_back(layer_load(in.stats, l));
  const int gpus = lay.num_gpus();
  for (const auto& phy2log : eplb_rebalance(w, gpus * lay.slots_per_gpu, groups, lay.nodes, gpus))
    lay.layers.push_back(to_layer(phy2log, gpus));
  return lay;
}

}  // namespace epbench
