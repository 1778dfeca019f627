// Fuzzes what the trace reader checks: the input does not become the file's bytes (libhdf5
// is not robust against corrupt files, see trace_file.cpp) but decides its contents, which
// are written with the HDF5 API as a well-formed file: each attribute present or not, of the
// right type or another, each dataset's type, shape and a few of its values. Every choice
// read as 0 means "as a correct trace has it", so the empty input is a valid trace and the
// fuzzer mutates from there.
#include <fuzzer/FuzzedDataProvider.h>

#include <bit>
#include <functional>

#include "h5_attr_mutators.h"
#include "trace_checks.h"

namespace {

namespace h5 = epbench::h5;
using Fdp = FuzzedDataProvider;
using epbench::fuzz::int_attr;
using epbench::fuzz::knob;
using epbench::fuzz::string_attr;

// One dataset's description: the shape and values a correct trace has.
struct Spec {
  const char* name;
  int valid_type;  // index into write_typed's switch
  std::vector<hsize_t> dims;
  std::function<double(size_t)> value;
};

template <class T>
void write_as(hid_t f, const std::string& name, const std::vector<hsize_t>& dims,
              const std::vector<double>& v, const std::vector<std::pair<size_t, uint64_t>>& raw) {
  std::vector<T> data(v.size());
  for (size_t i = 0; i < v.size(); ++i) data[i] = static_cast<T>(v[i]);
  // Corrupted elements take raw bits: any integer, or NaN, infinities, negatives for floats.
  for (const auto& [i, bits] : raw) {
    if constexpr (sizeof(T) == 4 && std::is_floating_point_v<T>)
      data[i] = std::bit_cast<T>(static_cast<uint32_t>(bits));
    else if constexpr (std::is_floating_point_v<T>)
      data[i] = std::bit_cast<T>(bits);
    else
      data[i] = static_cast<T>(bits);
  }
  h5::DatasetOptions opt;
  opt.deflate_level = 0;
  h5::write_all<T>(f, name, dims, data.data(), opt);
}

void write_typed(hid_t f, const Spec& s, int type, const std::vector<hsize_t>& dims,
                 const std::vector<double>& v,
                 const std::vector<std::pair<size_t, uint64_t>>& raw) {
  switch (type) {
    case 0:
      return write_as<uint8_t>(f, s.name, dims, v, raw);
    case 1:
      return write_as<uint16_t>(f, s.name, dims, v, raw);
    case 2:
      return write_as<uint32_t>(f, s.name, dims, v, raw);
    case 3:
      return write_as<uint64_t>(f, s.name, dims, v, raw);
    case 4:
      return write_as<int32_t>(f, s.name, dims, v, raw);
    case 5:
      return write_as<float>(f, s.name, dims, v, raw);
    default:
      return write_as<double>(f, s.name, dims, v, raw);
  }
}

// A dataset that declares 2^k rows but stores none (chunked, never written): tiny on disk.
void sparse(hid_t f, const Spec& s, Fdp& p) {
  std::vector<hsize_t> dims = s.dims;
  dims[0] = hsize_t{1} << (20 + p.ConsumeIntegral<uint8_t>() % 24);
  std::vector<hsize_t> chunk = s.dims;
  chunk[0] = 1024;
  for (hsize_t& c : chunk) c = std::max<hsize_t>(c, 1);
  h5::DatasetOptions opt;
  opt.chunk = chunk;
  opt.deflate_level = 0;
  if (s.valid_type == 3)
    h5::create_dataset<uint64_t>(f, s.name, dims, opt);
  else if (s.valid_type == 2)
    h5::create_dataset<uint32_t>(f, s.name, dims, opt);
  else if (s.valid_type == 1)
    h5::create_dataset<uint16_t>(f, s.name, dims, opt);
  else if (s.valid_type == 0)
    h5::create_dataset<uint8_t>(f, s.name, dims, opt);
  else
    h5::create_dataset<float>(f, s.name, dims, opt);
}

void dataset(hid_t f, const Spec& s, Fdp& p) {
  const uint8_t kind = p.ConsumeIntegral<uint8_t>() % 11;
  if (kind == 1) return;  // missing
  if (kind == 10) return sparse(f, s, p);
  const int type = kind >= 3 ? kind - 3 : s.valid_type;
  std::vector<hsize_t> dims = s.dims;
  if (p.ConsumeIntegral<uint8_t>() % 4 == 1) dims.resize(1 + p.ConsumeIntegral<uint8_t>() % 3, 2);
  for (hsize_t& d : dims) d = static_cast<hsize_t>(std::clamp<int64_t>(d + knob(p) % 3, 0, 64));
  size_t n = 1;
  for (hsize_t d : dims) n *= d;
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = s.value(i);
  std::vector<std::pair<size_t, uint64_t>> raw;
  for (int c = p.ConsumeIntegral<uint8_t>() % 4; n && c > 0; --c)
    raw.emplace_back(p.ConsumeIntegral<uint16_t>() % n, p.ConsumeIntegral<uint64_t>());
  write_typed(f, s, type, dims, v, raw);
}

// The sizes a correct trace would have; the header and the shapes are then varied apart.
struct Sizes {
  int L, K, E;
  uint64_t T;
};

void write_header(hid_t f, const Sizes& z, Fdp& p) {
  string_attr(f, "format", epbench::kTraceFormat, p);
  int_attr(f, "version", epbench::kTraceVersion, p);
  string_attr(f, "model", "fuzz", p);
  int_attr(f, "num_layers", z.L, p);
  int_attr(f, "num_experts", z.E, p);
  int_attr(f, "top_k", z.K, p);
  int_attr(f, "d_model", 64, p);
  int_attr(f, "d_ff", 128, p);
}

// Two requests: tokens [0, 2) (one prefill, one decode) and [2, T) (all prefill).
std::vector<Spec> datasets(const Sizes& z) {
  const auto L = static_cast<hsize_t>(z.L), K = static_cast<hsize_t>(z.K);
  const auto lk = static_cast<size_t>(z.L * z.K);
  const auto E = static_cast<size_t>(z.E), K_ = static_cast<size_t>(z.K);
  const uint64_t T = z.T;
  return {
      {"tokens/expert_ids",
       1,
       {T, L, K},
       [=](size_t i) { return static_cast<double>((i / lk + i % lk / K_ + i % K_) % E); }},
      {"tokens/gate_weights", 5, {T, L, K}, [](size_t) { return 0.5; }},
      {"tokens/phase", 0, {T}, [](size_t i) { return i == 1 ? 1.0 : 0.0; }},
      {"tokens/position", 2, {T}, [](size_t i) { return static_cast<double>(i < 2 ? i : i - 2); }},
      {"requests/token_offset",
       3,
       {3},
       [=](size_t i) {
         return static_cast<double>(i == 0 ? 0 : i == 1 ? 2 : T);
       }},
      {"requests/prompt_len", 2, {2}, [=](size_t i) { return i == 0 ? 1.0 : double(T - 2); }},
      {"requests/domain", 1, {2}, [](size_t i) { return static_cast<double>(i); }},
  };
}

void write_trace_file(const std::string& path, Fdp& p) {
  Sizes z;
  z.L = 1 + p.ConsumeIntegral<uint8_t>() % 4;
  z.K = 1 + p.ConsumeIntegral<uint8_t>() % 3;
  z.E = z.K + p.ConsumeIntegral<uint8_t>() % 6;
  z.T = 3 + p.ConsumeIntegral<uint8_t>() % 6;
  h5::File f = h5::create_file(path);
  write_header(f.id(), z, p);
  h5::create_group(f.id(), "tokens");
  h5::create_group(f.id(), "requests");
  for (const Spec& s : datasets(z)) dataset(f.id(), s, p);
  if (h5::exists(f.id(), "requests/domain")) {
    h5::Dataset d = h5::open_dataset(f.id(), "requests/domain");
    if (p.ConsumeIntegral<uint8_t>() % 4 != 1)
      h5::write_attr(d.id(), "names", std::vector<std::string>{"code", "web"});
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fdp p(data, size);
  const std::string path = epbench::fuzz::scratch_path("trace.h5");
  try {
    write_trace_file(path, p);
  } catch (const epbench::InputError&) {
    return 0;  // HDF5 refused to write this shape: nothing to read
  }
  epbench::fuzz::require_hdf5_closed();
  epbench::fuzz::expect_parse_or_input_error([&] { epbench::fuzz::read_and_check_trace(path); });
  epbench::fuzz::require_hdf5_closed();
  return 0;
}
