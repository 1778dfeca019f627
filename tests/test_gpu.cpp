// GPU code: compiled into every build that has CUDA; run only where a GPU is usable.
#include <gtest/gtest.h>

#include "runtime/gpu_info.h"

namespace epbench {
namespace {

TEST(Gpu, ProbeReportsAReasonWhenThereIsNoGpu) {
  const GpuInfo info = probe_gpus();
  if (info.device_count == 0) {
    EXPECT_FALSE(info.reason.empty());
  } else {
    EXPECT_TRUE(info.reason.empty());
    EXPECT_FALSE(info.device_name.empty());
  }
}

TEST(Gpu, AxpyKernelMatchesTheCpu) {
  const GpuInfo info = probe_gpus();
  if (info.device_count == 0) GTEST_SKIP() << info.reason;
  EXPECT_EQ(gpu_selftest_axpy(1 << 20), 0.0);
}

TEST(Gpu, NcclIsBuiltWhenCudaIs) {
  const GpuInfo info = probe_gpus();
  if (!info.built_with_cuda) GTEST_SKIP() << info.reason;
  if (!info.built_with_nccl) GTEST_SKIP() << "built without NCCL";
  EXPECT_GE(info.nccl_version, 20000);
}

}  // namespace
}  // namespace epbench
