// Reading a results file into calibration samples (calibration_samples.h).
#include "costmodel/calibration_samples.h"

#include <hdf5.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "common/error.h"
#include "common/numeric.h"
#include "common/rng.h"
#include "common/strprintf.h"
#include "io/h5.h"
#include "sim/evaluate.h"

namespace epbench::calib {

namespace {

// The datasets read per run, in this order.
constexpr std::array<const char*, 7> kDatasets = {
    "time/dispatch",    "time/compute",   "time/combine",  "bytes/same_node",
    "bytes/other_node", "tokens/per_gpu", "experts/active"};
enum DatasetIndex { kDispatch, kCompute, kCombine, kSame, kOther, kTokens, kActive };

void check_root(hid_t f, const std::string& path) {
  const auto format = h5::read_attr_string(f, "format");
  if (format != std::string(kResultsFormat))
    throw_field_error(path, "format",
                      std::string("\"") + kResultsFormat + "\" (a results file of evaluate or run)",
                      format ? "\"" + *format + "\"" : "nothing");
  const auto version = h5::read_attr_int(f, "version");
  if (version != int64_t{kResultsVersion})
    throw_field_error(path, "version", std::to_string(kResultsVersion),
                      version ? std::to_string(*version) : "nothing");
}

std::vector<std::string> run_names(hid_t f, const std::string& path) {
  if (!h5::exists(f, "runs")) throw_field_error(path, "/runs", "a group of runs", "nothing");
  const h5::Group runs = h5::open_group(f, "runs");
  H5G_info_t info{};
  if (H5Gget_info(runs.id(), &info) < 0 || info.nlinks == 0)
    throw_field_error(path, "/runs", "at least one run", "none");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t n =
        H5Lget_name_by_idx(runs.id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(static_cast<size_t>(std::max<ssize_t>(n, 0)), '\0');
    H5Lget_name_by_idx(runs.id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1,
                       H5P_DEFAULT);
    names.push_back(name);
  }
  return names;
}

int int_attr(hid_t g, const std::string& path, const std::string& where, const char* name,
             int min) {
  const auto v = h5::read_attr_int(g, name);
  if (!v || *v < min || *v > (int64_t{1} << 30))
    throw_field_error(path, where + ": " + name, "an integer >= " + std::to_string(min),
                      v ? std::to_string(*v) : "nothing (attribute missing)");
  return static_cast<int>(*v);
}

int dtype_bytes(hid_t g, const std::string& path, const std::string& where) {
  const auto d = h5::read_attr_string(g, "dtype");
  if (!d) throw_field_error(path, where + ": dtype", "fp32, bf16 or other", "nothing");
  if (*d == "fp32") return 4;
  // evaluate writes "other" for clusters not in bf16; its presets are all bf16.
  if (*d == "bf16" || *d == "fp16" || *d == "other") return 2;
  throw_field_error(path, where + ": dtype", "fp32, bf16, fp16 or other", "\"" + *d + "\"");
}

RunMeta read_meta(hid_t g, const std::string& path, const std::string& name) {
  const std::string where = "/runs/" + name;
  RunMeta m;
  m.name = name;
  m.d_model = int_attr(g, path, where, "d_model", 1);
  m.d_ff = int_attr(g, path, where, "d_ff", 1);
  m.nodes = int_attr(g, path, where, "nodes", 1);
  m.gpus_per_node = int_attr(g, path, where, "gpus_per_node", 1);
  m.slots = int_attr(g, path, where, "slots_per_gpu", 1);
  m.bytes_per_value = dtype_bytes(g, path, where);
  m.dtype_other = h5::read_attr_string(g, "dtype") == std::string("other");
  m.cluster = h5::read_attr_string(g, "cluster").value_or("");
  return m;
}

// Opens the run's datasets and checks that they are [steps, layers, GPUs] of the right kind.
std::vector<h5::Dataset> open_cubes(hid_t g, const std::string& path, const RunMeta& m) {
  const std::string where = "/runs/" + m.name + "/";
  std::vector<h5::Dataset> ds;
  std::vector<hsize_t> first;
  for (size_t i = 0; i < kDatasets.size(); ++i) {
    const std::string field = where + kDatasets[i];
    if (!h5::exists(g, kDatasets[i]))
      throw_field_error(path, field, "a [steps, layers, GPUs] dataset", "nothing (missing)");
    ds.push_back(h5::open_dataset(g, kDatasets[i]));
    const bool is_float = i <= kCombine;
    if (is_float ? !h5::stored_type_is<double>(ds.back().id())
                 : !h5::stored_type_is<uint64_t>(ds.back().id()))
      throw_field_error(path, field, is_float ? "floating-point seconds" : "integer counts",
                        "another type");
    const auto d = h5::dims(ds.back().id());
    if (i == 0) first = d;
    const auto gpus = static_cast<hsize_t>(m.nodes) * static_cast<hsize_t>(m.gpus_per_node);
    if (d.size() != 3 || d != first || d[2] != gpus)
      throw_field_error(path, field,
                        "[steps, layers, " + std::to_string(gpus) +
                            " GPUs] like time/dispatch (nodes x gpus_per_node)",
                        "another shape");
  }
  return ds;
}

// ---------------------------------------------------------------------------------------------
// Accumulating the samples.

// Typed rows of one chunk of steps: [rows, layers, GPUs] each.
struct Chunk {
  std::vector<double> time[3];
  std::vector<uint64_t> bytes[2];
  std::vector<uint32_t> counts[2];
};

void read_chunk(const std::vector<h5::Dataset>& ds, hsize_t first, hsize_t rows, size_t cells,
                Chunk& c) {
  for (size_t i = 0; i < 3; ++i) {
    c.time[i].resize(cells);
    h5::read_rows<double>(ds[i].id(), first, rows, c.time[i].data());
  }
  for (size_t i = 0; i < 2; ++i) {
    c.bytes[i].resize(cells);
    h5::read_rows<uint64_t>(ds[kSame + i].id(), first, rows, c.bytes[i].data());
    c.counts[i].resize(cells);
    h5::read_rows<uint32_t>(ds[kTokens + i].id(), first, rows, c.counts[i].data());
  }
}

// Refuses negative or non-finite times; returns which of the three time datasets has a
// nonzero value in the chunk (bit i for dataset i).
unsigned check_times(const Chunk& c, const std::string& path, const std::string& run) {
  unsigned nonzero = 0;
  for (unsigned i = 0; i < 3; ++i)
    for (double t : c.time[i]) {
      if (!std::isfinite(t) || t < 0)
        throw_field_error(path, "/runs/" + run + "/" + kDatasets[i], "finite times >= 0 (seconds)",
                          strprintf("%g", t));
      if (t > 0) nonzero |= 1u << i;
    }
  return nonzero;
}

// At most this many communication samples are kept (32 MiB); beyond, a uniform reservoir
// sample of them.
constexpr size_t kMaxCommSamples = size_t{1} << 21;

void keep_comm(const CommSample& sample, Samples& s) {
  ++s.comm_seen;
  if (s.kept.size() < kMaxCommSamples) return s.kept.push_back(sample);
  const uint64_t j = splitmix64(s.rng) % s.comm_seen;
  if (j < kMaxCommSamples) s.kept[j] = sample;
}

void add_comm(const Chunk& c, size_t layer_cells, int gpus_per_nic, Samples& s) {
  const size_t gpn = sz(gpus_per_nic);
  for (size_t i = 0; i < c.time[0].size(); ++i) {
    const uint64_t same = c.bytes[0][i], other = c.bytes[1][i];
    if (same == 0 && other == 0) continue;  // no communication: nothing to learn
    const size_t g = i % layer_cells, row = i - g, first = g / gpn * gpn;
    uint64_t nic = 0;
    for (size_t q = first; q < std::min(layer_cells, first + gpn); ++q) nic += c.bytes[1][row + q];
    const double x[kCommFeatures] = {same > 0 ? 1.0 : 0.0, dbl(same), other > 0 ? 1.0 : 0.0,
                                     other > 0 ? dbl(nic) : 0.0};
    const double y = c.time[0][i] + c.time[2][i];
    s.comm.add(x, y);
    s.comm.add_target(y, y * y, 1);
    keep_comm({static_cast<float>(y), static_cast<float>(x[kSameBytes]),
               static_cast<float>(x[kOtherBytes]),
               static_cast<uint8_t>((same > 0 ? 1u : 0u) | (other > 0 ? 2u : 0u))},
              s);
    s.ind_differ += (same > 0) != (other > 0);
    s.same_bytes += dbl(same), s.other_bytes += dbl(other);
  }
}

void add_compute(const Chunk& c, uint32_t run, Samples& s) {
  for (size_t i = 0; i < c.time[1].size(); ++i) {
    const uint32_t tokens = c.counts[0][i], active = c.counts[1][i];
    if (active == 0) continue;  // an idle GPU: nothing to learn
    Group& g = s.compute[{run, active, tokens}];
    const double y = c.time[1][i];
    g.n += 1, g.sy += y, g.syy += y * y;
  }
}

// Which work the run had (bit 0: bytes sent, bit 1: tokens computed), to check its times.
unsigned work_done(const Chunk& c) {
  unsigned w = 0;
  for (size_t i = 0; i < c.bytes[0].size(); ++i) {
    if (c.bytes[0][i] + c.bytes[1][i] > 0) w |= 1u;
    if (c.counts[0][i] > 0) w |= 2u;
  }
  return w;
}

void check_run_times(unsigned nonzero, unsigned work, const std::string& path,
                     const std::string& run) {
  const auto refuse = [&](int i) {
    throw_field_error(path, "/runs/" + run + "/" + kDatasets[sz(i)],
                      "nonzero times where the run did work", "all zeros");
  };
  if ((work & 1u) && !(nonzero & (1u << kDispatch))) refuse(kDispatch);
  if ((work & 1u) && !(nonzero & (1u << kCombine))) refuse(kCombine);
  if ((work & 2u) && !(nonzero & (1u << kCompute))) refuse(kCompute);
}

void read_run(hid_t f, const std::string& path, const std::string& name, int gpus_per_nic,
              Samples& s) {
  const h5::Group g = h5::open_group(f, "runs/" + name);
  const RunMeta meta = read_meta(g.id(), path, name);
  const std::vector<h5::Dataset> ds = open_cubes(g.id(), path, meta);
  const auto d = h5::dims(ds[0].id());
  const size_t layer_cells = sz(meta.nodes * meta.gpus_per_node);
  const hsize_t row_cells = d[1] * d[2];
  const hsize_t step = std::max<hsize_t>(1, (hsize_t{1} << 20) / std::max<hsize_t>(1, row_cells));
  const int nic = meta.gpus_per_node % gpus_per_nic == 0 ? gpus_per_nic : 1;
  unsigned nonzero = 0, work = 0;
  Chunk c;
  for (hsize_t s0 = 0; s0 < d[0]; s0 += step) {
    const hsize_t rows = std::min(step, d[0] - s0);
    read_chunk(ds, s0, rows, static_cast<size_t>(rows * row_cells), c);
    nonzero |= check_times(c, path, name);
    work |= work_done(c);
    add_comm(c, layer_cells, nic, s);
    add_compute(c, static_cast<uint32_t>(s.runs.size()), s);
  }
  check_run_times(nonzero, work, path, name);
  s.runs.push_back(meta);
}

}  // namespace

ResultsFile::ResultsFile(const std::string& path)
    : path_(path), file_(std::make_unique<h5::File>(h5::open_file(path))) {
  check_root(file_->id(), path_);
  names_ = run_names(file_->id(), path_);
}

ResultsFile::~ResultsFile() = default;

bool ResultsFile::measured() const {
  return h5::read_attr_string(file_->id(), "tool").value_or("") == "run";
}

std::vector<std::string> ResultsFile::cluster_attrs() const {
  std::vector<std::string> attrs;
  for (const std::string& n : names_)
    attrs.push_back(h5::read_attr_string(h5::open_group(file_->id(), "runs/" + n).id(), "cluster")
                        .value_or(""));
  return attrs;
}

Samples ResultsFile::read_samples(int gpus_per_nic) const {
  Samples s;
  for (const std::string& n : names_) read_run(file_->id(), path_, n, gpus_per_nic, s);
  return s;
}

}  // namespace epbench::calib
