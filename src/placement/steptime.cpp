// `steptime` (ours): the placement and replication that minimise the predicted step time of a
// target workload, priced by the cost model with `min-time` routing (docs/placement.md).
//
// Objective, per layer: the predicted layer time of sampled steps of the fit range at each
// batch size of the workload (steptime_workload.h), each size weighted by the inverse of its
// time under the first start so that no size dominates the sum.
//
// Search: every other algorithm's layer, and the same with its extra replicas removed (slots
// left empty), is a start; the cheapest is improved by priced moves (swap two slots' experts
// across GPUs; give a slot to a replica of a hot expert; empty a redundant replica), each kept
// when the objective drops (an emptying move also when it does not rise). The searched layer
// and the starts are then judged on a second sample, so on that sample the result is never
// worse than any other algorithm's layout under the same routing. Layers are independent under
// the cost model (a token returns to its home GPU after each layer), so they are searched in
// parallel, each with its own seed: the layout does not depend on the number of threads.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <utility>

#include "common/error.h"
#include "common/numeric.h"
#include "common/rng.h"
#include "placement/common.h"
#include "placement/steptime_workload.h"
#include "routing/routing.h"

namespace epbench {

namespace {

constexpr double kGain = 1e-9;  // a move is kept when it saves more than rounding
// min-time routing prices every assignment up to this many (Router::kExhaustiveLimit in
// `evaluate`): the search prices thousands of layouts, and a step of one token with eight
// replicated experts would otherwise cost hundreds of pricings each time.
constexpr uint64_t kSearchExhaustiveLimit = 16;

// The search prices at most about this many token-expert pairs in all (about 2 s on one core
// of a 2024 server at DeepSeek-V3's size); the default moves per layer follow from it.
constexpr double kPairBudget = 8e6;
constexpr int kMaxEvals = 300;

struct SearchParams {
  std::vector<int> batch_sizes{1, 16, 64};
  int samples = 16;  // steps per batch size (4 above 64 experts, where each step covers more)
  // The second sample, which picks between the searched layer and the starts, is this many
  // times larger: it prices a dozen layouts where the search prices hundreds (1 above 64
  // experts, to keep DeepSeek-V3-sized placements near 2 s).
  int check_factor = 4;
  int evals = -1;  // priced moves per layer; -1: from kPairBudget
  RoutingPolicy routing = RoutingPolicy::kMinTime;
};

// Moves per layer that keep the whole search within kPairBudget priced pairs, after pricing
// every start on the search sample and on the check sample.
int default_evals(const PlacementInput& in, const SearchParams& sp, size_t starts) {
  double pairs = 0;
  for (int b : sp.batch_sizes) pairs += double(b) * steps_for(b, sp.samples) * in.stats.top_k;
  const double per_layer = kPairBudget / std::max(1, in.stats.num_layers) / std::max(1.0, pairs);
  const int judged = static_cast<int>(starts) * (1 + sp.check_factor);
  return std::clamp(static_cast<int>(per_layer) - judged, 0, kMaxEvals);
}

std::vector<int> parse_batch_sizes(const nlohmann::json& v) {
  std::vector<int> out;
  const std::string text = v.is_string() ? v.get<std::string>() : v.dump();
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    const int b = item.empty() ? 0 : std::atoi(item.c_str());
    if (b < 1 || std::to_string(b) != item)
      throw InputError("--param batch_sizes: expected sizes >= 1 like 1,16,64, got " + v.dump());
    out.push_back(b);
    at = comma + 1;
  }
  return out;
}

SearchParams search_params(const nlohmann::json& p, int num_experts) {
  SearchParams s;
  if (num_experts > 64) s.samples = 4, s.check_factor = 1;
  if (p.contains("batch_sizes")) s.batch_sizes = parse_batch_sizes(p.at("batch_sizes"));
  s.samples = param_int(p, "samples", s.samples, 1);
  s.check_factor = param_int(p, "check_factor", s.check_factor, 1);
  s.evals = param_int(p, "evals", s.evals, 0);  // -1 stays when unset
  if (p.contains("routing")) {
    if (!p.at("routing").is_string())
      throw InputError("--param routing: expected a routing policy name");
    s.routing = parse_routing(p.at("routing").get<std::string>());
  }
  return s;
}

// One layer's search state: the layout being improved (every GPU padded to S slots), the
// replica count of each expert, and the objective's pricing machinery.
class LayerSearch {
 public:
  LayerSearch(const PlacementInput& in, const StepSample& sample, int layer, const SearchParams& sp)
      : in_(in),
        sample_(sample),
        ids_(sample.ids[sz(layer)]),
        load_(layer_load(in.stats, layer)),
        cost_(priced_model(in)),
        router_(sp.routing),
        weight_(sample.num_steps(), 1.0),
        rng_(mix_seed(in.seed, 0x5e7, sz(layer))) {
    router_.set_exhaustive_limit(kSearchExhaustiveLimit);
  }

