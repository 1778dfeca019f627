#include "trace/trace.h"

#include "model/presets.h"

namespace epbench {

void TokenBlock::resize(size_t n, bool with_gate_weights) {
  const size_t ids = n * static_cast<size_t>(num_layers) * top_k;
  expert_ids.resize(ids);
  gate_weights.resize(with_gate_weights ? ids : 0);
  phase.resize(n);
  position.resize(n);
}

ModelPreset model_of(const TraceHeader& h) {
  ModelPreset m;
  m.name = h.model;
  m.num_layers = h.num_layers;
  m.num_experts = h.num_experts;
  m.top_k = h.top_k;
  m.d_model = h.d_model;
  m.d_ff = h.d_ff;
  return m;
}

TraceHeader header_for(const ModelPreset& model) {
  TraceHeader h;
  h.model = model.name;
  h.num_layers = model.num_layers;
  h.num_experts = model.num_experts;
  h.top_k = model.top_k;
  h.d_model = model.d_model;
  h.d_ff = model.d_ff;
  return h;
}

}  // namespace epbench
