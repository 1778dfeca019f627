#pragma once
// `--check`: the home rank recomputes a sample of its tokens with a single-process reference
// (plain loops in double precision over weights regenerated from their seeds, so it shares no
// code or memory with the backend or the shards) and compares the layer's output with what the
// dispatch, the experts and the combine produced.
#include <cstdint>
#include <map>
#include <utility>

#include "runtime/dispatch_plan.h"
#include "runtime/seeded_values.h"

namespace epbench {

class ReferenceCheck {
 public:
  // Every `stride`-th token (by trace index and layer) is checked.
  ReferenceCheck(uint64_t seed, int d_model, int d_ff, DType dtype, int stride);

  // Tolerance on the norm-wise relative error: 1e-5 for fp32, 1e-2 for bf16.
  double tolerance() const { return tolerance_; }

  // tokens[t]: trace index of step token t; ids/gate [n, k]; x, y: the home rows of the plan.
  // Throws std::runtime_error naming the token, the layer and the error on a mismatch.
  void check_layer(int layer, const DispatchPlan& plan, const uint64_t* tokens, const uint16_t* ids,
                   const float* gate, int k, const float* x, const float* y);

  uint64_t checked() const { return checked_; }
  double max_error() const { return max_error_; }

 private:
  const ExpertWeightsF32& weights(int layer, int expert);
  void expert_output(const ExpertWeightsF32& w, const float* x, double gate, double* acc);

  uint64_t seed_;
  int d_, f_;
  DType dtype_;
  int stride_;
  double tolerance_;
  int cached_layer_ = -1;
  std::map<int, ExpertWeightsF32> cache_;  // this layer's experts
  std::vector<double> h_, acc_;
  uint64_t checked_ = 0;
  double max_error_ = 0;
};

}  // namespace epbench
