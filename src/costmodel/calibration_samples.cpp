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
#include "results/results_reader.h"
#include "results/schema_names.h"

namespace epbench::calib {

namespace {

// The datasets read per run, in this order.
namespace dset = results::dset;
namespace attr = results::attr;
constexpr std::array<const char*, 7> kDatasets = {
    dset::time_dispatch,    dset::time_compute,   dset::time_combine,  dset::bytes_same_node,
    dset::bytes_other_node, dset::tokens_per_gpu, dset::experts_active};
enum DatasetIndex { kDispatch, kCompute, kCombine, kSame, kOther, kTokens, kActive };

int dtype_bytes(const ConfigReader& g, const std::string& path) {
  const auto d = g.string_attr(attr::dtype);
  if (!d) throw_field_error(path, g.field(attr::dtype), "fp32, bf16 or other", "nothing");
  if (*d == "fp32") return 4;
  // evaluate writes "other" for clusters not in bf16; its presets are all bf16.
  if (*d == "bf16" || *d == "fp16" || *d == "other") return 2;
  throw_field_error(path, g.field(attr::dtype), "fp32, bf16, fp16 or other", "\"" + *d + "\"");
}

RunMeta read_meta(const ConfigReader& g, const std::string& path) {
  RunMeta m;
  m.name = g.name();
  m.d_model = g.int_attr(attr::d_model, 1);
  m.d_ff = g.int_attr(attr::d_ff, 1);
  m.nodes = g.int_attr(attr::nodes, 1);
  m.gpus_per_node = g.int_attr(attr::gpus_per_node, 1);
  m.slots = g.int_attr(attr::slots_per_gpu, 1);
  m.bytes_per_value = dtype_bytes(g, path);
  m.dtype_other = g.string_attr(attr::dtype) == std::string("other");
  m.cluster = g.string_attr(attr::cluster).value_or("");
  return m;
}

// The run's datasets, each [steps, layers, GPUs] like time/dispatch and of the right kind.
std::vector<h5::Dataset> open_cubes(const ConfigReader& g, const RunMeta& m) {
  const size_t gpus = sz(m.nodes) * sz(m.gpus_per_node);
  std::vector<h5::Dataset> ds;
  ds.push_back(g.open_cube(kDatasets[0], gpus, true));
  const std::vector<hsize_t> first = h5::dims(ds[0].id());
  for (size_t i = 1; i < kDatasets.size(); ++i)
    ds.push_back(g.open_cube(kDatasets[i], gpus, i <= kCombine, &first));
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

void read_run(const ResultsReader& file, const std::string& name, int gpus_per_nic, Samples& s) {
  const std::string& path = file.path();
  const ConfigReader g = file.config(name);
  const RunMeta meta = read_meta(g, path);
  const std::vector<h5::Dataset> ds = open_cubes(g, meta);
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
    : reader_(std::make_unique<ResultsReader>(path)) {}

ResultsFile::~ResultsFile() = default;

bool ResultsFile::measured() const {
  return reader_->tool() == "run";
}

std::vector<std::string> ResultsFile::cluster_attrs() const {
  std::vector<std::string> attrs;
  for (const std::string& n : reader_->config_names())
    attrs.push_back(reader_->config(n).string_attr(attr::cluster).value_or(""));
  return attrs;
}

Samples ResultsFile::read_samples(int gpus_per_nic) const {
  Samples s;
  for (const std::string& n : reader_->config_names()) read_run(*reader_, n, gpus_per_nic, s);
  return s;
}

}  // namespace epbench::calib
