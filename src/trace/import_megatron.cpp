// Megatron router-trace import: read each rank's records, group them into forward passes
// (step, then the k-th call of each layer in that step), check every pass has every MoE
// layer with the same tokens, and write one request per pass.
#include "trace/import_megatron.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "model/presets.h"
#include "trace/recorded_trace.h"

namespace epbench {

namespace {

using nlohmann::json;

struct RouterCall {
  int64_t step = 0, layer = 0;
  uint64_t line = 0, tokens = 0;
  std::vector<uint16_t> ids;  // [tokens][K]
};

std::string at(const std::string& file, uint64_t line) {
  return file + ":" + std::to_string(line);
}

int64_t get_int(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j.at(key).is_number_integer())
    throw_field_error(where, key, "an integer",
                      j.contains(key) ? j.at(key).dump().substr(0, 40) : "nothing (missing)");
  return j.at(key).get<int64_t>();
}

std::vector<uint16_t> read_indices(const json& j, uint64_t tokens, const ModelPreset& m,
                                   const std::string& where) {
  const json* rows = j.contains("top_indices") ? &j.at("top_indices") : nullptr;
  if (!rows || !rows->is_array() || rows->size() != tokens)
    throw_field_error(where, "top_indices", std::to_string(tokens) + " rows (num_tokens)",
                      rows && rows->is_array() ? std::to_string(rows->size()) : "none");
  std::vector<uint16_t> ids;
  const std::string expected = std::to_string(m.top_k) + " distinct expert ids in [0, " +
                               std::to_string(m.num_experts) + ")";
  for (const json& row : *rows) {
    if (!row.is_array() || row.size() != static_cast<size_t>(m.top_k))
      throw_field_error(where, "top_indices", expected + " per row", row.dump().substr(0, 40));
    const size_t first = ids.size();
    for (const json& e : row) {
      if (!e.is_number_integer() || e.get<int64_t>() < 0 || e.get<int64_t>() >= m.num_experts)
        throw_field_error(where, "top_indices", expected, e.dump().substr(0, 40));
      const auto id = static_cast<uint16_t>(e.get<int64_t>());
      if (std::find(ids.begin() + static_cast<ptrdiff_t>(first), ids.end(), id) != ids.end())
        throw_field_error(where, "top_indices", expected,
                          "expert " + std::to_string(id) + " twice");
      ids.push_back(id);
    }
  }
  return ids;
}

// One line; false for a record of another block (MTP), which is skipped.
bool parse_call(const std::string& text, const ModelPreset& m, const std::string& where,
                RouterCall& c) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    throw_field_error(where, "record", "one JSON object per line", text.substr(0, 40));
  if (j.contains("block") && j.at("block") != "decoder") return false;
  c.step = get_int(j, "step", where);
  c.layer = get_int(j, "layer", where);
  const int64_t topk = get_int(j, "topk", where);
  if (topk != m.top_k)
    throw_field_error(where, "topk", std::to_string(m.top_k) + " (top-k of " + m.name + ")",
                      std::to_string(topk));
  const int64_t tokens = get_int(j, "num_tokens", where);
  if (tokens < 1) throw_field_error(where, "num_tokens", "at least 1", std::to_string(tokens));
  c.tokens = static_cast<uint64_t>(tokens);
  c.ids = read_indices(j, c.tokens, m, where);
  return true;
}

std::vector<RouterCall> read_file(const std::string& file, const ModelPreset& m) {
  std::ifstream in(file);
  if (!in) throw InputError(file + ": cannot open for reading");
  std::vector<RouterCall> calls;
  std::string text;
  for (uint64_t line = 1; std::getline(in, text); ++line) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    RouterCall c;
    c.line = line;
    if (parse_call(text, m, at(file, line), c)) calls.push_back(std::move(c));
  }
  if (calls.empty())
    throw_field_error(file, "records", "router calls of the decoder block", "none");
  return calls;
}

