#include "trace/load_file.h"

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/text_file.h"
#include "model/presets.h"
#include "trace/stats.h"

namespace epbench {

namespace {

using nlohmann::json;

std::string num(int64_t v) {
  return std::to_string(v);
}

const json& need(const json& j, const char* key, const std::string& file) {
  if (!j.contains(key)) throw_field_error(file, key, "a value", "nothing (missing)");
  return j.at(key);
}

int need_positive(const json& j, const char* key, const std::string& file) {
  const json& v = need(j, key, file);
  if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 65535)
    throw_field_error(file, key, "an integer in [1, 65535]", v.dump());
  return v.get<int>();
}

std::string need_string(const json& j, const char* key, const std::string& file) {
  const json& v = need(j, key, file);
  if (!v.is_string()) throw_field_error(file, key, "a string", v.dump());
  return v.get<std::string>();
}

std::vector<uint64_t> read_loads(const json& j, const LoadFile& f, const std::string& file) {
  const json& rows = need(j, "loads", file);
  if (!rows.is_array() || static_cast<int>(rows.size()) != f.num_layers)
    throw_field_error(file, "loads", "an array of " + num(f.num_layers) + " layers (num_layers)",
                      rows.is_array() ? num(static_cast<int64_t>(rows.size())) : rows.dump());
  std::vector<uint64_t> out;
  for (size_t l = 0; l < rows.size(); ++l) {
    const std::string field = "loads[" + num(static_cast<int64_t>(l)) + "]";
    if (!rows[l].is_array() || static_cast<int>(rows[l].size()) != f.num_experts)
      throw_field_error(
          file, field, "an array of " + num(f.num_experts) + " counts (num_experts)",
          rows[l].is_array() ? num(static_cast<int64_t>(rows[l].size())) : rows[l].dump());
    for (const json& c : rows[l]) {
      if (!c.is_number_unsigned() && !(c.is_number_integer() && c.get<int64_t>() >= 0))
        throw_field_error(file, field, "counts (integers >= 0)", c.dump());
      out.push_back(c.get<uint64_t>());
    }
  }
  return out;
}

}  // namespace

LoadFile read_load_file(const std::string& path) {
  const json j = json::parse(read_text_file(path, "the load file"), nullptr, false);
  if (j.is_discarded()) throw InputError(path + ": not valid JSON");
  if (!j.is_object()) throw_field_error(path, "(top level)", "a JSON object", j.type_name());
  if (need_string(j, "format", path) != kLoadsFormat)
    throw_field_error(path, "format", std::string("\"") + kLoadsFormat + "\"",
                      j.at("format").dump());
  const json& version = need(j, "version", path);
  if (!version.is_number_integer() || version.get<int64_t>() < 1 ||
      version.get<int64_t>() > kLoadsVersion)
    throw_field_error(path, "version", "1.." + num(kLoadsVersion) + " (this epbench)",
                      version.dump());
  LoadFile f;
  f.model = need_string(j, "model", path);
  f.num_layers = need_positive(j, "num_layers", path);
  f.num_experts = need_positive(j, "num_experts", path);
  if (j.contains("source")) f.source = need_string(j, "source", path);
  f.loads = read_loads(j, f, path);
  return f;
}

void write_load_file(const std::string& path, const LoadFile& f) {
  json rows = json::array();
  for (int l = 0; l < f.num_layers; ++l)
    rows.push_back(
        std::vector<uint64_t>(f.loads.begin() + static_cast<ptrdiff_t>(l) * f.num_experts,
                              f.loads.begin() + static_cast<ptrdiff_t>(l + 1) * f.num_experts));
  const nlohmann::ordered_json j = {{"format", kLoadsFormat},
                                    {"version", kLoadsVersion},
                                    {"model", f.model},
                                    {"num_layers", f.num_layers},
                                    {"num_experts", f.num_experts},
                                    {"source", f.source},
                                    {"loads", rows}};
  write_text_file(path, j.dump() + "\n");
}

TraceStats stats_from_loads(const LoadFile& f, const ModelPreset& model, const std::string& path) {
  require_same_model(model, f.model, f.num_layers, f.num_experts, model.top_k, path);
  TraceStats s;
  s.num_layers = f.num_layers;
  s.num_experts = f.num_experts;
  s.top_k = model.top_k;
  s.load = f.loads;
  return s;
}

}  // namespace epbench
