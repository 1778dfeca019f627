#include "trace/recorded_trace.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/presets.h"
#include "trace/trace_io.h"

namespace epbench {

Trace begin_recorded_trace(const ModelPreset& model) {
  Trace t;
  t.header = header_for(model);
  t.tokens.num_layers = model.num_layers;
  t.tokens.top_k = model.top_k;
  t.requests.token_offset.push_back(0);
  return t;
}

TraceHeader write_recorded_trace(Trace& t, const std::string& source,
                                 const std::vector<std::string>& files, const std::string& dataset,
                                 const std::string& output) {
  t.header.source = source;
  t.header.dataset =
      dataset.empty() ? std::filesystem::path(files.at(0)).filename().string() : dataset;
  t.header.params = nlohmann::json{{"files", files}}.dump();
  t.header.has_gate_weights = false;  // neither recording holds routing weights
  t.header.num_tokens = t.tokens.phase.size();
  t.header.num_requests = t.requests.size();
  write_trace(output, t);
  return t.header;
}

}  // namespace epbench