  // Prices every start, keeps the cheapest (the first on ties); the first start sets the
  // per-size weights.
  void start(const std::vector<LayerPlacement>& starts) {
    set_weights(starts.front());
    for (size_t i = 0; i < starts.size(); ++i) {
      const LayerPlacement p = padded(starts[i]);
      bool seen = false;  // a start equal to an earlier one (round-robin once) costs the same
      for (size_t j = 0; j < i && !seen; ++j) seen = padded(starts[j]).gpu_experts == p.gpu_experts;
      if (seen) continue;
      const double c = score(p);
      if (c < best_) best_ = c, layer_ = p, chosen_ = i;
    }
    count_replicas();
  }
  size_t chosen() const { return chosen_; }

  void improve(int evals) {
    for (int i = 0; i < evals; ++i) try_move();
  }

  const LayerPlacement& layer() const { return layer_; }

 private:
  LayerPlacement padded(LayerPlacement p) const {
    for (auto& g : p.gpu_experts) g.resize(sz(S()), kEmptySlot);
    return p;
  }
  int S() const { return in_.cluster.slots_per_gpu; }
  int G() const { return in_.cluster.num_gpus(); }
  int E() const { return in_.stats.num_experts; }

  // The predicted layer time of each sampled step under `p`, into times_.
  void price_steps(const LayerPlacement& p) {
    const LayerReplicas r = make_replicas(p, E(), S(), in_.cluster.gpus_per_node);
    const int k = sample_.top_k;
    times_.resize(sample_.num_steps());
    for (size_t s = 0; s < sample_.num_steps(); ++s) {
      const size_t n = sample_.step_size(s), first = sample_.offset[s];
      slots_.resize(n * sz(k));
      const uint16_t* ids = ids_.data() + first * sz(k);
      const int32_t* home = sample_.home.data() + first;
      router_.route(r, ids, home, n, k, slots_.data(), &cost_);
      cost_.price_layer_sparse(home, slots_.data(), n, k, priced_);
      times_[s] = priced_.total();
    }
  }

  double score(const LayerPlacement& p) {
    price_steps(p);
    double total = 0;
    for (size_t s = 0; s < times_.size(); ++s) total += weight_[s] * times_[s];
    return total;
  }

  // Weights 1 / (steps of that size * their mean time under `p`): each size counts alike.
  void set_weights(const LayerPlacement& p) {
    price_steps(padded(p));
    std::vector<double> time(sz(sample_.batch_index.back()) + 1, 0), steps(time.size(), 0);
    for (size_t s = 0; s < sample_.num_steps(); ++s) {
      time[sz(sample_.batch_index[s])] += times_[s];
      steps[sz(sample_.batch_index[s])] += 1;
    }
    for (size_t s = 0; s < sample_.num_steps(); ++s) {
      const size_t b = sz(sample_.batch_index[s]);
      weight_[s] = time[b] > 0 ? 1 / time[b] : 1 / steps[b];
    }
  }

