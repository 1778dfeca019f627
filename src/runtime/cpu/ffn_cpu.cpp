// The CPU backend: three OpenBLAS sgemm calls per expert and a fused SiLU-and-multiply.
#include <cblas.h>

#include <cmath>
#include <vector>

#include "common/numeric.h"
#include "runtime/ffn_backend.h"

namespace epbench {

namespace {

class CpuFfn final : public FfnBackend {
 public:
  CpuFfn(int d_model, int d_ff, size_t shards, int threads)
      : d_(d_model), f_(d_ff), weights_(shards) {
    openblas_set_num_threads(threads);
  }
  std::string name() const override { return "cpu"; }

  void load(size_t shard, const float* gate, const float* up, const float* down) override {
    const size_t df = sz(d_) * sz(f_);
    Weights& w = weights_.at(shard);
    w.gate.assign(gate, gate + df);
    w.up.assign(up, up + df);
    w.down.assign(down, down + df);
  }

  void forward(size_t shard, const float* x, size_t n, float* y) override {
    if (n == 0) return;
    const Weights& w = weights_.at(shard);
    reserve(n);
    gemms(w, x, n, y);
  }

  void raw_gemms(size_t shard, size_t n) override {
    if (n == 0) return;
    reserve(n);
    const Weights& w = weights_.at(shard);
    const int rows = static_cast<int>(n);
    // The same three products as forward, without the activation between them.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, f_, d_, 1.f, raw_x_.data(), d_,
                w.gate.data(), d_, 0.f, h1_.data(), f_);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, f_, d_, 1.f, raw_x_.data(), d_,
                w.up.data(), d_, 0.f, h3_.data(), f_);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, d_, f_, 1.f, h1_.data(), f_,
                w.down.data(), f_, 0.f, raw_y_.data(), d_);
  }

 private:
  struct Weights {
    std::vector<float> gate, up, down;
  };

  void reserve(size_t n) {
    if (h1_.size() >= n * sz(f_)) return;
    h1_.resize(n * sz(f_));
    h3_.resize(n * sz(f_));
    raw_x_.resize(n * sz(d_), 0.01f);
    raw_y_.resize(n * sz(d_));
  }

  void gemms(const Weights& w, const float* x, size_t n, float* y) {
    const int rows = static_cast<int>(n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, f_, d_, 1.f, x, d_, w.gate.data(),
                d_, 0.f, h1_.data(), f_);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, f_, d_, 1.f, x, d_, w.up.data(), d_,
                0.f, h3_.data(), f_);
    const size_t cells = n * sz(f_);
    for (size_t i = 0; i < cells; ++i) {
      const float g = h1_[i];
      h1_[i] = g / (1.f + std::exp(-g)) * h3_[i];  // silu(gate) * up
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, d_, f_, 1.f, h1_.data(), f_,
                w.down.data(), f_, 0.f, y, d_);
  }

  int d_, f_;
  std::vector<Weights> weights_;
  std::vector<float> h1_, h3_, raw_x_, raw_y_;  // scratch, grown to the largest batch
};

}  // namespace

std::unique_ptr<FfnBackend> make_cpu_backend(int d_model, int d_ff, size_t shards, int threads) {
  return std::make_unique<CpuFfn>(d_model, d_ff, shards, threads);
}

}  // namespace epbench
