#pragma once
// The step schedule of one served configuration (docs/serve.md "Serving schedules run for
// real"): written by `serve --schedule-out`, executed step by step by `run --schedule`. HDF5,
// root attributes format = "epbench-schedule", version = 1; the datasets are described in
// docs/serve.md.
#include <cstdint>
#include <string>
#include <vector>

#include "results/serve_result.h"
#include "scenario/layouts.h"
#include "trace/trace.h"

namespace epbench {

inline constexpr const char* kScheduleFormat = "epbench-schedule";
inline constexpr int kScheduleVersion = 1;

// What must match for a run to replay the schedule's tokens on the schedule's placement.
struct ScheduleIdentity {
  std::string trace, model;  // trace: the path (informative, not compared)
  int64_t tokens = 0, layers = 0, experts = 0, top_k = 0, requests = 0;
  int64_t begin = 0, end = 0;       // the token range served
  std::string range_hash;           // FNV-1a of the range's expert ids (the trace has no hash)
  std::string layout, layout_hash;  // layout: the path (informative); hash: of the placement
  int64_t nodes = 0, gpus_per_node = 0, slots_per_gpu = 0;
};

struct ScheduleFile {
  ScheduleIdentity id;
  std::string routing, policy, cluster, step_cost, command_line;
  double rate = 0;                           // requests/s (0: closed loop or csv)
  ScheduledSteps steps;                      // trace tokens relative to id.begin
  std::vector<double> step_start, step_end;  // [S] simulated, seconds from the run's start
  std::vector<double> arrival, ttft, tpot;   // [R] simulated; tpot NaN for one output token
  std::vector<uint32_t> prompt, output;      // [R] tokens

  size_t requests() const { return arrival.size(); }
};

ScheduleIdentity schedule_identity(const std::string& trace_path, const TraceHeader& h,
                                   const TokenBlock& block, uint64_t begin, uint64_t end,
                                   const PreparedLayout& p);
// Throws InputError "PATH: FIELD: expected .., got .." for the first identity field of the
// schedule at `path` that differs from `here`.
void check_schedule_identity(const std::string& path, const ScheduleIdentity& file,
                             const ScheduleIdentity& here);

// Written atomically: the file appears whole or not at all.
void write_schedule_file(const std::string& path, const ScheduleFile& s);
// InputError naming the file and the field for any format, version, missing or inconsistent
// dataset (a truncated file included).
ScheduleFile read_schedule_file(const std::string& path);

}  // namespace epbench
