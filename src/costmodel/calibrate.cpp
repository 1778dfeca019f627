// Fitting the cost model's link and compute parameters to a results file (docs/calibrate.md).
#include "costmodel/calibrate.h"

#include <hdf5.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "common/error.h"
#include "common/numeric.h"
#include "common/rng.h"
#include "common/strprintf.h"
#include "io/h5.h"
#include "sim/evaluate.h"

namespace epbench {

namespace {

constexpr double kGB = 1e9, kUs = 1e-6, kTera = 1e12;
// Fewer samples than this leave a fit meaningless: keep the base cluster's parameters.
constexpr size_t kMinSamples = 16;

// ---------------------------------------------------------------------------------------------
// Linear least squares on accumulated normal equations (no sample is kept).

class NormalEquations {
 public:
  explicit NormalEquations(size_t n) : n_(n), xx_(n * n, 0), xy_(n, 0) {}
  void add(const double* x, double y, double weight = 1) {
    for (size_t i = 0; i < n_; ++i) {
      if (x[i] == 0) continue;
      for (size_t j = 0; j < n_; ++j) xx_[i * n_ + j] += weight * x[i] * x[j];
      xy_[i] += weight * x[i] * y;
    }
  }
  // The target's own sums, added once per sample (or group of samples).
  void add_target(double sum_y, double sum_yy, double count) {
    ysum_ += sum_y, yy_ += sum_yy, count_ += count;
  }
  size_t n() const { return n_; }
  double xx(size_t i, size_t j) const { return xx_[i * n_ + j]; }
  double xy(size_t i) const { return xy_[i]; }
  double count() const { return count_; }
  // Residual sum of squares of coefficients c: y'y - 2 c'X'y + c'X'Xc (never below 0).
  double rss(const std::vector<double>& c) const {
    double r = yy_;
    for (size_t i = 0; i < n_; ++i) {
      r -= 2 * c[i] * xy_[i];
      for (size_t j = 0; j < n_; ++j) r += c[i] * xx(i, j) * c[j];
    }
    return std::max(0.0, r);
  }
  FitQuality quality(double rss_value) const {
    FitQuality q;
    q.samples = static_cast<size_t>(count_);
    const double tss = yy_ - (count_ > 0 ? ysum_ * ysum_ / count_ : 0);
    q.r2 = tss > 0 ? 1 - rss_value / tss : 0;
    q.rel_rms = yy_ > 0 ? std::sqrt(rss_value / yy_) : 0;
    return q;
  }

