#pragma once
// Traces assembled in memory from an engine's recording (vLLM's routed experts, Megatron's
// router trace): no gate weights, the files named in the header.
#include <string>
#include <vector>

#include "trace/trace.h"

namespace epbench {

struct ModelPreset;

// An empty trace of `model`, ready for tokens and requests to be appended.
Trace begin_recorded_trace(const ModelPreset& model);

// Fills the header (`source`, the dataset: `dataset` or the first file's name, the files as
// params) and writes the trace to `output` atomically; returns the header.
TraceHeader write_recorded_trace(Trace& t, const std::string& source,
                                 const std::vector<std::string>& files, const std::string& dataset,
                                 const std::string& output);

}  // namespace epbench
