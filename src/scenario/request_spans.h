#pragma once
// The requests of a token range: what both `evaluate` and `run` replay.
#include <cstdint>
#include <vector>

#include "routing/batching.h"
#include "trace/trace.h"

namespace epbench {

// The requests' tokens within [a, b), as indices relative to a; the KV a request holds is its
// context at its last token in the range.
// OptionError of field "range" unless [begin, end) is a non-empty range of the trace's tokens.
void check_token_range(const TraceHeader& h, uint64_t begin, uint64_t end);

std::vector<RequestSpan> request_spans(const TraceRequests& req, uint64_t a, uint64_t b);

}  // namespace epbench
