#pragma once
// What one configuration of `epbench run` measured: each rank's per-(step, layer) figures,
// gathered on rank 0 into the [S, L, G] cubes of the results format, next to the cost model's
// prediction of the same steps.
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "results/config_result.h"
#include "results/reductions.h"
#include "runtime/moe_layer.h"
#include "sim/schedule_metrics.h"

namespace epbench {

// One rank's record: measures[s * L + l], and token-expert pairs per expert [L, E].
struct RankRecord {
  size_t steps = 0, layers = 0, experts = 0;
  std::vector<LayerMeasure> measures;
  std::vector<uint64_t> per_expert;
  uint64_t checked_tokens = 0;
  double check_max_error = 0;

  void reset(size_t s, size_t l, size_t e) {
    steps = s, layers = l, experts = e;
    measures.assign(s * l, LayerMeasure{});
    per_expert.assign(l * e, 0);
    checked_tokens = 0, check_max_error = 0;
  }
};

// Rank 0's view of one configuration run for real: what it measured and what the cost model
// predicted for the same steps.
struct MeasuredConfig {
  std::string name, layout, layout_path, routing;  // layout: its display name
  int batch_size = 0;
  ConfigResult measured;                             // measured [S, L, G]; step_time from them
  ConfigResult predicted;                            // the cost model on the same steps
  std::vector<double> raw_alltoallv, raw_gemm;       // [S, L, G] baselines
  std::vector<double> count_exchange;                // [S, L, G] within dispatch
  std::vector<double> bench_exchange;                // [S, L, G] dispatch + combine, as raw
  std::vector<double> bench_count_exchange;          // [S, L, G] within bench_exchange
  double overhead_alltoallv = 0, overhead_gemm = 0;  // ours over the baselines (medians)
  double overhead_alltoallv_no_counts = 0;           // the same without the count exchange
  double model_error = 0;  // mean over steps of |predicted - measured| / measured
  uint64_t checked_tokens = 0;
  double check_max_error = 0;
  ScheduleComparison schedule;  // run --schedule only: serving metrics, measured and simulated
};

// Collective: gathers every rank's record into out.measured / raw_* (meaningful on rank 0).
void gather_record(MPI_Comm comm, const RankRecord& mine, MeasuredConfig& out);

// Step times from the measured cubes: each layer costs its slowest rank in each phase.
void finish_measured(MeasuredConfig& r);

}  // namespace epbench
