#include "sim/serve_sim.h"

#include <algorithm>
#include <limits>
#include <queue>
#include <stdexcept>

#include "common/numeric.h"
#include "common/progress.h"

namespace epbench {

uint64_t context_token(const RequestSpan& span, uint32_t prompt, uint32_t pos) {
  const uint64_t p = span.prompt_end - span.first, d = span.end - span.prompt_end;
  if (pos < prompt) return span.first + pos % p;
  const uint64_t i = pos - prompt;
  return d > 0 ? span.prompt_end + i % d : span.first + i % p;
}

namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();

// Requests not yet arrived: in index order (open arrivals, sorted by time), or issued by
// finishing requests (closed loop).
class ArrivalQueue {
 public:
  ArrivalQueue(const ServeState& state, ClosedLoop closed) : closed_(closed), total_(state.size()) {
    if (closed_.users <= 0) {
      for (uint32_t r = 0; r < total_; ++r) times_.push({state.shape(r).arrival, r});
      issued_ = total_;
    } else {
      for (; issued_ < std::min<size_t>(total_, sz(closed_.users)); ++issued_)
        times_.push({0.0, static_cast<uint32_t>(issued_)});
    }
  }
  double next_time() const { return times_.empty() ? kNever : times_.top().first; }
  uint32_t pop() {
    const uint32_t r = times_.top().second;
    times_.pop();
    return r;
  }
  void on_finish(double now) {
    if (closed_.users > 0 && issued_ < total_)
      times_.push({now + closed_.think_s, static_cast<uint32_t>(issued_++)});
  }

 private:
  using Entry = std::pair<double, uint32_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> times_;
  ClosedLoop closed_;
  size_t total_, issued_ = 0;
};

class Simulation {
 public:
  Simulation(const ServeSimInputs& in, ServeState& state, Scheduler& scheduler, StepPricer& pricer)
      : in_(in),
        state_(state),
        sched_(scheduler),
        pricer_(pricer),
        arrivals_(state, in.closed),
        gpus_(sz(in.gpus)),
        progress_("serve", state.size(), "requests") {
    init_requests();
  }

  ServeRun run() {
    while (true) {
      release_arrivals(clock_, 0);
      sched_.plan(state_, clock_, items_);
      if (items_.empty()) {
        if (!state_.running().empty() || !state_.waiting().empty())
          throw std::logic_error("serve: requests wait but none can be scheduled");
        if (arrivals_.next_time() == kNever) break;
        clock_ = arrivals_.next_time();
        continue;
      }
      step();
      progress_.update(finished_);
    }
    collect_request_times();
    run_.requests = std::move(req_);
    run_.steps = std::move(steps_);
    run_.schedule = std::move(sched_out_);
    run_.tokens_per_expert = pricer_.tokens_per_expert();
    return std::move(run_);
  }

 private:
  void init_requests() {
    const size_t R = state_.size();
    req_.arrival.assign(R, -1);
    req_.home.assign(R, -1);
    for (size_t r = 0; r < R; ++r) {
      const RequestShape& s = state_.shape(static_cast<uint32_t>(r));
      req_.prompt.push_back(s.prompt);
      req_.output.push_back(s.output);
      req_.trace_request.push_back(s.trace_request);
      req_.token_offset.push_back(req_.token_offset.back() + s.output);
    }
    req_.token_time.assign(req_.token_offset.back(), 0);
  }

  void collect_request_times() {
    for (uint32_t r = 0; r < state_.size(); ++r) {
      const RequestState& s = state_.at(r);
      req_.admitted.push_back(s.admitted);
      req_.first_token.push_back(s.first_token);
      req_.finish.push_back(s.finish);
      req_.preemptions.push_back(s.preemptions);
    }
  }

  // Moves arrivals up to `until` into the queue; each adds (until - arrival) to `area`.
  double release_arrivals(double until, double area) {
    while (arrivals_.next_time() <= until) {
      const double t = arrivals_.next_time();
      const uint32_t r = arrivals_.pop();
      req_.arrival[r] = t;
      area += until - t;
      state_.arrive(r, t);
    }
    return area;
  }

  void gather_tokens() {
    token_.clear(), home_.clear();
    for (GpuAttentionWork& w : gpus_) w.clear();
    for (const StepItem& it : items_) {
      const RequestState& s = state_.at(it.request);
      const RequestShape& shape = state_.shape(it.request);
      const RequestSpan& span = in_.spans[shape.trace_request];
      for (uint32_t j = it.start; j < it.start + it.tokens; ++j) {
        token_.push_back(context_token(span, shape.prompt, j));
        home_.push_back(s.home);
      }
      in_.deployment.add_chunk(gpus_[sz(s.home)], it.start, it.tokens);
    }
  }

