#pragma once
// What `evaluate` and `run` share before pricing or running steps: the requests of a token
// range, the layouts checked against the trace and the cluster, and the step plan of one
// batch size (static batching + request allocation), so both replay identical steps.
#include <cstdint>
#include <string>
#include <vector>

#include "model/cluster.h"
#include "placement/layout.h"
#include "routing/allocation.h"
#include "routing/batching.h"
#include "routing/routing.h"
#include "trace/trace.h"

namespace epbench {

// The requests' tokens within [a, b), as indices relative to a; the KV a request holds is its
// context at its last token in the range.
std::vector<RequestSpan> request_spans(const TraceRequests& req, uint64_t a, uint64_t b);

struct PreparedLayout {
  std::string path, name;  // name: the file's stem, made unique
  Layout layout;
  ClusterSpec cluster;  // the cluster preset shaped like the layout
  std::vector<LayerReplicas> replicas;
};

struct LayoutSource {
  std::vector<std::string> paths;
  std::string cluster = "h800";      // preset or JSON file
  int nodes = 0, gpus_per_node = 0;  // 0: the first layout's shape
  std::string trace;                 // to warn when a layout was fitted on the replayed range
  uint64_t begin = 0, end = 0;
  bool warn = true;  // false on all MPI ranks but one
};

// Reads each layout and checks it against the trace's model and one cluster shape for all;
// InputError naming the file otherwise.
std::vector<PreparedLayout> load_layouts(const LayoutSource& src, const TraceHeader& h);

// The steps of one batch size for one layout: requests to home GPUs and into batches.
struct PlanOptions {
  AllocationPolicy allocation = AllocationPolicy::kRoundRobin;
  BatchingPolicy batching = BatchingPolicy::kFifo;
  int batch_size = 1;
  uint64_t prefill_chunk = 0;
  uint64_t max_steps = 0;
};
StepPlan plan_layout_steps(const PreparedLayout& p, const TokenBlock& block,
                           const std::vector<RequestSpan>& spans, const PlanOptions& opt);

}  // namespace epbench