  void count_replicas() {
    count_.assign(sz(E()), 0);
    for (const auto& g : layer_.gpu_experts)
      for (uint16_t e : g)
        if (!is_empty_slot(e)) ++count_[e];
  }

  bool on_gpu(int g, uint16_t e) const {
    const auto& list = layer_.gpu_experts[sz(g)];
    return std::find(list.begin(), list.end(), e) != list.end();
  }

  uint16_t& at(int g, int i) { return layer_.gpu_experts[sz(g)][sz(i)]; }

  // An expert not on GPU g, drawn in proportion to its load per replica (hot, thin ones).
  int hot_expert_for(int g) {
    double total = 0;
    for (int e = 0; e < E(); ++e)
      if (!on_gpu(g, static_cast<uint16_t>(e))) total += load_[sz(e)] / count_[sz(e)];
    double x = rng_.uniform() * total;
    for (int e = 0; e < E(); ++e) {
      if (on_gpu(g, static_cast<uint16_t>(e))) continue;
      x -= load_[sz(e)] / count_[sz(e)];
      if (x < 0) return e;
    }
    return -1;
  }

  // Proposes one move on layer_ and records how to undo it; false when the draw was void.
  bool propose() {
    const int g = static_cast<int>(rng_.below(sz(G()))), i = static_cast<int>(rng_.below(sz(S())));
    const uint16_t e = at(g, i);
    const bool spare = is_empty_slot(e) || count_[e] > 1;  // the slot may change expert
    const uint64_t kind = rng_.below(3);
    undo_ = {{g, i, e}};
    if (kind == 0 || !spare) {  // swap with a slot of another GPU
      const int h = static_cast<int>(rng_.below(sz(G()))),
                j = static_cast<int>(rng_.below(sz(S())));
      const uint16_t f = at(h, j);
      if (h == g || e == f || (!is_empty_slot(e) && on_gpu(h, e)) ||
          (!is_empty_slot(f) && on_gpu(g, f)))
        return false;
      undo_.push_back({h, j, f});
      at(g, i) = f, at(h, j) = e;
      return true;
    }
    if (kind == 1) {  // a replica of a hot expert
      const int hot = hot_expert_for(g);
      if (hot < 0) return false;
      set(g, i, static_cast<uint16_t>(hot));
      return true;
    }
    if (is_empty_slot(e)) return false;
    set(g, i, kEmptySlot);  // drop a redundant replica
    return true;
  }

  void set(int g, int i, uint16_t e) {
    if (!is_empty_slot(at(g, i))) --count_[at(g, i)];
    if (!is_empty_slot(e)) ++count_[e];
    at(g, i) = e;
  }

  // Keeps a move that lowers the objective, or that empties a slot without raising it: a
  // replica that saves nothing is memory for nothing.
  void try_move() {
    if (!propose()) return;
    const double c = score(layer_);
    const bool dropped = undo_.size() == 1 && is_empty_slot(at(undo_[0].gpu, undo_[0].slot));
    if (c < best_ * (1 - kGain) || (dropped && c <= best_ * (1 + kGain))) {
      best_ = std::min(best_, c);
      return;
    }
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) set(it->gpu, it->slot, it->expert);
  }

  struct SlotWas {
    int gpu, slot;
    uint16_t expert;
  };

  const PlacementInput& in_;
  const StepSample& sample_;
  const std::vector<uint16_t>& ids_;
  std::vector<double> load_;
  CostModel cost_;
  Router router_;
  std::vector<double> weight_;
  Rng rng_;
  LayerPlacement layer_;
  double best_ = 1e300;
  size_t chosen_ = 0;
  std::vector<int> count_;
  std::vector<SlotWas> undo_;
  std::vector<int32_t> slots_;
  std::vector<double> times_;
  SparseLayerCost priced_;
};

