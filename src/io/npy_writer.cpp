#include "io/npy_writer.h"

#include <bit>
#include <stdexcept>

namespace epbench {

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

std::string npy_int64(const std::vector<int64_t>& values, const std::vector<uint64_t>& shape) {
  static_assert(std::endian::native == std::endian::little, "npy_int64 writes host order");
  uint64_t count = 1;
  for (uint64_t d : shape) count *= d;
  if (count != values.size()) throw std::logic_error("npy_int64: shape does not match the values");
  std::string header =
      "{'descr': '<i8', 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
  // magic (6) + version (2) + header length (2) + header + '\n', padded to 64 bytes.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t));
  return out;
}

}  // namespace epbench
