#pragma once
// Scheduling one step of continuous batching (docs/serve.md "Scheduling"): which waiting
// requests are admitted, which prefill chunks and decode tokens run, and who is preempted
// when a context cannot grow. One scheduler for the whole deployment, as one engine instance.
#include <cstdint>
#include <vector>

#include "sim/serve_options.h"
#include "sim/serve_state.h"

namespace epbench {

// One request's share of a step: context positions [start, start + tokens) are computed.
struct StepItem {
  uint32_t request = 0;
  uint32_t start = 0, tokens = 0;
  bool prefill = false;
};

// The SLO-aware policy's model of step time: time ~ a + b tokens, fitted by least squares
// with exponential forgetting over the steps priced so far.
class StepTimeModel {
 public:
  void observe(double tokens, double seconds);
  bool ready() const { return n_ >= 4; }
  double predict(double tokens) const;
  // The most tokens a step may hold to take at most `seconds` (0 when even none does).
  double tokens_within(double seconds) const;

 private:
  double w_ = 0, sx_ = 0, sy_ = 0, sxx_ = 0, sxy_ = 0;
  int n_ = 0;
};

class Scheduler {
 public:
  Scheduler(SchedulePolicy policy, ScheduleLimits limits, SloLimits slo);

  // Plans the next step into `items` (cleared first); may admit and preempt. An empty plan
  // means nothing can run until a request arrives.
  void plan(ServeState& state, double now, std::vector<StepItem>& items);
  void observe(double tokens, double seconds) { model_.observe(tokens, seconds); }
  // A request finished with this TPOT: slo-aware steers its step-time target by it.
  void observe_tpot(double tpot_s);

 private:
  bool add_decodes(ServeState& state, std::vector<StepItem>& items);
  void add_prefills(ServeState& state, double now, uint64_t budget, bool admit,
                    std::vector<StepItem>& items);
  uint64_t slo_prefill_budget(size_t decodes) const;
  size_t next_admission(const ServeState& state, double now) const;
  bool has_decodes(const ServeState& state) const;

  SchedulePolicy policy_;
  ScheduleLimits limits_;
  SloLimits slo_;
  StepTimeModel model_;
  // slo-aware: steps are planned to take margin_ x the TPOT target; the margin moves so that
  // the recent requests' TPOT sits just under the target (an integral controller).
  double margin_ = 0.9;
  std::vector<double> recent_tpot_;
  size_t recent_next_ = 0;
};

}  // namespace epbench
