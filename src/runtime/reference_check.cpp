#include "runtime/reference_check.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "common/numeric.h"
#include "common/strprintf.h"

namespace epbench {

ReferenceCheck::ReferenceCheck(uint64_t seed, int d_model, int d_ff, DType dtype, int stride)
    : seed_(seed),
      d_(d_model),
      f_(d_ff),
      dtype_(dtype),
      stride_(std::max(1, stride)),
      tolerance_(dtype == DType::kBf16 ? 1e-2 : 1e-5) {}

const ExpertWeightsF32& ReferenceCheck::weights(int layer, int expert) {
  if (layer != cached_layer_) cache_.clear(), cached_layer_ = layer;
  auto it = cache_.find(expert);
  if (it == cache_.end()) {
    it = cache_.emplace(expert, ExpertWeightsF32{}).first;
    make_expert_weights(seed_, layer, expert, d_, f_, dtype_, it->second);
  }
  return it->second;
}

void ReferenceCheck::expert_output(const ExpertWeightsF32& w, const float* x, double gate,
                                   double* acc) {
  const size_t d = sz(d_), f = sz(f_);
  h_.resize(f);
  for (size_t i = 0; i < f; ++i) {
    double g = 0, u = 0;
    for (size_t c = 0; c < d; ++c)
      g += double{w.gate[i * d + c]} * x[c], u += double{w.up[i * d + c]} * x[c];
    h_[i] = g / (1 + std::exp(-g)) * u;
  }
  for (size_t c = 0; c < d; ++c) {
    double s = 0;
    for (size_t i = 0; i < f; ++i) s += double{w.down[c * f + i]} * h_[i];
    acc[c] += gate * s;
  }
}

void ReferenceCheck::check_layer(int layer, const DispatchPlan& plan, const uint64_t* tokens,
                                 const uint16_t* ids, const float* gate, int k, const float* x,
                                 const float* y) {
  const size_t d = sz(d_), kk = sz(k);
  for (size_t i = 0; i < plan.home_tokens.size(); ++i) {
    const uint32_t t = plan.home_tokens[i];
    if ((tokens[t] + sz(layer)) % sz(stride_) != 0) continue;
    acc_.assign(d, 0.0);
    for (size_t j = 0; j < kk; ++j)
      expert_output(weights(layer, ids[t * kk + j]), x + i * d, gate[t * kk + j], acc_.data());
    double diff = 0, norm = 0;
    for (size_t c = 0; c < d; ++c) {
      const double e = y[i * d + c] - acc_[c];
      diff += e * e, norm += acc_[c] * acc_[c];
    }
    const double err = std::sqrt(diff / std::max(norm, 1e-300));
    ++checked_;
    max_error_ = std::max(max_error_, err);
    if (!(err <= tolerance_))
      throw std::runtime_error(strprintf(
          "--check failed: token %llu (trace index), layer %d: relative error %.3g exceeds "
          "%.0e (%s)",
          static_cast<unsigned long long>(tokens[t]), layer, err, tolerance_, dtype_name(dtype_)));
  }
}

}  // namespace epbench
