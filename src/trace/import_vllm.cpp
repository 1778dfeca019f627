#include "trace/import_vllm.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/presets.h"
#include "trace/import_npy.h"
#include "trace/recorded_trace.h"

namespace epbench {

namespace {

std::string str(uint64_t v) {
  return std::to_string(v);
}

// The layers of the file's layer axis that are MoE layers: the first `skip` are dense.
uint64_t dense_rows(const NpyHeader& h, const ModelPreset& m, const std::string& file) {
  const std::string expected = "[tokens, layers, " + std::to_string(m.top_k) + "] with layers " +
                               std::to_string(m.total_layers()) + " (every hidden layer of " +
                               m.name + ") or " + std::to_string(m.num_layers) +
                               " (its MoE layers)";
  if (h.shape.size() != 3 || h.fortran_order || h.shape[2] != static_cast<uint64_t>(m.top_k))
    throw_field_error(file, "shape", expected + (h.fortran_order ? ", C order" : ""),
                      shape_text(h.shape) + (h.fortran_order ? " in Fortran order" : ""));
  if (h.shape[1] == static_cast<uint64_t>(m.total_layers()))
    return static_cast<uint64_t>(m.dense_layers);
  if (h.shape[1] == static_cast<uint64_t>(m.num_layers)) return 0;
  throw_field_error(file, "shape", expected, shape_text(h.shape));
}

void append_request(const std::string& file, const ModelPreset& m, std::optional<uint32_t> prompt,
                    Trace& t) {
  NpyReader npy(file);
  const NpyHeader& h = npy.header();
  const uint64_t skip = dense_rows(h, m, file);
  npy.require_integer("expert ids");
  if (h.shape[0] == 0) throw_field_error(file, "shape", "at least one token", shape_text(h.shape));
  std::vector<int64_t> raw;
  npy.read_ints(h.num_elements(), raw);
  const uint64_t layers = h.shape[1], K = h.shape[2], T = h.shape[0];
  for (uint64_t tok = 0; tok < T; ++tok) {
    for (uint64_t l = skip; l < layers; ++l) {
      const int64_t* ids = raw.data() + (tok * layers + l) * K;
      for (uint64_t k = 0; k < K; ++k) {
        const std::string where = "token " + str(tok) + ", layer " + str(l);
        if (ids[k] < 0 || ids[k] >= m.num_experts)
          throw_field_error(file, "expert id",
                            "ids in [0, " + std::to_string(m.num_experts) + ") at " + where,
                            std::to_string(ids[k]));
        if (std::find(ids, ids + k, ids[k]) != ids + k)
          throw_field_error(file, "expert id", "distinct experts per token at " + where,
                            "expert " + std::to_string(ids[k]) + " twice");
        t.tokens.expert_ids.push_back(static_cast<uint16_t>(ids[k]));
      }
    }
    const bool prefill = !prompt || tok < *prompt;
    t.tokens.phase.push_back(prefill ? 0 : 1);
    t.tokens.position.push_back(static_cast<uint32_t>(tok));
  }
  t.requests.prompt_len.push_back(
      static_cast<uint32_t>(prompt ? std::min<uint64_t>(*prompt, T) : T));
  t.requests.token_offset.push_back(t.requests.token_offset.back() + T);
}

}  // namespace

TraceHeader import_vllm_routed(const ModelPreset& model, const VllmImportOptions& o,
                               const std::string& output) {
  if (o.paths.empty()) throw InputError("--vllm-routed: expected at least one .npy file");
  Trace t = begin_recorded_trace(model);
  for (const auto& path : o.paths) append_request(path, model, o.prompt_len, t);
  return write_recorded_trace(t, "import:vllm-routed-experts", o.paths, o.dataset, output);
}

}  // namespace epbench
