// Which GPU a rank uses: local rank modulo the visible devices (the usual one-rank-per-GPU
// convention, which also holds when CUDA_VISIBLE_DEVICES narrows each rank to one device).
#include <cuda_runtime.h>

#include <cctype>

#include "runtime/gpu_locality.h"

namespace epbench {

RankGpu rank_gpu(int local_rank) {
  RankGpu g;
  int count = 0;
  // Any error here (no driver, driver too old, no device) means "no GPU", not a failure.
  if (cudaGetDeviceCount(&count) != cudaSuccess || count <= 0) return g;
  const int device = local_rank % count;
  char bus[32] = {};
  if (cudaDeviceGetPCIBusId(bus, static_cast<int>(sizeof bus), device) != cudaSuccess) return g;
  g.device = device;
  g.pci = bus;
  // CUDA prints hex digits in upper case; lspci and hwloc use lower case.
  for (char& c : g.pci) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return g;
}

DeviceMemory device_memory(int device) {
  DeviceMemory m;
  size_t free = 0, total = 0;
  if (device < 0 || cudaSetDevice(device) != cudaSuccess ||
      cudaMemGetInfo(&free, &total) != cudaSuccess)
    return m;
  m.free = free, m.total = total;
  return m;
}

}  // namespace epbench
