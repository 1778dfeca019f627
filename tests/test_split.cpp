// trace split: by requests keeps whole requests; by tokens clips the requests it cuts.
#include <gtest/gtest.h>

#include "test_util.h"
#include "trace/split.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

// make_trace(3, 5): offsets 0,5,10,15; prompt 2 tokens each; domains 0,1,0.
class SplitTest : public ::testing::Test {
 protected:
  void SetUp() override { write_trace(dir_.path("t.h5"), test::make_trace(3, 5)); }
  test::ScratchDir dir_;
};

TEST_F(SplitTest, ByRequestsKeepsWholeRequests) {
  TraceReader in(dir_.path("t.h5"));
  split_trace(in, {SplitUnit::kRequests, 1, 3}, dir_.path("s.h5"));
  const Trace s = read_trace(dir_.path("s.h5"));
  const Trace full = read_trace(dir_.path("t.h5"));
  EXPECT_EQ(s.header.num_tokens, 10u);
  EXPECT_EQ(s.requests.token_offset, (std::vector<uint64_t>{0, 5, 10}));
  EXPECT_EQ(s.requests.prompt_len, (std::vector<uint32_t>{2, 2}));
  EXPECT_EQ(s.requests.domain, (std::vector<uint16_t>{1, 0}));
  EXPECT_TRUE(std::equal(s.tokens.expert_ids.begin(), s.tokens.expert_ids.end(),
                         full.tokens.expert_ids.begin() + 5 * 4));
  EXPECT_NE(s.header.params.find("split_of"), std::string::npos);
}

TEST_F(SplitTest, ByTokensClipsCutRequests) {
  TraceReader in(dir_.path("t.h5"));
  split_trace(in, {SplitUnit::kTokens, 3, 11}, dir_.path("s.h5"));
  const Trace s = read_trace(dir_.path("s.h5"));
  EXPECT_EQ(s.header.num_tokens, 8u);
  // request 0 keeps tokens 3,4 (no prompt left), request 1 whole, request 2 only token 10.
  EXPECT_EQ(s.requests.token_offset, (std::vector<uint64_t>{0, 2, 7, 8}));
  EXPECT_EQ(s.requests.prompt_len, (std::vector<uint32_t>{0, 2, 1}));
  EXPECT_EQ(s.tokens.position[0], 3u) << "positions keep their original values";
}

TEST_F(SplitTest, TwoHalvesPartitionTheTrace) {
  TraceReader in(dir_.path("t.h5"));
  split_trace(in, {SplitUnit::kTokens, 0, 7}, dir_.path("a.h5"));
  split_trace(in, {SplitUnit::kTokens, 7, 15}, dir_.path("b.h5"));
  const Trace a = read_trace(dir_.path("a.h5")), b = read_trace(dir_.path("b.h5"));
  std::vector<uint16_t> joined = a.tokens.expert_ids;
  joined.insert(joined.end(), b.tokens.expert_ids.begin(), b.tokens.expert_ids.end());
  EXPECT_EQ(joined, read_trace(dir_.path("t.h5")).tokens.expert_ids);
}

TEST_F(SplitTest, RangeOutsideTheTraceIsRefused) {
  const auto r = test::run_epbench(
      {"trace", "split", dir_.path("t.h5"), "--requests", "2:9", "-o", dir_.path("s.h5")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--requests"), std::string::npos) << r.err;
  EXPECT_FALSE(test::file_exists(dir_.path("s.h5")));
}

}  // namespace
}  // namespace epbench
