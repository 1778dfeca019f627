#pragma once
// The row permutations of one MoE layer on one rank, as index lists: the CPU runtime's loops
// follow them, and the device permute kernels (runtime/cuda/pack_kernels.cu) take the same
// lists uploaded, so both paths move exactly the rows the dispatch plan says.
//   dispatch: send row i    <- hidden row send_src[i]      (pack, per destination in order)
//             work row R+i  <- hidden row local_src[i]     (R = rows received; no transfer)
//   combine:  y row send_src[i]  += returned row i          (unpack, partial sums summed)
//             y row local_src[i] += expert output row R+i
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/dispatch_plan.h"
#include "runtime/seeded_values.h"

namespace epbench {

struct PackPlan {
  std::vector<uint32_t> send_src;   // [sent rows]: the hidden-state row each send row copies
  std::vector<uint32_t> local_src;  // [local rows]: the hidden-state row each local work row copies
};

void make_pack_plan(const DispatchPlan& plan, PackPlan& out);

// The permutes' contract, on the host (the device kernels must agree with these):
// dst row i = src row idx[i], rows of d floats.
void gather_rows(const float* src, const uint32_t* idx, size_t rows, size_t d, float* dst);
// dst row idx[i] += src row i.
void scatter_add_rows(const float* src, const uint32_t* idx, size_t rows, size_t d, float* dst);

// The CPU dispatch's pack and the combine's add-back through the wire's dtype (rows of d values,
// d * dtype_bytes(t) bytes on the wire): the layer runs these, and `epbench profile` times them.
// wire row i <- src row idx[i], encoded.
void pack_rows(DType t, const float* src, const uint32_t* idx, size_t rows, size_t d,
               unsigned char* wire);
// dst row idx[i] += wire row i, decoded.
void add_back_rows(DType t, const unsigned char* wire, const uint32_t* idx, size_t rows, size_t d,
                   float* dst);

// The device kernels (CUDA builds; "no GPU: ..." std::runtime_error elsewhere), on device 0:
// upload src, idx and dst, run the kernel, download dst. For tests and gpu-check.sh.
void gpu_gather_rows(const float* src, size_t src_rows, const uint32_t* idx, size_t rows, size_t d,
                     float* dst);
void gpu_scatter_add_rows(const float* src, const uint32_t* idx, size_t rows, size_t d, float* dst,
                          size_t dst_rows);

}  // namespace epbench
