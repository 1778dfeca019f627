#include "runtime/reference_check.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "common/numeric.h"
#include "common/strprintf.h"

namespace epbench {

// Why this tolerance. Both backends multiply bf16- or fp32-valued inputs and weights with fp32
// accumulation (OpenBLAS sgemm; cuBLAS with CUBLAS_COMPUTE_32F), and the reference uses the
// very same input and weight values, so the run's error comes from two sources only:
//  - fp32 arithmetic (unit roundoff u_a = 2^-24) along the reductions: d_model terms in the
//    gate and up GEMMs, d_ff in the down GEMM, k partial sums in the combine. In the
//    probabilistic model of Higham and Mary (SIAM J. Sci. Comput. 41(5), 2019: independent
//    mean-zero rounding errors) a length-n reduction has a relative error of order sqrt(n) u_a,
//    and independent stages add in quadrature: sqrt(d_model + d_ff + k) u_a.
//  - roundings to the storage type (u_s = 2^-8 for bf16, 2^-24 for fp32): at most s = 2 on a
//    token's path (h before the down GEMM on CUDA, the partial sum on the wire), each a
//    relative error of at most u_s per value: sqrt(s) u_s.
// The tolerance is lambda = 1.5 times their quadrature sum. A deterministic (worst-case) bound
// such as gamma_n = n u / (1 - n u) with u = 2^-8 would allow 12 % at d_model = 32 and hide any
// plausible fault; this one is 8.29e-3 in bf16 for any d_model + d_ff below 10^7, so a 1 %
// error in the output fails, and 8.9e-7 in fp32 at the tests' 32 x 64 experts (k = 2).
double check_tolerance(DType dtype, int d_model, int d_ff, int k) {
  constexpr double kLambda = 1.5, kStorageRoundings = 2;
  const double u_a = std::ldexp(1.0, -24);
  const double u_s = dtype == DType::kBf16 ? std::ldexp(1.0, -8) : u_a;
  const double reduction = static_cast<double>(d_model) + d_ff + k;
  return kLambda * std::sqrt(kStorageRoundings * u_s * u_s + reduction * u_a * u_a);
}

namespace {

// seeded_values.h's weight formula, written out again on purpose (no common/rng.h).
uint64_t splitmix_output(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// mix_seed(a, b, c): three chained splitmix64 steps from a ^ pi's digits.
uint64_t reference_mix(uint64_t a, uint64_t b, uint64_t c) {
  const uint64_t x = splitmix_output((a ^ 0x243F6A8885A308D3ull) + kGolden) ^ b;
  const uint64_t y = splitmix_output(x + kGolden) ^ c;
  return splitmix_output(y + kGolden);
}

// Round to the nearest value with 8 significant bits, ties to even (bf16), in double.
float reference_bf16(float v) {
  int e = 0;
  const double m = std::frexp(static_cast<double>(v), &e);  // |m| in [0.5, 1)
  return static_cast<float>(std::ldexp(std::nearbyint(std::ldexp(m, 8)), e - 8));
}

void reference_matrix(uint64_t seed, int layer, int expert, ExpertMatrix m, int fan_in, DType dtype,
                      std::vector<float>& out, size_t n) {
  const uint64_t key = reference_mix(
      reference_mix(seed ^ 0x57, static_cast<uint64_t>(layer), static_cast<uint64_t>(expert)),
      static_cast<uint64_t>(m), 0);
  const double scale = 1.f / std::sqrt(static_cast<float>(fan_in));
  out.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t bits = splitmix_output(key + (i + 1) * kGolden);
    const double u = std::ldexp(static_cast<double>(bits >> 11), -53);
    const float v = static_cast<float>((2 * u - 1) * scale);
    out[i] = dtype == DType::kBf16 ? reference_bf16(v) : v;
  }
}

}  // namespace

void reference_expert_weights(uint64_t seed, int layer, int expert, int d_model, int d_ff,
                              DType dtype, ExpertWeightsF32& out) {
  const size_t n = sz(d_model) * sz(d_ff);
  reference_matrix(seed, layer, expert, ExpertMatrix::kGate, d_model, dtype, out.gate, n);
  reference_matrix(seed, layer, expert, ExpertMatrix::kUp, d_model, dtype, out.up, n);
  reference_matrix(seed, layer, expert, ExpertMatrix::kDown, d_ff, dtype, out.down, n);
}

ReferenceCheck::ReferenceCheck(uint64_t seed, int d_model, int d_ff, int k, DType dtype, int stride)
    : seed_(seed),
      d_(d_model),
      f_(d_ff),
      k_(k),
      dtype_(dtype),
      stride_(std::max(1, stride)),
      tolerance_(check_tolerance(dtype, d_model, d_ff, k)) {}

// Experts stay cached across layers and steps while they fit the budget (the whole model at
// the tests' sizes, so each is computed once); past it the cache starts over.
const ExpertWeightsF32& ReferenceCheck::weights(int layer, int expert) {
  const uint64_t key = (static_cast<uint64_t>(layer) << 32) | static_cast<uint32_t>(expert);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  const uint64_t bytes = 3 * sz(d_) * sz(f_) * sizeof(float);
  if (cached_bytes_ + bytes > kCacheBytes) cache_.clear(), cached_bytes_ = 0;
  it = cache_.emplace(key, ExpertWeightsF32{}).first;
  reference_expert_weights(seed_, layer, expert, d_, f_, dtype_, it->second);
  cached_bytes_ += bytes;
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

// Norm-wise relative error of y against the reference in acc_.
double ReferenceCheck::token_error(const float* y) const {
  double diff = 0, norm = 0;
  for (size_t c = 0; c < acc_.size(); ++c) {
    const double e = y[c] - acc_[c];
    diff += e * e, norm += acc_[c] * acc_[c];
  }
  return std::sqrt(diff / std::max(norm, 1e-300));
}

void ReferenceCheck::fail(uint64_t token, int layer, const uint16_t* ids, double err) const {
  std::string experts;
  for (int j = 0; j < k_; ++j) experts += (j ? "," : "") + std::to_string(ids[j]);
  throw std::runtime_error(strprintf(
      "--check failed: token %llu (trace index), layer %d, experts %s: relative error %.3g "
      "exceeds the tolerance %.3g (%s, d_model %d, d_ff %d, k %d)",
      static_cast<unsigned long long>(token), layer, experts.c_str(), err, tolerance_,
      dtype_name(dtype_), d_, f_, k_));
}

void ReferenceCheck::check_layer(int layer, const DispatchPlan& plan, const uint64_t* tokens,
                                 const uint16_t* ids, const float* gate, const float* x,
                                 const float* y) {
  const size_t d = sz(d_), kk = sz(k_);
  for (size_t i = 0; i < plan.home_tokens.size(); ++i) {
    const uint32_t t = plan.home_tokens[i];
    if ((tokens[t] + sz(layer)) % sz(stride_) != 0) continue;
    acc_.assign(d, 0.0);
    for (size_t j = 0; j < kk; ++j)
      expert_output(weights(layer, ids[t * kk + j]), x + i * d, gate[t * kk + j], acc_.data());
    const double err = token_error(y + i * d);
    ++checked_;
    max_error_ = std::max(max_error_, err);
    if (!(err <= tolerance_)) fail(tokens[t], layer, ids + t * kk, err);
  }
}

}  // namespace epbench
