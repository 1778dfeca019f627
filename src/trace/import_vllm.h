#pragma once
// Importing the experts vLLM returns per request (`enable_return_routed_experts`:
// CompletionOutput.routed_experts, or the base64 .npy of the OpenAI API's `routed_experts`),
// one .npy per request, shaped [tokens, layers, top_k]: logical expert ids, the layer axis
// every hidden layer (vLLM's capture buffer; dense layers' rows are zeros, dropped here) or
// the MoE layers only (Megatron's routing_indices), integer dtype (int32, uint8, uint16).
// docs/engines.md.
#include <optional>
#include <string>
#include <vector>

#include "trace/trace.h"

namespace epbench {

struct ModelPreset;

struct VllmImportOptions {
  std::vector<std::string> paths;      // one request each, in order
  std::optional<uint32_t> prompt_len;  // prefill tokens per request; unset: all prefill
  std::string dataset;                 // empty: the first file's name
};

// Writes the trace to `output` (atomically) and returns its header. Errors name the file and
// the field (shape, dtype, the token and layer of a bad id).
TraceHeader import_vllm_routed(const ModelPreset& model, const VllmImportOptions& options,
                               const std::string& output);

}  // namespace epbench
