// Fuzzes the readers of engines' placement files (src/engines/): the first byte picks the
// format, the rest is the file. An accepted map must be a valid layout of the model and must
// come back unchanged through its own format's export.
#include <fstream>

#include "engines/engine_format.h"
#include "fuzz_util.h"
#include "model/presets.h"

namespace {

using epbench::fuzz::require;

// DeepSeek-like, small: 2 dense layers, 3 MoE layers of 8 experts, on 4 ranks.
epbench::ModelPreset model() {
  epbench::ModelPreset m = epbench::find_preset("brown-moe-8e-top2");
  m.name = "fuzz-moe";
  m.num_layers = 3;
  m.dense_layers = 2;
  return m;
}

void parse(const epbench::EngineFormat& format, const std::string& path) {
  const epbench::ModelPreset m = model();
  const epbench::SlotMap map = format.import_map(path, m, 4);
  require(map.layers() == m.num_layers && map.ranks == 4, "one row per MoE layer, 4 ranks");
  epbench::fuzz::require_accepted("map re-exported", [&] {
    const epbench::Layout lay =
        epbench::layout_of(map, {m.name, m.num_experts, 1, 4}, format.name, path);
    const std::string out = epbench::fuzz::scratch_path("again");
    for (const auto& f : format.export_map({lay, path, m, out}))
      std::ofstream(f.path, std::ios::binary) << f.content;
    require(format.import_map(out, m, 4).phy2log == map.phy2log, "export round trip");
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto formats = epbench::engine_formats();
  const epbench::EngineFormat& format = formats[data[0] % formats.size()];
  const std::string path = epbench::fuzz::write_input("map.json", data + 1, size - 1);
  epbench::fuzz::expect_parse_or_input_error([&] { parse(format, path); });
  return 0;
}
