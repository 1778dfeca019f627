#pragma once
// Expert FFN backends (one file per backend, like nccl-tests' one file per collective): a
// SwiGLU FFN y = W_down (silu(W_gate x) * (W_up x)) per resident expert. The runtime hands
// rows in fp32 host memory; a backend may compute in another precision (cuda: bf16 GEMMs
// with fp32 accumulation) and stage through device memory.
#include <cstddef>
#include <memory>
#include <string>

namespace epbench {

class FfnBackend {
 public:
  virtual ~FfnBackend() = default;
  virtual std::string name() const = 0;
  // Stores the weights of one resident expert under `shard` (0 <= shard < shards):
  // gate and up are [d_ff, d_model], down is [d_model, d_ff], row-major fp32 host arrays.
  virtual void load(size_t shard, const float* gate, const float* up, const float* down) = 0;
  // x: [n, d_model], y: [n, d_model], host, row-major; returns when y is written.
  virtual void forward(size_t shard, const float* x, size_t n, float* y) = 0;
  // The raw baseline: only the three GEMMs of forward's shapes for n rows, on the backend's
  // own scratch buffers (no copies, no activation); returns when they are done.
  virtual void raw_gemms(size_t shard, size_t n) = 0;
  // Grows every scratch buffer to forward n rows, so that no call up to n allocates; the
  // runtime calls it with the run's largest step before timing (runtime/device_allocations.h).
  virtual void reserve_rows(size_t n) { (void)n; }
  // Device memory the backend holds, bytes (0 for the CPU).
  virtual size_t device_bytes() const { return 0; }
};

// OpenBLAS sgemm; `threads` BLAS threads per rank (ranks usually fill the cores).
std::unique_ptr<FfnBackend> make_cpu_backend(int d_model, int d_ff, size_t shards, int threads);

// cuBLAS on CUDA device `device`; bf16 GEMMs with fp32 accumulation when bf16, else fp32.
// Throws std::runtime_error "no GPU: <reason>" when the build has no CUDA or no device works.
std::unique_ptr<FfnBackend> make_cuda_backend(int d_model, int d_ff, size_t shards, int device,
                                              bool bf16);

}  // namespace epbench
