#pragma once
// The requests of one served run as they wait, run and finish, and the KV cache they hold on
// their home GPUs (docs/serve.md "Memory"). The scheduler (sim/scheduler.h) changes it only
// through admit, grow and preempt, so the KV held never exceeds a GPU's capacity.
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "routing/allocation.h"

namespace epbench {

// What a request asks for; request i of a run replays trace request trace_request.
struct RequestShape {
  double arrival = 0;
  uint32_t prompt = 0, output = 0;  // tokens; output >= 1
  uint32_t trace_request = 0;       // index into the run's request spans
};

struct RequestState {
  int home = -1;           // while running
  uint32_t target = 0;     // context to prefill: the prompt, or prompt + generated (recompute)
  uint32_t computed = 0;   // context tokens in the KV cache
  uint32_t generated = 0;  // output tokens produced
  uint32_t preemptions = 0;
  double reserved = 0;  // KV tokens held on `home`
  double arrival = -1, admitted = -1, first_token = -1, finish = -1;

  bool in_prefill() const { return computed < target; }
};

class ServeState {
 public:
  // affinity[t] (may be empty): trace request t's expert work per GPU, for the affinity
  // allocation policy.
  ServeState(std::vector<RequestShape> shapes, Allocator alloc, uint32_t max_running,
             std::vector<std::vector<double>> affinity = {});

  const RequestShape& shape(uint32_t r) const { return shapes_[r]; }
  RequestState& at(uint32_t r) { return state_[r]; }
  const RequestState& at(uint32_t r) const { return state_[r]; }
  size_t size() const { return shapes_.size(); }

  const std::deque<uint32_t>& waiting() const { return waiting_; }
  const std::vector<uint32_t>& running() const { return running_; }  // admission order
  void arrive(uint32_t r, double now) {
    state_[r].arrival = now;
    waiting_.push_back(r);
  }

  // Queued request `queue_index` (0: the head) gets a home with room for its whole prefill,
  // within the running cap; false (nothing changes) otherwise.
  bool admit(size_t queue_index, double now);
  bool admit_head(double now) { return admit(0, now); }
  // Reserves `tokens` more KV on r's home; false when the GPU has no room.
  bool grow(uint32_t r, uint32_t tokens);
  // Recompute preemption (vLLM): r frees its KV and waits at the head of the queue to
  // prefill its prompt and the tokens it generated again.
  void preempt(uint32_t r);
  // The request admitted last among those running on `gpu` (vLLM preempts it first).
  uint32_t newest_on(int gpu) const;
  // r finished: frees its KV and leaves the running set.
  void finish(uint32_t r, double now);

  double kv_used(int gpu) const { return alloc_.used(gpu); }

 private:
  void drop_running(uint32_t r);

  std::vector<RequestShape> shapes_;
  std::vector<RequestState> state_;
  std::vector<std::vector<double>> affinity_;
  Allocator alloc_;
  uint32_t max_running_;
  std::deque<uint32_t> waiting_;
  std::vector<uint32_t> running_;
};

}  // namespace epbench
