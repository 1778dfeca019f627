#pragma once
// One MoE layer on one rank, for real (docs/run.md "One step"): pack the home tokens by
// destination, exchange counts and hidden states, run each resident expert's SwiGLU FFN over
// its tokens, send the gate-weighted partial sums back, and sum them at the home rank. Each
// phase is timed with MPI_Wtime between barriers, so a phase's time on a rank excludes waiting
// for the previous phase elsewhere. The raw baseline repeats the same byte matrices with a bare
// all-to-all and the same GEMM shapes with bare GEMMs.
#include <mpi.h>

#include <cstdint>
#include <vector>

#include "runtime/dispatch_plan.h"
#include "runtime/exchange.h"
#include "runtime/expert_compute.h"
#include "runtime/ffn_backend.h"
#include "runtime/pack_plan.h"
#include "runtime/planted_fault.h"
#include "runtime/seeded_values.h"

namespace epbench {

struct LayerMeasure {
  double dispatch = 0, compute = 0, combine = 0;        // seconds, this rank
  double count_exchange = 0;                            // within dispatch: the counts' Alltoall
  double raw_alltoallv = 0, raw_gemm = 0;               // the baselines of the same shapes
  double bench_exchange = 0, bench_count_exchange = 0;  // dispatch + combine, timed as raw is
  uint64_t bytes_same_node = 0, bytes_other_node = 0;   // sent, dispatch plus combine
  uint32_t pairs = 0, active = 0;                       // token-expert pairs, busy experts
};

class MoeLayerRunner {
 public:
  // node_of[r]: the node of rank r (virtual or real) for byte accounting.
  MoeLayerRunner(MPI_Comm comm, Exchange& exchange, FfnBackend& backend, DType dtype, int d_model,
                 std::vector<int> node_of);

  // x: hidden states of plan.home_tokens, [home, d_model] fp32; y receives the layer's output
  // rows in the same order. shard0: the backend shard of this layer's first local slot.
  void run(const DispatchPlan& plan, size_t shard0, const float* x, float* y, LayerMeasure& m);
  // Grows the backend's and the exchange's buffers for steps of up to `tokens` tokens, each
  // sent to at most top_k ranks: then no timed phase allocates (checked, std::logic_error).
  void reserve(size_t tokens, int top_k);
  // The raw baselines for the plan just run (bare all-to-alls and bare GEMMs), and our
  // dispatch + combine timed the same way (reps repetitions each, medians): docs/run.md.
  void run_baseline(const DispatchPlan& plan, size_t shard0, const float* x, float* y, int reps,
                    LayerMeasure& m);

 private:
  void dispatch(const DispatchPlan& plan, const float* x, LayerMeasure& m);
  void compute(const DispatchPlan& plan, size_t shard0, LayerMeasure& m);
  void combine(const DispatchPlan& plan, float* y);
  void exchange_counts(const DispatchPlan& plan);
  void set_sizes(const DispatchPlan& plan);
  void count_bytes(const DispatchPlan& plan, LayerMeasure& m) const;
  bool wire_is_fp32() const { return dtype_ == DType::kFp32; }

  MPI_Comm comm_;
  Exchange& exchange_;
  FfnBackend& backend_;
  DType dtype_;
  size_t d_, row_bytes_;
  std::vector<int> node_of_;
  int rank_ = 0;
  PlantedFault fault_ = planted_fault();  // kNone outside the tests
  // Byte counts and offsets per peer: dispatch send/receive (the combine swaps them).
  std::vector<size_t> send_bytes_, send_off_, recv_bytes_, recv_off_;
  std::vector<uint64_t> count_send_, count_recv_;
  std::vector<unsigned char> send_buf_, recv_buf_;
  std::vector<float> work_, out_;  // work rows in, their partial sums out
  ExpertScratch scratch_;
  PackPlan pack_;                            // the layer's row permutations (set_sizes)
  std::vector<double> ours_, counts_, raw_;  // run_baseline's repetitions
};

}  // namespace epbench
