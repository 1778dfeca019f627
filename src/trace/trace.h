#pragma once
// The expert-activation trace: which experts each token chose in every MoE layer.
// On disk it is an HDF5 file (docs/formats.md); in memory a header, the requests, and the
// tokens in blocks so that traces larger than memory can be streamed.
#include <cstdint>
#include <string>
#include <vector>

namespace epbench {

inline constexpr const char* kTraceFormat = "epbench-trace";
inline constexpr int kTraceVersion = 1;

enum class Phase : uint8_t { kPrefill = 0, kDecode = 1 };

struct TraceHeader {
  int version = kTraceVersion;
  std::string model;  // preset name, or the name of a model that has none
  int num_layers = 0;
  int num_experts = 0;
  int top_k = 0;
  int d_model = 0;
  int d_ff = 0;
  std::string source;                // how it was made: "synth", "import:npy", ...
  std::string dataset;               // the text it was recorded on
  std::string params;                // JSON of the generator/importer options, may be empty
  std::vector<std::string> domains;  // domain names; empty when requests have none
  bool has_gate_weights = false;
  uint64_t num_tokens = 0;
  uint64_t num_requests = 0;

  size_t ids_per_token() const { return static_cast<size_t>(num_layers) * top_k; }
};

struct TraceRequests {
  std::vector<uint64_t> token_offset;  // [R+1]; request r owns tokens [off[r], off[r+1])
  std::vector<uint32_t> prompt_len;    // [R]; the first prompt_len tokens are prefill
  std::vector<uint16_t> domain;        // [R] index into TraceHeader::domains; empty if none

  size_t size() const { return prompt_len.size(); }
};

// Tokens [first_token, first_token + size()) with their choices in every layer.
struct TokenBlock {
  uint64_t first_token = 0;
  int num_layers = 0;
  int top_k = 0;
  std::vector<uint16_t> expert_ids;  // [n, L, K]
  std::vector<float> gate_weights;   // [n, L, K], or empty
  std::vector<uint8_t> phase;        // [n], a Phase
  std::vector<uint32_t> position;    // [n], position within the request

  size_t size() const { return phase.size(); }
  void resize(size_t n, bool with_gate_weights);
  const uint16_t* experts(size_t t, int layer) const {
    return expert_ids.data() + (t * num_layers + layer) * top_k;
  }
  uint16_t* experts(size_t t, int layer) {
    return expert_ids.data() + (t * num_layers + layer) * top_k;
  }
};

// A whole trace in memory (small traces, tests, importers).
struct Trace {
  TraceHeader header;
  TraceRequests requests;
  TokenBlock tokens;
};

// Header fields that describe the model, copied from a preset.
struct ModelPreset;
TraceHeader header_for(const ModelPreset& model);
// The model a trace describes, as a preset (name and sizes; the rest default).
ModelPreset model_of(const TraceHeader& h);

}  // namespace epbench