  void record_step(const StepParts& p, double in_system) {
    ServedSteps& st = steps_;
    st.start.push_back(clock_);
    st.time.push_back(p.total());
    st.moe.push_back(p.moe);
    st.dispatch.push_back(p.dispatch), st.compute.push_back(p.compute);
    st.combine.push_back(p.combine);
    st.non_moe.push_back(p.non_moe), st.overhead.push_back(p.overhead);
    uint32_t pre = 0, dec = 0;
    for (const StepItem& it : items_) (it.prefill ? pre : dec) += it.tokens;
    st.prefill_tokens.push_back(pre), st.decode_tokens.push_back(dec);
    st.running.push_back(static_cast<uint32_t>(state_.running().size()));
    st.waiting.push_back(static_cast<uint32_t>(state_.waiting().size()));
    st.occupancy.push_back(in_system * p.total());
    double most = 0, all = 0;
    for (int g = 0; g < in_.gpus; ++g) {
      const double kv = state_.kv_used(g);
      most = std::max(most, kv), all += kv;
      if (in_.per_gpu_kv) st.kv_per_gpu.push_back(static_cast<uint32_t>(kv));
    }
    st.kv_max.push_back(most), st.kv_total.push_back(all);
  }

  // The step's items and trace tokens, for serve --schedule-out; `produces` is set by complete.
  void record_items() {
    ScheduledSteps& o = sched_out_;
    size_t at = 0;
    for (const StepItem& it : items_) {
      o.request.push_back(it.request), o.position.push_back(it.start);
      o.tokens.push_back(it.tokens), o.prefill.push_back(it.prefill ? 1 : 0);
      o.produces.push_back(0), o.home.push_back(state_.at(it.request).home);
      o.token.insert(o.token.end(), token_.data() + at, token_.data() + at + it.tokens);
      o.token_offset.push_back(o.token.size());
      at += it.tokens;
    }
    o.item_offset.push_back(o.request.size());
  }

  // Applies a step's work at its end: contexts grow, tokens are produced, requests finish.
  void complete(double end) {
    const size_t first_item = sched_out_.request.size() - (in_.record_schedule ? items_.size() : 0);
    for (size_t i = 0; i < items_.size(); ++i) {
      const StepItem& it = items_[i];
      RequestState& s = state_.at(it.request);
      s.computed += it.tokens;
      if (s.in_prefill()) continue;  // a prefill chunk that is not the last
      if (in_.record_schedule) sched_out_.produces[first_item + i] = 1;
      const uint32_t r = it.request;
      req_.token_time[req_.token_offset[r] + s.generated] = end;
      if (s.generated++ == 0) s.first_token = end;
      if (s.generated == state_.shape(r).output) {
        if (s.generated > 1) sched_.observe_tpot((end - s.first_token) / (s.generated - 1));
        req_.home[r] = s.home;
        state_.finish(r, end);
        arrivals_.on_finish(end);
        ++finished_;
      }
    }
  }

  void step() {
    gather_tokens();
    const StepParts p = pricer_.price({token_.data(), home_.data(), token_.size()}, gpus_);
    const double in_system = static_cast<double>(state_.running().size() + state_.waiting().size());
    record_step(p, in_system);
    if (in_.record_schedule) record_items();
    const double end = clock_ + p.total();
    complete(end);
    steps_.occupancy.back() = release_arrivals(end, steps_.occupancy.back());
    sched_.observe(static_cast<double>(token_.size()), p.total());
    clock_ = end;
  }

  const ServeSimInputs& in_;
  ServeState& state_;
  Scheduler& sched_;
  StepPricer& pricer_;
  ArrivalQueue arrivals_;
  std::vector<GpuAttentionWork> gpus_;
  std::vector<StepItem> items_;
  std::vector<uint64_t> token_;
  std::vector<int32_t> home_;
  ServedRequests req_;
  ServedSteps steps_;
  ScheduledSteps sched_out_;
  ServeRun run_;
  double clock_ = 0;
  uint64_t finished_ = 0;
  Progress progress_;
};

}  // namespace

ServeRun simulate_serving(const ServeSimInputs& in, ServeState& state, Scheduler& scheduler,
                          StepPricer& pricer) {
  return Simulation(in, state, scheduler, pricer).run();
}

}  // namespace epbench
