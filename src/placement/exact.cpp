// `exact`: the placement with the least predicted step time, for small instances.
//
// Objective: the cost model's time (dispatch + compute + combine, CostModel::price_layer) of
// one step over a representative batch of the fit range: every distinct token type (its set
// of experts; exact from the statistics for top-1 and top-2) in proportion to its frequency,
// homes spread round-robin over the GPUs. Each expert is placed once (no replicas).
//
// Search: branch and bound over canonical placements. GPUs inside a node, and nodes, are
// interchangeable, so experts open GPUs and nodes in order (one representative per
// symmetry class); a branch is cut when the compute time of the experts already placed
// (which only grows) reaches the best complete placement's total.
#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "costmodel/cost_model.h"
#include "model/presets.h"
#include "placement/algorithm.h"
#include "placement/common.h"
#include "placement/exact.h"

namespace epbench {

namespace {

constexpr int kMaxExperts = 12;

struct Sample {
  std::vector<int32_t> home;
  std::vector<uint16_t> experts;  // [n, k]
  std::vector<uint32_t> per_expert;
  size_t size() const { return home.size(); }
};

// Adds `count * scale` copies of one token type, each once from every home GPU: homes spread
// evenly keep the objective symmetric under relabelling GPUs, which the search relies on.
void add_tokens(Sample& s, std::initializer_list<uint16_t> ids, double count, double scale,
                int gpus) {
  const auto copies = static_cast<size_t>(std::llround(count * scale));
  for (size_t c = 0; c < copies; ++c)
    for (int32_t home = 0; home < gpus; ++home) {
      s.home.push_back(home);
      for (uint16_t e : ids) s.experts.push_back(e), ++s.per_expert[e];
    }
}

// Token types and their counts: the loads for top-1, the pair counts for top-2.
Sample representative_batch(const TraceStats& st, int layer, int gpus, int sample_tokens) {
  const int E = st.num_experts;
  Sample s;
  s.per_expert.assign(static_cast<size_t>(E), 0);
  const double scale =
      st.tokens ? static_cast<double>(sample_tokens) / static_cast<double>(st.tokens) : 0;
  for (int a = 0; a < E; ++a) {
    if (st.top_k == 1) add_tokens(s, {uint16_t(a)}, double(st.load_at(layer, a)), scale, gpus);
    for (int b = a + 1; st.top_k == 2 && b < E; ++b)
      add_tokens(s, {uint16_t(a), uint16_t(b)}, double(st.pair_at(layer, a, b)), scale, gpus);
  }
  return s;
}

class Search {
 public:
  Search(const CostModel& model, const Sample& sample, int num_experts, int k)
      : m_(model),
        s_(sample),
        E_(num_experts),
        k_(k),
        G_(model.num_gpus()),
        S_(model.slots_per_gpu()),
        gpn_(model.cluster().gpus_per_node),
        gpu_of_(size_t(E_), -1),
        slot_of_(size_t(E_), -1),
        used_(size_t(G_), 0),
        compute_(size_t(G_), 0),
        opened_(size_t(model.cluster().nodes), 0) {}

  std::vector<int> run() {
    place(0, 0);
    return best_gpu_of_;
  }

 private:
  void place(int e, int nodes_open) {
    if (e == E_) return price();
    for (int n = 0; n < std::min(nodes_open + 1, m_.cluster().nodes); ++n)
      for (int i = 0; i < std::min(opened_[size_t(n)] + 1, gpn_); ++i) try_gpu(e, n, i, nodes_open);
  }

  void try_gpu(int e, int node, int local, int nodes_open) {
    const size_t g = size_t(node * gpn_ + local);
    if (used_[g] == S_) return;
    const double t = m_.expert_time(s_.per_expert[size_t(e)]);
    if (compute_[g] + t >= best_) return;  // bound: compute alone already too slow
    const int saved_open = opened_[size_t(node)];
    opened_[size_t(node)] = std::max(saved_open, local + 1);
    gpu_of_[size_t(e)] = int(g);
    slot_of_[size_t(e)] = int(g) * S_ + used_[g]++;
    compute_[g] += t;
    place(e + 1, std::max(nodes_open, node + 1));
    compute_[g] -= t;
    --used_[g];
    opened_[size_t(node)] = saved_open;
  }

  void price() {
    slots_.resize(s_.experts.size());
    for (size_t i = 0; i < slots_.size(); ++i) slots_[i] = slot_of_[s_.experts[i]];
    m_.price_layer(s_.home.data(), slots_.data(), s_.size(), k_, cost_);
    if (cost_.total() < best_) best_ = cost_.total(), best_gpu_of_ = gpu_of_;
  }

  const CostModel& m_;
  const Sample& s_;
  int E_, k_, G_, S_, gpn_;
  std::vector<int> gpu_of_, slot_of_, used_;
  std::vector<double> compute_;
  std::vector<int> opened_;  // GPUs opened per node
  std::vector<int32_t> slots_;
  LayerCost cost_;
  double best_ = std::numeric_limits<double>::infinity();
  std::vector<int> best_gpu_of_;
};

void check_size(const PlacementInput& in) {
  const int E = in.stats.num_experts;
  if (E > kMaxExperts || in.stats.top_k > 2)
    throw InputError("--algo exact: expected at most " + std::to_string(kMaxExperts) +
                     " experts and top-1 or top-2 (the search is exponential), got " +
                     std::to_string(E) + " experts, top-" + std::to_string(in.stats.top_k));
}

}  // namespace

// The placement `exact` returns for one layer, as each expert's GPU.
std::vector<int> exact_layer(const CostModel& model, const TraceStats& stats, int layer,
                             int sample_tokens) {
  const Sample sample = representative_batch(stats, layer, model.num_gpus(), sample_tokens);
  return Search(model, sample, stats.num_experts, stats.top_k).run();
}

double exact_objective(const CostModel& model, const TraceStats& stats, int layer,
                       const std::vector<int>& gpu_of, int sample_tokens) {
  const Sample sample = representative_batch(stats, layer, model.num_gpus(), sample_tokens);
  std::vector<int> used(size_t(model.num_gpus()), 0), slot_of(gpu_of.size());
  for (size_t e = 0; e < gpu_of.size(); ++e)
    slot_of[e] = gpu_of[e] * model.slots_per_gpu() + used[size_t(gpu_of[e])]++;
  std::vector<int32_t> slots(sample.experts.size());
  for (size_t i = 0; i < slots.size(); ++i) slots[i] = slot_of[sample.experts[i]];
  LayerCost cost;
  model.price_layer(sample.home.data(), slots.data(), sample.size(), stats.top_k, cost);
  return cost.total();
}

Layout place_exact(const PlacementInput& in) {
  check_size(in);
  const int sample = param_int(in.params, "sample_tokens", kExactSampleTokens, 1);
  const CostModel model = priced_model(in);
  Layout layout = empty_layout(in, "exact");
  layout.layers.assign(size_t(in.stats.num_layers), LayerPlacement{});
  for (auto& layer : layout.layers) layer.gpu_experts.assign(size_t(in.cluster.num_gpus()), {});
  for (int l = 0; l < in.stats.num_layers; ++l) {
    const std::vector<int> gpu_of = exact_layer(model, in.stats, l, sample);
    auto& gpus = layout.layers[size_t(l)].gpu_experts;
    for (int e = 0; e < in.stats.num_experts; ++e)
      gpus[size_t(gpu_of[size_t(e)])].push_back(static_cast<uint16_t>(e));
  }
  return layout;
}

}  // namespace epbench
