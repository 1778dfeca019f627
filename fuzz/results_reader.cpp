// Fuzzes the results reader (src/results/results_reader.cpp). As in trace_reader.cpp, the
// input does not become the file's bytes (libhdf5 is not robust against corrupt files) but
// decides the contents of a well-formed HDF5 results file: the root's format, version and
// tool; /runs missing, empty, or holding up to 3 configurations (or other objects); each
// configuration's attributes present or not, of the right type or another; each [S, L, G]
// cube missing, of another element type or shape, or declaring up to 2^63 steps it does not
// store; the same under predicted/. With EPBENCH_FUZZ_SAVE=PATH the file
// written for the input is also copied to PATH (a regression test's input). Every choice read as 0
// means "as evaluate writes it", so the empty input is a valid results file. Every accessor of
// ResultsReader and ConfigReader is then called; each succeeds or throws InputError, and what
// read_all returns has the sizes its header promises.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "fuzz_util.h"
#include "h5_attr_mutators.h"
#include "io/h5.h"
#include "results/results_reader.h"
#include "results/schema_names.h"

namespace {

namespace h5 = epbench::h5;
namespace attr = epbench::results::attr;
namespace dset = epbench::results::dset;
using epbench::fuzz::expect_parse_or_input_error;
using epbench::fuzz::require;
using Fdp = FuzzedDataProvider;
using epbench::fuzz::int_attr;
using epbench::fuzz::knob;
using epbench::fuzz::string_attr;

template <class T>
void write_as(hid_t g, const std::string& name, const std::vector<hsize_t>& dims, Fdp& p) {
  size_t n = 1;
  for (hsize_t d : dims) n *= d;
  std::vector<T> data(n);
  for (size_t i = 0; i < n; ++i) data[i] = static_cast<T>(i % 7);
  for (int c = p.ConsumeIntegral<uint8_t>() % 3; n && c > 0; --c)
    data[p.ConsumeIntegral<uint16_t>() % n] = static_cast<T>(p.ConsumeIntegral<int64_t>());
  h5::DatasetOptions opt;
  opt.deflate_level = 0;
  h5::write_all<T>(g, name, dims, data.data(), opt);
}

// One cube: `dims` is [S, L, G] as the configuration's attributes make it; `floating` as the
// schema stores it (f64 seconds, else integer counts).
void cube(hid_t g, const std::string& name, std::vector<hsize_t> dims, bool floating, Fdp& p) {
  const uint8_t kind = p.ConsumeIntegral<uint8_t>() % 12;
  if (kind == 1) return;  // missing
  if (kind == 2) {        // a group where the dataset belongs
    h5::create_group(g, name);
    return;
  }
  if (kind == 3) {  // declares 2^k steps (chunked, never written): tiny on disk
    dims[0] = (hsize_t{1} << (20 + p.ConsumeIntegral<uint8_t>() % 44)) + knob(p);
    h5::DatasetOptions opt;
    opt.chunk = dims;
    opt.chunk[0] = 1024;
    for (hsize_t& c : opt.chunk) c = std::max<hsize_t>(c, 1);
    opt.deflate_level = 0;
    if (floating)
      h5::create_dataset<double>(g, name, dims, opt);
    else
      h5::create_dataset<uint64_t>(g, name, dims, opt);
    return;
  }
  if (p.ConsumeIntegral<uint8_t>() % 4 == 1) dims.resize(p.ConsumeIntegral<uint8_t>() % 5, 2);
  for (hsize_t& d : dims) d = static_cast<hsize_t>(std::clamp<int64_t>(d + knob(p) % 3, 0, 16));
  switch (kind) {
    case 4:
      return write_as<float>(g, name, dims, p);
    case 5:
      return write_as<uint8_t>(g, name, dims, p);
    case 6:
      return write_as<uint32_t>(g, name, dims, p);
    case 7:
      return write_as<int32_t>(g, name, dims, p);
    case 8:
      return write_as<int64_t>(g, name, dims, p);
    case 9:
      return write_as<double>(g, name, dims, p);
    case 10:
      return write_as<uint64_t>(g, name, dims, p);
    default:
      if (floating) return write_as<double>(g, name, dims, p);
      // tokens/per_gpu and experts/active are u32 in the schema, the bytes u64.
      if (name.find("bytes/") != std::string::npos) return write_as<uint64_t>(g, name, dims, p);
      return write_as<uint32_t>(g, name, dims, p);
  }
}

constexpr const char* kCubes[] = {
    dset::time_dispatch,    dset::time_compute,   dset::time_combine,  dset::bytes_same_node,
    dset::bytes_other_node, dset::tokens_per_gpu, dset::experts_active};

bool is_floating(const char* name) {
  return std::string(name).starts_with("time/");
}

void write_config(hid_t runs, const std::string& name, Fdp& p) {
  const uint8_t kind = p.ConsumeIntegral<uint8_t>() % 16;
  if (kind == 1) {  // a dataset where a configuration belongs
    const int64_t one = 1;
    h5::write_all<int64_t>(runs, name, {1}, &one);
    return;
  }
  const h5::Group g = h5::create_group(runs, name);
  const int nodes = 1 + p.ConsumeIntegral<uint8_t>() % 2;
  const int gpn = 1 + p.ConsumeIntegral<uint8_t>() % 3;
  const hsize_t steps = p.ConsumeIntegral<uint8_t>() % 4 + 1;
  const hsize_t layers = p.ConsumeIntegral<uint8_t>() % 3 + 1;
  string_attr(g.id(), attr::layout, "layouts/fuzz.json", p);
  string_attr(g.id(), attr::algorithm, "round-robin", p);
  string_attr(g.id(), attr::routing, "first", p);
  int_attr(g.id(), attr::batch_size, 8, p);
  int_attr(g.id(), attr::nodes, nodes, p);
  int_attr(g.id(), attr::gpus_per_node, gpn, p);
  const std::vector<hsize_t> dims{steps, layers, static_cast<hsize_t>(nodes * gpn)};
  for (const char* c : kCubes) cube(g.id(), c, dims, is_floating(c), p);
  if (p.ConsumeIntegral<uint8_t>() % 2 == 1)
    for (const char* c : kCubes)
      cube(g.id(), std::string(epbench::results::kPredictedPrefix) + c, dims, is_floating(c), p);
}

void write_results_file(const std::string& path, Fdp& p) {
  h5::File f = h5::create_file(path);
  string_attr(f.id(), attr::format, std::string(epbench::results::kFormat), p);
  int_attr(f.id(), attr::version, epbench::results::kVersion, p);
  string_attr(f.id(), attr::tool, "evaluate", p);
  const uint8_t runs = p.ConsumeIntegral<uint8_t>() % 8;
  if (runs == 1) return;  // no /runs
  if (runs == 2) {        // /runs a dataset
    const int64_t one = 1;
    h5::write_all<int64_t>(f.id(), epbench::results::kRunsGroup, {1}, &one);
    return;
  }
  const h5::Group g = h5::create_group(f.id(), epbench::results::kRunsGroup);
  const int n = runs == 3 ? 0 : 1 + p.ConsumeIntegral<uint8_t>() % 3;
  for (int i = 0; i < n; ++i) {
    std::string name = "round-robin.first.b" + std::to_string(8 << i);
    if (p.ConsumeIntegral<uint8_t>() % 8 == 1) {
      name = p.ConsumeRandomLengthString(16);
      std::replace(name.begin(), name.end(), '\0', '_');  // HDF5 names are C strings
      std::replace(name.begin(), name.end(), '/', '_');   // one link, not a path
    }
    if (name.empty() || name == "." || h5::exists(g.id(), name)) continue;
    write_config(g.id(), name, p);
  }
}

void check_result(const epbench::ConfigResult& r, const std::string& name) {
  require(r.name == name, "read_all: the configuration's name");
  size_t cells = 0;
  require(!__builtin_mul_overflow(r.steps, r.layers, &cells) &&
              !__builtin_mul_overflow(cells, r.gpus, &cells),
          "read_all: steps x layers x GPUs fits in size_t");
  require(r.gpus >= 1, "read_all: at least one GPU");
  require(r.dispatch.size() == cells && r.compute.size() == cells && r.combine.size() == cells &&
              r.bytes_same_node.size() == cells && r.bytes_other_node.size() == cells &&
              r.tokens_per_gpu.size() == cells && r.experts_active.size() == cells,
          "read_all: every cube holds steps x layers x GPUs cells");
}

void read_results(const std::string& path) {
  const epbench::ResultsReader reader(path);
  require(reader.path() == path, "path()");
  require(!reader.config_names().empty(), "at least one configuration");
  expect_parse_or_input_error([&] { (void)reader.tool(); });
  for (const std::string& name : reader.config_names()) {
    const epbench::ConfigReader c = reader.config(name);
    require(c.name() == name, "ConfigReader::name()");
    require(c.field("x") == "/runs/" + name + "/x", "ConfigReader::field()");
    for (const char* a : {attr::layout, attr::algorithm, attr::routing, attr::batch_size})
      expect_parse_or_input_error([&] { (void)c.string_attr(a); });
    size_t gpus = 1;
    for (const char* a : {attr::nodes, attr::gpus_per_node})
      expect_parse_or_input_error([&] {
        const int v = c.int_attr(a, 1);
        require(v >= 1 && v <= (1 << 30), "int_attr in range");
        gpus *= static_cast<size_t>(v);
      });
    expect_parse_or_input_error([&] { (void)c.int_attr(attr::batch_size, 0); });
    for (const std::string prefix : {"", "predicted/"}) {
      std::vector<hsize_t> like;
      for (const char* cb : kCubes)
        expect_parse_or_input_error([&] {
          const h5::Dataset d =
              c.open_cube(prefix + cb, gpus, is_floating(cb), like.empty() ? nullptr : &like);
          const auto dims = h5::dims(d.id());
          require(dims.size() == 3 && dims[2] == gpus, "open_cube: [S, L, G] with G as asked");
          if (like.empty()) like = dims;
        });
      expect_parse_or_input_error([&] { check_result(c.read_all(prefix), name); });
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fdp p(data, size);
  const std::string path = epbench::fuzz::scratch_path("results.h5");
  try {
    write_results_file(path, p);
  } catch (const epbench::InputError&) {
    return 0;  // HDF5 refused to write this (a name it cannot hold): nothing to read
  }
  epbench::fuzz::require_hdf5_closed();
  if (const char* save = std::getenv("EPBENCH_FUZZ_SAVE"))
    std::filesystem::copy_file(path, save, std::filesystem::copy_options::overwrite_existing);
  expect_parse_or_input_error([&] { read_results(path); });
  epbench::fuzz::require_hdf5_closed();
  return 0;
}
