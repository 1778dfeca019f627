#pragma once
// One GEMM per expert, all in one cuBLAS call: row-major C_i[n_i, m] = X_i[n_i, k] W_i[m, k]^T
// with fp32 accumulation. cuBLAS is column-major, where row-major X is X^T, so each problem is
// C_i^T = op(W_i) X_i^T with op = transpose of W_i's column-major view.
#include <cublas_v2.h>

#include <climits>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/cuda/cuda_buffers.cuh"

// cublasGemmGroupedBatchedEx appeared in cuBLAS 12.5.
#if CUBLAS_VERSION >= 120500
#define EPBENCH_HAVE_GROUPED_GEMM 1
#else
#define EPBENCH_HAVE_GROUPED_GEMM 0
#endif

namespace epbench {

inline int to_int(size_t v, const char* what) {
  if (v > static_cast<size_t>(INT_MAX))
    throw std::runtime_error(std::string("cuda backend: ") + what + " of " + std::to_string(v) +
                             " exceeds cuBLAS's int sizes");
  return static_cast<int>(v);
}

// The problems of one grouped call. The pointer arrays are read by the device (a_dev, b_dev,
// c_dev: the host arrays a, b, c uploaded); everything else stays on the host.
struct GemmGroup {
  int m = 0, k = 0;
  const int* n = nullptr;  // rows per expert
  int count = 0;
  const void* const* a = nullptr;  // weights
  const void* const* b = nullptr;  // inputs
  void* const* c = nullptr;        // outputs
  const void* const* a_dev = nullptr;
  const void* const* b_dev = nullptr;
  void* const* c_dev = nullptr;
};

// The per-problem host arrays cuBLAS reads, grown by reserve() so that calls do not allocate.
class GroupedGemm {
 public:
  void reserve(size_t problems) {
    if (problems <= ld_a_.size()) return;
    trans_a_.assign(problems, CUBLAS_OP_T), trans_b_.assign(problems, CUBLAS_OP_N);
    m_.resize(problems), k_.resize(problems), ld_a_.resize(problems), ld_c_.resize(problems);
    alpha_.assign(problems, 1.f), beta_.assign(problems, 0.f), size_.assign(problems, 1);
  }

  // in: A and B's type; out: C's (equal to `in` for the grouped call's bf16 and fp32 cases).
  void run(cublasHandle_t handle, const GemmGroup& g, cudaDataType_t in, cudaDataType_t out,
           bool grouped) {
    if (g.count == 0) return;
#if EPBENCH_HAVE_GROUPED_GEMM
    if (grouped) {
      reserve(size_t(g.count));
      for (int i = 0; i < g.count; ++i) m_[i] = g.m, k_[i] = g.k, ld_a_[i] = g.k, ld_c_[i] = g.m;
      EPBENCH_CUBLAS_CHECK(cublasGemmGroupedBatchedEx(
          handle, trans_a_.data(), trans_b_.data(), m_.data(), g.n, k_.data(), alpha_.data(),
          g.a_dev, in, ld_a_.data(), g.b_dev, in, ld_a_.data(), beta_.data(), g.c_dev, out,
          ld_c_.data(), g.count, size_.data(), CUBLAS_COMPUTE_32F));
      return;
    }
#else
    (void)grouped;
#endif
    // Without the grouped API (or with pointers it cannot take), one GEMM per expert.
    for (int i = 0; i < g.count; ++i)
      gemm(handle, g.a[i], g.b[i], in, g.m, g.n[i], g.k, g.c[i], out);
  }

  static void gemm(cublasHandle_t handle, const void* w, const void* x, cudaDataType_t in, int m,
                   int n, int k, void* c, cudaDataType_t out) {
    if (n == 0) return;
    const float alpha = 1.f, beta = 0.f;
    EPBENCH_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, w, in, k,
                                      x, in, k, &beta, c, out, m, CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT));
  }

 private:
  std::vector<cublasOperation_t> trans_a_, trans_b_;
  std::vector<int> m_, k_, ld_a_, ld_c_, size_;
  std::vector<float> alpha_, beta_;
};

}  // namespace epbench
