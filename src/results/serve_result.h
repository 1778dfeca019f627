#pragma once
// What one served run produces (docs/serve.md "Metrics", docs/formats.md): per request, per
// step, and the run's summary. Written by results/serve_writer.h.
#include <cstdint>
#include <string>
#include <vector>

namespace epbench {

// Per request [R]; times in seconds from the start of the run.
struct ServedRequests {
  std::vector<double> arrival, admitted, first_token, finish;
  std::vector<int32_t> home;  // the GPU it finished on
  std::vector<uint32_t> prompt, output, preemptions;
  std::vector<uint64_t> trace_request;
  std::vector<uint64_t> token_offset{0};  // [R+1]: request r's tokens are token_time[off[r]..]
  std::vector<double> token_time;         // when each output token was produced

  size_t size() const { return arrival.size(); }
};

// Per step [S]. time = moe + non_moe + overhead; moe splits into dispatch, compute, combine
// (sums over layers of each phase's slowest GPU).
struct ServedSteps {
  std::vector<double> start, time, moe, dispatch, compute, combine, non_moe, overhead;
  std::vector<uint32_t> prefill_tokens, decode_tokens, running, waiting;
  std::vector<double> occupancy;         // request-seconds in the system during the step
  std::vector<double> kv_max, kv_total;  // KV tokens held: most on one GPU, all GPUs
  std::vector<uint32_t> kv_per_gpu;      // [S, G], only when asked for (--per-gpu)

  size_t size() const { return time.size(); }
};

// The step schedule itself (serve --schedule-out, docs/serve.md): step s runs items
// [item_offset[s], item_offset[s + 1]); item i computes context positions [position[i],
// position[i] + tokens[i]) of request[i] on GPU home[i], whose trace tokens (relative to the
// run's range) are token[token_offset[i] ..]. produces: the item yields an output token (the
// last prefill chunk, or a decode token).
struct ScheduledSteps {
  std::vector<uint64_t> item_offset{0};   // [S+1]
  std::vector<uint64_t> token_offset{0};  // [I+1]
  std::vector<uint32_t> request, position, tokens;
  std::vector<uint8_t> prefill, produces;
  std::vector<int32_t> home;
  std::vector<uint64_t> token;

  size_t steps() const { return item_offset.size() - 1; }
  size_t items() const { return request.size(); }
};

struct ServeSummary {
  uint64_t requests = 0, steps = 0, preemptions = 0;
  uint64_t output_tokens = 0, prompt_tokens = 0;
  double duration = 0;      // first arrival to last finish
  double offered_rate = 0;  // requests/s over the arrival span
  double request_throughput = 0, output_tokens_per_s = 0, total_tokens_per_s = 0;
  double ttft_p50 = 0, ttft_p90 = 0, ttft_p99 = 0;
  double tpot_p50 = 0, tpot_p90 = 0, tpot_p99 = 0;
  double itl_p50 = 0, itl_p99 = 0;
  double e2e_p50 = 0, e2e_p90 = 0, e2e_p99 = 0;
  double wait_mean = 0;                                // arrival to first admission
  double slo_attainment = 0, goodput = 0;              // share and requests/s meeting both SLOs
  double mean_in_system = 0, mean_time_in_system = 0;  // Little's L (from steps) and W
  double kv_capacity = 0, kv_peak = 0;                 // tokens per GPU
  bool saturated = false;  // completions fell behind arrivals (docs/serve.md)
};

struct ServeRun {
  std::string name, layout, layout_path, algorithm, routing, policy, arrival;
  double rate = 0;  // requests/s asked for (0 for closed loop and csv)
  ServedRequests requests;
  ServedSteps steps;
  ScheduledSteps schedule;                  // only when asked for (ServeSimInputs::record_schedule)
  std::vector<uint64_t> tokens_per_expert;  // [layers, experts]
  size_t layers = 0, experts = 0;
  ServeSummary summary;
};

}  // namespace epbench
