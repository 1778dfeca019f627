#include "runtime/device_allocations.h"

#include <atomic>
#include <stdexcept>

namespace epbench {

namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

void note_device_allocation() {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
}

uint64_t device_allocations() {
  return g_allocations.load(std::memory_order_relaxed);
}

void NoDeviceAllocations::check(const std::string& region) const {
  const uint64_t made = device_allocations() - start_;
  if (made > 0)
    throw std::logic_error(std::to_string(made) + " device allocation(s) inside the timed " +
                           region + ": buffers must be reserved before timing");
}

}  // namespace epbench
