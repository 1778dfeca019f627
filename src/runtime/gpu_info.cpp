#include "runtime/gpu_info.h"

#include <stdexcept>

namespace epbench {

#ifdef EPBENCH_WITH_CUDA
// Defined in cuda/gpu_probe.cu.
GpuInfo probe_cuda_devices();
double cuda_axpy_max_error(int n);
#endif

GpuInfo probe_gpus() {
#ifdef EPBENCH_WITH_CUDA
  return probe_cuda_devices();
#else
  GpuInfo info;
  info.reason = "epbench was built without CUDA (EPBENCH_WITH_CUDA=OFF)";
  return info;
#endif
}

double gpu_selftest_axpy(int n) {
#ifdef EPBENCH_WITH_CUDA
  return cuda_axpy_max_error(n);
#else
  (void)n;
  throw std::runtime_error("epbench was built without CUDA");
#endif
}

}  // namespace epbench
