#pragma once
// Short, explicit conversions for index and counter arithmetic under -Wconversion.
#include <cstddef>
#include <cstdint>

namespace epbench {

inline size_t sz(int v) {
  return static_cast<size_t>(v);
}
inline double dbl(uint64_t v) {
  return static_cast<double>(v);
}

}  // namespace epbench
