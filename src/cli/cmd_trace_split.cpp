// `epbench trace split`: a token or request range of a trace into a new trace file.
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "common/error.h"
#include "trace/split.h"
#include "trace/trace_io.h"

namespace epbench::cli {

namespace {

struct SplitOptions {
  std::string input, output, tokens, requests;
};

void run_split(const SplitOptions& o) {
  TraceReader in(o.input);
  SplitRange range;
  const bool by_requests = !o.requests.empty();
  range.unit = by_requests ? SplitUnit::kRequests : SplitUnit::kTokens;
  std::tie(range.begin, range.end) =
      by_requests ? parse_range(o.requests, "--requests") : parse_range(o.tokens, "--tokens");
  const auto [a, b] = split_trace(in, range, o.output);
  std::printf("wrote %s: tokens [%llu, %llu) of %s\n", o.output.c_str(),
              static_cast<unsigned long long>(a), static_cast<unsigned long long>(b),
              o.input.c_str());
}

}  // namespace

void register_trace_split(CLI::App& trace) {
  auto o = std::make_shared<SplitOptions>();
  CLI::App* cmd = trace.add_subcommand(
      "split", "Write a token range or request range of a trace to a new file (fit/held-out)");
  cmd->add_option("trace", o->input, "Input trace (HDF5)")->required();
  cmd->add_option("-o,--output", o->output, "Output trace (HDF5)")->required();
  auto* tok = cmd->add_option("--tokens", o->tokens, "Token range A:B ([A, B), requests clipped)");
  auto* req = cmd->add_option("--requests", o->requests, "Request range A:B ([A, B))");
  tok->excludes(req);
  req->excludes(tok);
  cmd->callback([o, tok, req] {
    if (tok->count() + req->count() == 0)
      throw InputError("trace split: expected one of --tokens A:B or --requests A:B");
    run_split(*o);
  });
}

}  // namespace epbench::cli
