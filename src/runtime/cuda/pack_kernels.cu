// The device permutes of runtime/pack_plan.h: gather rows by index (dispatch pack, local rows)
// and scatter-add rows by index (combine unpack). One block per row, threads over its columns;
// a row may be added to from several sources (a token served on several ranks), hence atomics.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "runtime/device_allocations.h"
#include "runtime/pack_plan.h"

namespace epbench {

namespace {

__global__ void gather_rows_kernel(const float* src, const uint32_t* idx, size_t rows, size_t d,
                                   float* dst) {
  for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* in = src + size_t(idx[r]) * d;
    for (size_t c = threadIdx.x; c < d; c += blockDim.x) dst[r * d + c] = in[c];
  }
}

__global__ void scatter_add_rows_kernel(const float* src, const uint32_t* idx, size_t rows,
                                        size_t d, float* dst) {
  for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
    float* out = dst + size_t(idx[r]) * d;
    for (size_t c = threadIdx.x; c < d; c += blockDim.x) atomicAdd(out + c, src[r * d + c]);
  }
}

void check(cudaError_t rc, const char* what) {
  if (rc != cudaSuccess)
    throw std::runtime_error(std::string("pack kernels: ") + what + ": " + cudaGetErrorString(rc));
}

// Device copies of the host arrays, freed on scope exit.
class Device {
 public:
  ~Device() {
    for (void* p : owned_) {
      note_device_allocation();
      cudaFree(p);
    }
  }
  template <typename T>
  T* upload(const T* host, size_t count) {
    void* p = nullptr;
    note_device_allocation();
    check(cudaMalloc(&p, count * sizeof(T) + 1), "cudaMalloc");
    owned_[used_++] = p;
    if (count) check(cudaMemcpy(p, host, count * sizeof(T), cudaMemcpyHostToDevice), "upload");
    return static_cast<T*>(p);
  }

 private:
  void* owned_[3] = {nullptr, nullptr, nullptr};
  int used_ = 0;
};

constexpr unsigned kThreads = 128;
unsigned blocks(size_t rows) {
  return static_cast<unsigned>(rows < 65535 ? (rows ? rows : 1) : 65535);
}

void require_gpu() {
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) throw std::runtime_error(std::string("no GPU: ") + cudaGetErrorString(rc));
  if (count == 0) throw std::runtime_error("no GPU: no CUDA device visible");
  check(cudaSetDevice(0), "cudaSetDevice");
}

// Uploads src (src_rows rows), idx and dst (dst_rows rows), runs `kernel` over `rows`
// indexed rows, downloads dst.
void run_permute(void (*kernel)(const float*, const uint32_t*, size_t, size_t, float*),
                 const char* name, const float* src, size_t src_rows, const uint32_t* idx,
                 size_t rows, size_t d, float* dst, size_t dst_rows) {
  require_gpu();
  Device dev;
  const float* s = dev.upload(src, src_rows * d);
  const uint32_t* i = dev.upload(idx, rows);
  float* out = dev.upload(dst, dst_rows * d);
  kernel<<<blocks(rows), kThreads>>>(s, i, rows, d, out);
  check(cudaGetLastError(), name);
  check(cudaMemcpy(dst, out, dst_rows * d * sizeof(float), cudaMemcpyDeviceToHost), "download");
}

}  // namespace

void gpu_gather_rows(const float* src, size_t src_rows, const uint32_t* idx, size_t rows, size_t d,
                     float* dst) {
  run_permute(gather_rows_kernel, "gather_rows_kernel", src, src_rows, idx, rows, d, dst, rows);
}

void gpu_scatter_add_rows(const float* src, const uint32_t* idx, size_t rows, size_t d, float* dst,
                          size_t dst_rows) {
  run_permute(scatter_add_rows_kernel, "scatter_add_rows_kernel", src, rows, idx, rows, d, dst,
              dst_rows);
}

}  // namespace epbench
