#include "runtime/pack_plan.h"

#include <cstring>

namespace epbench {

void make_pack_plan(const DispatchPlan& plan, PackPlan& out) {
  out.send_src.resize(plan.send_tokens.size());
  for (size_t i = 0; i < plan.send_tokens.size(); ++i)
    out.send_src[i] = static_cast<uint32_t>(plan.home_row[plan.send_tokens[i]]);
  out.local_src.resize(plan.local_tokens.size());
  for (size_t i = 0; i < plan.local_tokens.size(); ++i)
    out.local_src[i] = static_cast<uint32_t>(plan.home_row[plan.local_tokens[i]]);
}

void gather_rows(const float* src, const uint32_t* idx, size_t rows, size_t d, float* dst) {
  for (size_t i = 0; i < rows; ++i) std::memcpy(dst + i * d, src + idx[i] * d, d * sizeof(float));
}

void scatter_add_rows(const float* src, const uint32_t* idx, size_t rows, size_t d, float* dst) {
  for (size_t i = 0; i < rows; ++i) {
    float* y = dst + idx[i] * d;
    const float* x = src + i * d;
    for (size_t c = 0; c < d; ++c) y[c] += x[c];
  }
}

void pack_rows(DType t, const float* src, const uint32_t* idx, size_t rows, size_t d,
               unsigned char* wire) {
  const size_t row_bytes = d * dtype_bytes(t);
  for (size_t i = 0; i < rows; ++i) encode_rows(t, src + idx[i] * d, d, wire + i * row_bytes);
}

void add_back_rows(DType t, const unsigned char* wire, const uint32_t* idx, size_t rows, size_t d,
                   float* dst) {
  const size_t row_bytes = d * dtype_bytes(t);
  for (size_t i = 0; i < rows; ++i) accumulate_rows(t, wire + i * row_bytes, d, dst + idx[i] * d);
}

}  // namespace epbench
