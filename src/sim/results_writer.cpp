#include "sim/results_writer.h"

#include <unistd.h>

#include <ctime>

namespace epbench {

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

void write_results_root(hid_t f, const ResultsHeader& h) {
  h5::write_attr(f, "format", std::string(kResultsFormat));
  h5::write_attr(f, "version", int64_t{kResultsVersion});
  h5::write_attr(f, "tool", h.tool);
  h5::write_attr(f, "command_line", h.command_line);
  h5::write_attr(f, "epbench_version", std::string(EPBENCH_VERSION));
#ifdef EPBENCH_GIT_REVISION
  h5::write_attr(f, "git_revision", std::string(EPBENCH_GIT_REVISION));
#else
  h5::write_attr(f, "git_revision", std::string("unknown"));
#endif
  h5::write_attr(f, "created_at", utc_now());
  h5::write_attr(f, "hosts", h.hosts);
  h5::write_attr(f, "trace", h.trace);
  h5::write_attr(f, "model", h.model);
}

RunAttrs layout_run_attrs(const PreparedLayout& p) {
  const ClusterSpec& c = p.cluster;
  RunAttrs a;
  a.layout = p.path, a.algorithm = p.layout.algorithm, a.fit_trace = p.layout.fit_trace;
  a.fit_begin = p.layout.fit_begin, a.fit_end = p.layout.fit_end;
  a.world_size = c.num_gpus(), a.nodes = c.nodes, a.gpus_per_node = c.gpus_per_node;
  a.slots_per_gpu = c.slots_per_gpu;
  a.cluster = c.name;
  return a;
}

void write_run_attrs(hid_t g, const RunAttrs& a) {
  const auto i64 = [](auto v) { return static_cast<int64_t>(v); };
  h5::write_attr(g, "layout", a.layout);
  h5::write_attr(g, "algorithm", a.algorithm);
  h5::write_attr(g, "fit_trace", a.fit_trace);
  h5::write_attr(g, "fit_begin", i64(a.fit_begin));
  h5::write_attr(g, "fit_end", i64(a.fit_end));
  h5::write_attr(g, "routing", a.routing);
  h5::write_attr(g, "allocation", a.allocation);
  h5::write_attr(g, "batching", a.batching);
  h5::write_attr(g, "batch_size", i64(a.batch_size));
  h5::write_attr(g, "prefill_chunk", i64(a.prefill_chunk));
  h5::write_attr(g, "world_size", i64(a.world_size));
  h5::write_attr(g, "nodes", i64(a.nodes));
  h5::write_attr(g, "gpus_per_node", i64(a.gpus_per_node));
  h5::write_attr(g, "slots_per_gpu", i64(a.slots_per_gpu));
  h5::write_attr(g, "virtual_nodes", i64(a.virtual_nodes));
  h5::write_attr(g, "backend", a.backend);
  h5::write_attr(g, "comm", a.comm);
  h5::write_attr(g, "dtype", a.dtype);
  h5::write_attr(g, "d_model", i64(a.d_model));
  h5::write_attr(g, "d_ff", i64(a.d_ff));
  h5::write_attr(g, "trace", a.trace);
  h5::write_attr(g, "token_begin", i64(a.token_begin));
  h5::write_attr(g, "token_end", i64(a.token_end));
  h5::write_attr(g, "cluster", a.cluster);
}

void write_summary_attrs(hid_t g, const RunSummary& m) {
  h5::write_attr(g, "steps", static_cast<int64_t>(m.steps));
  h5::write_attr(g, "tokens", static_cast<int64_t>(m.tokens));
  h5::write_attr(g, "tokens_per_s", m.tokens_per_s);
  h5::write_attr(g, "step_time_mean", m.step_time_mean);
  h5::write_attr(g, "step_time_p50", m.step_time_p50);
  h5::write_attr(g, "step_time_p99", m.step_time_p99);
  h5::write_attr(g, "lower_bound_time", m.lower_bound_time);
  h5::write_attr(g, "gap_to_lower_bound", m.gap_to_lower_bound);
  h5::write_attr(g, "comm_share", m.comm_share);
  h5::write_attr(g, "imbalance", m.imbalance);
  h5::write_attr(g, "other_node_bytes_per_token", m.other_node_bytes_per_token);
}

CubeWriter::CubeWriter(hid_t group, const std::string& prefix, size_t layers, size_t gpus) {
  h5::DatasetOptions cube;
  cube.extendible = true;
  cube.chunk = {64, layers, gpus};
  const std::vector<hsize_t> dims{0, layers, gpus};
  for (const char* n : {"time/dispatch", "time/compute", "time/combine"})
    f64_.push_back(h5::create_dataset<double>(group, prefix + n, dims, cube));
  for (const char* n : {"bytes/same_node", "bytes/other_node"})
    u64_.push_back(h5::create_dataset<uint64_t>(group, prefix + n, dims, cube));
  for (const char* n : {"tokens/per_gpu", "experts/active"})
    u32_.push_back(h5::create_dataset<uint32_t>(group, prefix + n, dims, cube));
  h5::DatasetOptions row;
  row.extendible = true;
  row.chunk = {4096};
  time_ = h5::create_dataset<double>(group, prefix + "steps/time", {0}, row);
  bound_ = h5::create_dataset<double>(group, prefix + "steps/lower_bound", {0}, row);
  tokens_ = h5::create_dataset<uint32_t>(group, prefix + "steps/tokens", {0}, row);
  prefill_ = h5::create_dataset<uint8_t>(group, prefix + "steps/prefill", {0}, row);
}

void CubeWriter::append(const RunResult& c) {
  const hsize_t n = c.steps;
  append_rows(f64_[0], c.dispatch.data(), n);
  append_rows(f64_[1], c.compute.data(), n);
  append_rows(f64_[2], c.combine.data(), n);
  append_rows(u64_[0], c.bytes_same_node.data(), n);
  append_rows(u64_[1], c.bytes_other_node.data(), n);
  append_rows(u32_[0], c.tokens_per_gpu.data(), n);
  append_rows(u32_[1], c.experts_active.data(), n);
  append_rows(time_, c.step_time.data(), n);
  append_rows(bound_, c.step_lower_bound.data(), n);
  append_rows(tokens_, c.step_tokens.data(), n);
  append_rows(prefill_, c.step_prefill.data(), n);
  rows_ += n;
}

template <class T>
void CubeWriter::append_rows(const h5::Dataset& d, const T* data, hsize_t n) {
  if (n == 0) return;
  h5::extend(d.id(), rows_ + n);
  h5::write_rows<T>(d.id(), rows_, n, data);
}

}  // namespace epbench