 private:
  size_t n_;
  std::vector<double> xx_, xy_;
  double yy_ = 0, ysum_ = 0, count_ = 0;
};

// Unconstrained least squares on the features in `mask`, columns scaled to unit norm, by
// Gaussian elimination with partial pivoting. Nothing when singular or a coefficient < 0.
std::optional<std::vector<double>> solve_subset(const NormalEquations& ne, unsigned mask) {
  std::vector<size_t> cols;
  for (size_t i = 0; i < ne.n(); ++i)
    if (mask >> i & 1u) cols.push_back(i);
  const size_t k = cols.size();
  std::vector<double> scale(k), a(k * (k + 1));
  for (size_t i = 0; i < k; ++i) {
    if (!(ne.xx(cols[i], cols[i]) > 0)) return std::nullopt;
    scale[i] = std::sqrt(ne.xx(cols[i], cols[i]));
  }
  for (size_t i = 0; i < k; ++i) {
    for (size_t j = 0; j < k; ++j)
      a[i * (k + 1) + j] = ne.xx(cols[i], cols[j]) / (scale[i] * scale[j]);
    a[i * (k + 1) + k] = ne.xy(cols[i]) / scale[i];
  }
  for (size_t p = 0; p < k; ++p) {
    size_t best = p;
    for (size_t r = p + 1; r < k; ++r)
      if (std::abs(a[r * (k + 1) + p]) > std::abs(a[best * (k + 1) + p])) best = r;
    if (std::abs(a[best * (k + 1) + p]) < 1e-9) return std::nullopt;  // (nearly) collinear
    for (size_t j = 0; j <= k; ++j) std::swap(a[p * (k + 1) + j], a[best * (k + 1) + j]);
    for (size_t r = 0; r < k; ++r) {
      if (r == p) continue;
      const double f = a[r * (k + 1) + p] / a[p * (k + 1) + p];
      for (size_t j = p; j <= k; ++j) a[r * (k + 1) + j] -= f * a[p * (k + 1) + j];
    }
  }
  std::vector<double> c(ne.n(), 0);
  for (size_t i = 0; i < k; ++i) {
    c[cols[i]] = a[i * (k + 1) + k] / a[i * (k + 1) + i] / scale[i];
    if (c[cols[i]] < 0) return std::nullopt;
  }
  return c;
}

// Non-negative least squares over the features in `allowed`: with at most a handful of
// features, the best of the unconstrained fits on every subset whose coefficients are all
// >= 0 is the exact NNLS solution (KKT: the optimum solves the plain problem on its support).
std::vector<double> nnls(const NormalEquations& ne, unsigned allowed) {
  std::vector<double> best(ne.n(), 0);
  double best_rss = ne.rss(best);
  for (unsigned mask = 1; mask < (1u << ne.n()); ++mask) {
    if ((mask & ~allowed) != 0) continue;
    const auto c = solve_subset(ne, mask);
    if (!c) continue;
    const double r = ne.rss(*c);
    if (r < best_rss) best = *c, best_rss = r;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Reading a results file.

struct RunMeta {
  std::string name;  // the group's name under /runs
  int d_model = 0, d_ff = 0, bytes_per_value = 2, nodes = 0, gpus_per_node = 0, slots = 0;
  std::string cluster;
  bool dtype_other = false;  // dtype "other": the size is a guess
};

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

// Communication: target dispatch + combine of one GPU in one layer; features, per link class,
// [bytes > 0] and the bytes (other node: the GPU's NIC group's, which share one NIC).
enum CommFeature { kSameInd, kSameBytes, kOtherInd, kOtherBytes, kCommFeatures };

// Compute: the samples grouped by (run, active experts, tokens), which repeat a lot.
struct ComputeKey {
  uint32_t run, active, tokens;
  bool operator==(const ComputeKey&) const = default;
};
struct ComputeKeyHash {
  size_t operator()(const ComputeKey& k) const {
    return std::hash<uint64_t>()((uint64_t{k.run} << 48) ^ (uint64_t{k.active} << 32) ^ k.tokens);
  }
};
struct Group {
  double n = 0, sy = 0, syy = 0;
};
// One group's features: bytes of weights read (per active expert) and FLOPs (per pair).
struct Point {
  double bytes, flops, n, sy, syy;
};

// A communication sample kept for the quantile fit (floats: plenty for a fit, half the memory).
struct CommSample {
  float y, same, nic;
  uint8_t used;  // bit 0: same-node bytes > 0, bit 1: other-node bytes > 0
};
// At most this many are kept (32 MiB); beyond, a uniform reservoir sample of them.
constexpr size_t kMaxCommSamples = size_t{1} << 21;

void comm_features(const CommSample& s, double* x) {
  x[kSameInd] = s.used & 1u, x[kSameBytes] = s.same;
  x[kOtherInd] = s.used >> 1 & 1u, x[kOtherBytes] = s.nic;
}

struct Samples {
  NormalEquations comm{kCommFeatures};  // every sample: least squares and the fit quality
  std::vector<CommSample> kept;
  uint64_t comm_seen = 0, rng = 0x5eed;
  double ind_differ = 0;  // samples where exactly one of the two links was used
  double other_bytes = 0, same_bytes = 0;
  std::unordered_map<ComputeKey, Group, ComputeKeyHash> compute;
  std::vector<RunMeta> runs;
};

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

// ---------------------------------------------------------------------------------------------
// The fits.

// Communication coefficients (per CommFeature) of a cluster: dispatch + combine is twice
// max(send, recv), about twice their mean, and the stored bytes are send + recv: so 2 alpha per
// link used and 1 / beta per stored byte (docs/calibrate.md).
std::vector<double> comm_coefficients(const ClusterSpec& c, int gpus_per_nic) {
  return {2 * c.same_node.latency_s, 1 / c.same_node.bandwidth_Bps, 2 * c.other_node.latency_s,
          1 / (c.other_node.bandwidth_Bps * gpus_per_nic)};
}

// Communication is fitted to a low quantile of the times, not their mean: the model's time is
// 2 max(send, recv), at least the linear prediction from send + recv and equal to it only for a
// GPU that sends as much as it receives, so the right parameters put (almost) every sample on or
// above the fitted plane (docs/calibrate.md). Iteratively reweighted least squares for the
// quantile loss, each step a non-negative fit, from `c` (the least-squares fit).
constexpr double kCommQuantile = 0.1;

std::vector<double> quantile_fit(const std::vector<CommSample>& kept, unsigned allowed,
                                 std::vector<double> c) {
  double mean = 0;
  for (const CommSample& s : kept) mean += s.y;
  const double floor = 1e-6 * mean / dbl(std::max<size_t>(1, kept.size()));
  double x[kCommFeatures];
  for (int iter = 0; iter < 200; ++iter) {
    NormalEquations ne(kCommFeatures);
    for (const CommSample& s : kept) {
      comm_features(s, x);
      double r = s.y;
      for (size_t i = 0; i < kCommFeatures; ++i) r -= c[i] * x[i];
      const double w = (r > 0 ? kCommQuantile : 1 - kCommQuantile) / std::max(std::abs(r), floor);
      ne.add(x, s.y, w);
      ne.add_target(w * s.y, w * s.y * s.y, w);
    }
    const std::vector<double> next = nnls(ne, allowed);
    bool still = true;
    for (size_t i = 0; i < kCommFeatures; ++i)
      still = still && std::abs(next[i] - c[i]) <= 1e-9 * std::max(next[i], c[i]);
    c = next;
    if (still) break;
  }
  return c;
}

struct Fitter {
  const std::string& path;
  const ClusterSpec& base;
  Calibration& cal;
  void keep(const std::string& what, const std::string& why) {
    cal.notes.push_back(what + " kept from " + base.name + ": " + why);
  }
};

// Latency a (coefficient 2 alpha) and bandwidth b (1 / beta, per byte) of one link class.
void set_link(Fitter& f, const char* name, double alpha2, double per_byte, double nic,
              LinkSpec& link) {
  if (alpha2 > 0)
    link.latency_s = alpha2 / 2;
  else
    f.keep(std::string(name) + " latency", "fitted as zero (not identifiable from these samples)");
  if (per_byte > 0)
    link.bandwidth_Bps = 1 / (per_byte * nic);
  else
    f.keep(std::string(name) + " bandwidth",
           "fitted as zero (not identifiable from these samples)");
}

// Same- and other-node bytes in a fixed ratio (one routing on one shape) determine only one
// combination of the two bandwidths: says so when their (uncentred) cosine is near 1.
void warn_if_collinear(Fitter& f, const NormalEquations& ne) {
  const double norm = std::sqrt(ne.xx(kSameBytes, kSameBytes) * ne.xx(kOtherBytes, kOtherBytes));
  const double cosine = norm > 0 ? ne.xx(kSameBytes, kOtherBytes) / norm : 0;
  if (cosine > 0.995)
    f.cal.notes.push_back(strprintf(
        "same- and other-node bytes rise and fall together (cosine %.4f): the two bandwidths are "
        "poorly separated; add runs with another mix (docs/calibrate.md)",
        cosine));
}

// Both latencies from the one fitted on the same-node indicator, in the base's ratio.
std::pair<double, double> split_latency(Fitter& f, double sum) {
  const LinkSpec &s = f.base.same_node, &o = f.base.other_node;
  const double share = s.latency_s / (s.latency_s + o.latency_s);
  f.cal.notes.push_back(
      "latencies: almost every sample used both links, so only their sum "
      "was fitted; split in " +
      f.base.name + "'s ratio");
  return {sum * share, sum * (1 - share)};
}

void fit_links(Fitter& f, const Samples& s) {
  ClusterSpec& c = f.cal.cluster;
  const bool other = s.other_bytes > 0, same = s.same_bytes > 0;
  // Both links used by (nearly) every sample: their latencies cannot be told apart; fit
  // their sum on the same-node indicator.
  const double few = std::max(static_cast<double>(kMinSamples), 0.01 * s.comm.count());
  const bool joint = other && same && s.ind_differ < few;
  const unsigned allowed = (same ? 3u : 0u) | (other ? (joint ? 8u : 12u) : 0u);
  const std::vector<double> k = quantile_fit(s.kept, allowed, nnls(s.comm, allowed));
  auto [a_same, a_other] =
      joint ? split_latency(f, k[kSameInd]) : std::make_pair(k[kSameInd], k[kOtherInd]);
  warn_if_collinear(f, s.comm);
  if (same)
    set_link(f, "same_node", a_same, k[kSameBytes], 1, c.same_node);
  else
    f.keep("same_node link", "no same-node bytes in " + f.path);
  if (other)
    set_link(f, "other_node", a_other, k[kOtherBytes], c.gpus_per_nic, c.other_node);
  else
    f.keep("other_node link", "no other-node bytes in " + f.path + " (one node?)");
}

void fit_comm(Fitter& f, const Samples& s) {
  const size_t n = static_cast<size_t>(s.comm.count());
  if (n < kMinSamples)
    f.keep("both links", strprintf("%zu samples with bytes sent, fewer than %zu", n, kMinSamples));
  else
    fit_links(f, s);
  const ClusterSpec& c = f.cal.cluster;
  f.cal.comm = s.comm.quality(s.comm.rss(comm_coefficients(c, c.gpus_per_nic)));
}

std::vector<Point> compute_points(const Samples& s) {
  std::vector<Point> pts;
  pts.reserve(s.compute.size());
  for (const auto& [key, g] : s.compute) {
    const RunMeta& m = s.runs[key.run];
    const double ffn = static_cast<double>(m.d_model) * m.d_ff;
    pts.push_back(
        {key.active * 3 * ffn * m.bytes_per_value, key.tokens * 6 * ffn, g.n, g.sy, g.syy});
  }
  return pts;
}

// compute = max(bytes * a, flops * b) with a = 1 / hbm_bw, b = 1 / flops: the roofline of a
// GPU whose experts all sit on the same side of it (docs/calibrate.md).
struct MaxFit {
  double a = 0, b = 0, rss = 0;
  double mem_n = 0, flop_n = 0;  // samples on each side of the roofline
};

double max_rss(const std::vector<Point>& pts, double a, double b) {
  double r = 0;
  for (const Point& p : pts) {
    const double pred = std::max(p.bytes * a, p.flops * b);
    r += p.syy - 2 * pred * p.sy + p.n * pred * pred;
  }
  return std::max(0.0, r);
}

// Alternates: assign each group to the side of the roofline that predicts it, refit each
// side's one coefficient by least squares through the origin, until nothing moves.
MaxFit fit_max(const std::vector<Point>& pts, double a, double b) {
  MaxFit m;
  for (int iter = 0; iter < 200; ++iter) {
    double aa = 0, ay = 0, bb = 0, by = 0;
    m.mem_n = m.flop_n = 0;
    for (const Point& p : pts) {
      if (p.bytes * a >= p.flops * b)
        aa += p.n * p.bytes * p.bytes, ay += p.bytes * p.sy, m.mem_n += p.n;
      else
        bb += p.n * p.flops * p.flops, by += p.flops * p.sy, m.flop_n += p.n;
    }
    const double na = aa > 0 ? ay / aa : a, nb = bb > 0 ? by / bb : b;
    const bool still = std::abs(na - a) <= 1e-12 * a && std::abs(nb - b) <= 1e-12 * b;
    a = na, b = nb;
    if (still) break;
  }
  m.a = a, m.b = b, m.rss = max_rss(pts, a, b);
  return m;
}

// Starting points: the base cluster, and the additive fit bytes * a + flops * b.
MaxFit best_max_fit(const std::vector<Point>& pts, const ClusterSpec& base) {
  MaxFit best = fit_max(pts, 1 / base.hbm_bandwidth_Bps, 1 / base.gpu_flops);
  NormalEquations sum(2);
  for (const Point& p : pts) {
    const double x[2] = {p.bytes, p.flops};
    sum.add(x, p.sy / p.n, p.n);
  }
  const std::vector<double> k = nnls(sum, 3u);
  if (k[0] > 0 && k[1] > 0) {
    const MaxFit other = fit_max(pts, k[0], k[1]);
    if (other.rss < best.rss) best = other;
  }
  return best;
}

void fit_compute(Fitter& f, const Samples& s) {
  ClusterSpec& c = f.cal.cluster;
  const std::vector<Point> pts = compute_points(s);
  NormalEquations totals(0);
  for (const Point& p : pts) totals.add_target(p.sy, p.syy, p.n);
  const size_t n = static_cast<size_t>(totals.count());
  if (n < kMinSamples) {
    f.keep("gpu_tflops and hbm_GBps",
           strprintf("%zu compute samples, fewer than %zu", n, kMinSamples));
  } else {
    const MaxFit m = best_max_fit(pts, f.base);
    if (m.mem_n > 0 && m.a > 0)
      c.hbm_bandwidth_Bps = 1 / m.a;
    else
      f.keep("hbm_GBps", "no sample is bound by reading the weights");
    if (m.flop_n > 0 && m.b > 0)
      c.gpu_flops = 1 / m.b;
    else
      f.keep("gpu_tflops", "no sample is bound by FLOPs (too few tokens per expert)");
  }
  f.cal.compute = totals.quality(max_rss(pts, 1 / c.hbm_bandwidth_Bps, 1 / c.gpu_flops));
}

// ---------------------------------------------------------------------------------------------
// The cluster.

ClusterSpec pick_base(const std::string& base, const std::vector<std::string>& cluster_attrs) {
  if (!base.empty()) return load_cluster(base);
  const auto presets = cluster_preset_names();
  for (const std::string& a : cluster_attrs)
    if (std::find(presets.begin(), presets.end(), a) != presets.end()) return load_cluster(a);
  return load_cluster("h800");
}

// The shape and number format of the first run; notes when other runs differ.
void shape_from_runs(Calibration& cal, const std::vector<RunMeta>& runs) {
  const RunMeta& r = runs.front();
  ClusterSpec& c = cal.cluster;
  c.nodes = r.nodes, c.gpus_per_node = r.gpus_per_node, c.slots_per_gpu = r.slots;
  c.bytes_per_activation = c.bytes_per_weight = r.bytes_per_value;
  if (c.gpus_per_node % c.gpus_per_nic != 0) {
    cal.notes.push_back(strprintf("gpus_per_nic %d of %s does not divide %d GPUs per node: 1",
                                  c.gpus_per_nic, cal.base.name.c_str(), c.gpus_per_node));
    c.gpus_per_nic = 1;
  }
  if (r.dtype_other)
    cal.notes.push_back(
        "dtype \"other\" taken as 2 bytes per value (bf16): with another size, "
        "hbm_GBps scales with it");
  for (const RunMeta& m : runs)
    if (m.nodes != r.nodes || m.gpus_per_node != r.gpus_per_node || m.slots != r.slots ||
        m.bytes_per_value != r.bytes_per_value) {
      cal.notes.push_back("runs differ in shape or dtype; the file takes run " + r.name + "'s");
      break;
    }
}

std::string fit_summary(const Calibration& cal) {
  return strprintf(
      "dispatch+combine R^2 %.4f, rel. RMS %.3g over %zu samples; compute R^2 %.4f, "
      "rel. RMS %.3g over %zu samples",
      cal.comm.r2, cal.comm.rel_rms, cal.comm.samples, cal.compute.r2, cal.compute.rel_rms,
      cal.compute.samples);
}

}  // namespace

Calibration calibrate(const std::string& results_path, const std::string& base_cluster) {
  const h5::File f = h5::open_file(results_path);
  check_root(f.id(), results_path);
  const std::vector<std::string> names = run_names(f.id(), results_path);
  std::vector<std::string> cluster_attrs;
  for (const std::string& n : names)
    cluster_attrs.push_back(
        h5::read_attr_string(h5::open_group(f.id(), "runs/" + n).id(), "cluster").value_or(""));
  Calibration cal;
  cal.base = pick_base(base_cluster, cluster_attrs);
  cal.cluster = cal.base;
  Samples s;
  for (const std::string& n : names) read_run(f.id(), results_path, n, cal.base.gpus_per_nic, s);
  cal.runs = s.runs.size();
  shape_from_runs(cal, s.runs);
  Fitter fitter{results_path, cal.base, cal};
  fit_comm(fitter, s);
  fit_compute(fitter, s);
  cal.cluster.name = "calibrated";
  cal.cluster.source = "epbench calibrate " + results_path + " (" + fit_summary(cal) +
                       "); other fields from " + cal.base.name;
  return cal;
}

std::string cluster_json(const ClusterSpec& c) {
  nlohmann::ordered_json j;
  j["format"] = "epbench-cluster";
  j["version"] = 1;
  j["name"] = c.name;
  j["nodes"] = c.nodes;
  j["gpus_per_node"] = c.gpus_per_node;
  j["slots_per_gpu"] = c.slots_per_gpu;
  j["kv_capacity_tokens"] = c.kv_capacity_tokens;
  j["same_node"] = {{"latency_us", c.same_node.latency_s / kUs},
                    {"bandwidth_GBps", c.same_node.bandwidth_Bps / kGB}};
  j["other_node"] = {{"latency_us", c.other_node.latency_s / kUs},
                     {"bandwidth_GBps", c.other_node.bandwidth_Bps / kGB}};
  j["gpus_per_nic"] = c.gpus_per_nic;
  j["gpu_tflops"] = c.gpu_flops / kTera;
  j["hbm_GBps"] = c.hbm_bandwidth_Bps / kGB;
  j["bytes_per_activation"] = c.bytes_per_activation;
  j["bytes_per_weight"] = c.bytes_per_weight;
  j["source"] = c.source;
  return j.dump(2) + "\n";
}

std::string calibration_report(const Calibration& cal) {
  const ClusterSpec &c = cal.cluster, &b = cal.base;
  std::string out = strprintf("%-28s %12s %12s\n", "parameter", "fitted", b.name.c_str());
  const auto row = [&](const char* name, double fitted, double base) {
    out += strprintf("%-28s %12.4g %12.4g\n", name, fitted, base);
  };
  row("same_node latency (us)", c.same_node.latency_s / kUs, b.same_node.latency_s / kUs);
  row("same_node bandwidth (GB/s)", c.same_node.bandwidth_Bps / kGB,
      b.same_node.bandwidth_Bps / kGB);
  row("other_node latency (us)", c.other_node.latency_s / kUs, b.other_node.latency_s / kUs);
  row("other_node bandwidth (GB/s)", c.other_node.bandwidth_Bps / kGB,
      b.other_node.bandwidth_Bps / kGB);
  row("gpu (TFLOP/s)", c.gpu_flops / kTera, b.gpu_flops / kTera);
  row("hbm (GB/s)", c.hbm_bandwidth_Bps / kGB, b.hbm_bandwidth_Bps / kGB);
  out += strprintf("\n%-28s %12s %12s %12s\n", "phase", "samples", "R^2", "rel. RMS");
  out += strprintf("%-28s %12zu %12.4f %12.3g\n", "dispatch+combine", cal.comm.samples, cal.comm.r2,
                   cal.comm.rel_rms);
  out += strprintf("%-28s %12zu %12.4f %12.3g\n", "compute", cal.compute.samples, cal.compute.r2,
                   cal.compute.rel_rms);
  for (const std::string& n : cal.notes) out += "note: " + n + "\n";
  return out;
}

}  // namespace epbench
