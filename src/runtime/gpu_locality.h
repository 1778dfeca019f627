#pragma once
// The CUDA device a rank uses and its PCI address, for the topology map. Kept apart from
// topology.cpp so that only the .cu file needs the CUDA headers.
#include <cstdint>
#include <string>

namespace epbench {

struct RankGpu {
  int device = -1;  // -1: no usable GPU (no CUDA build, no driver, no device)
  std::string pci;  // "0000:3b:00.0", lower case
};

// Device local_rank % device_count and its PCI bus id; any CUDA error means no GPU.
RankGpu rank_gpu(int local_rank);

// Free and total bytes of a device (cudaMemGetInfo); zeros when there is no usable GPU.
struct DeviceMemory {
  uint64_t free = 0, total = 0;
};
DeviceMemory device_memory(int device);

}  // namespace epbench
