#pragma once
// The results file of `epbench run` (docs/formats.md): written by rank 0 alone, after every
// configuration was gathered, to a temporary name renamed at the end. Rank 0 gathers instead of
// writing collectively with parallel HDF5 because the data are small ([S, L, G] per
// configuration), one writer keeps the temp-then-rename guarantee simple, and a job killed
// midway (a rank died) then leaves no file at all.
#include <string>
#include <vector>

#include "results/results_writer.h"
#include "runtime/run_record.h"

namespace epbench {

struct RunFileInfo {
  ResultsHeader header;
  std::vector<ConfigAttrs> attrs;  // per configuration
  // Per-job facts stored on every configuration.
  int trace_d_model = 0, trace_d_ff = 0, warmup = 0, threads = 1;
  uint64_t shard_bytes_per_rank = 0;
  std::vector<std::string> rank_hosts;  // [G]
  std::vector<int> rank_node;           // [G] node used for byte accounting
};

void write_run_results(const std::string& path, const RunFileInfo& info,
                       const std::vector<MeasuredConfig>& configs);

}  // namespace epbench
