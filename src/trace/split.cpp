#include "trace/split.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "trace/trace_io.h"

namespace epbench {

namespace {

std::pair<uint64_t, uint64_t> token_range(const TraceReader& in, const SplitRange& range) {
  const auto& off = in.requests().token_offset;
  const bool by_req = range.unit == SplitUnit::kRequests;
  const uint64_t limit = by_req ? in.header().num_requests : in.header().num_tokens;
  if (range.begin >= range.end || range.end > limit)
    throw OptionError(by_req ? "requests" : "tokens",
                      "expected a range within [0, " + std::to_string(limit) + "] of " + in.path() +
                          ", got " + std::to_string(range.begin) + ":" + std::to_string(range.end));
  if (by_req) return {off[range.begin], off[range.end]};
  return {range.begin, range.end};
}

// The requests overlapping [a, b), clipped to it and rebased to start at 0.
TraceRequests clip_requests(const TraceRequests& r, uint64_t a, uint64_t b) {
  TraceRequests out;
  out.token_offset.push_back(0);
  for (size_t i = 0; i < r.size(); ++i) {
    const uint64_t lo = std::max(r.token_offset[i], a), hi = std::min(r.token_offset[i + 1], b);
    if (lo >= hi) continue;
    const uint64_t prompt_end = std::min(r.token_offset[i] + r.prompt_len[i], hi);
    out.prompt_len.push_back(static_cast<uint32_t>(prompt_end > lo ? prompt_end - lo : 0));
    out.token_offset.push_back(hi - a);
    if (!r.domain.empty()) out.domain.push_back(r.domain[i]);
  }
  return out;
}

}  // namespace

std::pair<uint64_t, uint64_t> split_trace(const TraceReader& in, const SplitRange& range,
                                          const std::string& out_path) {
  const auto [a, b] = token_range(in, range);
  TraceHeader h = in.header();
  nlohmann::json params = {{"split_of", in.path()}, {"tokens", {a, b}}};
  if (!h.params.empty()) params["parent_params"] = nlohmann::json::parse(h.params, nullptr, false);
  h.params = params.dump();
  TraceWriter writer(out_path, h);
  const uint64_t step = in.chunk_tokens();
  for (uint64_t first = a; first < b; first += step) {
    TokenBlock block = in.read(first, std::min(step, b - first));
    block.first_token = first - a;
    writer.append(block);
  }
  writer.finish(clip_requests(in.requests(), a, b));
  return {a, b};
}

}  // namespace epbench
