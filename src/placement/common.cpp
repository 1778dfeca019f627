// Shared placement helpers (common.h): replication and balanced packing.
#include "placement/common.h"

#include <algorithm>
#include <numeric>

#include "common/error.h"
#include "model/presets.h"

namespace epbench {

Layout empty_layout(const PlacementInput& in, const std::string& algorithm) {
  Layout lay;
  lay.model = in.model;
  lay.num_layers = in.stats.num_layers;
  lay.num_experts = in.stats.num_experts;
  lay.nodes = in.cluster.nodes;
  lay.gpus_per_node = in.cluster.gpus_per_node;
  lay.slots_per_gpu = in.cluster.slots_per_gpu;
  lay.algorithm = algorithm;
  lay.params = in.params.is_object() ? in.params : nlohmann::json::object();
  lay.params["seed"] = in.seed;
  return lay;
}

std::vector<double> layer_load(const TraceStats& s, int layer) {
  std::vector<double> w(static_cast<size_t>(s.num_experts));
  for (int e = 0; e < s.num_experts; ++e)
    w[static_cast<size_t>(e)] = static_cast<double>(s.load_at(layer, e));
  return w;
}

std::vector<int> sort_descending(std::span<const double> w) {
  std::vector<int> idx(w.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) {
    return w[static_cast<size_t>(a)] > w[static_cast<size_t>(b)];
  });
  return idx;
}

namespace {

// Index of the largest load / count among experts below the cap (first on ties); -1 if none.
int best_for_replica(std::span<const double> load, const std::vector<int>& count, int cap) {
  int best = -1;
  double best_v = 0;
  for (size_t e = 0; e < load.size(); ++e) {
    if (cap > 0 && count[e] >= cap) continue;
    const double v = load[e] / count[e];
    if (best < 0 || v > best_v) best = static_cast<int>(e), best_v = v;
  }
  return best;
}

}  // namespace

Replication replicate_experts(std::span<const double> load, int num_physical) {
  const int n = static_cast<int>(load.size());
  Replication r;
  r.count.assign(load.size(), 1);
  r.phy2log.resize(static_cast<size_t>(num_physical));
  r.rank.assign(static_cast<size_t>(num_physical), 0);
  std::iota(r.phy2log.begin(), r.phy2log.begin() + std::min(n, num_physical), 0);
  for (int p = n; p < num_physical; ++p) {
    const int e = best_for_replica(load, r.count, 0);
    r.phy2log[static_cast<size_t>(p)] = e;
    r.rank[static_cast<size_t>(p)] = r.count[static_cast<size_t>(e)]++;
  }
  return r;
}

std::vector<int> replica_counts(std::span<const double> load, int total, int max_per_expert) {
  std::vector<int> count(load.size(), 1);
  for (int p = static_cast<int>(load.size()); p < total; ++p) {
    const int e = best_for_replica(load, count, max_per_expert);
    if (e < 0) break;  // every expert at its cap: the remaining slots stay free
    ++count[static_cast<size_t>(e)];
  }
  return count;
}

Packing balanced_packing(std::span<const double> weight, int num_packs) {
  const size_t n = weight.size();
  const int per_pack = static_cast<int>(n) / num_packs;
  Packing p;
  p.pack.assign(n, 0);
  p.rank.assign(n, 0);
  if (per_pack == 1) {  // EPLB's shortcut: item i in pack i, not sorted
    std::iota(p.pack.begin(), p.pack.end(), 0);
    return p;
  }
  std::vector<double> pack_w(static_cast<size_t>(num_packs), 0);
  std::vector<int> pack_n(static_cast<size_t>(num_packs), 0);
  for (int item : sort_descending(weight)) {
    size_t best = pack_w.size();
    for (size_t k = 0; k < pack_w.size(); ++k)
      if (pack_n[k] < per_pack && (best == pack_w.size() || pack_w[k] < pack_w[best])) best = k;
    p.pack[static_cast<size_t>(item)] = static_cast<int>(best);
    p.rank[static_cast<size_t>(item)] = pack_n[best]++;
    pack_w[best] += weight[static_cast<size_t>(item)];
  }
  return p;
}

namespace {

bool holds(const std::vector<uint16_t>& gpu, int e) {
  return std::find(gpu.begin(), gpu.end(), static_cast<uint16_t>(e)) != gpu.end();
}

// The least-loaded GPU with a free slot that does not hold e (ties: lowest id); -1 if none.
int lightest_gpu_for(const LayerPlacement& layer, const std::vector<double>& gpu_w, int e,
                     int slots) {
  int best = -1;
  for (size_t g = 0; g < gpu_w.size(); ++g) {
    const auto& gpu = layer.gpu_experts[g];
    if (static_cast<int>(gpu.size()) >= slots || holds(gpu, e)) continue;
    if (best < 0 || gpu_w[g] < gpu_w[static_cast<size_t>(best)]) best = static_cast<int>(g);
  }
  return best;
}

// Every GPU with a free slot already holds e: move an expert x from a GPU h lacking e (the
// lightest such) to a GPU g with a free slot lacking x; e then takes x's slot on h. Such an x
// exists because h is full and g is not, so h holds some expert g lacks. Returns h, or -1.
int make_room_for(LayerPlacement& layer, std::vector<double>& gpu_w,
                  std::span<const double> per_replica, int e, int slots) {
  std::vector<int> order(gpu_w.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return gpu_w[static_cast<size_t>(a)] < gpu_w[static_cast<size_t>(b)];
  });
  for (int h : order) {
    auto& from = layer.gpu_experts[static_cast<size_t>(h)];
    if (holds(from, e)) continue;
    for (size_t g = 0; g < gpu_w.size(); ++g) {
      auto& to = layer.gpu_experts[g];
      if (static_cast<int>(to.size()) >= slots) continue;
      for (auto& x : from) {
        if (holds(to, x)) continue;
        to.push_back(x);
        gpu_w[g] += per_replica[x];
        gpu_w[static_cast<size_t>(h)] -= per_replica[x];
        from.erase(std::find(from.begin(), from.end(), x));
        return h;
      }
    }
  }
  return -1;
}

