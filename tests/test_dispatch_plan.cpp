// The per-rank dispatch plan derived from a routing: who sends what to whom, with the
// once-per-destination rule, and which rows each local expert computes.
#include <gtest/gtest.h>

#include "runtime/dispatch_plan.h"

namespace epbench {
namespace {

// 3 ranks, 2 slots each (slot = rank * 2 + i); 4 tokens, top-2.
struct Example {
  std::vector<int32_t> home{0, 0, 1, 2};
  std::vector<int32_t> slot{1, 2,   // token 0 (home 0): rank 0 and rank 1
                            2, 3,   // token 1 (home 0): rank 1 twice -> sent once
                            4, 5,   // token 2 (home 1): rank 2 twice
                            0, 5};  // token 3 (home 2): rank 0 and its own rank 2
  std::vector<float> gate{.6f, .4f, .7f, .3f, .5f, .5f, .9f, .1f};
  DispatchPlan plan(int rank) {
    DispatchPlan p;
    build_dispatch_plan(rank, 3, 2, home.data(), slot.data(), gate.data(), 4, 2, p);
    return p;
  }
};

TEST(DispatchPlan, SendsEachTokenOnceToEachOtherRankServingIt) {
  Example ex;
  const DispatchPlan p0 = ex.plan(0);
  EXPECT_EQ(p0.home_tokens, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(p0.sent_to(0), 0u);
  EXPECT_EQ(p0.sent_to(1), 2u);  // tokens 0 and 1, token 1 once for its two experts there
  EXPECT_EQ(p0.sent_to(2), 0u);
  EXPECT_EQ(p0.received_from(2), 1u);  // token 3
  EXPECT_EQ(p0.local_tokens, (std::vector<uint32_t>{0}));
  const DispatchPlan p1 = ex.plan(1);
  EXPECT_EQ(p1.received_from(0), 2u);
  EXPECT_EQ(p1.recv_tokens, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(p1.sent_to(2), 1u);
  EXPECT_TRUE(p1.local_tokens.empty());
}

TEST(DispatchPlan, EachLocalSlotComputesItsRowsWithTheirGates) {
  Example ex;
  const DispatchPlan p1 = ex.plan(1);  // slots 2 and 3
  // Slot 2 (local 0) serves token 0 (row 0) and token 1 (row 1); slot 3 serves token 1.
  EXPECT_EQ(p1.slot_off, (std::vector<size_t>{0, 2, 3}));
  EXPECT_EQ(p1.slot_rows, (std::vector<uint32_t>{0, 1, 1}));
  EXPECT_EQ(p1.slot_gate, (std::vector<float>{.4f, .7f, .3f}));
  const DispatchPlan p2 = ex.plan(2);  // received token 2 is row 0, local token 3 is row 1
  EXPECT_EQ(p2.work_rows(), 2u);
  EXPECT_EQ(p2.slot_rows, (std::vector<uint32_t>{0, 0, 1}));
}

TEST(DispatchPlan, CountsAgreeAcrossRanks) {
  Example ex;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) EXPECT_EQ(ex.plan(a).sent_to(b), ex.plan(b).received_from(a));
}

}  // namespace
}  // namespace epbench