// The file's MoE layers, ascending: exactly the model's number of them.
std::map<int64_t, int> layer_index(const std::vector<RouterCall>& calls, const ModelPreset& m,
                                   const std::string& file) {
  std::set<int64_t> layers;
  for (const auto& c : calls) layers.insert(c.layer);
  if (static_cast<int>(layers.size()) != m.num_layers) {
    std::string got;
    for (int64_t l : layers) got += (got.empty() ? "" : ", ") + std::to_string(l);
    throw_field_error(file, "layer",
                      std::to_string(m.num_layers) + " distinct MoE layers (" + m.name +
                          "; a pipeline stage's file holds only its own)",
                      std::to_string(layers.size()) + ": " + got);
  }
  std::map<int64_t, int> index;
  for (int64_t l : layers) index.emplace(l, static_cast<int>(index.size()));
  return index;
}

// Passes of one rank: calls[pass][moe layer], in file order.
std::vector<std::vector<const RouterCall*>> passes_of(const std::vector<RouterCall>& calls,
                                                      const std::map<int64_t, int>& index, int L) {
  std::vector<std::vector<const RouterCall*>> passes;
  std::map<std::pair<int64_t, int>, size_t> seen;        // (step, layer) -> calls so far
  std::map<std::pair<int64_t, size_t>, size_t> pass_of;  // (step, k-th call) -> pass
  for (const auto& c : calls) {
    const int l = index.at(c.layer);
    const size_t k = seen[{c.step, l}]++;
    const auto [it, added] = pass_of.emplace(std::pair{c.step, k}, passes.size());
    if (added) passes.emplace_back(static_cast<size_t>(L), nullptr);
    passes[it->second][static_cast<size_t>(l)] = &c;
  }
  return passes;
}

void append_pass(const std::vector<const RouterCall*>& pass, const std::string& file,
                 const ModelPreset& m, Trace& t) {
  const RouterCall* first = *std::find_if(pass.begin(), pass.end(), [](auto* c) { return c; });
  for (size_t l = 0; l < pass.size(); ++l) {
    if (!pass[l])
      throw_field_error(at(file, first->line), "layer",
                        "a call of every MoE layer in step " + std::to_string(first->step) +
                            " (the tracer skips a call whose tokens were dropped)",
                        "none of MoE layer " + std::to_string(l));
    if (pass[l]->tokens != first->tokens)
      throw_field_error(at(file, pass[l]->line), "num_tokens",
                        std::to_string(first->tokens) + " (as line " + std::to_string(first->line) +
                            ", the same forward pass)",
                        std::to_string(pass[l]->tokens));
  }
  const auto K = static_cast<size_t>(m.top_k);
  for (uint64_t tok = 0; tok < first->tokens; ++tok) {
    for (const RouterCall* c : pass)
      t.tokens.expert_ids.insert(t.tokens.expert_ids.end(),
                                 c->ids.begin() + static_cast<ptrdiff_t>(tok * K),
                                 c->ids.begin() + static_cast<ptrdiff_t>((tok + 1) * K));
    t.tokens.phase.push_back(0);
    t.tokens.position.push_back(static_cast<uint32_t>(tok));
  }
  t.requests.prompt_len.push_back(static_cast<uint32_t>(first->tokens));
  t.requests.token_offset.push_back(t.requests.token_offset.back() + first->tokens);
}

}  // namespace

TraceHeader import_megatron(const ModelPreset& model, const MegatronImportOptions& o,
                            const std::string& output) {
  if (o.paths.empty())
    throw InputError("--megatron: expected at least one router_trace_rank*.jsonl");
  Trace t = begin_recorded_trace(model);
  for (const auto& file : o.paths) {
    const std::vector<RouterCall> calls = read_file(file, model);
    for (const auto& pass : passes_of(calls, layer_index(calls, model, file), model.num_layers))
      append_pass(pass, file, model, t);
  }
  return write_recorded_trace(t, "import:megatron-router-trace", o.paths, o.dataset, output);
}

}  // namespace epbench
