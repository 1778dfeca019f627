#include "runtime/seeded_values.h"

#include <cmath>
#include <cstring>

#include "common/error.h"
#include "common/numeric.h"
#include "common/rng.h"
#include "runtime/planted_fault.h"

namespace epbench {

DType parse_dtype(const std::string& text) {
  if (text == "fp32") return DType::kFp32;
  if (text == "bf16") return DType::kBf16;
  throw OptionError("dtype", "expected fp32 or bf16, got '" + text + "'");
}

const char* dtype_name(DType t) {
  return t == DType::kBf16 ? "bf16" : "fp32";
}

uint16_t to_bf16(float v) {
  uint32_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  if (std::isnan(v)) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float from_bf16(uint16_t v) {
  const uint32_t bits = static_cast<uint32_t>(v) << 16;
  float out = 0;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

namespace {

// Domain tags keep the streams of weights and hidden states apart.
constexpr uint64_t kWeightTag = 0x57, kHiddenTag = 0x48;

void fill_uniform(Rng& rng, float scale, DType dtype, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float v = static_cast<float>((2 * rng.uniform() - 1) * scale);
    out[i] = dtype == DType::kBf16 ? round_bf16(v) : v;
  }
}

// The shards' path: one key per matrix, then a splitmix64 stream that adds the increment per
// element (the header's formula). The reference check evaluates that formula per element with its
// own code (reference_check.cpp), so a slip here is not mirrored there.
void fill_expert_matrix(uint64_t seed, int layer, int expert, ExpertMatrix m, float scale,
                        DType dtype, float* out, size_t n) {
  uint64_t state = mix_seed(
      mix_seed(seed ^ kWeightTag, static_cast<uint64_t>(layer), static_cast<uint64_t>(expert)),
      static_cast<uint64_t>(m));
  for (size_t i = 0; i < n; ++i) {
    const double u = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
    const float v = static_cast<float>((2 * u - 1) * scale);
    out[i] = dtype == DType::kBf16 ? round_bf16(v) : v;
  }
}

}  // namespace

void make_expert_weights(uint64_t seed, int layer, int expert, int d_model, int d_ff, DType dtype,
                         ExpertWeightsF32& out) {
  const size_t df = sz(d_model) * sz(d_ff);
  out.gate.resize(df), out.up.resize(df), out.down.resize(df);
  expert = planted_expert_id(expert);  // a test-only fault, else the same id
  const float in_scale = 1.f / std::sqrt(static_cast<float>(d_model));
  const float out_scale = 1.f / std::sqrt(static_cast<float>(d_ff));
  fill_expert_matrix(seed, layer, expert, ExpertMatrix::kGate, in_scale, dtype, out.gate.data(),
                     df);
  fill_expert_matrix(seed, layer, expert, ExpertMatrix::kUp, in_scale, dtype, out.up.data(), df);
  fill_expert_matrix(seed, layer, expert, ExpertMatrix::kDown, out_scale, dtype, out.down.data(),
                     df);
}

void make_hidden_state(uint64_t seed, uint64_t token, int layer, int d_model, DType dtype,
                       float* out) {
  Rng rng(mix_seed(seed ^ kHiddenTag, token, static_cast<uint64_t>(layer)));
  fill_uniform(rng, 1.f, dtype, out, sz(d_model));
}

void encode_rows(DType t, const float* in, size_t values, void* out) {
  if (values == 0) return;  // empty buffers may have null data()
  if (t == DType::kFp32) {
    std::memcpy(out, in, values * sizeof(float));
    return;
  }
  auto* o = static_cast<uint16_t*>(out);
  for (size_t i = 0; i < values; ++i) o[i] = to_bf16(in[i]);
}

void decode_rows(DType t, const void* in, size_t values, float* out) {
  if (values == 0) return;  // empty buffers may have null data()
  if (t == DType::kFp32) {
    std::memcpy(out, in, values * sizeof(float));
    return;
  }
  const auto* p = static_cast<const uint16_t*>(in);
  for (size_t i = 0; i < values; ++i) out[i] = from_bf16(p[i]);
}

void accumulate_rows(DType t, const void* in, size_t values, float* out) {
  if (values == 0) return;  // empty buffers may have null data()
  if (t == DType::kFp32) {
    const auto* p = static_cast<const float*>(in);
    for (size_t i = 0; i < values; ++i) out[i] += p[i];
    return;
  }
  const auto* p = static_cast<const uint16_t*>(in);
  for (size_t i = 0; i < values; ++i) out[i] += from_bf16(p[i]);
}

}  // namespace epbench
