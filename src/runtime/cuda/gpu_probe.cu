// Device discovery and a self-test kernel: the smallest piece of GPU code, so every build
// with CUDA compiles, links and (where a GPU exists) runs device code.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <cuda_runtime.h>
#ifdef EPBENCH_WITH_NCCL
#include <nccl.h>
#endif

#include "runtime/gpu_info.h"

namespace epbench {

namespace {

void cuda_check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

__global__ void axpy_kernel(int n, float a, const float* x, float* y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

}  // namespace

GpuInfo probe_cuda_devices() {
  GpuInfo info;
  info.built_with_cuda = true;
#ifdef EPBENCH_WITH_NCCL
  info.built_with_nccl = true;
  ncclGetVersion(&info.nccl_version);
#endif
  cudaError_t status = cudaGetDeviceCount(&info.device_count);
  if (status != cudaSuccess) {
    info.device_count = 0;
    info.reason = std::string("no usable GPU: ") + cudaGetErrorString(status);
    return info;
  }
  if (info.device_count == 0) {
    info.reason = "no CUDA device found";
    return info;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) info.device_name = prop.name;
  return info;
}

double cuda_axpy_max_error(int n) {
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) x[i] = 0.5f * i, y[i] = 1.0f + i;
  float *dx = nullptr, *dy = nullptr;
  const size_t bytes = sizeof(float) * n;
  cuda_check(cudaMalloc(&dx, bytes), "cudaMalloc");
  cuda_check(cudaMalloc(&dy, bytes), "cudaMalloc");
  cuda_check(cudaMemcpy(dx, x.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
  cuda_check(cudaMemcpy(dy, y.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
  axpy_kernel<<<(n + 255) / 256, 256>>>(n, 2.0f, dx, dy);
  cuda_check(cudaGetLastError(), "axpy kernel launch");
  std::vector<float> out(n);
  cuda_check(cudaMemcpy(out.data(), dy, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
  cudaFree(dx);
  cudaFree(dy);
  double max_err = 0;
  for (int i = 0; i < n; ++i)
    max_err = std::fmax(max_err, std::fabs(out[i] - (2.0f * x[i] + y[i])));
  return max_err;
}

}  // namespace epbench
