#pragma once
// Writing .npy files byte by byte in tests, so malformed headers can be written too.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace epbench::test {

// A minimal .npy writer: header dict padded to 64 bytes, then `data` as given.
inline void write_npy_raw(const std::string& path, const std::string& dict, const std::string& data,
                          int major = 1) {
  const size_t len_bytes = major == 1 ? 2 : 4;
  std::string header = dict;
  while ((6 + 2 + len_bytes + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (size_t b = 0; b < len_bytes; ++b)
    out += static_cast<char>((header.size() >> (8 * b)) & 0xff);
  std::ofstream(path, std::ios::binary) << out << header << data;
}

inline std::string npy_dict(const std::string& descr, const std::vector<uint64_t>& shape,
                            bool fortran = false) {
  std::string s = "(";
  for (uint64_t d : shape) s += std::to_string(d) + ", ";
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + s + "), }";
}

template <class T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

template <class T>
void write_npy(const std::string& path, const std::string& descr,
               const std::vector<uint64_t>& shape, const std::vector<T>& v, int major = 1) {
  write_npy_raw(path, npy_dict(descr, shape), bytes_of(v), major);
}

}  // namespace epbench::test
