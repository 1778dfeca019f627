#pragma once
// Placement algorithms: one file each (src/placement/<name>.cpp), registered in one table
// (registry.cpp). Each takes the statistics of the fit range and a cluster, returns a layout.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "model/cluster.h"
#include "placement/layout.h"
#include "trace/stats.h"
#include "trace/trace.h"

namespace epbench {

struct PlacementInput {
  std::string model;        // the trace's model name (copied into the layout)
  const TraceStats& stats;  // load [L][E], pairs [L][E][E], transitions of the fit range
  const ClusterSpec& cluster;
  uint64_t seed = 1;
  nlohmann::json params = nlohmann::json::object();  // algorithm-specific options
  // The trace's expert sizes, for algorithms that price layouts; 0: the preset's (models
  // from a spec file have no preset, so the trace is the one source for them).
  int d_model = 0, d_ff = 0;
  // The fit range's tokens, for algorithms that price sampled steps (`steptime`); nullptr when
  // fitting on counts alone (a load file), where such algorithms sample from the loads.
  const TokenBlock* tokens = nullptr;
};

using PlacementFn = Layout (*)(const PlacementInput& in);

struct PlacementAlgorithm {
  const char* name;
  const char* summary;  // one line for --help and docs
  PlacementFn place;
  // Reads co-activation pairs (TraceStats::pairs), so it cannot fit on counts alone (a load
  // file from an engine); `place --loads` refuses it.
  bool needs_pairs = false;
  // Prices sampled steps of the fit range's tokens (PlacementInput::tokens); `place` reads them
  // only for such algorithms.
  bool needs_tokens = false;
};

std::span<const PlacementAlgorithm> placement_algorithms();
const PlacementAlgorithm& find_placement(const std::string& name);  // InputError if unknown

// A layout with the model/cluster fields filled and empty layers, for algorithms to fill.
Layout empty_layout(const PlacementInput& in, const std::string& algorithm);

}  // namespace epbench
