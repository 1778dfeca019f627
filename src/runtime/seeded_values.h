#pragma once
// The values the benchmark computes on, derived from seeds alone so that every replica of an
// expert holds identical weights and the reference check can regenerate anything: expert
// weights keyed by (layer, expert), hidden states keyed by (trace token, layer).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace epbench {

enum class DType { kFp32, kBf16 };
DType parse_dtype(const std::string& text);  // OptionError of field "dtype"
const char* dtype_name(DType t);
inline size_t dtype_bytes(DType t) {
  return t == DType::kBf16 ? 2 : 4;
}

// Round-to-nearest-even to bfloat16 and back (bf16 values held in fp32).
uint16_t to_bf16(float v);
float from_bf16(uint16_t v);
inline float round_bf16(float v) {
  return from_bf16(to_bf16(v));
}

struct ExpertWeightsF32 {
  std::vector<float> gate, up;  // [d_ff, d_model]
  std::vector<float> down;      // [d_model, d_ff]
};

// The three matrices of an expert, numbered as the weight formula below keys them.
enum class ExpertMatrix : uint64_t { kGate = 0, kUp = 1, kDown = 2 };

// Uniform in +-1/sqrt(fan_in), so activations keep their scale through the FFN; rounded to
// bf16 when dtype is bf16 (the CPU computes in fp32 on bf16-valued weights). Counter-based:
// element i (row-major) of matrix m of expert e in layer l is, in uint64 arithmetic,
//   key  = mix_seed(mix_seed(seed ^ 0x57, l, e), m)               (common/rng.h)
//   bits = splitmix64's output function of key + (i + 1) * 0x9E3779B97F4A7C15
//   v    = float((2 * (bits >> 11) * 2^-53 - 1) * s),  s = 1.f / sqrtf(float(fan_in))
// then rounded to bf16 (nearest, ties to even) for bf16. fan_in is d_model for gate and up,
// d_ff for down. The shards fill whole matrices from a stream; the reference check evaluates
// the formula per element with its own code, so the two paths share no generator.
void make_expert_weights(uint64_t seed, int layer, int expert, int d_model, int d_ff, DType dtype,
                         ExpertWeightsF32& out);

// Token `token`'s hidden state entering MoE layer `layer`, uniform in [-1, 1).
void make_hidden_state(uint64_t seed, uint64_t token, int layer, int d_model, DType dtype,
                       float* out);

// Converts rows between fp32 (compute) and the wire format (fp32 or bf16).
void encode_rows(DType t, const float* in, size_t values, void* out);
void decode_rows(DType t, const void* in, size_t values, float* out);
// Adds decoded values to out (the home rank's sum of partial results).
void accumulate_rows(DType t, const void* in, size_t values, float* out);

}  // namespace epbench
