// `epbench trace synth`: a synthetic expert-activation trace for a model preset (docs/synth.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <set>

#include "cli/cli_common.h"
#include "common/error.h"
#include "common/progress.h"
#include "trace/calibration.h"
#include "trace/synth.h"
#include "trace/trace_io.h"

namespace epbench::cli {

namespace {

struct SynthCliOptions {
  SynthOptions synth;
  std::string output, prompt_len = "64:512", decode_len = "16:256";
  bool no_gate_weights = false;
};

uint32_t parse_u32(std::string_view s, const std::string& option, const std::string& text) {
  const std::string expected = "MIN:MAX (or N) with integers MIN <= MAX";
  const uint64_t v = parse_uint(s, option, expected, text);
  if (v > UINT32_MAX)
    throw InputError(option + ": expected " + expected + " < 2^32, got '" + text + "'");
  return static_cast<uint32_t>(v);
}

// "MIN:MAX", or "N" for a fixed length; the range itself is checked by validate().
std::pair<uint32_t, uint32_t> parse_length(const std::string& text, const std::string& option) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos) {
    const uint32_t n = parse_u32(text, option, text);
    return {n, n};
  }
  return {parse_u32(std::string_view(text).substr(0, colon), option, text),
          parse_u32(std::string_view(text).substr(colon + 1), option, text)};
}

// The layers shown in the summary: first, quartiles, last.
std::set<int> summary_layers(int num_layers) {
  std::set<int> out;
  for (int q = 0; q <= 4; ++q) out.insert((num_layers - 1) * q / 4);
  return out;
}

void print_summary(const std::string& path, const SynthGenerator& gen,
                   const std::vector<uint64_t>& load) {
  const TraceHeader& h = gen.header();
  std::printf("wrote %s: %llu tokens, %llu requests, %s (%d layers, %d experts, top-%d)\n",
              path.c_str(), static_cast<unsigned long long>(h.num_tokens),
              static_cast<unsigned long long>(h.num_requests), h.model.c_str(), h.num_layers,
              h.num_experts, h.top_k);
  std::printf("calibration: %s; %zu domain(s)\n", h.dataset.c_str(),
              std::max<size_t>(1, h.domains.size()));
  std::printf("%6s  %16s  %16s\n", "layer", "target max/mean", "achieved max/mean");
  int worst = 0;
  double worst_rel = -1;
  for (int l = 0; l < h.num_layers; ++l) {
    std::vector<double> counts(load.begin() + l * h.num_experts,
                               load.begin() + (l + 1) * h.num_experts);
    const double got = max_over_mean(counts), want = gen.target_max_over_mean(l);
    const double rel = std::abs(got / want - 1);
    if (rel > worst_rel) worst = l, worst_rel = rel;
    if (summary_layers(h.num_layers).count(l)) std::printf("%6d  %16.3f  %16.3f\n", l, want, got);
  }
  std::printf("largest deviation: layer %d, %.1f%% from target\n", worst, 100 * worst_rel);
}

void run_synth(SynthCliOptions& o) {
  std::tie(o.synth.prompt_min, o.synth.prompt_max) = parse_length(o.prompt_len, "--prompt-len");
  std::tie(o.synth.decode_min, o.synth.decode_max) = parse_length(o.decode_len, "--decode-len");
  o.synth.gate_weights = !o.no_gate_weights;
  SynthGenerator gen(o.synth);
  for (const auto& w : gen.warnings()) std::fprintf(stderr, "epbench: %s\n", w.c_str());
  const TraceHeader& h = gen.header();
  TraceWriter writer(o.output, h);
  std::vector<uint64_t> load(h.ids_per_token() / h.top_k * h.num_experts, 0);
  Progress progress("trace synth", h.num_tokens);
  TokenBlock block;
  while (gen.next_block(block, default_chunk_tokens(h.num_layers, h.top_k))) {
    for (size_t t = 0; t < block.size(); ++t)
      for (int l = 0; l < h.num_layers; ++l)
        for (int j = 0; j < h.top_k; ++j)
          ++load[size_t(l) * h.num_experts + block.experts(t, l)[j]];
    writer.append(block);
    progress.update(gen.tokens_done());
  }
  writer.finish(gen.requests());
  print_summary(o.output, gen, load);
}

void add_options(CLI::App* cmd, SynthCliOptions& o) {
  SynthOptions& s = o.synth;
  cmd->add_option("--model", s.model, "Model preset (see `epbench models`) or model spec FILE.json")
      ->required();
  cmd->add_option("-o,--output", o.output, "Output trace (HDF5)")->required();
  auto* req = cmd->add_option("--requests", s.requests, "Number of requests (or --tokens)");
  auto* tok = cmd->add_option("--tokens", s.tokens,
                              "Number of tokens; the last request is cut to fit (or --requests)");
  req->excludes(tok);
  tok->excludes(req);
  cmd->add_option("--prompt-len", o.prompt_len,
                  "Prompt (prefill, phase 0) length per request, MIN:MAX uniform, or N")
      ->capture_default_str();
  cmd->add_option("--decode-len", o.decode_len,
                  "Generated (decode, phase 1) tokens per request, MIN:MAX uniform, or N")
      ->capture_default_str();
  cmd->add_option("--seed", s.seed, "Random seed: same options and seed, same file")
      ->capture_default_str();
  cmd->add_option("--calibrate", s.calibrate,
                  "Per-layer popularity skew from real router counts: mixtral[:DOMAIN,...], "
                  "olmoe[:DOMAIN,...], a counts .json path (comma-separated for several), or "
                  "uniform/none. One trace domain per real domain. Default: mixtral for "
                  "8-expert models, olmoe otherwise");
  cmd->add_option("--domains", s.domains,
                  "Synthetic domains (log-normal perturbations of one profile; needs a "
                  "single-domain or uniform --calibrate)")
      ->capture_default_str();
  cmd->add_option("--domain-strength", s.domain_strength,
                  "Sigma of the synthetic domains' log-normal perturbation")
      ->capture_default_str();
  cmd->add_option("--coact-groups", s.coact_groups,
                  "Planted co-activation groups per layer (disjoint, random); -1: E/k groups of "
                  "k, 0: none")
      ->capture_default_str();
  cmd->add_option("--coact-strength", s.coact_strength,
                  "Choosing an expert multiplies its group-mates' weight by 1+S for the rest of "
                  "that token's top-k in that layer")
      ->capture_default_str();
  cmd->add_option("--layer-affinity", s.layer_affinity,
                  "An expert chosen in layer l multiplies its fixed random successor's weight in "
                  "layer l+1 by 1+A")
      ->capture_default_str();
  cmd->add_flag("--no-gate-weights", o.no_gate_weights, "Do not store gate weights");
  cmd->add_option("--calib-tokens", s.calib_tokens,
                  "Tokens simulated per calibration iteration (split over domains, >= 2048 each)")
      ->capture_default_str();
  cmd->add_option("--calib-iters", s.calib_iters, "Most calibration iterations (0: none)")
      ->capture_default_str();
}

}  // namespace

void register_trace_synth(CLI::App& trace) {
  auto o = std::make_shared<SynthCliOptions>();
  CLI::App* cmd = trace.add_subcommand(
      "synth", "Generate a synthetic expert-activation trace calibrated to real routing counts");
  add_options(cmd, *o);
  cmd->callback([o] { run_synth(*o); });
}

}  // namespace epbench::cli
