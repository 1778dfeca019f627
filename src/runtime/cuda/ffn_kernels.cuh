#pragma once
// The CUDA backend's elementwise kernels: dtype conversions and the fused SiLU-and-multiply.
// Grid-stride loops; arithmetic in fp32 whatever the storage type.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

namespace epbench {

__device__ inline float load_f32(const float* in, size_t i) {
  return in[i];
}
__device__ inline float load_f32(const __nv_bfloat16* in, size_t i) {
  return __bfloat162float(in[i]);
}
__device__ inline void store_f32(float* out, size_t i, float v) {
  out[i] = v;
}
__device__ inline void store_f32(__nv_bfloat16* out, size_t i, float v) {
  out[i] = __float2bfloat16(v);
}

template <typename In, typename Out>
__global__ void convert_kernel(const In* in, Out* out, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    store_f32(out, i, load_f32(in, i));
}

// h[r, c] = silu(gu[r, c]) * gu[r, f + c]: gu holds each row's gate outputs, then its up
// outputs (the fused gate|up GEMM's [rows, 2f]); h is [rows, f].
template <typename T>
__global__ void silu_mul_kernel(const T* gu, T* h, size_t rows, size_t f) {
  const size_t n = rows * f;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    const size_t r = i / f, c = i - r * f;
    const float g = load_f32(gu, r * 2 * f + c), u = load_f32(gu, r * 2 * f + f + c);
    store_f32(h, i, g / (1.f + __expf(-g)) * u);
  }
}

constexpr int kThreads = 256;
inline unsigned blocks_for(size_t n) {
  const size_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 65535 ? b : 65535);  // grid-stride loops cover the rest
}

}  // namespace epbench
