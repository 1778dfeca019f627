#include "sim/replay.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "common/numeric.h"
#include "model/presets.h"

namespace epbench {

// The requests' tokens within [a, b), as indices relative to a; the KV a request holds is its
// context at its last evaluated token.
std::vector<RequestSpan> request_spans(const TraceRequests& req, uint64_t a, uint64_t b) {
  const auto& off = req.token_offset;
  std::vector<RequestSpan> out;
  size_t r = static_cast<size_t>(std::upper_bound(off.begin(), off.end(), a) - off.begin());
  for (r = r > 0 ? r - 1 : 0; r < req.size() && off[r] < b; ++r) {
    const uint64_t first = std::max(off[r], a), end = std::min(off[r + 1], b);
    if (first >= end) continue;
    const uint64_t prompt_end = std::clamp<uint64_t>(off[r] + req.prompt_len[r], first, end);
    out.push_back({first - a, prompt_end - a, end - a, dbl(end - off[r])});
  }
  return out;
}

namespace {

// Scoring a layout on the tokens it was fitted on flatters it: say so (the run still goes on,
// as a deliberate in-sample comparison is legitimate).
void warn_if_fitted_on_test(const Layout& l, const LayoutSource& src, const std::string& path) {
  std::error_code ec;
  if (l.fit_trace.empty() || !std::filesystem::equivalent(l.fit_trace, src.trace, ec)) return;
  if (l.fit_begin < src.end && src.begin < l.fit_end)
    std::fprintf(stderr,
                 "epbench: warning: %s was fitted on tokens [%llu, %llu), which overlap the "
                 "test range\n",
                 path.c_str(), static_cast<unsigned long long>(l.fit_begin),
                 static_cast<unsigned long long>(l.fit_end));
}

// Per request, the share of its prompt's expert work each GPU would serve under the layout.
std::vector<std::vector<double>> request_profiles(const std::vector<RequestSpan>& spans,
                                                  const TokenBlock& block,
                                                  const PreparedLayout& p) {
  std::vector<std::vector<double>> out(spans.size(),
                                       std::vector<double>(sz(p.cluster.num_gpus()), 0.0));
  for (size_t r = 0; r < spans.size(); ++r) {
    // A request cut by the range start may have no prompt left: use its first token then.
    const uint64_t last = std::max(spans[r].prompt_end, spans[r].first + 1);
    add_affinity(p.replicas, block, spans[r].first, last, out[r]);
  }
  return out;
}

}  // namespace

std::vector<PreparedLayout> load_layouts(const LayoutSource& src, const TraceHeader& h) {
  const ClusterSpec base = load_cluster(src.cluster);
  const ModelPreset model = model_of(h);
  std::vector<PreparedLayout> out;
  for (const std::string& path : src.paths) {
    PreparedLayout p;
    p.path = path;
    p.layout = read_layout(path);
    const int nodes = src.nodes > 0 ? src.nodes
                      : out.empty() ? p.layout.nodes
                                    : out[0].layout.nodes;
    const int gpn = src.gpus_per_node > 0 ? src.gpus_per_node
                    : out.empty()         ? p.layout.gpus_per_node
                                          : out[0].layout.gpus_per_node;
    ClusterSpec check = shape_cluster(base, nodes, gpn, 0, h.num_experts);
    check.slots_per_gpu = 0;  // layouts may differ in slots (replication) on one cluster
    require_layout_matches(p.layout, model, check, path);
    p.cluster = shape_cluster(base, nodes, gpn, p.layout.slots_per_gpu, h.num_experts);
    for (const LayerPlacement& lp : p.layout.layers)
      p.replicas.push_back(
          make_replicas(lp, h.num_experts, p.layout.slots_per_gpu, p.layout.gpus_per_node));
    if (src.warn) warn_if_fitted_on_test(p.layout, src, path);
    p.name = std::filesystem::path(path).stem().string();
    for (const PreparedLayout& q : out)
      if (q.name == p.name) p.name += "_" + std::to_string(out.size());
    out.push_back(std::move(p));
  }
  return out;
}

StepPlan plan_layout_steps(const PreparedLayout& p, const TokenBlock& block,
                           const std::vector<RequestSpan>& spans, const PlanOptions& opt) {
  const bool affinity =
      opt.allocation == AllocationPolicy::kAffinity || opt.batching == BatchingPolicy::kAffinity;
  const auto profiles =
      affinity ? request_profiles(spans, block, p) : std::vector<std::vector<double>>();
  Allocator alloc(opt.allocation, p.cluster);
  const BatchingOptions bo{opt.batching, opt.batch_size, opt.prefill_chunk, opt.max_steps, 0};
  return plan_steps(spans, profiles, bo, alloc);
}

}  // namespace epbench
