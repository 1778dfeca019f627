#include "scenario/request_spans.h"

#include <algorithm>

#include "common/error.h"
#include "common/numeric.h"

namespace epbench {

void check_token_range(const TraceHeader& h, uint64_t begin, uint64_t end) {
  if (begin >= end || end > h.num_tokens)
    throw OptionError("range", "expected a non-empty token range within the trace's " +
                                   std::to_string(h.num_tokens) + " tokens");
}

std::vector<RequestSpan> request_spans(const TraceRequests& req, uint64_t a, uint64_t b) {
  const auto& off = req.token_offset;
  std::vector<RequestSpan> out;
  size_t r = static_cast<size_t>(std::upper_bound(off.begin(), off.end(), a) - off.begin());
  for (r = r > 0 ? r - 1 : 0; r < req.size() && off[r] < b; ++r) {
    const uint64_t first = std::max(off[r], a), end = std::min(off[r + 1], b);
    if (first >= end) continue;
    const uint64_t prompt_end = std::clamp<uint64_t>(off[r] + req.prompt_len[r], first, end);
    out.push_back({first - a, prompt_end - a, end - a, dbl(end - off[r])});
  }
  return out;
}

}  // namespace epbench
