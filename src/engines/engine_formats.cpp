// The table of engine formats (one file each) and the reading helpers they share.
#include <array>

#include "common/error.h"
#include "common/text_file.h"
#include "engines/engine_format.h"

namespace epbench {

std::vector<EngineFile> export_sglang(const ExportInput&);
SlotMap import_sglang(const std::string&, const ModelPreset&, int);
std::vector<EngineFile> export_vllm(const ExportInput&);
SlotMap import_vllm(const std::string&, const ModelPreset&, int);
std::vector<EngineFile> export_trtllm(const ExportInput&);
SlotMap import_trtllm(const std::string&, const ModelPreset&, int);
std::vector<EngineFile> export_vllm_ascend(const ExportInput&);
SlotMap import_vllm_ascend(const std::string&, const ModelPreset&, int);
std::vector<EngineFile> export_eplb(const ExportInput&);
SlotMap import_eplb(const std::string&, const ModelPreset&, int);

namespace {

const std::array<EngineFormat, 5> kFormats = {{
    {"sglang", "SGLang --init-expert-location JSON (physical_to_logical_map, every hidden layer)",
     export_sglang, import_sglang},
    {"vllm", "vLLM offline EPLB physical_to_logical_map JSON (experimental: no format merged)",
     export_vllm, import_vllm},
    {"trtllm", "TensorRT-LLM MoE load-balancer YAML (initial_global_assignments, num_slots)",
     export_trtllm, import_trtllm},
    {"vllm-ascend", "vLLM-Ascend expert_map_path JSON (layer_list, device_list, device_expert)",
     export_vllm_ascend, import_vllm_ascend},
    {"eplb", "DeepSeek EPLB tensors phy2log, log2phy, logcnt (JSON and .npy)", export_eplb,
     import_eplb},
}};

}  // namespace

std::span<const EngineFormat> engine_formats() {
  return kFormats;
}

const EngineFormat& find_engine_format(const std::string& name) {
  std::string known;
  for (const auto& f : kFormats) {
    if (name == f.name) return f;
    known += (known.empty() ? "" : ", ") + std::string(f.name);
  }
  throw OptionError("format", "unknown engine format '" + name + "', expected one of: " + known);
}

int require_ranks(int ranks, const std::string& file) {
  if (ranks < 1)
    throw InputError(file +
                     ": the file does not say how many ranks it is for: give "
                     "--gpus-per-node (and --nodes)");
  return ranks;
}

nlohmann::json read_json(const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(read_text_file(path, "the file"), nullptr, false);
  if (j.is_discarded()) throw InputError(path + ": not valid JSON");
  if (!j.is_object()) throw_field_error(path, "(top level)", "a JSON object", j.type_name());
  return j;
}

std::vector<std::vector<int32_t>> int_rows(const nlohmann::json& j, const std::string& file,
                                           const std::string& field) {
  if (!j.is_array()) throw_field_error(file, field, "an array of rows", j.type_name());
  std::vector<std::vector<int32_t>> rows;
  for (size_t r = 0; r < j.size(); ++r) {
    const std::string where = field + "[" + std::to_string(r) + "]";
    if (!j[r].is_array()) throw_field_error(file, where, "an array of integers", j[r].type_name());
    std::vector<int32_t> row;
    for (const auto& v : j[r]) {
      if (!v.is_number_integer() || v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX)
        throw_field_error(file, where, "integers", v.dump());
      row.push_back(v.get<int32_t>());
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

void refuse_other_keys(const nlohmann::json& j, std::initializer_list<const char*> allowed,
                       const std::string& file, const std::string& where) {
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (known) continue;
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    throw_field_error(file, where + key, "only the keys " + list + " (the engine refuses others)",
                      "'" + key + "'");
  }
}

}  // namespace epbench
