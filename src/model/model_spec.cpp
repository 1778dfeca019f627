#include "model/model_spec.h"

#include <filesystem>

#include "common/error.h"
#include "common/text_file.h"

namespace epbench {

namespace {

using nlohmann::json;

// Integer fields with their ranges: the bounds keep products (KV bytes, expert bytes) far
// from overflow and expert ids within the trace's uint16.
struct IntField {
  const char* key;
  int ModelPreset::*member;
  int min, max;
  bool required;  // optional fields keep ModelPreset's default
};

constexpr int kMaxWidth = 1 << 20;
constexpr IntField kIntFields[] = {
    {"num_layers", &ModelPreset::num_layers, 1, 4096, true},
    {"dense_layers", &ModelPreset::dense_layers, 0, 4096, false},
    {"num_experts", &ModelPreset::num_experts, 1, 65535, true},
    {"top_k", &ModelPreset::top_k, 1, 65535, true},
    {"d_model", &ModelPreset::d_model, 1, kMaxWidth, true},
    {"d_ff", &ModelPreset::d_ff, 1, kMaxWidth, true},
    {"shared_experts", &ModelPreset::shared_experts, 0, 4096, false},
    {"shared_d_ff", &ModelPreset::shared_d_ff, 0, kMaxWidth, false},
    {"expert_groups", &ModelPreset::expert_groups, 1, 65535, false},
    {"groups_per_token", &ModelPreset::groups_per_token, 1, 65535, false},
    {"attention_heads", &ModelPreset::attention_heads, 1, 65536, true},
    {"kv_heads", &ModelPreset::kv_heads, 1, 65536, true},
    {"head_dim", &ModelPreset::head_dim, 1, 65536, true},
    {"kv_latent_dim", &ModelPreset::kv_latent_dim, 0, kMaxWidth, false},
    {"dense_d_ff", &ModelPreset::dense_d_ff, 0, kMaxWidth, false},
    {"attention_params", &ModelPreset::attention_params, 0, 1 << 30, false},
    {"weight_bytes", &ModelPreset::weight_bytes, 1, 8, true},
    {"kv_bytes", &ModelPreset::kv_bytes, 1, 8, true},
};
// String fields; "name" and "attention" are required, "source" is optional.
constexpr const char* kStringFields[] = {"name", "attention", "source"};

std::string num(int64_t v) {
  return std::to_string(v);
}

std::string range_of(const IntField& f) {
  return "an integer in [" + num(f.min) + ", " + num(f.max) + "]";
}

std::string known_fields() {
  std::string s = "format, version";
  for (const char* k : kStringFields) s += std::string(", ") + k;
  for (const auto& f : kIntFields) s += std::string(", ") + f.key;
  return s;
}

bool is_known(const std::string& key) {
  if (key == "format" || key == "version") return true;
  for (const char* k : kStringFields)
    if (key == k) return true;
  for (const auto& f : kIntFields)
    if (key == f.key) return true;
  return false;
}

void check_header(const json& j, const std::string& file) {
  if (!j.is_object()) throw_field_error(file, "(top level)", "a JSON object", j.type_name());
  if (!j.contains("format")) throw_field_error(file, "format", "\"epbench-model\"", "nothing");
  if (j.at("format") != kModelSpecFormat)
    throw_field_error(file, "format", "\"epbench-model\"", j.at("format").dump());
  if (!j.contains("version"))
    throw_field_error(file, "version", "the integer " + num(kModelSpecVersion), "nothing");
  const json& v = j.at("version");
  if (!v.is_number_integer() || v.get<int64_t>() < 1)
    throw_field_error(file, "version", "a positive integer", v.dump());
  if (v.get<int64_t>() > kModelSpecVersion)
    throw_field_error(file, "version", "at most " + num(kModelSpecVersion) + " (this epbench)",
                      v.dump() + " (written for a newer epbench)");
  // A misspelt optional field would otherwise silently keep its default.
  for (const auto& [key, value] : j.items())
    if (!is_known(key)) throw_field_error(file, key, "one of " + known_fields(), "unknown field");
}

void read_int(const json& j, const IntField& f, const std::string& file, ModelPreset& m) {
  if (!j.contains(f.key)) {
    if (f.required) throw_field_error(file, f.key, range_of(f), "nothing (missing)");
    return;
  }
  const json& v = j.at(f.key);
  if (!v.is_number_integer() || v.get<int64_t>() < f.min || v.get<int64_t>() > f.max)
    throw_field_error(file, f.key, range_of(f), v.dump());
  m.*f.member = v.get<int>();
}

std::string read_string(const json& j, const char* key, const std::string& file, bool required) {
  if (!j.contains(key)) {
    if (required) throw_field_error(file, key, "a string", "nothing (missing)");
    return "";
  }
  if (!j.at(key).is_string()) throw_field_error(file, key, "a string", j.at(key).dump());
  return j.at(key).get<std::string>();
}

void check_name(const ModelPreset& m, const std::string& file) {
  if (m.name.empty() || m.name.size() > 200 ||
      m.name.find_first_of(" \t\r\n\"") != std::string::npos)
    throw_field_error(file, "name", "1 to 200 characters, no spaces or quotes",
                      json(m.name).dump());
  // Data made for a preset is checked against the preset by name: a spec may not reuse one
  // for other sizes.
  const ModelPreset* p = preset_or_null(m.name);
  if (p && !p->same_model(m))
    throw_field_error(file, "name", "a name that is no preset (or exactly the preset's sizes)",
                      json(m.name).dump() + ", a preset with other sizes");
}

void check_routing(const ModelPreset& m, const std::string& file) {
  if (m.top_k > m.num_experts)
    throw_field_error(file, "top_k", "at most num_experts (" + num(m.num_experts) + ")",
                      num(m.top_k));
  if (m.num_experts % m.expert_groups != 0)
    throw_field_error(file, "expert_groups",
                      "a divisor of num_experts (" + num(m.num_experts) + ")",
                      num(m.expert_groups));
  if (m.groups_per_token > m.expert_groups)
    throw_field_error(file, "groups_per_token",
                      "at most expert_groups (" + num(m.expert_groups) + ")",
                      num(m.groups_per_token));
  const int reachable = m.groups_per_token * (m.num_experts / m.expert_groups);
  if (m.top_k > reachable)
    throw_field_error(file, "top_k",
                      "at most the " + num(reachable) + " experts in groups_per_token groups",
                      num(m.top_k));
  if ((m.shared_experts > 0) != (m.shared_d_ff > 0))
    throw_field_error(file, "shared_d_ff", "positive exactly when shared_experts is",
                      num(m.shared_d_ff) + " with " + num(m.shared_experts) + " shared experts");
}

void check_attention(const ModelPreset& m, const std::string& file) {
  if (m.attention != "gqa" && m.attention != "mla")
    throw_field_error(file, "attention", "\"gqa\" or \"mla\"", json(m.attention).dump());
  if (m.attention_heads % m.kv_heads != 0)
    throw_field_error(file, "kv_heads",
                      "a divisor of attention_heads (" + num(m.attention_heads) + ")",
                      num(m.kv_heads));
  if (m.attention == "gqa" && m.kv_latent_dim != 0)
    throw_field_error(file, "kv_latent_dim", "0 with \"gqa\" attention (mla only)",
                      num(m.kv_latent_dim));
  if (m.attention == "mla" && m.kv_latent_dim == 0)
    throw_field_error(file, "kv_latent_dim",
                      "the cached latent width (kv_lora_rank + qk_rope_head_dim) with \"mla\"",
                      "0");
}

}  // namespace

void validate_model(const ModelPreset& m, const std::string& file) {
  for (const auto& f : kIntFields) {
    const int v = m.*f.member;
    if (v < f.min || v > f.max) throw_field_error(file, f.key, range_of(f), num(v));
  }
  // dense_layers < total_layers() holds by num_layers >= 1.
  check_routing(m, file);
  check_attention(m, file);
}

ModelPreset model_from_spec(const json& j, const std::string& file) {
  check_header(j, file);
  ModelPreset m;
  m.name = read_string(j, "name", file, true);
  m.attention = read_string(j, "attention", file, true);
  m.source = read_string(j, "source", file, false);
  for (const auto& f : kIntFields) read_int(j, f, file, m);
  check_name(m, file);
  validate_model(m, file);
  return m;
}

ModelPreset read_model_spec(const std::string& path) {
  json j;
  try {
    j = json::parse(read_text_file(path, "model spec file (epbench-model JSON)"));
  } catch (const json::exception& e) {
    // Not only parse_error: a number too large for a double is out_of_range (406).
    throw_field_error(path, "(JSON)", "a model spec in JSON", e.what());
  }
  return model_from_spec(j, path);
}

nlohmann::ordered_json model_spec_json(const ModelPreset& m) {
  nlohmann::ordered_json j;
  j["format"] = kModelSpecFormat;
  j["version"] = kModelSpecVersion;
  j["name"] = m.name;
  for (const auto& f : kIntFields) {
    if (std::string_view(f.key) == "attention_heads") j["attention"] = m.attention;
    j[f.key] = m.*f.member;
  }
  j["source"] = m.source;
  return j;
}

ModelPreset resolve_model(std::string_view name_or_path, std::string_view where) {
  if (const ModelPreset* p = preset_or_null(name_or_path)) return *p;
  const std::string path(name_or_path);
  std::error_code ec;
  if (path.ends_with(".json") || std::filesystem::exists(path, ec)) return read_model_spec(path);
  return find_preset(name_or_path, where);  // throws: no such preset
}

}  // namespace epbench
