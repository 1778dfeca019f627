// Fuzzes the .npy reader and importer: the input is the expert-id array of a small model
// (brown-moe-8e-top2: 4 layers, 8 experts, top-2). The header alone goes through
// NpyReader; a file it accepts is imported, and the trace written is read back.
#include "trace/import_npy.h"
#include "fuzz_util.h"
#include "model/presets.h"
#include "trace/trace_io.h"

namespace {

using epbench::fuzz::require;

// Elements decoded by the generic read: enough to reach every dtype branch.
constexpr uint64_t kMaxElements = 1 << 16;

void read_elements(const std::string& path) {
  epbench::NpyReader r(path);
  const uint64_t n = std::min(r.header().num_elements(), kMaxElements);
  if (r.header().kind == 'f') {
    r.require_float("values");
    std::vector<float> v;
    r.read_floats(n, v);
    require(v.size() == n, "floats read");
  } else {
    r.require_integer("values");
    std::vector<int64_t> v;
    r.read_ints(n, v);
    require(v.size() == n, "ints read");
  }
}

void import(const std::string& path) {
  const auto& model = epbench::find_preset("brown-moe-8e-top2");
  epbench::NpyImportOptions o;
  o.ids_path = path;
  o.request_length = 3;
  o.prompt_len = 2;
  const std::string out = epbench::fuzz::scratch_path("out.h5");
  const epbench::TraceHeader h = epbench::import_npy(model, o, out);
  // What the importer wrote must pass the trace reader's own validation.
  epbench::fuzz::require_accepted("trace written by the importer", [&] {
    const epbench::Trace t = epbench::read_trace(out);
    require(t.header.num_tokens == h.num_tokens, "tokens written = tokens read");
    require(t.header.num_requests == (h.num_tokens + 2) / 3, "requests of 3 tokens");
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = epbench::fuzz::write_input("ids.npy", data, size);
  epbench::fuzz::expect_parse_or_input_error([&] { read_elements(path); });
  epbench::fuzz::expect_parse_or_input_error([&] { import(path); });
  epbench::fuzz::require_hdf5_closed();
  return 0;
}
