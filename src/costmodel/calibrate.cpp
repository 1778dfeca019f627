// Fitting the cost model's link and compute parameters to a results file (docs/calibrate.md):
// the samples come from calibration_samples.h, the solver from nnls.h.
#include "costmodel/calibrate.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/numeric.h"
#include "common/strprintf.h"
#include "costmodel/calibration_samples.h"
#include "costmodel/nnls.h"

namespace epbench {

namespace {

using calib::comm_features;
using calib::CommSample;
using calib::kCommFeatures, calib::kSameInd, calib::kSameBytes, calib::kOtherInd,
    calib::kOtherBytes;
using calib::nnls;
using calib::NormalEquations;
using calib::ResultsFile;
using calib::RunMeta;
using calib::Samples;

constexpr double kGB = 1e9, kUs = 1e-6, kTera = 1e12;
// Fewer samples than this leave a fit meaningless: keep the base cluster's parameters.
constexpr size_t kMinSamples = 16;

// One group of compute samples' features: bytes of weights read (per active expert) and FLOPs
// (per pair), and its count and sums of times.
struct Point {
  double bytes, flops, n, sy, syy;
};

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
// quantile loss, each step a non-negative fit, from `c` (the least-squares fit). Measured
// times (`run`) carry noise larger than that bias, mostly upward (preemption, skew): they are
// fitted to their median instead.
constexpr double kPredictedQuantile = 0.1, kMeasuredQuantile = 0.5;

std::vector<double> quantile_fit(const std::vector<CommSample>& kept, unsigned allowed,
                                 std::vector<double> c, double quantile) {
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
      const double w = (r > 0 ? quantile : 1 - quantile) / std::max(std::abs(r), floor);
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
  bool measured = false;  // a `run` file: noisy measurements, not the model's own numbers
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
  const double q = f.measured ? kMeasuredQuantile : kPredictedQuantile;
  const std::vector<double> k = quantile_fit(s.kept, allowed, nnls(s.comm, allowed), q);
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
  // A machine far slower than the base (a CPU calibrated against a GPU preset) may never
  // reach the base's FLOP/s: also start from FLOP rates 10x, 100x, ... 10^8 x lower.
  const double a0 = k[0] > 0 ? k[0] : 1 / base.hbm_bandwidth_Bps;
  for (double b = 10 / base.gpu_flops; b <= 1e8 / base.gpu_flops * 1.01; b *= 10) {
    const MaxFit other = fit_max(pts, a0, b);
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
  for (const std::string& a : cluster_attrs)
    if (is_cluster_preset(a)) return load_cluster(a);
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
  const ResultsFile file(results_path);
  Calibration cal;
  cal.base = pick_base(base_cluster, file.cluster_attrs());
  cal.cluster = cal.base;
  const Samples s = file.read_samples(cal.base.gpus_per_nic);
  cal.runs = s.runs.size();
  shape_from_runs(cal, s.runs);
  Fitter fitter{results_path, cal.base, cal, file.measured()};
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
