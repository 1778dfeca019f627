// The identity of a schedule's trace range and layout (sim/schedule_file.h): what `run
// --schedule` compares before it replays a single step.
#include <cstdio>

#include "common/error.h"
#include "sim/schedule_file.h"

namespace epbench {

namespace {

// FNV-1a, 64 bits: enough to tell two ranges or placements apart, not a security measure.
class Fnv {
 public:
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ p[i]) * 0x100000001b3ULL;
  }
  void add_int(int64_t v) { add(&v, sizeof v); }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

std::string placement_hash(const Layout& l) {
  Fnv f;
  for (int64_t v : {l.nodes, l.gpus_per_node, l.slots_per_gpu, l.num_layers, l.num_experts})
    f.add_int(v);
  for (const LayerPlacement& layer : l.layers)
    for (const std::vector<uint16_t>& gpu : layer.gpu_experts) {
      f.add_int(static_cast<int64_t>(gpu.size()));
      f.add(gpu.data(), gpu.size() * sizeof(uint16_t));
    }
  return f.hex();
}

void same(const std::string& path, const char* field, const std::string& file,
          const std::string& here, const char* what) {
  if (file != here)
    throw_field_error(path, field, "the schedule's " + file + " to match " + what,
                      "'" + here + "' here");
}

void same(const std::string& path, const char* field, int64_t file, int64_t here,
          const char* what) {
  same(path, field, std::to_string(file), std::to_string(here), what);
}

}  // namespace

ScheduleIdentity schedule_identity(const std::string& trace_path, const TraceHeader& h,
                                   const TokenBlock& block, uint64_t begin, uint64_t end,
                                   const PreparedLayout& p) {
  ScheduleIdentity id;
  id.trace = trace_path, id.model = h.model;
  id.tokens = static_cast<int64_t>(h.num_tokens), id.layers = h.num_layers;
  id.experts = h.num_experts, id.top_k = h.top_k;
  id.requests = static_cast<int64_t>(h.num_requests);
  id.begin = static_cast<int64_t>(begin), id.end = static_cast<int64_t>(end);
  Fnv f;
  f.add(block.expert_ids.data(), block.expert_ids.size() * sizeof(uint16_t));
  id.range_hash = f.hex();
  id.layout = p.path, id.layout_hash = placement_hash(p.layout);
  id.nodes = p.layout.nodes, id.gpus_per_node = p.layout.gpus_per_node;
  id.slots_per_gpu = p.layout.slots_per_gpu;
  return id;
}

void check_schedule_identity(const std::string& path, const ScheduleIdentity& f,
                             const ScheduleIdentity& h) {
  const char* trace = "--trace (made for another trace)";
  same(path, "trace_model", f.model, h.model, trace);
  same(path, "trace_tokens", f.tokens, h.tokens, trace);
  same(path, "trace_layers", f.layers, h.layers, trace);
  same(path, "trace_experts", f.experts, h.experts, trace);
  same(path, "trace_top_k", f.top_k, h.top_k, trace);
  same(path, "trace_requests", f.requests, h.requests, trace);
  same(path, "trace_range_hash", f.range_hash, h.range_hash, trace);
  const char* layout = "--layouts (made for another layout)";
  same(path, "layout_nodes", f.nodes, h.nodes, layout);
  same(path, "layout_gpus_per_node", f.gpus_per_node, h.gpus_per_node, layout);
  same(path, "layout_slots_per_gpu", f.slots_per_gpu, h.slots_per_gpu, layout);
  same(path, "layout_hash", f.layout_hash, h.layout_hash, layout);
}

}  // namespace epbench
