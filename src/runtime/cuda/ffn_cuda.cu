// The CUDA backend: cuBLAS GEMMs (bf16 or fp32 inputs, fp32 accumulation) and one fused
// SiLU-and-multiply kernel per expert; rows are staged through device buffers.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <climits>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/device_allocations.h"
#include "runtime/ffn_backend.h"

#define EPBENCH_CUDA_CHECK(call) ::epbench::cuda_check((call), #call, __FILE__, __LINE__)
#define EPBENCH_CUBLAS_CHECK(call) ::epbench::cublas_check((call), #call, __FILE__, __LINE__)

namespace epbench {

namespace {

void cuda_check(cudaError_t rc, const char* call, const char* file, int line) {
  if (rc != cudaSuccess)
    throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call +
                             " failed: " + cudaGetErrorString(rc));
}

void cublas_check(cublasStatus_t rc, const char* call, const char* file, int line) {
  if (rc != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call +
                             " failed: " + cublasGetStatusString(rc));
}

// Device memory that only grows; zeroed when (re)allocated so raw GEMMs read finite values.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void reserve(size_t bytes) {
    if (bytes <= bytes_) return;
    release();
    note_device_allocation();
    EPBENCH_CUDA_CHECK(cudaMalloc(&p_, bytes));
    EPBENCH_CUDA_CHECK(cudaMemset(p_, 0, bytes));
    bytes_ = bytes;
  }
  void* get() const { return p_; }
  size_t bytes() const { return bytes_; }

 private:
  void release() {
    if (p_) {
      note_device_allocation();
      cudaFree(p_);
    }
    p_ = nullptr, bytes_ = 0;
  }
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

__device__ inline void store(float* out, size_t i, float v) {
  out[i] = v;
}
__device__ inline void store(__nv_bfloat16* out, size_t i, float v) {
  out[i] = __float2bfloat16(v);
}

template <typename T>
__global__ void convert_kernel(const float* in, T* out, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    store(out, i, in[i]);
}

// h = silu(gate) * up, from the fp32 GEMM outputs into the down GEMM's input type.
template <typename T>
__global__ void silu_mul_kernel(const float* gate, const float* up, T* h, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    store(h, i, g / (1.f + __expf(-g)) * up[i]);
  }
}

constexpr int kThreads = 256;
unsigned blocks_for(size_t n) {
  const size_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 65535 ? b : 65535);  // grid-stride loops cover the rest
}

int to_int(size_t v, const char* what) {
  if (v > static_cast<size_t>(INT_MAX))
    throw std::runtime_error(std::string("cuda backend: ") + what + " of " + std::to_string(v) +
                             " exceeds cuBLAS's int sizes");
  return static_cast<int>(v);
}

struct ExpertWeights {
  DeviceBuffer gate, up, down;  // compute type, [d_ff, d_model], [d_ff, d_model], [d_model, d_ff]
};

class CudaFfn final : public FfnBackend {
 public:
  CudaFfn(int d_model, int d_ff, size_t shards, int device, bool bf16)
      : d_(d_model), f_(d_ff), device_(device), bf16_(bf16), weights_(shards) {
    EPBENCH_CUDA_CHECK(cudaSetDevice(device_));
    EPBENCH_CUDA_CHECK(cudaStreamCreate(&stream_));
    try {
      EPBENCH_CUBLAS_CHECK(cublasCreate(&handle_));
      EPBENCH_CUBLAS_CHECK(cublasSetStream(handle_, stream_));
    } catch (...) {
      if (handle_) cublasDestroy(handle_);
      cudaStreamDestroy(stream_);
      throw;
    }
  }
  ~CudaFfn() override {
    cublasDestroy(handle_);
    cudaStreamDestroy(stream_);
  }
  std::string name() const override { return bf16_ ? "cuda-bf16" : "cuda-fp32"; }

