#include "scenario/layouts.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "common/numeric.h"
#include "model/presets.h"

namespace epbench {

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

}  // namespace epbench
