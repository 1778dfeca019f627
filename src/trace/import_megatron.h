#pragma once
// Importing Megatron-core's router trace (--moe-routing-trace-path: RouterTracer in
// megatron/core/transformer/moe/router_trace.py writes router_trace_rank{R}.jsonl), one JSON
// object per line and router call: {"step", "block", "layer", "rank", "num_tokens", "topk",
// "top_indices": [num_tokens][topk], ...}. The trace records no token ids or positions: each
// forward pass of a rank (the k-th call of every MoE layer within a step) becomes one request
// of its router input rows, all prefill. MoE layers are the distinct `layer` values of the
// decoder block in ascending order (the tracer numbers them locally from 0 with dense layers
// counted, or globally from 1); MTP-block records are skipped. docs/engines.md.
#include <string>
#include <vector>

#include "trace/trace.h"

namespace epbench {

struct ModelPreset;

struct MegatronImportOptions {
  std::vector<std::string> paths;  // router_trace_rank*.jsonl, one per rank, in order
  std::string dataset;             // empty: the first file's name
};

// Writes the trace to `output` (atomically) and returns its header. Errors name the file,
// the line and the field.
TraceHeader import_megatron(const ModelPreset& model, const MegatronImportOptions& options,
                            const std::string& output);

}  // namespace epbench
