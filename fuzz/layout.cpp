// Fuzzes the layout JSON reader. An accepted layout must survive its own validation again
// and a round trip through layout_to_json / layout_from_json unchanged.
#include "placement/layout.h"
#include "fuzz_util.h"

namespace {

using epbench::fuzz::require;

bool same(const epbench::Layout& a, const epbench::Layout& b) {
  if (a.layers.size() != b.layers.size()) return false;
  for (size_t l = 0; l < a.layers.size(); ++l)
    if (a.layers[l].gpu_experts != b.layers[l].gpu_experts) return false;
  return a.model == b.model && a.num_layers == b.num_layers && a.num_experts == b.num_experts &&
         a.nodes == b.nodes && a.gpus_per_node == b.gpus_per_node &&
         a.slots_per_gpu == b.slots_per_gpu && a.algorithm == b.algorithm && a.params == b.params &&
         a.fit_trace == b.fit_trace && a.fit_begin == b.fit_begin && a.fit_end == b.fit_end;
}

void parse(const std::string& path) {
  const epbench::Layout lay = epbench::read_layout(path);
  require(static_cast<int>(lay.layers.size()) == lay.num_layers, "one entry per layer");
  epbench::fuzz::require_accepted("layout re-validated", [&] {
    epbench::validate_layout(lay, path);
    const epbench::Layout again = epbench::layout_from_json(epbench::layout_to_json(lay), path);
    require(same(lay, again), "JSON round trip");
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = epbench::fuzz::write_input("layout.json", data, size);
  epbench::fuzz::expect_parse_or_input_error([&] { parse(path); });
  return 0;
}
