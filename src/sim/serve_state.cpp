#include "sim/serve_state.h"

#include <algorithm>

namespace epbench {

ServeState::ServeState(std::vector<RequestShape> shapes, Allocator alloc, uint32_t max_running,
                       std::vector<std::vector<double>> affinity)
    : shapes_(std::move(shapes)),
      state_(shapes_.size()),
      affinity_(std::move(affinity)),
      alloc_(std::move(alloc)),
      max_running_(max_running) {
  for (size_t r = 0; r < shapes_.size(); ++r) state_[r].target = shapes_[r].prompt;
}

bool ServeState::admit(size_t queue_index, double now) {
  if (queue_index >= waiting_.size()) return false;
  if (max_running_ > 0 && running_.size() >= max_running_) return false;
  const uint32_t r = waiting_[queue_index];
  RequestState& s = state_[r];
  const uint32_t t = shapes_[r].trace_request;
  const int g = alloc_.place(s.target, t < affinity_.size() ? std::span<const double>(affinity_[t])
                                                            : std::span<const double>());
  if (g < 0) return false;
  waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(queue_index));
  s.home = g;
  s.reserved = s.target;
  s.computed = 0;
  if (s.admitted < 0) s.admitted = now;
  running_.push_back(r);
  return true;
}

bool ServeState::grow(uint32_t r, uint32_t tokens) {
  RequestState& s = state_[r];
  if (!alloc_.has_room(s.home, tokens)) return false;
  alloc_.grow(s.home, tokens);
  s.reserved += tokens;
  return true;
}

void ServeState::drop_running(uint32_t r) {
  RequestState& s = state_[r];
  alloc_.release(s.home, s.reserved);
  s.reserved = 0;
  running_.erase(std::find(running_.begin(), running_.end(), r));
}

void ServeState::preempt(uint32_t r) {
  drop_running(r);
  RequestState& s = state_[r];
  s.home = -1;
  s.target = shapes_[r].prompt + s.generated;
  s.computed = 0;
  ++s.preemptions;
  waiting_.push_front(r);
}

uint32_t ServeState::newest_on(int gpu) const {
  for (auto it = running_.rbegin(); it != running_.rend(); ++it)
    if (state_[*it].home == gpu) return *it;
  return UINT32_MAX;  // unreachable from grow failures: the caller runs on that GPU
}

void ServeState::finish(uint32_t r, double now) {
  drop_running(r);
  state_[r].finish = now;
}

}  // namespace epbench
