// `epbench trace stats`: routing statistics of a trace (load balance, phases, domains,
// co-activation pairs, cross-layer transitions) as a table, JSON, or an HDF5 file.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "common/error.h"
#include "trace/stats.h"
#include "trace/stats_report.h"
#include "trace/trace_io.h"

namespace epbench::cli {

namespace {

struct StatsCliOptions {
  std::string input, output, layers;
  bool json = false, no_pairs = false;
  int top_pairs = 5;
};

int parse_layer(std::string_view s, const std::string& list, int num_layers) {
  int v = -1;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || v < 0 || v >= num_layers)
    throw InputError("--layers: expected layers in [0, " + std::to_string(num_layers) +
                     ") as N or A:B separated by commas, got '" + list + "'");
  return v;
}

// "3", "0:4" (half-open, as --tokens elsewhere), "0:4,7": sorted, without repeats.
std::vector<int> parse_layers(const std::string& list, int num_layers) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = std::min(list.find(',', pos), list.size());
    const std::string item = list.substr(pos, comma - pos);
    if (item.find(':') != std::string::npos) {
      const auto [a, b] = parse_range(item, "--layers");
      if (b > static_cast<uint64_t>(num_layers)) parse_layer("", list, num_layers);
      for (uint64_t l = a; l < b; ++l) out.push_back(static_cast<int>(l));
    } else {
      out.push_back(parse_layer(item, list, num_layers));
    }
    pos = comma + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void run_stats(const StatsCliOptions& o) {
  if (o.top_pairs < 0) throw InputError("--top-pairs: expected a non-negative integer");
  TraceReader reader(o.input);
  StatsReportOptions ropt;
  if (!o.layers.empty()) ropt.layers = parse_layers(o.layers, reader.header().num_layers);
  ropt.top_pairs = o.top_pairs;
  StatsOptions sopt;
  sopt.pairs = !o.no_pairs;
  const TraceStats s = compute_stats(reader, sopt);
  // The file first: if writing fails, nothing has been printed as if all went well.
  if (!o.output.empty()) write_stats_h5(o.output, s, reader.header(), o.input);
  const StatsReport r = make_report(s, ropt);
  const std::string text = o.json ? format_stats_json(s, reader.header(), o.input, r)
                                  : format_stats_table(s, reader.header(), o.input, r);
  std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace

void register_trace_stats(CLI::App& trace) {
  auto o = std::make_shared<StatsCliOptions>();
  CLI::App* cmd = trace.add_subcommand(
      "stats", "Routing statistics: expert load, phases, domains, co-activation, transitions");
  cmd->add_option("trace", o->input, "Input trace (HDF5)")->required();
  cmd->add_flag("--json", o->json, "Print a JSON document instead of the table");
  cmd->add_option("-o,--output", o->output,
                  "Write every matrix and summary to this HDF5 file (docs/stats.md)");
  cmd->add_option("--top-pairs", o->top_pairs, "Co-activated pairs shown per layer")
      ->capture_default_str();
  cmd->add_option("--layers", o->layers,
                  "Layers to show, e.g. 0,5,10:20 (A:B is [A, B)); the file has all layers");
  cmd->add_flag("--no-pairs", o->no_pairs, "Skip co-activation pair counting (faster)");
  cmd->callback([o] { run_stats(*o); });
}

}  // namespace epbench::cli
