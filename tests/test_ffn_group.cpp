// The grouped expert call: on the CPU backend forward_group is exactly one forward per expert,
// and run_experts (one gather, one grouped call, the gated sums) gives, bit for bit, what one
// forward per busy slot and the gated sums give.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "ffn_test_util.h"
#include "runtime/dispatch_plan.h"
#include "runtime/expert_compute.h"

namespace epbench {
namespace {

constexpr int kD = 32, kF = 64;

// y = forward of each expert of g on its own rows, concatenated.
std::vector<float> per_expert(FfnBackend& b, const ExpertGroup& g, const std::vector<float>& x) {
  std::vector<float> y(x.size());
  for (size_t i = 0, off = 0; i < g.size(); off += g.rows[i] * g.width, ++i) {
    std::vector<float> xi(x.begin() + long(off), x.begin() + long(off + g.rows[i] * g.width));
    std::vector<float> yi(xi.size());
    b.forward(g.shard[i], xi.data(), g.rows[i], yi.data());
    std::copy(yi.begin(), yi.end(), y.begin() + long(off));
  }
  return y;
}

TEST(FfnGroup, CpuGroupEqualsOneForwardPerExpert) {
  const auto b = make_cpu_backend(kD, kF, 4, 1);
  test::load_experts(*b, kD, kF, 4, DType::kFp32);
  ExpertGroup g = test::uneven_group(kD);
  g.add(1, 0);  // an idle expert in the list changes nothing
  const std::vector<float> x = test::hidden_rows(g.total_rows(), kD, DType::kFp32);
  std::vector<float> y(x.size(), -1.f);
  b->forward_group(g, x.data(), y.data());
  EXPECT_EQ(y, per_expert(*b, g, x));
  EXPECT_FALSE(b->last_phase_times().known);
}

// 9 tokens, top-2, on one rank with 4 slots; slot 2 serves nobody, slot 3 a single token.
struct OneRankPlan {
  OneRankPlan() {
    const std::vector<int32_t> home(9, 0);
    const std::vector<int32_t> slot = {0, 1, 1, 0, 0, 1, 1, 3, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1};
    std::vector<float> gate(slot.size());
    for (size_t i = 0; i < gate.size(); ++i) gate[i] = 0.1f + 0.05f * float(i);
    build_dispatch_plan(0, 1, 4, home.data(), slot.data(), gate.data(), 9, 2, plan);
    work = test::hidden_rows(plan.work_rows(), kD, DType::kFp32);
  }
  DispatchPlan plan;
  std::vector<float> work;
};

// Today's arithmetic written out: per busy slot, in slot order, its rows in order.
std::vector<float> expected_out(FfnBackend& b, const DispatchPlan& plan, size_t shard0,
                                const std::vector<float>& work) {
  std::vector<float> out(work.size(), 0.f);
  for (size_t s = 0; s + 1 < plan.slot_off.size(); ++s) {
    const size_t first = plan.slot_off[s], rows = plan.slot_off[s + 1] - first;
    if (rows == 0) continue;
    std::vector<float> xe(rows * kD), ye(rows * kD);
    for (size_t i = 0; i < rows; ++i)
      std::copy_n(work.begin() + long(plan.slot_rows[first + i] * kD), kD,
                  xe.begin() + long(i * kD));
    b.forward(shard0 + s, xe.data(), rows, ye.data());
    for (size_t i = 0; i < rows; ++i)
      for (size_t c = 0; c < size_t(kD); ++c)
        out[plan.slot_rows[first + i] * kD + c] += plan.slot_gate[first + i] * ye[i * kD + c];
  }
  return out;
}

TEST(ExpertCompute, GroupedRunEqualsOneForwardPerSlotBitForBit) {
  const OneRankPlan t;
  const auto b = make_cpu_backend(kD, kF, 8, 1);
  test::load_experts(*b, kD, kF, 8, DType::kFp32);
  ExpertScratch scratch;
  std::vector<float> out(t.work.size(), 7.f);
  const ExpertCounts c = run_experts(*b, t.plan, 4, t.work.data(), kD, out.data(), scratch);
  EXPECT_EQ(c.pairs, 18u);
  EXPECT_EQ(c.active, 3u);
  EXPECT_EQ(out, expected_out(*b, t.plan, 4, t.work));
}

TEST(ExpertCompute, ScratchIsReusedOnceGrown) {
  const OneRankPlan t;
  const auto b = make_cpu_backend(kD, kF, 4, 1);
  test::load_experts(*b, kD, kF, 4, DType::kFp32);
  ExpertScratch scratch;
  std::vector<float> out(t.work.size());
  run_experts(*b, t.plan, 0, t.work.data(), kD, out.data(), scratch);
  const float *xe = scratch.xe.data(), *ye = scratch.ye.data();
  const size_t *shards = scratch.group.shard.data(), *rows = scratch.group.rows.data();
  run_experts(*b, t.plan, 0, t.work.data(), kD, out.data(), scratch);
  EXPECT_EQ(scratch.xe.data(), xe);
  EXPECT_EQ(scratch.ye.data(), ye);
  EXPECT_EQ(scratch.group.shard.data(), shards);
  EXPECT_EQ(scratch.group.rows.data(), rows);
}

// A rank that serves nothing this step makes no call and writes nothing.
TEST(ExpertCompute, NoWorkMakesNoCall) {
  DispatchPlan plan;  // rank 0 of 2; the only token goes to rank 1's slot
  const int32_t home = 0, slot = 2;
  const float gate = 1.f;
  build_dispatch_plan(0, 2, 2, &home, &slot, &gate, 1, 1, plan);
  ASSERT_EQ(plan.work_rows(), 0u);
  const auto b = make_cpu_backend(kD, kF, 2, 1);
  ExpertScratch scratch;
  const ExpertCounts c = run_experts(*b, plan, 0, nullptr, kD, nullptr, scratch);
  EXPECT_EQ(c.pairs, 0u);
  EXPECT_EQ(c.active, 0u);
  EXPECT_EQ(scratch.group.size(), 0u);
}

}  // namespace
}  // namespace epbench
