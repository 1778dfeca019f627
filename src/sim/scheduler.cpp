#include "sim/scheduler.h"

#include <algorithm>
#include <limits>

namespace epbench {

namespace {

constexpr double kForget = 0.98;    // weight of a step one step older in the time model
constexpr double kSloMargin = 0.9;  // steps planned to take at most this share of the target
constexpr uint64_t kMinChunk = 64;  // prefill tokens when nothing decodes, SLO or not

}  // namespace

void StepTimeModel::observe(double tokens, double seconds) {
  w_ = kForget * w_ + 1;
  sx_ = kForget * sx_ + tokens;
  sy_ = kForget * sy_ + seconds;
  sxx_ = kForget * sxx_ + tokens * tokens;
  sxy_ = kForget * sxy_ + tokens * seconds;
  ++n_;
}

double StepTimeModel::predict(double tokens) const {
  const double det = w_ * sxx_ - sx_ * sx_;
  const double b = det > 1e-12 * w_ * sxx_ ? (w_ * sxy_ - sx_ * sy_) / det : 0;
  const double a = (sy_ - b * sx_) / w_;
  return a + b * tokens;
}

double StepTimeModel::tokens_within(double seconds) const {
  const double a = predict(0), b = predict(1) - a;
  if (b <= 0) return seconds >= a ? std::numeric_limits<double>::infinity() : 0;
  return std::max(0.0, (seconds - a) / b);
}

Scheduler::Scheduler(SchedulePolicy policy, ScheduleLimits limits, SloTargets slo)
    : policy_(policy), limits_(limits), slo_(slo) {}

bool Scheduler::has_decodes(const ServeState& state) const {
  for (uint32_t r : state.running())
    if (!state.at(r).in_prefill()) return true;
  return false;
}

// One token for every running request past its prefill, in admission order. A context that
// cannot grow preempts the newest request on its GPU (possibly itself). True if any was.
bool Scheduler::add_decodes(ServeState& state, std::vector<StepItem>& items) {
  bool preempted = false;
  const std::vector<uint32_t> order = state.running();
  for (uint32_t r : order) {
    const RequestState& s = state.at(r);
    if (s.home < 0 || s.in_prefill()) continue;
    while (!state.grow(r, 1)) {
      const uint32_t victim = state.newest_on(s.home);
      state.preempt(victim);
      preempted = true;
      if (victim == r) break;
    }
    if (s.home >= 0) items.push_back({r, s.computed, 1, false});
  }
  return preempted;
}

// Prefill chunks within `budget` tokens: running requests still prefilling first, then new
// admissions from the head of the queue (FCFS: a head that does not fit blocks the rest).
void Scheduler::add_prefills(ServeState& state, double now, uint64_t budget, bool admit,
                             std::vector<StepItem>& items) {
  uint64_t left = budget;
  for (uint32_t r : state.running()) {
    const RequestState& s = state.at(r);
    if (left == 0) return;
    if (!s.in_prefill()) continue;
    const uint32_t c = static_cast<uint32_t>(std::min<uint64_t>(left, s.target - s.computed));
    items.push_back({r, s.computed, c, true});
    left -= c;
  }
  const double running_cap = policy_ == SchedulePolicy::kSloAware && model_.ready()
                                 ? model_.tokens_within(kSloMargin * slo_.tpot_s)
                                 : std::numeric_limits<double>::infinity();
  while (admit && left > 0 && static_cast<double>(state.running().size()) < running_cap &&
         state.admit_head(now)) {
    const uint32_t r = state.running().back();
    const uint32_t c = static_cast<uint32_t>(std::min<uint64_t>(left, state.at(r).target));
    items.push_back({r, 0, c, true});
    left -= c;
  }
}

// Prefill tokens the SLO-aware policy adds to `decodes` decode tokens: as many as keep the
// predicted step under the TPOT target, and at least a small chunk when nothing decodes.
uint64_t Scheduler::slo_prefill_budget(size_t decodes) const {
  if (!model_.ready()) return limits_.token_budget;
  const double fit = model_.tokens_within(kSloMargin * slo_.tpot_s) - static_cast<double>(decodes);
  const double floor = decodes == 0 ? static_cast<double>(kMinChunk) : 0;
  return static_cast<uint64_t>(std::clamp(fit, floor, static_cast<double>(limits_.token_budget)));
}

void Scheduler::plan(ServeState& state, double now, std::vector<StepItem>& items) {
  items.clear();
  const uint64_t budget = limits_.token_budget;
  auto left_after = [&](uint64_t cap) { return cap > items.size() ? cap - items.size() : 0; };
  switch (policy_) {
    case SchedulePolicy::kFcfs:  // prefill first, whole steps of it; decode when none waits
      add_prefills(state, now, budget, true, items);
      if (items.empty()) add_decodes(state, items);
      return;
    case SchedulePolicy::kDecodeFirst:  // decode while any request decodes; then refill
      if (has_decodes(state)) add_decodes(state, items);
      if (items.empty()) add_prefills(state, now, budget, true, items);
      return;
    case SchedulePolicy::kChunked: {  // Sarathi: decodes, then prefill chunks in what is left
      const bool preempted = add_decodes(state, items);
      add_prefills(state, now, left_after(budget), !preempted, items);
      return;
    }
    case SchedulePolicy::kSloAware: {
      const bool preempted = add_decodes(state, items);
      const uint64_t b = std::min(left_after(budget), slo_prefill_budget(items.size()));
      add_prefills(state, now, b, !preempted, items);
      return;
    }
  }
}

}  // namespace epbench
