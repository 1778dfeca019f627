// The GPU factories of a build without CUDA or NCCL: they say why nothing can run.
#include <stdexcept>

#include "runtime/exchange.h"
#include "runtime/ffn_backend.h"
#include "runtime/gpu_locality.h"
#include "runtime/pack_plan.h"

namespace epbench {

#ifndef EPBENCH_WITH_CUDA
std::unique_ptr<FfnBackend> make_cuda_backend(int, int, size_t, int, bool) {
  throw std::runtime_error("no GPU: epbench was built without CUDA (EPBENCH_WITH_CUDA=OFF)");
}

RankGpu rank_gpu(int) {
  return {};
}

DeviceMemory device_memory(int) {
  return {};
}

void gpu_gather_rows(const float*, size_t, const uint32_t*, size_t, size_t, float*) {
  throw std::runtime_error("no GPU: epbench was built without CUDA (EPBENCH_WITH_CUDA=OFF)");
}

void gpu_scatter_add_rows(const float*, const uint32_t*, size_t, size_t, float*, size_t) {
  throw std::runtime_error("no GPU: epbench was built without CUDA (EPBENCH_WITH_CUDA=OFF)");
}
#endif

#ifndef EPBENCH_WITH_NCCL
std::unique_ptr<Exchange> make_nccl_exchange(MPI_Comm, int) {
  throw std::runtime_error("no GPU: epbench was built without NCCL (EPBENCH_WITH_NCCL=OFF)");
}
#endif

}  // namespace epbench
