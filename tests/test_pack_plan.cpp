// The row permutations (runtime/pack_plan.h) that the CPU runtime follows and the device
// kernels take: one layer simulated on the host across 3 ranks, packing, exchanging, computing
// and combining by the index lists alone, gives every token its gated expert sum; the device
// kernels against the host permutes where a GPU is usable.
#include <gtest/gtest.h>

#include <random>

#include "runtime/dispatch_plan.h"
#include "runtime/gpu_info.h"
#include "runtime/pack_plan.h"

namespace epbench {
namespace {

constexpr int kRanks = 3, kSlots = 2, kTopK = 2;
constexpr size_t kD = 4;

struct Layer {
  size_t n = 0;
  std::vector<int32_t> home, slot;
  std::vector<float> gate, x;  // x: [n, kD], token t's hidden state
  std::vector<DispatchPlan> plan{kRanks};
  std::vector<PackPlan> pack{kRanks};

  explicit Layer(size_t tokens, unsigned seed) : n(tokens) {
    std::mt19937 rng(seed);
    for (size_t t = 0; t < n; ++t) {
      home.push_back(int32_t(rng() % kRanks));
      const int32_t a = int32_t(rng() % (kRanks * kSlots));
      int32_t b = int32_t(rng() % (kRanks * kSlots - 1));
      b += b >= a;  // two distinct slots, possibly on one rank
      slot.insert(slot.end(), {a, b});
      gate.insert(gate.end(), {0.25f + float(rng() % 50) / 100.f, 0.3f});
      for (size_t c = 0; c < kD; ++c) x.push_back(float(t) + 0.1f * float(c));
    }
    for (int r = 0; r < kRanks; ++r) {
      build_dispatch_plan(r, kRanks, kSlots, home.data(), slot.data(), gate.data(), n, kTopK,
                          plan[size_t(r)]);
      make_pack_plan(plan[size_t(r)], pack[size_t(r)]);
    }
  }
  // The rank's own hidden-state rows, in home_tokens order.
  std::vector<float> hidden(int r) const {
    std::vector<float> h;
    for (uint32_t t : plan[size_t(r)].home_tokens) h.insert(h.end(), &x[t * kD], &x[t * kD] + kD);
    return h;
  }
};

// Dispatch by the pack plans: each rank packs its send rows, the blocks go peer to peer in the
// plans' order, and the local rows follow the received ones.
std::vector<std::vector<float>> dispatch(const Layer& L) {
  std::vector<std::vector<float>> sent(kRanks), work(kRanks);
  for (int q = 0; q < kRanks; ++q) {
    const std::vector<float> h = L.hidden(q);
    const PackPlan& p = L.pack[size_t(q)];
    sent[size_t(q)].resize(p.send_src.size() * kD);
    gather_rows(h.data(), p.send_src.data(), p.send_src.size(), kD, sent[size_t(q)].data());
  }
  for (int r = 0; r < kRanks; ++r) {
    const DispatchPlan& pr = L.plan[size_t(r)];
    work[size_t(r)].resize(pr.work_rows() * kD);
    for (int q = 0; q < kRanks; ++q) {
      const DispatchPlan& pq = L.plan[size_t(q)];
      const size_t rows = pq.sent_to(r);
      EXPECT_EQ(rows, pr.received_from(q));
      std::copy_n(sent[size_t(q)].begin() + long(pq.send_off[size_t(r)] * kD), rows * kD,
                  work[size_t(r)].begin() + long(pr.recv_off[size_t(q)] * kD));
    }
    const std::vector<float> h = L.hidden(r);
    const PackPlan& p = L.pack[size_t(r)];
    gather_rows(h.data(), p.local_src.data(), p.local_src.size(), kD,
                work[size_t(r)].data() + pr.received() * kD);
  }
  return work;
}

TEST(PackPlan, DispatchPutsEveryTokensStateInTheRowThePlanGivesIt) {
  const Layer L(60, 7);
  const auto work = dispatch(L);
  for (int r = 0; r < kRanks; ++r) {
    const DispatchPlan& p = L.plan[size_t(r)];
    std::vector<uint32_t> tokens = p.recv_tokens;
    tokens.insert(tokens.end(), p.local_tokens.begin(), p.local_tokens.end());
    ASSERT_EQ(tokens.size(), p.work_rows());
    for (size_t i = 0; i < tokens.size(); ++i)
      for (size_t c = 0; c < kD; ++c)
        ASSERT_EQ(work[size_t(r)][i * kD + c], L.x[tokens[i] * kD + c]) << r << " row " << i;
  }
}

TEST(PackPlan, CombineReturnsEachTokenItsGatedExpertSum) {
  const Layer L(60, 11);
  const auto work = dispatch(L);
  // Expert of global slot s: multiply by s + 1. Partial sums per work row, as the runtime's.
  std::vector<std::vector<float>> out(kRanks);
  for (int r = 0; r < kRanks; ++r) {
    const DispatchPlan& p = L.plan[size_t(r)];
    out[size_t(r)].assign(p.work_rows() * kD, 0.f);
    for (size_t s = 0; s + 1 < p.slot_off.size(); ++s)
      for (size_t i = p.slot_off[s]; i < p.slot_off[s + 1]; ++i)
        for (size_t c = 0; c < kD; ++c)
          out[size_t(r)][p.slot_rows[i] * kD + c] += p.slot_gate[i] *
                                                     float(r * kSlots + int(s) + 1) *
                                                     work[size_t(r)][p.slot_rows[i] * kD + c];
  }
  for (int q = 0; q < kRanks; ++q) {
    const DispatchPlan& pq = L.plan[size_t(q)];
    std::vector<float> returned(pq.send_tokens.size() * kD), y(pq.home_tokens.size() * kD, 0.f);
    for (int r = 0; r < kRanks; ++r)  // rank r sends back what it received from q, in order
      std::copy_n(out[size_t(r)].begin() + long(L.plan[size_t(r)].recv_off[size_t(q)] * kD),
                  pq.sent_to(r) * kD, returned.begin() + long(pq.send_off[size_t(r)] * kD));
    const PackPlan& p = L.pack[size_t(q)];
    scatter_add_rows(out[size_t(q)].data() + pq.received() * kD, p.local_src.data(),
                     p.local_src.size(), kD, y.data());
    scatter_add_rows(returned.data(), p.send_src.data(), p.send_src.size(), kD, y.data());
    for (size_t i = 0; i < pq.home_tokens.size(); ++i) {
      const uint32_t t = pq.home_tokens[i];
      const float scale = L.gate[2 * t] * float(L.slot[2 * t] + 1) +
                          L.gate[2 * t + 1] * float(L.slot[2 * t + 1] + 1);
      for (size_t c = 0; c < kD; ++c)
        EXPECT_NEAR(y[i * kD + c], scale * L.x[t * kD + c], 1e-4f * (1 + L.x[t * kD + c]))
            << "token " << t;
    }
  }
}

// The CPU layer packs its send rows and adds the returned rows back through the wire's dtype:
// fp32 moves the permuted rows exactly, bf16 as each value rounded to bf16.
TEST(PackPlan, PackAndAddBackMoveThePermutedRowsThroughTheWire) {
  const std::vector<float> src = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 1.001f};  // 1.001 is 1 in bf16
  const std::vector<uint32_t> idx = {1, 0};  // rows of kD values: wire row 0 <- src row 1
  for (DType t : {DType::kFp32, DType::kBf16}) {
    std::vector<unsigned char> wire(2 * kD * dtype_bytes(t));
    pack_rows(t, src.data(), idx.data(), 2, kD, wire.data());
    std::vector<float> y(2 * kD, 10.f), decoded(2 * kD);
    decode_rows(t, wire.data(), 2 * kD, decoded.data());
    add_back_rows(t, wire.data(), idx.data(), 2, kD, y.data());
    for (size_t c = 0; c < kD; ++c) {
      EXPECT_EQ(decoded[c], t == DType::kFp32 ? src[kD + c] : (c == 3 ? 1.f : float(5 + c)));
      EXPECT_EQ(decoded[kD + c], src[c]);
      EXPECT_EQ(y[kD + c], 10.f + decoded[c]) << "row 1 gets wire row 0 back";
      EXPECT_EQ(y[c], 10.f + decoded[kD + c]);
    }
  }
}

TEST(PackPlan, DeviceKernelsAgreeWithTheHostPermutes) {
  const GpuInfo info = probe_gpus();
  if (info.device_count == 0) GTEST_SKIP() << info.reason;
  const Layer L(300, 3);
  const std::vector<float> h = L.hidden(0);
  const PackPlan& p = L.pack[0];
  const size_t rows = p.send_src.size();
  std::vector<float> host(rows * kD), dev(rows * kD);
  gather_rows(h.data(), p.send_src.data(), rows, kD, host.data());
  gpu_gather_rows(h.data(), h.size() / kD, p.send_src.data(), rows, kD, dev.data());
  EXPECT_EQ(host, dev);
  std::vector<float> y_host(h.size(), 1.f), y_dev(h.size(), 1.f);
  scatter_add_rows(host.data(), p.send_src.data(), rows, kD, y_host.data());
  gpu_scatter_add_rows(host.data(), p.send_src.data(), rows, kD, y_dev.data(), h.size() / kD);
  for (size_t i = 0; i < y_host.size(); ++i) EXPECT_NEAR(y_dev[i], y_host[i], 1e-4f) << i;
}

}  // namespace
}  // namespace epbench
