#pragma once
// The requests of a token range: what both `evaluate` and `run` replay.
#include <cstdint>
#include <vector>

#include "routing/batching.h"
#include "trace/trace.h"

namespace epbench {

// The requests' tokens within [a, b), as indices relative to a; the KV a request holds is its
// context at its last token in the range.
std::vector<RequestSpan> request_spans(const TraceRequests& req, uint64_t a, uint64_t b);

}  // namespace epbench