std::vector<double> per_replica_load(std::span<const double> load, std::span<const int> counts) {
  std::vector<double> w(load.size());
  for (size_t e = 0; e < w.size(); ++e) w[e] = load[e] / counts[e];
  return w;
}

}  // namespace

LayerPlacement pack_replicas(std::span<const double> load, std::span<const int> counts,
                             int num_gpus, int slots_per_gpu) {
  // Items: every replica with weight load / count; the first replica of each expert sorts
  // before its extra ones on equal weights, so it is never the one dropped.
  std::vector<int> expert;
  std::vector<double> weight;
  for (int r = 0; r < *std::max_element(counts.begin(), counts.end()); ++r)
    for (size_t e = 0; e < load.size(); ++e)
      if (r < counts[e]) {
        expert.push_back(static_cast<int>(e));
        weight.push_back(load[e] / counts[e]);
      }
  LayerPlacement layer;
  layer.gpu_experts.resize(static_cast<size_t>(num_gpus));
  std::vector<double> gpu_w(static_cast<size_t>(num_gpus), 0);
  const std::vector<double> per_replica = per_replica_load(load, counts);
  for (int item : sort_descending(weight)) {
    const int e = expert[static_cast<size_t>(item)];
    int g = lightest_gpu_for(layer, gpu_w, e, slots_per_gpu);
    if (g < 0) g = make_room_for(layer, gpu_w, per_replica, e, slots_per_gpu);
    if (g < 0) continue;  // cannot happen with at most one replica per GPU; be safe
    layer.gpu_experts[static_cast<size_t>(g)].push_back(static_cast<uint16_t>(e));
    gpu_w[static_cast<size_t>(g)] += weight[static_cast<size_t>(item)];
  }
  return layer;
}

std::vector<double> gpu_loads(const LayerPlacement& layer, std::span<const double> load) {
  std::vector<int> count(load.size(), 0);
  for (const auto& gpu : layer.gpu_experts)
    for (uint16_t e : gpu)
      if (!is_empty_slot(e)) ++count[e];
  std::vector<double> w(layer.gpu_experts.size(), 0);
  for (size_t g = 0; g < w.size(); ++g)
    for (uint16_t e : layer.gpu_experts[g])
      if (!is_empty_slot(e)) w[g] += load[e] / count[e];
  return w;
}

void add_replicas(LayerPlacement& layer, std::span<const double> load, int slots_per_gpu) {
  const int gpus = static_cast<int>(layer.gpu_experts.size());
  const std::vector<int> counts = replica_counts(load, gpus * slots_per_gpu, gpus);
  // Extra replicas heaviest first (per-replica weight under the final counts).
  std::vector<int> expert;
  std::vector<double> weight;
  for (size_t e = 0; e < load.size(); ++e)
    for (int r = 1; r < counts[e]; ++r) {
      expert.push_back(static_cast<int>(e));
      weight.push_back(load[e] / counts[e]);
    }
  std::vector<double> gpu_w(static_cast<size_t>(gpus), 0);
  for (size_t g = 0; g < gpu_w.size(); ++g)
    for (uint16_t e : layer.gpu_experts[g]) gpu_w[g] += load[e] / counts[e];
  const std::vector<double> per_replica = per_replica_load(load, counts);
  for (int item : sort_descending(weight)) {
    const int e = expert[static_cast<size_t>(item)];
    int g = lightest_gpu_for(layer, gpu_w, e, slots_per_gpu);
    if (g < 0) g = make_room_for(layer, gpu_w, per_replica, e, slots_per_gpu);
    if (g < 0) continue;
    layer.gpu_experts[static_cast<size_t>(g)].push_back(static_cast<uint16_t>(e));
    gpu_w[static_cast<size_t>(g)] += weight[static_cast<size_t>(item)];
  }
}

bool param_bool(const nlohmann::json& params, const char* key, bool fallback) {
  if (!params.is_object() || !params.contains(key)) return fallback;
  const auto& v = params.at(key);
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1))
    return v.get<int64_t>() == 1;
  throw InputError(std::string("--param ") + key + ": expected true/false or 1/0, got " + v.dump());
}

int param_int(const nlohmann::json& params, const char* key, int fallback, int min) {
  if (!params.is_object() || !params.contains(key)) return fallback;
  const auto& v = params.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > (1 << 24))
    throw InputError(std::string("--param ") + key +
                     ": expected an integer >= " + std::to_string(min) + ", got " + v.dump());
  return v.get<int>();
}

namespace {
// The given size when set, else the preset's; 0 when neither (then params must say).
int size_or(int given, const ModelPreset* preset, int ModelPreset::*size) {
  if (given > 0) return given;
  return preset ? preset->*size : 0;
}
}  // namespace

CostModel priced_model(const PlacementInput& in) {
  const ModelPreset* preset = preset_or_null(in.model);
  const int d_model =
      param_int(in.params, "d_model", size_or(in.d_model, preset, &ModelPreset::d_model), 1);
  const int d_ff = param_int(in.params, "d_ff", size_or(in.d_ff, preset, &ModelPreset::d_ff), 1);
  if (d_model <= 0 || d_ff <= 0)
    throw InputError("model '" + in.model +
                     "': no expert sizes to price layouts with (no preset of that name); pass "
                     "--price-as MODEL or --param d_model=N --param d_ff=N");
  return CostModel(in.cluster, d_model, d_ff);
}

}  // namespace epbench