// One start algorithm's layout and the same with its extra replicas removed.
void add_start(const PlacementAlgorithm& a, const PlacementInput& in, std::vector<Layout>& out,
               std::vector<std::string>& names) {
  try {
    out.push_back(a.place(in));
  } catch (const InputError&) {
    return;  // an algorithm that refuses the instance is no start
  }
  names.push_back(a.name);
  names.push_back(std::string(a.name) + "/once");
  Layout once = out.back();
  for (auto& layer : once.layers) {
    std::vector<char> seen(sz(in.stats.num_experts), 0);
    for (auto& g : layer.gpu_experts)
      for (uint16_t& e : g)
        if (!is_empty_slot(e) && std::exchange(seen[e], char{1})) e = kEmptySlot;
  }
  out.push_back(std::move(once));
}

// The other algorithms' layouts, in table order; those that need co-activation only when there
// are tokens. Two tasks: the METIS-based ones (colocate, topo) one after the other, since
// METIS draws from GKlib's process-wide random state (concurrent calls would make the layout
// depend on timing), and the rest beside them. `names` gets each start's.
std::vector<Layout> start_layouts(const PlacementInput& in, std::vector<std::string>& names) {
  PlacementInput plain = in;
  plain.params = nlohmann::json::object();
  std::vector<const PlacementAlgorithm*> metis, rest;
  for (const PlacementAlgorithm& a : placement_algorithms()) {
    const std::string name = a.name;
    if (name == "steptime" || name == "exact" || (a.needs_pairs && !in.tokens)) continue;
    (name == "colocate" || name == "topo" ? metis : rest).push_back(&a);
  }
  std::vector<Layout> out[2];
  std::vector<std::string> named[2];
  tbb::parallel_for(0, 2, [&](int task) {
    for (const PlacementAlgorithm* a : task == 0 ? rest : metis)
      add_start(*a, plain, out[task], named[task]);
  });
  std::vector<Layout> all;
  for (int task : {0, 1}) {
    std::move(out[task].begin(), out[task].end(), std::back_inserter(all));
    names.insert(names.end(), named[task].begin(), named[task].end());
  }
  return all;
}

}  // namespace

// The search runs on one sample; the searched layer and every start are then priced on a
// second, independent sample, and the cheapest there is kept: a move that only fitted the
// first sample's noise does not survive (ties go to the start).
Layout place_steptime(const PlacementInput& in) {
  SearchParams sp = search_params(in.params, in.stats.num_experts);
  const StepSample sample = sample_steps(in, sp.batch_sizes, sp.samples, in.seed);
  const StepSample check = sample_steps(in, sp.batch_sizes, sp.samples * sp.check_factor,
                                        mix_seed(in.seed, 0xc4e), sp.check_factor);
  std::vector<std::string> names;
  const std::vector<Layout> starts = start_layouts(in, names);
  names.push_back("search");
  if (sp.evals < 0) sp.evals = default_evals(in, sp, starts.size());
  Layout lay = empty_layout(in, "steptime");
  lay.layers.resize(sz(in.stats.num_layers));
  std::vector<std::string> kept(lay.layers.size());
  tbb::parallel_for(0, in.stats.num_layers, [&](int l) {
    std::vector<LayerPlacement> mine;
    for (const Layout& s : starts) mine.push_back(s.layers[sz(l)]);
    if (sp.evals > 0) {  // without moves the search sample has nothing to add
      LayerSearch search(in, sample, l, sp);
      search.start(mine);
      search.improve(sp.evals);
      mine.push_back(search.layer());
    }
    LayerSearch judge(in, check, l, sp);
    judge.start(mine);
    lay.layers[sz(l)] = judge.layer();
    kept[sz(l)] = names[judge.chosen()];
  });
  trim_empty_slots(lay);
  lay.params["kept"] = kept;  // per layer: the start kept, or "search"
  lay.params["routing"] = routing_name(sp.routing);
  lay.params["samples"] = sp.samples;
  lay.params["check_factor"] = sp.check_factor;
  lay.params["evals"] = sp.evals;
  lay.params["batch_sizes"] = sp.batch_sizes;
  return lay;
}

}  // namespace epbench
