#pragma once
// Device allocations (cudaMalloc, cudaFree) the runtime makes, counted: a timed region proves
// it made none, so no measured phase pays for an allocator (issue 16). Every device buffer
// calls note_device_allocation() next to each cudaMalloc and cudaFree; the CPU backends make
// none. Buffers are reserved from the run's largest step before anything is timed.
#include <cstdint>
#include <string>

namespace epbench {

void note_device_allocation();
uint64_t device_allocations();  // since the process started

// Taken at the start of a timed region; check() throws std::logic_error naming the region
// when an allocation happened since.
class NoDeviceAllocations {
 public:
  NoDeviceAllocations() : start_(device_allocations()) {}
  void check(const std::string& region) const;

 private:
  uint64_t start_;
};

}  // namespace epbench
