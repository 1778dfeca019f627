// The CUDA backend: cuBLAS GEMMs (bf16 or fp32 inputs, fp32 accumulation). forward_group runs
// every busy expert of a rank at once: one host-to-device copy of the packed rows (and the
// GEMMs' pointer tables), one grouped GEMM for gate and up (fused into one weight per expert),
// one SiLU-and-multiply kernel, one grouped GEMM for down, one copy back and one sync. All
// buffers are reserved ahead (reserve_rows), so a call allocates nothing.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <array>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/cuda/cuda_buffers.cuh"
#include "runtime/cuda/ffn_kernels.cuh"
#include "runtime/cuda/grouped_gemm.cuh"
#include "runtime/ffn_backend.h"

namespace epbench {

namespace {

struct ExpertWeights {
  // Compute type: [2 d_ff, d_model] (the gate rows, then the up rows), [d_model, d_ff].
  DeviceBuffer gate_up, down;
};

// The six pointer arrays of the two grouped GEMMs (A, B, C of gate|up, then of down), each
// `experts` long, at the start of the staged input; the packed rows follow at a 256-byte offset.
struct PointerTable {
  size_t experts = 0;
  size_t bytes() const { return (6 * experts * sizeof(void*) + 255) / 256 * 256; }
  static void** at(void* base, size_t experts, int array) {
    return static_cast<void**>(base) + size_t(array) * experts;
  }
};

enum Phase { kStart, kH2d, kGateUp, kAct, kDown, kD2h, kPhases };

class CudaFfn final : public FfnBackend {
 public:
  CudaFfn(int d_model, int d_ff, size_t shards, int device, bool bf16)
      : d_(size_t(d_model)), f_(size_t(d_ff)), device_(device), bf16_(bf16), weights_(shards) {
    EPBENCH_CUDA_CHECK(cudaSetDevice(device_));
    EPBENCH_CUDA_CHECK(cudaStreamCreate(&stream_));
    try {
      EPBENCH_CUBLAS_CHECK(cublasCreate(&handle_));
      EPBENCH_CUBLAS_CHECK(cublasSetStream(handle_, stream_));
      for (cudaEvent_t& e : events_) EPBENCH_CUDA_CHECK(cudaEventCreate(&e));
    } catch (...) {
      destroy();
      throw;
    }
  }
  ~CudaFfn() override { destroy(); }
  std::string name() const override { return bf16_ ? "cuda-bf16" : "cuda-fp32"; }

  void load(size_t shard, const float* gate, const float* up, const float* down) override {
    EPBENCH_CUDA_CHECK(cudaSetDevice(device_));
    ExpertWeights& w = weights_.at(shard);
    const size_t cells = d_ * f_;
    w.gate_up.reserve(2 * cells * csize());
    w.down.reserve(cells * csize());
    upload(w.gate_up.bytes_at(0), gate, cells);
    upload(w.gate_up.bytes_at(cells * csize()), up, cells);
    upload(w.down.bytes_at(0), down, cells);
    EPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void forward(size_t shard, const float* x, size_t n, float* y) override {
    one_.clear();
    one_.width = d_;
    one_.add(shard, n);
    forward_group(one_, x, y);
  }

  void forward_group(const ExpertGroup& g, const float* x, float* y) override {
    const size_t rows = g.total_rows();
    if (rows == 0) return;
    if (g.width != d_)
      throw std::invalid_argument("cuda backend: rows of " + std::to_string(g.width) +
                                  " values, the experts take " + std::to_string(d_));
    EPBENCH_CUDA_CHECK(cudaSetDevice(device_));
    reserve(rows, g.size());  // a no-op once reserve_rows covered this call
    stage(g, x, rows);
    record(kStart);
    copy_in(rows);
    record(kH2d);
    grouped_.run(handle_, gemm_group(g, 0, int(2 * f_), int(d_)), ctype(), ctype(), grouped_ok());
    record(kGateUp);
    silu_mul(rows);
    record(kAct);
    grouped_.run(handle_, gemm_group(g, 3, int(d_), int(f_)), ctype(), ctype(), grouped_ok());
    record(kDown);
    copy_out(rows);
    record(kD2h);
    EPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream_));
    std::memcpy(y, hout_.get(), rows * d_ * sizeof(float));
    times_ = read_times();
  }

  FfnPhaseTimes last_phase_times() const override { return times_; }

