#pragma once
// .npy files as NumPy writes them (format version 1.0, numpy/lib/format.py): the magic, a
// header dict padded so the data starts on a 64-byte boundary, then the elements in C order.
// np.load reads them; so does epbench's NpyReader (trace/import_npy.h).
#include <cstdint>
#include <string>
#include <vector>

namespace epbench {

// A shape as NumPy writes it in a header and prints it: "()", "(3,)", "(3, 4)".
std::string shape_text(const std::vector<uint64_t>& shape);

// The bytes of a little-endian int64 ("<i8") array of `shape` holding `values` (C order).
std::string npy_int64(const std::vector<int64_t>& values, const std::vector<uint64_t>& shape);

}  // namespace epbench
