#include "placement/coact_graph.h"

#include <algorithm>

#include "common/error.h"
#include "common/rng.h"
#include "placement/common.h"

namespace epbench {

std::vector<double> layer_loads(const TraceStats& s, int layer) {
  std::vector<double> load = layer_load(s, layer);
  for (double& v : load) v = std::max(1.0, v);
  return load;
}

namespace {

double param_tolerance(const nlohmann::json& params) {
  const char* key = "balance_tolerance";
  if (!params.is_object() || !params.contains(key)) return 0.05;
  const auto& v = params.at(key);
  if (!v.is_number() || !(v.get<double>() >= 0) || v.get<double>() > 100)
    throw InputError(std::string("--param ") + key + ": expected a number in [0, 100], got " +
                     v.dump());
  return v.get<double>();
}

}  // namespace

CoactOptions coact_options(const PlacementInput& in) {
  CoactOptions o;
  o.replicate = param_bool(in.params, "replicate", true);
  o.exact = param_bool(in.params, "exact", true);
  o.balance_tolerance = param_tolerance(in.params);
  o.passes = param_int(in.params, "passes", 50, 0);
  o.seed = in.seed;
  return o;
}

std::vector<int> node_gpus(const ClusterSpec& c, int node) {
  std::vector<int> gpus;
  for (int i = 0; i < c.gpus_per_node; ++i) gpus.push_back(node * c.gpus_per_node + i);
  return gpus;
}

Layout place_by_units(const PlacementInput& in, const std::string& name, AssignUnits assign) {
  Layout lay = empty_layout(in, name);
  CoactOptions opt = coact_options(in);
  lay.params["replicate"] = opt.replicate;
  lay.params["exact"] = opt.exact;
  lay.params["balance_tolerance"] = opt.balance_tolerance;
  lay.params["passes"] = opt.passes;
  const int gpus = in.cluster.num_gpus();
  for (int l = 0; l < lay.num_layers; ++l) {
    const std::vector<double> load = layer_loads(in.stats, l);
    // At most one copy per GPU: two on one GPU would add no parallelism and no locality.
    const std::vector<int> counts = opt.replicate
                                        ? replica_counts(load, in.cluster.total_slots(), gpus)
                                        : std::vector<int>(load.size(), 1);
    const UnitGraph g = build_unit_graph(in.stats, l, counts);
    CoactOptions layer_opt = opt;
    layer_opt.seed = mix_seed(in.seed, static_cast<uint64_t>(l));
    lay.layers.push_back(to_layer_placement(g, assign(g, in.cluster, layer_opt), gpus));
  }
  return lay;
}

UnitGraph build_unit_graph(const TraceStats& s, int layer, const std::vector<int>& replicas) {
  UnitGraph g;
  const std::vector<double> load = layer_loads(s, layer);
  for (int e = 0; e < s.num_experts; ++e) {
    const int r = replicas[static_cast<size_t>(e)];
    for (int i = 0; i < r; ++i) {
      g.expert.push_back(e);
      g.load.push_back(load[static_cast<size_t>(e)] / r);
    }
  }
  g.num_units = static_cast<int>(g.expert.size());
  const auto n = static_cast<size_t>(g.num_units);
  g.w.assign(n * n, 0.0);
  for (size_t a = 0; a < n; ++a) {
    const int ea = g.expert[a];
    for (size_t b = a + 1; b < n; ++b) {
      const int eb = g.expert[b];
      if (ea == eb) continue;  // replicas never serve the same token together
      const double v = static_cast<double>(s.pair_at(layer, ea, eb)) /
                       (replicas[static_cast<size_t>(ea)] * replicas[static_cast<size_t>(eb)]);
      g.w[a * n + b] = g.w[b * n + a] = v;
    }
  }
  return g;
}

double same_gpu_weight(const UnitGraph& g, const std::vector<int>& gpu_of_unit) {
  double total = 0;
  for (int a = 0; a < g.num_units; ++a)
    for (int b = a + 1; b < g.num_units; ++b)
      if (gpu_of_unit[static_cast<size_t>(a)] == gpu_of_unit[static_cast<size_t>(b)])
        total += g.weight(a, b);
  return total;
}

LayerPlacement to_layer_placement(const UnitGraph& g, const std::vector<int>& gpu_of_unit,
                                  int num_gpus) {
  LayerPlacement p;
  p.gpu_experts.resize(static_cast<size_t>(num_gpus));
  for (int u = 0; u < g.num_units; ++u)
    p.gpu_experts[static_cast<size_t>(gpu_of_unit[static_cast<size_t>(u)])].push_back(
        static_cast<uint16_t>(g.expert[static_cast<size_t>(u)]));
  for (auto& list : p.gpu_experts) std::sort(list.begin(), list.end());
  return p;
}

}  // namespace epbench
