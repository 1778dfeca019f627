#pragma once
// A schedule executed for real (`run --schedule`, docs/run.md) next to its simulation: per
// request TTFT and TPOT from the measured step ends, with the definitions of docs/serve.md.
#include <string>
#include <vector>

#include "sim/schedule_file.h"

namespace epbench {

struct ScheduleComparison {
  std::vector<double> arrival;                        // [R] seconds from the start
  std::vector<double> ttft_measured, ttft_simulated;  // [R]
  // [R] how much later than simulated the request's first step started: the steps before it
  // over their simulated times, which its measured TTFT inherits (NaN: no step ran it)
  std::vector<double> first_step_late;
  std::vector<double> tpot_measured, tpot_simulated;  // [R]; NaN for one output token
  std::vector<uint32_t> decode_intervals;             // [R] measured gaps between tokens
  std::vector<double> step_start, step_end;           // [S] measured
  std::vector<double> sim_step_start, sim_step_end;   // [S] simulated
  uint64_t output_tokens = 0;
  double duration_measured = 0, duration_simulated = 0;  // first arrival to last token
};

// When each step may start: the latest arrival among its requests.
std::vector<double> step_ready_times(const ScheduleFile& s);

// step_start/step_end: each step's measured wall times, seconds from the job's start.
ScheduleComparison compare_schedule(const ScheduleFile& s, std::vector<double> step_start,
                                    std::vector<double> step_end);

// Request r's TTFT from its own steps: its measured TTFT less its first step's lateness, the
// simulated TTFT's counterpart where a schedule's earlier steps take their simulated times.
double own_ttft(const ScheduleComparison& c, size_t r);

// The table `run --schedule` prints: p50/p90/p99 of TTFT and TPOT, measured and simulated,
// their relative errors, per-request errors and throughput.
std::string comparison_table(const ScheduleComparison& c);

}  // namespace epbench
