// `epbench trace info`: the header of a trace, after validating every token in it.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "common/progress.h"
#include "model/model_spec.h"
#include "trace/trace_io.h"

namespace epbench::cli {

namespace {

struct InfoOptions {
  std::string input;
  bool json = false;
  bool no_scan = false;
  std::string model;  // when set, refuse a trace made for another model
};

// Streams every token through validation; returns the number of decode tokens.
uint64_t scan_tokens(const TraceReader& in) {
  Progress progress("validating " + in.path(), in.header().num_tokens);
  uint64_t decode = 0;
  in.for_each_block([&](const TokenBlock& b) {
    for (uint8_t p : b.phase) decode += p;
    progress.update(b.first_token + b.size());
  });
  return decode;
}

nlohmann::json info_json(const TraceReader& in, bool scanned, uint64_t decode) {
  const TraceHeader& h = in.header();
  nlohmann::json j = {{"file", in.path()},
                      {"format", kTraceFormat},
                      {"version", h.version},
                      {"model", h.model},
                      {"num_layers", h.num_layers},
                      {"num_experts", h.num_experts},
                      {"top_k", h.top_k},
                      {"d_model", h.d_model},
                      {"d_ff", h.d_ff},
                      {"source", h.source},
                      {"dataset", h.dataset},
                      {"tokens", h.num_tokens},
                      {"requests", h.num_requests},
                      {"gate_weights", h.has_gate_weights},
                      {"domains", h.domains},
                      {"validated_tokens", scanned}};
  if (scanned) j["decode_tokens"] = decode;
  return j;
}

void print_table(const nlohmann::json& j) {
  for (const char* key :
       {"file", "model", "num_layers", "num_experts", "top_k", "d_model", "d_ff", "source",
        "dataset", "tokens", "requests", "decode_tokens", "gate_weights", "domains"}) {
    if (!j.contains(key)) continue;
    const auto& v = j[key];
    std::printf("%-15s %s\n", key, v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
  }
  std::printf("%-15s %s\n", "valid",
              j["validated_tokens"].get<bool>() ? "yes (every token checked)"
                                                : "header and requests only (--no-scan)");
}

void run_info(const InfoOptions& o) {
  TraceReader in(o.input);
  if (!o.model.empty()) {
    const TraceHeader& h = in.header();
    require_same_model(resolve_model(o.model), h.model, h.num_layers, h.num_experts, h.top_k,
                       o.input);
  }
  const uint64_t decode = o.no_scan ? 0 : scan_tokens(in);
  const nlohmann::json j = info_json(in, !o.no_scan, decode);
  if (o.json)
    std::printf("%s\n", j.dump(2).c_str());
  else
    print_table(j);
}

}  // namespace

void register_trace_info(CLI::App& trace) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* cmd = trace.add_subcommand("info", "Print a trace's header after validating it");
  cmd->add_option("trace", o->input, "Trace file (HDF5)")->required();
  cmd->add_flag("--json", o->json, "Print JSON instead of a table");
  cmd->add_flag("--no-scan", o->no_scan, "Check header and requests only, not every token");
  cmd->add_option("--model", o->model,
                  "Fail unless the trace is for this model (preset or spec FILE.json)");
  cmd->callback([o] { run_info(*o); });
}

}  // namespace epbench::cli
