#pragma once
// The layouts of a job, read and checked against the trace's model and one cluster shape:
// what `evaluate` and `run` price or run.
#include <cstdint>
#include <string>
#include <vector>

#include "model/cluster.h"
#include "placement/layout.h"
#include "routing/routing.h"
#include "trace/trace.h"

namespace epbench {

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

}  // namespace epbench