  // The same two GEMMs (gate|up fused, down) for one expert's n rows, on scratch buffers.
  void raw_gemms(size_t shard, size_t n) override {
    if (n == 0) return;
    EPBENCH_CUDA_CHECK(cudaSetDevice(device_));
    const ExpertWeights& w = weights_.at(shard);
    reserve(n, 1);
    const int rows = to_int(n, "rows");
    GroupedGemm::gemm(handle_, w.gate_up.get(), x_dev(), ctype(), int(2 * f_), rows, int(d_),
                      gu_.get(), ctype());
    GroupedGemm::gemm(handle_, w.down.get(), h_.get(), ctype(), int(d_), rows, int(f_), y_dev(),
                      ctype());
    EPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void reserve_rows(size_t n) override {
    EPBENCH_CUDA_CHECK(cudaSetDevice(device_));
    reserve(n, weights_.size());
  }

  size_t device_bytes() const override {
    size_t total = in_.bytes() + xc_.bytes() + gu_.bytes() + h_.bytes() + yc_.bytes() + y_.bytes() +
                   staging_.bytes();
    for (const ExpertWeights& w : weights_) total += w.gate_up.bytes() + w.down.bytes();
    return total;
  }

 private:
  cudaDataType_t ctype() const { return bf16_ ? CUDA_R_16BF : CUDA_R_32F; }
  size_t csize() const { return bf16_ ? sizeof(__nv_bfloat16) : sizeof(float); }
  // The grouped API wants 16-byte aligned bf16 matrices: every expert's rows are when both
  // sizes are multiples of 8 values (fp32 has no such rule).
  bool grouped_ok() const { return !bf16_ || (d_ % 8 == 0 && f_ % 8 == 0); }

  // The packed rows in the compute type, and the down GEMM's output.
  void* x_dev() const { return bf16_ ? xc_.get() : in_.bytes_at(table_.bytes()); }
  void* y_dev() const { return bf16_ ? yc_.get() : y_.get(); }

  // Scratch for `rows` packed rows of up to `experts` experts; only grows.
  void reserve(size_t rows, size_t experts) {
    if (experts > table_.experts) table_.experts = experts;
    const size_t in_bytes = table_.bytes() + rows * d_ * sizeof(float);
    in_.reserve(in_bytes), hin_.reserve(in_bytes);
    if (bf16_) xc_.reserve(rows * d_ * csize()), yc_.reserve(rows * d_ * csize());
    gu_.reserve(rows * 2 * f_ * csize());
    h_.reserve(rows * f_ * csize());
    y_.reserve(rows * d_ * sizeof(float)), hout_.reserve(rows * d_ * sizeof(float));
    grouped_.reserve(table_.experts);
    n_.reserve(table_.experts);
  }

  // The pointer tables and the rows into pinned memory, for one copy.
  void stage(const ExpertGroup& g, const float* x, size_t rows) {
    void* t = hin_.get();
    const size_t e = table_.experts;
    n_.clear();
    for (size_t i = 0, r = 0; i < g.size(); r += g.rows[i], ++i) {
      n_.push_back(to_int(g.rows[i], "rows"));
      PointerTable::at(t, e, 0)[i] = weights_.at(g.shard[i]).gate_up.get();
      PointerTable::at(t, e, 1)[i] = static_cast<unsigned char*>(x_dev()) + r * d_ * csize();
      PointerTable::at(t, e, 2)[i] = gu_.bytes_at(r * 2 * f_ * csize());
      PointerTable::at(t, e, 3)[i] = weights_.at(g.shard[i]).down.get();
      PointerTable::at(t, e, 4)[i] = h_.bytes_at(r * f_ * csize());
      PointerTable::at(t, e, 5)[i] = static_cast<unsigned char*>(y_dev()) + r * d_ * csize();
    }
    std::memcpy(hin_.bytes_at(table_.bytes()), x, rows * d_ * sizeof(float));
  }

  // GEMM `first / 3` of the call: pointer arrays first .. first + 2 of the table.
  GemmGroup gemm_group(const ExpertGroup& g, int first, int m, int k) const {
    const size_t e = table_.experts;
    GemmGroup gg;
    gg.m = m, gg.k = k, gg.n = n_.data(), gg.count = int(g.size());
    gg.a = PointerTable::at(hin_.get(), e, first);
    gg.b = PointerTable::at(hin_.get(), e, first + 1);
    gg.c = PointerTable::at(hin_.get(), e, first + 2);
    gg.a_dev = PointerTable::at(in_.get(), e, first);
    gg.b_dev = PointerTable::at(in_.get(), e, first + 1);
    gg.c_dev = PointerTable::at(in_.get(), e, first + 2);
    return gg;
  }

  void copy_in(size_t rows) {
    const size_t bytes = table_.bytes() + rows * d_ * sizeof(float);
    EPBENCH_CUDA_CHECK(
        cudaMemcpyAsync(in_.get(), hin_.get(), bytes, cudaMemcpyHostToDevice, stream_));
    if (!bf16_) return;
    const size_t cells = rows * d_;
    convert_kernel<<<blocks_for(cells), kThreads, 0, stream_>>>(
        reinterpret_cast<const float*>(in_.bytes_at(table_.bytes())),
        static_cast<__nv_bfloat16*>(xc_.get()), cells);
    EPBENCH_CUDA_CHECK(cudaGetLastError());
  }

  void copy_out(size_t rows) {
    const size_t cells = rows * d_;
    if (bf16_) {
      convert_kernel<<<blocks_for(cells), kThreads, 0, stream_>>>(
          static_cast<const __nv_bfloat16*>(yc_.get()), static_cast<float*>(y_.get()), cells);
      EPBENCH_CUDA_CHECK(cudaGetLastError());
    }
    EPBENCH_CUDA_CHECK(cudaMemcpyAsync(hout_.get(), y_.get(), cells * sizeof(float),
                                       cudaMemcpyDeviceToHost, stream_));
  }

  void silu_mul(size_t rows) {
    if (bf16_)
      silu_mul_kernel<<<blocks_for(rows * f_), kThreads, 0, stream_>>>(
          static_cast<const __nv_bfloat16*>(gu_.get()), static_cast<__nv_bfloat16*>(h_.get()), rows,
          f_);
    else
      silu_mul_kernel<<<blocks_for(rows * f_), kThreads, 0, stream_>>>(
          static_cast<const float*>(gu_.get()), static_cast<float*>(h_.get()), rows, f_);
    EPBENCH_CUDA_CHECK(cudaGetLastError());
  }

  // Host fp32 -> device memory in the compute type (through a staging buffer for bf16).
  void upload(void* dst, const float* src, size_t cells) {
    if (!bf16_) {
      EPBENCH_CUDA_CHECK(
          cudaMemcpyAsync(dst, src, cells * sizeof(float), cudaMemcpyHostToDevice, stream_));
      return;
    }
    staging_.reserve(cells * sizeof(float));
    EPBENCH_CUDA_CHECK(cudaMemcpyAsync(staging_.get(), src, cells * sizeof(float),
                                       cudaMemcpyHostToDevice, stream_));
    convert_kernel<<<blocks_for(cells), kThreads, 0, stream_>>>(
        static_cast<const float*>(staging_.get()), static_cast<__nv_bfloat16*>(dst), cells);
    EPBENCH_CUDA_CHECK(cudaGetLastError());
  }

  void record(Phase p) { EPBENCH_CUDA_CHECK(cudaEventRecord(events_[p], stream_)); }

  double seconds(Phase from, Phase to) const {
    float ms = 0;
    EPBENCH_CUDA_CHECK(cudaEventElapsedTime(&ms, events_[from], events_[to]));
    return ms * 1e-3;
  }

  FfnPhaseTimes read_times() const {
    FfnPhaseTimes t;
    t.known = true;
    t.h2d = seconds(kStart, kH2d), t.gate_up = seconds(kH2d, kGateUp);
    t.act = seconds(kGateUp, kAct), t.down = seconds(kAct, kDown), t.d2h = seconds(kDown, kD2h);
    return t;
  }

  void destroy() {
    for (cudaEvent_t e : events_)
      if (e) cudaEventDestroy(e);
    if (handle_) cublasDestroy(handle_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  size_t d_, f_;
  int device_;
  bool bf16_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t handle_ = nullptr;
  std::array<cudaEvent_t, kPhases> events_{};
  std::vector<ExpertWeights> weights_;
  PointerTable table_;
  // in_: pointer tables + packed fp32 rows (hin_ is its pinned twin); xc_, yc_: bf16 rows in
  // and out; gu_: [rows, 2 d_ff] gate|up outputs; h_: [rows, d_ff]; y_: fp32 rows out.
  DeviceBuffer in_, xc_, gu_, h_, yc_, y_, staging_;
  PinnedBuffer hin_, hout_;
  GroupedGemm grouped_;
  std::vector<int> n_;
  ExpertGroup one_;
  FfnPhaseTimes times_;
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
