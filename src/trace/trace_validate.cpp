// Validation of trace contents, shared by the reader, the writer and the importers.
#include <cmath>
#include <string>

#include "common/error.h"
#include "trace/trace_io.h"

namespace epbench {

namespace {

std::string token_where(uint64_t token, int layer) {
  return "token " + std::to_string(token) + " layer " + std::to_string(layer);
}

void validate_token_ids(const TraceHeader& h, const uint16_t* ids, uint64_t token, int layer,
                        const std::string& file) {
  for (int k = 0; k < h.top_k; ++k) {
    if (ids[k] >= h.num_experts)
      throw_field_error(file, "tokens/expert_ids",
                        "expert ids < num_experts=" + std::to_string(h.num_experts),
                        std::to_string(ids[k]) + " at " + token_where(token, layer));
    for (int j = 0; j < k; ++j)
      if (ids[j] == ids[k])
        throw_field_error(
            file, "tokens/expert_ids", "distinct experts in a token's top-k",
            "expert " + std::to_string(ids[k]) + " twice at " + token_where(token, layer));
  }
}

}  // namespace

void validate_block(const TraceHeader& h, const TokenBlock& b, const std::string& file) {
  const size_t n = b.size();
  if (b.num_layers != h.num_layers || b.top_k != h.top_k ||
      b.expert_ids.size() != n * h.ids_per_token() || b.position.size() != n)
    throw_field_error(file, "tokens", "a block shaped [n, num_layers, top_k]");
  if (!b.gate_weights.empty() && b.gate_weights.size() != b.expert_ids.size())
    throw_field_error(file, "tokens/gate_weights", "one weight per expert id");
  for (size_t t = 0; t < n; ++t) {
    const uint64_t token = b.first_token + t;
    if (b.phase[t] > 1)
      throw_field_error(file, "tokens/phase", "0 (prefill) or 1 (decode)",
                        std::to_string(b.phase[t]) + " at token " + std::to_string(token));
    for (int l = 0; l < h.num_layers; ++l) validate_token_ids(h, b.experts(t, l), token, l, file);
  }
  for (size_t i = 0; i < b.gate_weights.size(); ++i) {
    const float w = b.gate_weights[i];
    if (!std::isfinite(w) || w < 0.0f)
      throw_field_error(
          file, "tokens/gate_weights", "finite weights >= 0",
          std::to_string(w) + " at token " + std::to_string(b.first_token + i / h.ids_per_token()));
  }
}

void validate_requests(const TraceHeader& h, const TraceRequests& r, const std::string& file) {
  const auto& off = r.token_offset;
  if (off.size() != r.prompt_len.size() + 1)
    throw_field_error(file, "requests/token_offset",
                      "R+1 = " + std::to_string(r.prompt_len.size() + 1) + " entries",
                      std::to_string(off.size()));
  if (off.empty() || off.front() != 0)
    throw_field_error(file, "requests/token_offset", "first offset 0");
  for (size_t i = 1; i < off.size(); ++i)
    if (off[i] <= off[i - 1])
      throw_field_error(file, "requests/token_offset", "strictly increasing offsets",
                        std::to_string(off[i - 1]) + " then " + std::to_string(off[i]) +
                            " at index " + std::to_string(i));
  if (off.back() != h.num_tokens)
    throw_field_error(file, "requests/token_offset",
                      "last offset = number of tokens " + std::to_string(h.num_tokens),
                      std::to_string(off.back()));
  for (size_t i = 0; i < r.prompt_len.size(); ++i)
    if (r.prompt_len[i] > off[i + 1] - off[i])
      throw_field_error(file, "requests/prompt_len", "at most the request's length",
                        std::to_string(r.prompt_len[i]) + " for request " + std::to_string(i));
  if (!r.domain.empty() && r.domain.size() != r.prompt_len.size())
    throw_field_error(file, "requests/domain", std::to_string(r.prompt_len.size()) + " entries",
                      std::to_string(r.domain.size()));
  for (size_t i = 0; i < r.domain.size(); ++i)
    if (r.domain[i] >= h.domains.size())
      throw_field_error(file, "requests/domain",
                        "indices < " + std::to_string(h.domains.size()) + " domain names",
                        std::to_string(r.domain[i]) + " for request " + std::to_string(i));
}

}  // namespace epbench
