// No device allocation inside a timed region (issue 16): the counter and its guard, and the
// MoE layer refusing a backend that allocates while timed unless its buffers were reserved
// first. The backend here stands in for the CUDA one (no GPU on CI): it grows its buffer the
// way ffn_cuda.cu's DeviceBuffer does and counts the same way. One rank, under mpiexec.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "runtime/device_allocations.h"
#include "runtime/dispatch_plan.h"
#include "runtime/exchange.h"
#include "runtime/ffn_backend.h"
#include "runtime/moe_layer.h"

namespace epbench {
namespace {

TEST(DeviceAllocations, TheGuardNamesTheRegionItCaughtAnAllocationIn) {
  const NoDeviceAllocations quiet;
  EXPECT_NO_THROW(quiet.check("dispatch"));
  const NoDeviceAllocations noisy;
  note_device_allocation();
  try {
    noisy.check("dispatch");
    FAIL() << "an allocation inside the region went unnoticed";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("1 device allocation(s) inside the timed dispatch"),
              std::string::npos)
        << e.what();
  }
}

// Identity experts whose scratch grows like a device buffer: an allocation when a call needs
// more rows than reserved.
class GrowingBackend final : public FfnBackend {
 public:
  std::string name() const override { return "growing"; }
  void load(size_t, const float*, const float*, const float*) override {}
  void forward(size_t, const float* x, size_t n, float* y) override {
    grow(n);
    std::memcpy(y, x, n * kD * sizeof(float));
  }
  void raw_gemms(size_t, size_t n) override { grow(n); }
  void reserve_rows(size_t n) override { grow(n); }
  static constexpr size_t kD = 8;

 private:
  void grow(size_t n) {
    if (n <= rows_) return;
    note_device_allocation();
    rows_ = n;
  }
  size_t rows_ = 0;
};

struct OneRankLayer {
  // 6 tokens on rank 0, top-2 over 2 local slots: each slot serves all 6.
  OneRankLayer() : exchange(make_mpi_exchange(MPI_COMM_SELF)) {
    const std::vector<int32_t> home(6, 0), slot = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
    const std::vector<float> gate(12, 0.5f);
    build_dispatch_plan(0, 1, 2, home.data(), slot.data(), gate.data(), 6, 2, plan);
    x.assign(6 * GrowingBackend::kD, 1.f), y.assign(x.size(), 0.f);
  }
  GrowingBackend backend;
  std::unique_ptr<Exchange> exchange;
  DispatchPlan plan;
  std::vector<float> x, y;
};

TEST(DeviceAllocations, ALayerThatAllocatesWhileTimedIsRefused) {
  OneRankLayer t;
  MoeLayerRunner runner(MPI_COMM_SELF, *t.exchange, t.backend, DType::kFp32,
                        int(GrowingBackend::kD), {0});
  LayerMeasure m;
  EXPECT_THROW(runner.run(t.plan, 0, t.x.data(), t.y.data(), m), std::logic_error);
}

TEST(DeviceAllocations, ReservedBuffersKeepTimedRegionsFreeOfAllocations) {
  OneRankLayer t;
  MoeLayerRunner runner(MPI_COMM_SELF, *t.exchange, t.backend, DType::kFp32,
                        int(GrowingBackend::kD), {0});
  runner.reserve(6, 2);
  LayerMeasure m;
  const uint64_t before = device_allocations();
  EXPECT_NO_THROW(runner.run(t.plan, 0, t.x.data(), t.y.data(), m));
  EXPECT_NO_THROW(runner.run_baseline(t.plan, 0, t.x.data(), t.y.data(), 3, m));
  EXPECT_EQ(device_allocations(), before);
  for (float v : t.y) EXPECT_FLOAT_EQ(v, 1.f);  // two identity experts, gates 0.5 each
}

}  // namespace
}  // namespace epbench

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  MPI_Init(&argc, &argv);
  const int failed = RUN_ALL_TESTS();
  MPI_Finalize();
  return failed;
}
