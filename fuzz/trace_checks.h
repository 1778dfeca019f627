#pragma once
// What a trace the reader accepted must satisfy (both trace harnesses).
#include <algorithm>
#include <string>

#include "fuzz_util.h"
#include "trace/trace_io.h"

namespace epbench::fuzz {

// Tokens read per input: a file may declare a huge (unallocated, so tiny) dataset, and the
// reader streams; reading every token would only make the fuzzer slow, not find more.
inline constexpr uint64_t kMaxTokensRead = 4096;

inline void check_trace_header(const TraceReader& r) {
  const auto& h = r.header();
  const auto& q = r.requests();
  require(h.num_layers >= 1 && h.num_experts >= 1, "positive sizes");
  require(h.top_k >= 1 && h.top_k <= h.num_experts, "top_k in [1, num_experts]");
  require(q.token_offset.size() == h.num_requests + 1, "R+1 request offsets");
  require(q.prompt_len.size() == h.num_requests, "R prompt lengths");
  require(q.token_offset.front() == 0 && q.token_offset.back() == h.num_tokens,
          "offsets span the tokens");
  require(q.domain.empty() || q.domain.size() == h.num_requests, "R domains or none");
  for (uint16_t d : q.domain) require(d < h.domains.size(), "domain index in range");
}

inline void check_trace_block(const TraceHeader& h, const TokenBlock& b, uint64_t count) {
  require(b.size() == count, "block size");
  require(b.expert_ids.size() == count * h.ids_per_token(), "ids per token");
  for (uint16_t e : b.expert_ids) require(e < h.num_experts, "expert ids in range");
  for (uint8_t p : b.phase) require(p <= 1, "phase 0 or 1");
}

// Opens `path`; InputError escapes (the caller decides whether it is clean).
inline void read_and_check_trace(const std::string& path) {
  const TraceReader reader(path);
  check_trace_header(reader);
  const uint64_t count = std::min(reader.header().num_tokens, kMaxTokensRead);
  check_trace_block(reader.header(), reader.read(0, count), count);
}

}  // namespace epbench::fuzz
