#pragma once
// Expert FFN backends (one file per backend, like nccl-tests' one file per collective): a
// SwiGLU FFN y = W_down (silu(W_gate x) * (W_up x)) per resident expert. The runtime hands
// rows in fp32 host memory; a backend may compute in another precision (cuda: bf16 GEMMs
// with fp32 accumulation) and stage through device memory.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace epbench {

// The busy experts of one grouped call: expert i is backend shard shard[i] and owns the next
// rows[i] rows of the packed input and output (experts in order, rows of `width` values).
struct ExpertGroup {
  size_t width = 0;  // d_model
  std::vector<size_t> shard, rows;
  void clear() { shard.clear(), rows.clear(); }  // keeps the capacity: no allocation when reused
  void add(size_t s, size_t n) { shard.push_back(s), rows.push_back(n); }
  size_t size() const { return shard.size(); }
  size_t total_rows() const {
    size_t t = 0;
    for (size_t n : rows) t += n;
    return t;
  }
};

// Device time of the phases of the last forward_group, seconds (h2d and d2h include the
// conversions to and from bf16); known is false where the backend does not measure them (CPU).
struct FfnPhaseTimes {
  bool known = false;
  double h2d = 0, gate_up = 0, act = 0, down = 0, d2h = 0;
};

class FfnBackend {
 public:
  virtual ~FfnBackend() = default;
  virtual std::string name() const = 0;
  // Stores the weights of one resident expert under `shard` (0 <= shard < shards):
  // gate and up are [d_ff, d_model], down is [d_model, d_ff], row-major fp32 host arrays.
  virtual void load(size_t shard, const float* gate, const float* up, const float* down) = 0;
  // x: [n, d_model], y: [n, d_model], host, row-major; returns when y is written.
  virtual void forward(size_t shard, const float* x, size_t n, float* y) = 0;
  // Every expert of `g` at once: x, y: [g.total_rows(), d_model], host, row-major; returns
  // when y is written. By default one forward per expert, in order.
  virtual void forward_group(const ExpertGroup& g, const float* x, float* y) {
    for (size_t i = 0, off = 0; i < g.size(); off += g.rows[i] * g.width, ++i)
      forward(g.shard[i], x + off, g.rows[i], y + off);
  }
  virtual FfnPhaseTimes last_phase_times() const { return {}; }
  // The raw baseline: only the three GEMMs of forward's shapes for n rows, on the backend's
  // own scratch buffers (no copies, no activation); returns when they are done.
  virtual void raw_gemms(size_t shard, size_t n) = 0;
  // Grows every scratch buffer so that no forward of up to n rows and no forward_group of up
  // to n rows in all allocates; the runtime calls it with the most rows one step can give a
  // rank before timing (runtime/device_allocations.h).
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
