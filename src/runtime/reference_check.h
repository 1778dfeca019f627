#pragma once
// `--check`: the home rank recomputes its tokens (every one by default) with a single-process
// reference (plain loops in double precision over weights computed from their seeds by this
// file's own evaluation of the weight formula, so it shares no code or memory with the
// backend, the shards or their generator) and compares the layer's output with what the
// dispatch, the experts and the combine produced.
#include <cstdint>
#include <map>
#include <utility>

#include "runtime/dispatch_plan.h"
#include "runtime/seeded_values.h"

namespace epbench {

// The largest norm-wise relative error a correct run may show (derivation in the .cpp and
// docs/run.md): 1.5 * sqrt(2 u_s^2 + (d_model + d_ff + k) u_a^2), u_a = 2^-24 (fp32
// accumulation), u_s = 2^-8 for bf16 and 2^-24 for fp32 (storage).
double check_tolerance(DType dtype, int d_model, int d_ff, int k);

// The expert's weights evaluated element by element from seeded_values.h's formula, without
// calling make_expert_weights or common/rng.h; equal to make_expert_weights's when both are right.
void reference_expert_weights(uint64_t seed, int layer, int expert, int d_model, int d_ff,
                              DType dtype, ExpertWeightsF32& out);

class ReferenceCheck {
 public:
  // Every `stride`-th token (by trace index and layer) is checked; 1 checks them all.
  ReferenceCheck(uint64_t seed, int d_model, int d_ff, int k, DType dtype, int stride);

  double tolerance() const { return tolerance_; }

  // tokens[t]: trace index of step token t; ids/gate [n, k]; x, y: the home rows of the plan.
  // Throws std::runtime_error naming the token, the layer, its experts and the error on a
  // mismatch.
  void check_layer(int layer, const DispatchPlan& plan, const uint64_t* tokens, const uint16_t* ids,
                   const float* gate, const float* x, const float* y);

  uint64_t checked() const { return checked_; }
  double max_error() const { return max_error_; }

 private:
  const ExpertWeightsF32& weights(int layer, int expert);
  void expert_output(const ExpertWeightsF32& w, const float* x, double gate, double* acc);
  double token_error(const float* y) const;
  [[noreturn]] void fail(uint64_t token, int layer, const uint16_t* ids, double err) const;

  uint64_t seed_;
  int d_, f_, k_;
  DType dtype_;
  int stride_;
  double tolerance_;
  static constexpr uint64_t kCacheBytes = uint64_t{256} << 20;  // per rank
  std::map<uint64_t, ExpertWeightsF32> cache_;                  // by (layer, expert)
  uint64_t cached_bytes_ = 0;
  std::vector<double> h_, acc_;
  uint64_t checked_ = 0;
  double max_error_ = 0;
};

}  // namespace epbench
