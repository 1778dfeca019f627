// Fuzzes the model spec reader ("format": "epbench-model", src/model/model_spec.cpp). An
// accepted spec must pass validate_model again, and model_spec_json must write it so that
// model_from_spec reads back the same model (name and source included).
#include "model/model_spec.h"
#include "fuzz_util.h"

namespace {

using epbench::fuzz::require;

void parse(const std::string& path) {
  const epbench::ModelPreset m = epbench::read_model_spec(path);
  require(m.top_k >= 1 && m.top_k <= m.num_experts, "1 <= top_k <= num_experts");
  require(m.num_experts % m.expert_groups == 0, "expert_groups divides num_experts");
  epbench::fuzz::require_accepted("model spec re-validated", [&] {
    epbench::validate_model(m, path);
    // As a file would hold it: written as text, parsed again.
    const nlohmann::json j = nlohmann::json::parse(epbench::model_spec_json(m).dump());
    const epbench::ModelPreset again = epbench::model_from_spec(j, path);
    require(m.same_model(again) && m.name == again.name && m.source == again.source,
            "JSON round trip");
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = epbench::fuzz::write_input("model.json", data, size);
  epbench::fuzz::expect_parse_or_input_error([&] { parse(path); });
  return 0;
}
