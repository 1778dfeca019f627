#pragma once
// Model spec files: any MoE model as versioned JSON ("format": "epbench-model"), accepted
// wherever a preset name is (--model NAME or --model FILE.json). docs/formats.md.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "model/presets.h"

namespace epbench {

inline constexpr const char* kModelSpecFormat = "epbench-model";
inline constexpr int kModelSpecVersion = 1;

// The model a parsed spec describes; throws InputError "FILE: FIELD: expected ..., got ..."
// for the first bad, missing or unknown field.
ModelPreset model_from_spec(const nlohmann::json& j, const std::string& file);
// Reads and checks a spec file; unreadable or non-JSON files are InputErrors too.
ModelPreset read_model_spec(const std::string& path);
// The spec of `m`, which model_from_spec reads back as `m`.
nlohmann::ordered_json model_spec_json(const ModelPreset& m);
// The invariants every model keeps (ranges, top_k <= num_experts, ...), for presets and
// specs alike; `file` names the model's origin in the message.
void validate_model(const ModelPreset& m, const std::string& file);

// The one place a --model value becomes a model: a preset name first; else a value ending
// in .json or naming an existing file is read as a spec; else an unknown preset (InputError
// naming `where` and the presets).
ModelPreset resolve_model(std::string_view name_or_path, std::string_view where = "--model");

}  // namespace epbench
