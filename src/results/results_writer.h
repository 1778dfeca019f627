#pragma once
// Writing results files (DESIGN.md "Results", docs/formats.md): the root attributes, one
// configuration's attributes, and its [S, L, G] and [S] datasets grown chunk by chunk. Shared
// by `evaluate` (predicted) and `run` (measured, with the prediction under predicted/).
#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/h5.h"
#include "results/config_result.h"
#include "scenario/layouts.h"

namespace epbench {

std::string utc_now();   // e.g. 2026-11-30T13:00:00Z
std::string hostname();  // this process's host

struct ResultsHeader {
  std::string tool;  // evaluate, simulate, run
  std::string command_line, trace, model;
  std::vector<std::string> hosts;
};
void write_results_root(hid_t file, const ResultsHeader& h);
// Builds a results file in memory (the root attributes, then the runs/ group, which `fill`
// writes into) and commits it to `path` atomically: a failure or a kill leaves no file.
void write_results_file(const std::string& path, const ResultsHeader& h,
                        const std::function<void(hid_t runs)>& fill);

// Everything needed to reproduce one configuration.
struct ConfigAttrs {
  std::string layout, algorithm, fit_trace;
  uint64_t fit_begin = 0, fit_end = 0;
  std::string routing, allocation, batching;
  int batch_size = 0;
  uint64_t prefill_chunk = 0;
  int world_size = 0, nodes = 0, gpus_per_node = 0, slots_per_gpu = 0;
  bool virtual_nodes = false;
  std::string backend, comm, dtype;
  int d_model = 0, d_ff = 0;
  std::string trace;
  uint64_t token_begin = 0, token_end = 0;
  std::string cluster;
};
// The attributes a layout fixes: its file, algorithm, fit range, shape and cluster.
ConfigAttrs layout_config_attrs(const PreparedLayout& p);
void write_config_attrs(hid_t group, const ConfigAttrs& a);
void write_summary_attrs(hid_t group, const ConfigSummary& m);
// The [L, G] totals of `evaluate` (totals/*).
void write_totals(hid_t group, const ConfigResult& r);

// Which datasets a CubeWriter writes.
struct CubeWriterOptions {
  bool cubes = true;         // the [S, L, G] cubes (evaluate: only with --cubes)
  bool step_phases = false;  // steps/dispatch, steps/compute, steps/combine
};

// The datasets of a ConfigResult under `prefix` ("" or "predicted/") of a run's group, appended
// chunk by chunk (each chunk's [S, L, G] and [S] arrays).
class CubeWriter {
 public:
  CubeWriter(hid_t group, const std::string& prefix, size_t layers, size_t gpus,
             CubeWriterOptions opt = {});
  void append(const ConfigResult& chunk);

 private:
  template <class T>
  void append_rows(const h5::Dataset& d, const T* data, hsize_t n);
  std::vector<h5::Dataset> f64_, u64_, u32_;
  h5::Dataset time_, bound_, tokens_, prefill_;
  std::vector<h5::Dataset> phases_;  // steps/dispatch, compute, combine when asked
  hsize_t rows_ = 0;
};

}  // namespace epbench