  void load(size_t shard, const float* gate, const float* up, const float* down) override {
    EPBENCH_CUDA_CHECK(cudaSetDevice(device_));
    ExpertWeights& w = weights_.at(shard);
    const size_t cells = size_t(d_) * size_t(f_);
    upload(w.gate, gate, cells);
    upload(w.up, up, cells);
    upload(w.down, down, cells);
    EPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void forward(size_t shard, const float* x, size_t n, float* y) override {
    if (n == 0) return;
    EPBENCH_CUDA_CHECK(cudaSetDevice(device_));
    const ExpertWeights& w = weights_.at(shard);
    reserve(n);
    const size_t in_cells = n * size_t(d_), mid_cells = n * size_t(f_);
    upload(x_, x, in_cells);
    gemm(w.gate.get(), x_.get(), ctype(), f_, n, d_, g_.get(), CUDA_R_32F);
    gemm(w.up.get(), x_.get(), ctype(), f_, n, d_, u_.get(), CUDA_R_32F);
    silu_mul(mid_cells);
    gemm(w.down.get(), h_.get(), ctype(), d_, n, f_, y_.get(), CUDA_R_32F);
    EPBENCH_CUDA_CHECK(
        cudaMemcpyAsync(y, y_.get(), in_cells * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    EPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void raw_gemms(size_t shard, size_t n) override {
    if (n == 0) return;
    EPBENCH_CUDA_CHECK(cudaSetDevice(device_));
    const ExpertWeights& w = weights_.at(shard);
    reserve(n);
    gemm(w.gate.get(), x_.get(), ctype(), f_, n, d_, g_.get(), CUDA_R_32F);
    gemm(w.up.get(), x_.get(), ctype(), f_, n, d_, u_.get(), CUDA_R_32F);
    gemm(w.down.get(), h_.get(), ctype(), d_, n, f_, y_.get(), CUDA_R_32F);
    EPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void reserve_rows(size_t n) override {
    EPBENCH_CUDA_CHECK(cudaSetDevice(device_));
    reserve(n);
  }

  size_t device_bytes() const override {
    size_t total =
        x_.bytes() + g_.bytes() + u_.bytes() + h_.bytes() + y_.bytes() + staging_.bytes();
    for (const ExpertWeights& w : weights_) total += w.gate.bytes() + w.up.bytes() + w.down.bytes();
    return total;
  }

 private:
  cudaDataType_t ctype() const { return bf16_ ? CUDA_R_16BF : CUDA_R_32F; }
  size_t csize() const { return bf16_ ? sizeof(__nv_bfloat16) : sizeof(float); }

  // Host fp32 -> device buffer in the compute type (through a staging buffer for bf16).
  void upload(DeviceBuffer& dst, const float* src, size_t cells) {
    dst.reserve(cells * csize());
    if (!bf16_) {
      EPBENCH_CUDA_CHECK(
          cudaMemcpyAsync(dst.get(), src, cells * sizeof(float), cudaMemcpyHostToDevice, stream_));
      return;
    }
    staging_.reserve(cells * sizeof(float));
    EPBENCH_CUDA_CHECK(cudaMemcpyAsync(staging_.get(), src, cells * sizeof(float),
                                       cudaMemcpyHostToDevice, stream_));
    convert_kernel<<<blocks_for(cells), kThreads, 0, stream_>>>(
        static_cast<const float*>(staging_.get()), static_cast<__nv_bfloat16*>(dst.get()), cells);
    EPBENCH_CUDA_CHECK(cudaGetLastError());
  }

  void silu_mul(size_t cells) {
    const auto* g = static_cast<const float*>(g_.get());
    const auto* u = static_cast<const float*>(u_.get());
    if (bf16_)
      silu_mul_kernel<<<blocks_for(cells), kThreads, 0, stream_>>>(
          g, u, static_cast<__nv_bfloat16*>(h_.get()), cells);
    else
      silu_mul_kernel<<<blocks_for(cells), kThreads, 0, stream_>>>(
          g, u, static_cast<float*>(h_.get()), cells);
    EPBENCH_CUDA_CHECK(cudaGetLastError());
  }

  // Row-major C[n, m] = X[n, k] * W[m, k]^T. cuBLAS is column-major, where row-major X is
  // X^T, so it computes C^T = op(W) * X^T with op = transpose of W's column-major view.
  void gemm(const void* w, const void* x, cudaDataType_t in_type, int m, size_t n, int k, void* c,
            cudaDataType_t out_type) {
    const float alpha = 1.f, beta = 0.f;
    EPBENCH_CUBLAS_CHECK(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, m, to_int(n, "rows"), k,
                                      &alpha, w, in_type, k, x, in_type, k, &beta, c, out_type, m,
                                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }

  // Scratch for n rows: x in the compute type, gate/up outputs fp32, h in the compute type;
  // bf16 rows are converted from an fp32 staging copy.
  void reserve(size_t n) {
    if (bf16_) staging_.reserve(n * size_t(d_) * sizeof(float));
    x_.reserve(n * size_t(d_) * csize());
    g_.reserve(n * size_t(f_) * sizeof(float));
    u_.reserve(n * size_t(f_) * sizeof(float));
    h_.reserve(n * size_t(f_) * csize());
    y_.reserve(n * size_t(d_) * sizeof(float));
  }

  int d_, f_, device_;
  bool bf16_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t handle_ = nullptr;
  std::vector<ExpertWeights> weights_;
  DeviceBuffer x_, g_, u_, h_, y_, staging_;
};

// "no GPU: reason" unless `device` is a working CUDA device.
void require_device(int device) {
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) throw std::runtime_error(std::string("no GPU: ") + cudaGetErrorString(rc));
  if (device < 0 || device >= count)
    throw std::runtime_error("no GPU: device " + std::to_string(device) + " requested, " +
                             std::to_string(count) + " visible");
}

}  // namespace

std::unique_ptr<FfnBackend> make_cuda_backend(int d_model, int d_ff, size_t shards, int device,
                                              bool bf16) {
  require_device(device);
  return std::make_unique<CudaFfn>(d_model, d_ff, shards, device, bf16);
}

}  // namespace epbench
