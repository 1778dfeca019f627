#pragma once
// Cutting a trace into parts (fit / held-out): by token range or by request range.
#include <cstdint>
#include <string>

namespace epbench {

class TraceReader;

enum class SplitUnit { kTokens, kRequests };

struct SplitRange {
  SplitUnit unit = SplitUnit::kTokens;
  uint64_t begin = 0, end = 0;  // [begin, end)
};

// Writes tokens of `range` to `out_path`. A token range that cuts a request keeps the part
// of it inside the range (its prompt length clipped accordingly); positions keep their
// original values. Returns the token range written.
std::pair<uint64_t, uint64_t> split_trace(const TraceReader& in, const SplitRange& range,
                                          const std::string& out_path);

}  // namespace epbench
