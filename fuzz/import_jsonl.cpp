// Fuzzes the JSON-lines importer for a small model (brown-moe-8e-top2: 4 layers, 8 experts,
// top-2); an accepted file's trace is read back through the trace reader's validation.
#include "trace/import_jsonl.h"
#include "fuzz_util.h"
#include "model/presets.h"
#include "trace/trace_io.h"

namespace {

using epbench::fuzz::require;

void import(const std::string& path) {
  const auto& model = epbench::find_preset("brown-moe-8e-top2");
  const std::string out = epbench::fuzz::scratch_path("out.h5");
  const epbench::TraceHeader h = epbench::import_jsonl(model, {path, ""}, out);
  epbench::fuzz::require_accepted("trace written by the importer", [&] {
    const epbench::Trace t = epbench::read_trace(out);
    require(t.header.num_tokens == h.num_tokens && h.num_tokens > 0, "tokens written = read");
    require(t.header.num_requests == h.num_requests, "requests written = read");
    require(t.header.domains == h.domains, "domains written = read");
    require(t.header.has_gate_weights == h.has_gate_weights, "gate weights written = read");
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = epbench::fuzz::write_input("records.jsonl", data, size);
  epbench::fuzz::expect_parse_or_input_error([&] { import(path); });
  epbench::fuzz::require_hdf5_closed();
  return 0;
}
