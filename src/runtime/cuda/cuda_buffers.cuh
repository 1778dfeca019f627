#pragma once
// Error checks and growing buffers for the CUDA backend: device memory and pinned host memory,
// each (re)allocation counted (runtime/device_allocations.h) so that a timed region proves it
// paid for no allocator.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "runtime/device_allocations.h"

#define EPBENCH_CUDA_CHECK(call) ::epbench::cuda_check((call), #call, __FILE__, __LINE__)
#define EPBENCH_CUBLAS_CHECK(call) ::epbench::cublas_check((call), #call, __FILE__, __LINE__)

namespace epbench {

inline void cuda_check(cudaError_t rc, const char* call, const char* file, int line) {
  if (rc != cudaSuccess)
    throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call +
                             " failed: " + cudaGetErrorString(rc));
}

inline void cublas_check(cublasStatus_t rc, const char* call, const char* file, int line) {
  if (rc != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call +
                             " failed: " + cublasGetStatusString(rc));
}

// Memory that only grows; contents are not kept across a growth. Device memory is zeroed when
// (re)allocated so raw GEMMs read finite values.
template <bool kPinnedHost>
class GrowingBuffer {
 public:
  GrowingBuffer() = default;
  ~GrowingBuffer() { release(); }
  GrowingBuffer(const GrowingBuffer&) = delete;
  GrowingBuffer& operator=(const GrowingBuffer&) = delete;
  void reserve(size_t bytes) {
    if (bytes <= bytes_) return;
    release();
    note_device_allocation();
    if constexpr (kPinnedHost) {
      EPBENCH_CUDA_CHECK(cudaHostAlloc(&p_, bytes, cudaHostAllocDefault));
    } else {
      EPBENCH_CUDA_CHECK(cudaMalloc(&p_, bytes));
      EPBENCH_CUDA_CHECK(cudaMemset(p_, 0, bytes));
    }
    bytes_ = bytes;
  }
  void* get() const { return p_; }
  unsigned char* bytes_at(size_t offset) const { return static_cast<unsigned char*>(p_) + offset; }
  size_t bytes() const { return bytes_; }

 private:
  void release() {
    if (p_) {
      note_device_allocation();
      if constexpr (kPinnedHost)
        cudaFreeHost(p_);
      else
        cudaFree(p_);
    }
    p_ = nullptr, bytes_ = 0;
  }
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

using DeviceBuffer = GrowingBuffer<false>;
using PinnedBuffer = GrowingBuffer<true>;  // host memory the copy engines read and write

}  // namespace epbench
