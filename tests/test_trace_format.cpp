// The trace format: what is written is read back exactly, in one piece or streamed.
#include <gtest/gtest.h>

#include "io/h5.h"
#include "test_util.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

void expect_same(const Trace& a, const Trace& b) {
  EXPECT_EQ(a.header.model, b.header.model);
  EXPECT_EQ(a.header.num_layers, b.header.num_layers);
  EXPECT_EQ(a.header.num_experts, b.header.num_experts);
  EXPECT_EQ(a.header.top_k, b.header.top_k);
  EXPECT_EQ(a.header.d_model, b.header.d_model);
  EXPECT_EQ(a.header.d_ff, b.header.d_ff);
  EXPECT_EQ(a.header.source, b.header.source);
  EXPECT_EQ(a.header.dataset, b.header.dataset);
  EXPECT_EQ(a.header.domains, b.header.domains);
  EXPECT_EQ(a.header.has_gate_weights, b.header.has_gate_weights);
  EXPECT_EQ(a.header.num_tokens, b.header.num_tokens);
  EXPECT_EQ(a.header.num_requests, b.header.num_requests);
  EXPECT_EQ(a.requests.token_offset, b.requests.token_offset);
  EXPECT_EQ(a.requests.prompt_len, b.requests.prompt_len);
  EXPECT_EQ(a.requests.domain, b.requests.domain);
  EXPECT_EQ(a.tokens.expert_ids, b.tokens.expert_ids);
  EXPECT_EQ(a.tokens.gate_weights, b.tokens.gate_weights);
  EXPECT_EQ(a.tokens.phase, b.tokens.phase);
  EXPECT_EQ(a.tokens.position, b.tokens.position);
}

TEST(TraceFormat, RoundTripWithGateWeightsAndDomains) {
  test::ScratchDir dir;
  const Trace t = test::make_trace(4, 7, 3, 16, 4, true);
  write_trace(dir.path("t.h5"), t);
  expect_same(t, read_trace(dir.path("t.h5")));
}

TEST(TraceFormat, RoundTripWithoutOptionalData) {
  test::ScratchDir dir;
  Trace t = test::make_trace(2, 3, 1, 4, 1, false);
  t.header.domains.clear();
  t.requests.domain.clear();
  write_trace(dir.path("t.h5"), t);
  const Trace back = read_trace(dir.path("t.h5"));
  expect_same(t, back);
  EXPECT_FALSE(back.header.has_gate_weights);
  EXPECT_TRUE(back.header.domains.empty());
}

TEST(TraceFormat, StreamedBlocksCoverEveryTokenInOrder) {
  test::ScratchDir dir;
  const Trace t = test::make_trace(5, 11, 2, 8, 2, true);
  write_trace(dir.path("t.h5"), t);
  TraceReader reader(dir.path("t.h5"));
  std::vector<uint16_t> ids;
  uint64_t next = 0;
  reader.for_each_block(
      [&](const TokenBlock& b) {
        EXPECT_EQ(b.first_token, next);
        next += b.size();
        ids.insert(ids.end(), b.expert_ids.begin(), b.expert_ids.end());
      },
      4);
  EXPECT_EQ(next, t.header.num_tokens);
  EXPECT_EQ(ids, t.tokens.expert_ids);
}

TEST(TraceFormat, WriterAppendsBlocksAndRecordsChunkedCompressedDatasets) {
  test::ScratchDir dir;
  const Trace t = test::make_trace(3, 10, 2, 8, 2, false);
  {
    TraceWriter w(dir.path("t.h5"), t.header);
    for (uint64_t first = 0; first < t.header.num_tokens; first += 7) {
      const uint64_t n = std::min<uint64_t>(7, t.header.num_tokens - first);
      TokenBlock b;
      b.first_token = first;
      b.num_layers = 2;
      b.top_k = 2;
      b.resize(n, false);
      std::copy_n(t.tokens.expert_ids.begin() + first * 4, n * 4, b.expert_ids.begin());
      std::copy_n(t.tokens.phase.begin() + first, n, b.phase.begin());
      std::copy_n(t.tokens.position.begin() + first, n, b.position.begin());
      w.append(b);
    }
    EXPECT_FALSE(test::file_exists(dir.path("t.h5"))) << "visible before finish()";
    w.finish(t.requests);
  }
  expect_same(t, read_trace(dir.path("t.h5")));
  h5::File f = h5::open_file(dir.path("t.h5"));
  h5::Dataset ds = h5::open_dataset(f.id(), "tokens/expert_ids");
  h5::Handle dcpl(H5Dget_create_plist(ds.id()), H5Pclose);
  EXPECT_EQ(H5Pget_layout(dcpl.id()), H5D_CHUNKED);
  EXPECT_GE(H5Pget_nfilters(dcpl.id()), 1) << "expected compression filters";
}

TEST(TraceFormat, UnfinishedWriterLeavesNoFile) {
  test::ScratchDir dir;
  const Trace t = test::make_trace();
  {
    TraceWriter w(dir.path("t.h5"), t.header);
    w.append(t.tokens);
  }  // destroyed without finish(), as when an error unwinds
  EXPECT_FALSE(test::file_exists(dir.path("t.h5")));
  EXPECT_TRUE(test::files_matching(dir.path(""), ".tmp.").empty());
}

TEST(TraceFormat, RootAttributesFollowTheDesign) {
  test::ScratchDir dir;
  write_trace(dir.path("t.h5"), test::make_trace());
  h5::File f = h5::open_file(dir.path("t.h5"));
  EXPECT_EQ(h5::read_attr_string(f.id(), "format").value(), "epbench-trace");
  EXPECT_EQ(h5::read_attr_int(f.id(), "version").value(), kTraceVersion);
  EXPECT_EQ(h5::read_attr_int(f.id(), "num_layers").value(), 2);
  EXPECT_EQ(h5::read_attr_int(f.id(), "top_k").value(), 2);
  for (const char* ds :
       {"tokens/expert_ids", "tokens/gate_weights", "tokens/phase", "tokens/position",
        "requests/token_offset", "requests/prompt_len", "requests/domain"})
    EXPECT_TRUE(h5::exists(f.id(), ds)) << ds;
}

}  // namespace
}  // namespace epbench
