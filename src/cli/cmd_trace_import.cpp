// `epbench trace import`: a trace from expert ids recorded elsewhere (.npy arrays or JSON lines).
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "common/error.h"
#include "model/model_spec.h"
#include "trace/import_jsonl.h"
#include "trace/import_megatron.h"
#include "trace/import_npy.h"
#include "trace/import_vllm.h"

namespace epbench::cli {

namespace {

struct ImportOptions {
  std::string model, npy, jsonl, layout, output, offsets, gate_weights, dataset;
  std::vector<std::string> vllm, megatron;
  uint64_t request_length = 0;
  uint32_t prompt_len = 0;
};

struct ImportFlags {
  CLI::Option *npy, *jsonl, *vllm, *megatron, *layout, *offsets, *length, *prompt, *gates;
};

// JSON lines and engines' recordings carry their own request structure (and weights, or
// none); refuse options that would silently be ignored. vLLM's files do not say where the
// prompt ends, so --prompt-len may say it.
void check_recording_options(const ImportFlags& f, const char* source, bool prompt_allowed) {
  for (const CLI::Option* opt : {f.layout, f.offsets, f.length, f.prompt, f.gates})
    if (opt->count() && !(opt == f.prompt && prompt_allowed))
      throw InputError(opt->get_name() + ": only with --npy (" + source + ")");
}

void check_npy_options(const ImportOptions& o, const ImportFlags& f) {
  if (!f.layout->count())
    throw InputError("--layout: expected tlk or tkl with --npy (the order of the ids' axes)");
  if (f.offsets->count() + f.length->count() != 1)
    throw InputError(
        "trace import: expected one of --request-offsets OFF.npy or --request-length N with "
        "--npy (where requests begin)");
  if (f.length->count() && o.request_length == 0)
    throw InputError("--request-length: expected at least 1, got 0");
}

TraceHeader run_import(const ImportOptions& o, const ImportFlags& f) {
  const ModelPreset model = resolve_model(o.model);
  if (f.jsonl->count()) return import_jsonl(model, {o.jsonl, o.dataset}, o.output);
  if (f.megatron->count()) return import_megatron(model, {o.megatron, o.dataset}, o.output);
  if (f.vllm->count()) {
    VllmImportOptions v{o.vllm, std::nullopt, o.dataset};
    if (f.prompt->count()) v.prompt_len = o.prompt_len;
    return import_vllm_routed(model, v, o.output);
  }
  NpyImportOptions n;
  n.ids_path = o.npy;
  n.layout = parse_npy_layout(o.layout);
  n.offsets_path = o.offsets;
  n.request_length = o.request_length;
  if (f.prompt->count()) n.prompt_len = o.prompt_len;
  n.gate_weights_path = o.gate_weights;
  n.dataset = o.dataset;
  return import_npy(model, n, o.output);
}

void check_options(const ImportOptions& o, const ImportFlags& f) {
  int sources = 0;  // count() is the number of values: a source may have several files
  for (const CLI::Option* opt : {f.npy, f.jsonl, f.vllm, f.megatron}) sources += opt->count() > 0;
  if (sources != 1)
    throw InputError(
        "trace import: expected one of --npy IDS.npy, --jsonl FILE, --vllm-routed FILE.npy... "
        "or --megatron router_trace_rank*.jsonl");
  if (f.jsonl->count())
    check_recording_options(f, "JSON lines give requests, phases and weights", false);
  else if (f.megatron->count())
    check_recording_options(f, "each forward pass of the router trace is a request", false);
  else if (f.vllm->count())
    check_recording_options(f, "each vLLM file is one request", true);
  else
    check_npy_options(o, f);
}

}  // namespace

void register_trace_import(CLI::App& trace) {
  auto o = std::make_shared<ImportOptions>();
  CLI::App* cmd = trace.add_subcommand(
      "import",
      "Make a trace from recorded expert ids (.npy, JSON lines, vLLM's routed experts, "
      "Megatron's router trace); docs/import.md, docs/engines.md");
  cmd->add_option("--model", o->model,
                  "Model the ids were recorded on: a preset or a model spec FILE.json")
      ->required();
  ImportFlags f{};
  f.npy = cmd->add_option("--npy", o->npy, "Expert ids, integer .npy, 3-D (see --layout)");
  f.jsonl = cmd->add_option("--jsonl", o->jsonl, "JSON lines, one record per token and layer");
  f.vllm = cmd->add_option("--vllm-routed", o->vllm,
                           "vLLM's routed experts, one .npy per request [tokens, layers, k] "
                           "(docs/engines.md)");
  f.megatron = cmd->add_option("--megatron", o->megatron,
                               "Megatron-core router traces router_trace_rank*.jsonl, one per "
                               "rank (docs/engines.md)");
  f.npy->excludes(f.jsonl);
  f.layout = cmd->add_option("--layout", o->layout,
                             "Axes of --npy: tlk [tokens, layers, k] or tkl [tokens, k, layers]");
  cmd->add_option("-o,--output", o->output, "Output trace (HDF5)")->required();
  f.offsets = cmd->add_option("--request-offsets", o->offsets,
                              "Integer .npy of R+1 offsets: request r owns [off[r], off[r+1])");
  f.length = cmd->add_option("--request-length", o->request_length,
                             "Cut the tokens into requests of N (the last may be shorter)");
  f.offsets->excludes(f.length);
  f.prompt = cmd->add_option("--prompt-len", o->prompt_len,
                             "First P tokens of each request are prefill, the rest decode "
                             "(default: all prefill)");
  f.gates = cmd->add_option("--gate-weights", o->gate_weights,
                            "Float .npy of gate weights shaped like --npy");
  cmd->add_option("--dataset", o->dataset, "Text the ids were recorded on (default: file name)");
  cmd->callback([o, f] {
    check_options(*o, f);
    const TraceHeader h = run_import(*o, f);
    std::printf("wrote %s: %llu tokens, %llu requests, %s (%d layers, %d experts, top-%d)\n",
                o->output.c_str(), static_cast<unsigned long long>(h.num_tokens),
                static_cast<unsigned long long>(h.num_requests), h.model.c_str(), h.num_layers,
                h.num_experts, h.top_k);
  });
}

}  // namespace epbench::cli
