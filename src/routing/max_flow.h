#pragma once
// Maximum flow on a small directed network that is built once and solved for several capacity
// settings: LEMON's Preflow (Goldberg-Tarjan push-relabel) behind a plain interface.
// LEMON 1.3 does not compile as C++20 (its maps call std::allocator::construct), so only
// max_flow.cpp includes it, compiled as C++17 (src/CMakeLists.txt).
#include <cstdint>
#include <memory>

namespace epbench {

class MaxFlowNetwork {
 public:
  MaxFlowNetwork();
  ~MaxFlowNetwork();
  // Scratch storage: a copy starts empty rather than sharing the network.
  MaxFlowNetwork(const MaxFlowNetwork&);
  MaxFlowNetwork& operator=(const MaxFlowNetwork&);

  void reset(int nodes);                       // removes every arc
  int add_arc(int from, int to, int64_t cap);  // returns the arc id
  void set_capacity(int arc, int64_t cap);     // cap >= 0
  int64_t run(int source, int sink);           // the maximum flow's value
  int64_t flow(int arc) const;                 // on that arc, after run()

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace epbench
