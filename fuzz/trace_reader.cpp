// Fuzzes the HDF5 trace reader: the input is written as a file and opened with TraceReader
// (the reader takes a path and opens it through h5::open_file, so no in-memory image).
#include <algorithm>

#include "fuzz_util.h"
#include "trace/trace_io.h"

namespace {

using epbench::fuzz::require;

// Tokens read per input: a file may declare a huge (unallocated, so tiny) dataset, and the
// reader streams; reading every token would only make the fuzzer slow, not find more.
constexpr uint64_t kMaxTokensRead = 4096;

void check_header(const epbench::TraceReader& r) {
  const auto& h = r.header();
  const auto& q = r.requests();
  require(h.num_layers >= 1 && h.num_experts >= 1, "positive sizes");
  require(h.top_k >= 1 && h.top_k <= h.num_experts, "top_k in [1, num_experts]");
  require(q.token_offset.size() == h.num_requests + 1, "R+1 request offsets");
  require(q.prompt_len.size() == h.num_requests, "R prompt lengths");
  require(q.token_offset.front() == 0 && q.token_offset.back() == h.num_tokens,
          "offsets span the tokens");
  require(q.domain.empty() || q.domain.size() == h.num_requests, "R domains or none");
}

void check_block(const epbench::TraceHeader& h, const epbench::TokenBlock& b, uint64_t count) {
  require(b.size() == count, "block size");
  require(b.expert_ids.size() == count * h.ids_per_token(), "ids per token");
  for (uint16_t e : b.expert_ids) require(e < h.num_experts, "expert ids in range");
  for (uint8_t p : b.phase) require(p <= 1, "phase 0 or 1");
}

void parse(const std::string& path) {
  const epbench::TraceReader reader(path);
  check_header(reader);
  const uint64_t count = std::min(reader.header().num_tokens, kMaxTokensRead);
  check_block(reader.header(), reader.read(0, count), count);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = epbench::fuzz::write_input("trace.h5", data, size);
  epbench::fuzz::expect_parse_or_input_error([&] { parse(path); });
  epbench::fuzz::require_hdf5_closed();
  return 0;
}
