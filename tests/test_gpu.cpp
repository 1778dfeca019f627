// GPU code: compiled into every build that has CUDA; run only where a GPU is usable.
#include <gtest/gtest.h>

#include <cmath>

#include "ffn_test_util.h"
#include "runtime/device_allocations.h"
#include "runtime/gpu_info.h"
#include "runtime/reference_check.h"

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

struct FfnCase {
  DType dtype;
  int d, f;  // 36 x 60 in bf16 takes the per-expert GEMMs (rows not 16-byte aligned)
};

// Why these tolerances: reference_check.cpp's model with both sides' fp32 reductions (two
// implementations: twice the squared terms, a factor sqrt(2)) and, in bf16, the GPU's four
// roundings to bf16 (gate and up outputs, h, y: twice the check's two, same factor). Inputs
// and weights are bf16-valued in bf16, so neither side rounds them. fp32 gets another factor 2
// for __expf's few ulps in the activation.
double group_tolerance(const FfnCase& c) {
  const double t = std::sqrt(2.0) * check_tolerance(c.dtype, c.d, c.f, 1);
  return c.dtype == DType::kFp32 ? 2 * t : t;
}

TEST(Gpu, GroupedFfnMatchesTheCpuBackendAndAllocatesNothing) {
  const GpuInfo info = probe_gpus();
  if (info.device_count == 0) GTEST_SKIP() << info.reason;
  for (const FfnCase c : {FfnCase{DType::kFp32, 64, 128}, FfnCase{DType::kBf16, 64, 128},
                          FfnCase{DType::kFp32, 36, 60}, FfnCase{DType::kBf16, 36, 60}}) {
    SCOPED_TRACE(std::string(dtype_name(c.dtype)) + " " + std::to_string(c.d) + "x" +
                 std::to_string(c.f));
    const auto cpu = make_cpu_backend(c.d, c.f, 4, 1);
    const auto gpu = make_cuda_backend(c.d, c.f, 4, 0, c.dtype == DType::kBf16);
    test::load_experts(*cpu, c.d, c.f, 4, c.dtype);
    test::load_experts(*gpu, c.d, c.f, 4, c.dtype);
    const ExpertGroup g = test::uneven_group(c.d);
    const std::vector<float> x = test::hidden_rows(g.total_rows(), c.d, c.dtype);
    std::vector<float> want(x.size()), got(x.size());
    cpu->forward_group(g, x.data(), want.data());
    gpu->reserve_rows(g.total_rows());
    const NoDeviceAllocations timed;
    gpu->forward_group(g, x.data(), got.data());
    gpu->forward_group(g, x.data(), got.data());  // a second call reuses every buffer
    EXPECT_NO_THROW(timed.check("forward_group"));
    EXPECT_LE(test::max_row_error(got, want, c.d), group_tolerance(c));
    const FfnPhaseTimes t = gpu->last_phase_times();
    EXPECT_TRUE(t.known);
    for (double s : {t.h2d, t.gate_up, t.act, t.down, t.d2h}) EXPECT_GE(s, 0.0);
  }
}

}  // namespace
}  // namespace epbench
