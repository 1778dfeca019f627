#include "sim/scheduler.h"

#include <algorithm>
#include <limits>

namespace epbench {

namespace {

constexpr double kForget = 0.98;  // weight of a step one step older in the time model
// slo-aware's controller: the TPOTs it watches, the share of them that must meet the target,
// and how fast the margin moves (down faster than up: a miss costs goodput at once).
constexpr size_t kTpotWindow = 64;
constexpr double kTpotQuantile = 0.95;
constexpr double kMarginUp = 0.005, kMarginDown = 0.02;
constexpr double kMarginMin = 0.5, kMarginMax = 1.5;
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

Scheduler::Scheduler(SchedulePolicy policy, ScheduleLimits limits, SloLimits slo)
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
                                 ? model_.tokens_within(margin_ * slo_.tpot_s)
                                 : std::numeric_limits<double>::infinity();
  while (admit && left > 0 && static_cast<double>(state.running().size()) < running_cap &&
         state.admit(next_admission(state, now), now)) {
    const uint32_t r = state.running().back();
    const uint32_t c = static_cast<uint32_t>(std::min<uint64_t>(left, state.at(r).target));
    items.push_back({r, 0, c, true});
    left -= c;
  }
}

void Scheduler::observe_tpot(double tpot_s) {
  if (policy_ != SchedulePolicy::kSloAware || !(slo_.tpot_s > 0)) return;
  if (recent_tpot_.size() < kTpotWindow)
    recent_tpot_.push_back(tpot_s);
  else
    recent_tpot_[recent_next_++ % kTpotWindow] = tpot_s;
  std::vector<double> v = recent_tpot_;
  const size_t q = static_cast<size_t>(kTpotQuantile * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(q), v.end());
  margin_ += v[q] <= slo_.tpot_s ? kMarginUp : -kMarginDown;
  margin_ = std::clamp(margin_, kMarginMin, kMarginMax);
}

// The queued request to admit next: the head, except under slo-aware, which lets requests
// that can still meet the TTFT target (or resume after a preemption) go before those that
// already missed it: late requests still run, but no longer cost others their SLO.
size_t Scheduler::next_admission(const ServeState& state, double now) const {
  if (policy_ != SchedulePolicy::kSloAware || !(slo_.ttft_s > 0)) return 0;
  const std::deque<uint32_t>& q = state.waiting();
  for (size_t i = 0; i < q.size(); ++i) {
    const RequestState& s = state.at(q[i]);
    if (s.generated > 0 || now - s.arrival < slo_.ttft_s) return i;
  }
  return 0;
}

// Prefill tokens the SLO-aware policy adds to `decodes` decode tokens: as many as keep the
// predicted step under the TPOT target, and at least a small chunk when nothing decodes.
uint64_t Scheduler::slo_prefill_budget(size_t decodes) const {
  if (!model_.ready()) return limits_.token_budget;
  const double fit = model_.tokens_within(margin_ * slo_.tpot_s) - static_cast<double>(decodes);
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
