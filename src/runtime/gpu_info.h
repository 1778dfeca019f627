#pragma once
// What GPU support this build has and what the machine offers. Any CUDA error (no driver,
// a driver too old, no device) means "no GPU", with the reason kept for messages.
#include <string>

namespace epbench {

struct GpuInfo {
  bool built_with_cuda = false;
  bool built_with_nccl = false;
  int device_count = 0;
  std::string reason;       // why there is no usable GPU (empty when there is one)
  std::string device_name;  // device 0
  int nccl_version = 0;     // e.g. 22803 for 2.28.3 (0 without NCCL)
};

GpuInfo probe_gpus();

// Runs a tiny kernel (y = a*x + y over n elements) on device 0 and returns the largest
// error against the CPU result; throws std::runtime_error when no GPU can run it.
double gpu_selftest_axpy(int n);

}  // namespace epbench
