#pragma once
// Attribute writers shared by the HDF5 harnesses (trace_reader, results_reader): each writes
// the valid value when the input's choice reads 0, else a near miss, another type, a list, or
// nothing, so the fuzzer mutates from a correct file.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <vector>

#include "io/h5.h"

namespace epbench::fuzz {

// A small signed change, 0 when the input is used up.
inline int64_t knob(FuzzedDataProvider& p) {
  return static_cast<int8_t>(p.ConsumeIntegral<uint8_t>());
}

inline void int_attr(hid_t obj, const char* name, int64_t valid, FuzzedDataProvider& p) {
  switch (p.ConsumeIntegral<uint8_t>() % 8) {
    case 1:
      return h5::write_attr(obj, name, valid + knob(p));
    case 2:
      return h5::write_attr(obj, name, p.ConsumeIntegral<int64_t>());
    case 3:
      return;  // missing
    case 4:
      return h5::write_attr(obj, name, std::to_string(valid));
    case 5:
      return h5::write_attr(obj, name, static_cast<double>(valid));
    case 6:
      return h5::write_attr(obj, name, std::vector<std::string>{"1", "2"});
    default:
      return h5::write_attr(obj, name, valid);
  }
}

inline void string_attr(hid_t obj, const char* name, const std::string& valid,
                        FuzzedDataProvider& p) {
  switch (p.ConsumeIntegral<uint8_t>() % 6) {
    case 1:
      return h5::write_attr(obj, name, p.ConsumeRandomLengthString(24));
    case 2:
      return;  // missing
    case 3:
      return h5::write_attr(obj, name, int64_t{1});
    case 4:
      return h5::write_attr(obj, name, std::vector<std::string>{valid, valid});
    default:
      return h5::write_attr(obj, name, valid);
  }
}

}  // namespace epbench::fuzz
