#include "results/results_writer.h"

#include <unistd.h>

#include <ctime>

#include "common/atomic_file.h"
#include "results/schema_names.h"

namespace epbench {

namespace attr = results::attr;  // the format's names (schema.json)
namespace dset = results::dset;

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
  h5::write_attr(f, attr::format, std::string(results::kFormat));
  h5::write_attr(f, attr::version, int64_t{results::kVersion});
  h5::write_attr(f, attr::tool, h.tool);
  h5::write_attr(f, attr::command_line, h.command_line);
  h5::write_attr(f, attr::epbench_version, std::string(EPBENCH_VERSION));
#ifdef EPBENCH_GIT_REVISION
  h5::write_attr(f, attr::git_revision, std::string(EPBENCH_GIT_REVISION));
#else
  h5::write_attr(f, attr::git_revision, std::string("unknown"));
#endif
  h5::write_attr(f, attr::created_at, utc_now());
  h5::write_attr(f, attr::hosts, h.hosts);
  h5::write_attr(f, attr::trace, h.trace);
  h5::write_attr(f, attr::model, h.model);
}

void write_results_file(const std::string& path, const ResultsHeader& h,
                        const std::function<void(hid_t runs)>& fill) {
  AtomicOutput out(path);
  {
    h5::File f = h5::create_memory_file(path);
    write_results_root(f.id(), h);
    {
      h5::Group runs = h5::create_group(f.id(), results::kRunsGroup);
      fill(runs.id());
    }
    h5::write_image(f.id(), out);
  }
  out.commit();
}

ConfigAttrs layout_config_attrs(const PreparedLayout& p) {
  const ClusterSpec& c = p.cluster;
  ConfigAttrs a;
  a.layout = p.path, a.algorithm = p.layout.algorithm, a.fit_trace = p.layout.fit_trace;
  a.fit_begin = p.layout.fit_begin, a.fit_end = p.layout.fit_end;
  a.world_size = c.num_gpus(), a.nodes = c.nodes, a.gpus_per_node = c.gpus_per_node;
  a.slots_per_gpu = c.slots_per_gpu;
  a.cluster = c.name;
  return a;
}

void write_config_attrs(hid_t g, const ConfigAttrs& a) {
  const auto i64 = [](auto v) { return static_cast<int64_t>(v); };
  h5::write_attr(g, attr::layout, a.layout);
  h5::write_attr(g, attr::algorithm, a.algorithm);
  h5::write_attr(g, attr::fit_trace, a.fit_trace);
  h5::write_attr(g, attr::fit_begin, i64(a.fit_begin));
  h5::write_attr(g, attr::fit_end, i64(a.fit_end));
  h5::write_attr(g, attr::routing, a.routing);
  h5::write_attr(g, attr::allocation, a.allocation);
  h5::write_attr(g, attr::batching, a.batching);
  h5::write_attr(g, attr::batch_size, i64(a.batch_size));
  h5::write_attr(g, attr::prefill_chunk, i64(a.prefill_chunk));
  h5::write_attr(g, attr::world_size, i64(a.world_size));
  h5::write_attr(g, attr::nodes, i64(a.nodes));
  h5::write_attr(g, attr::gpus_per_node, i64(a.gpus_per_node));
  h5::write_attr(g, attr::slots_per_gpu, i64(a.slots_per_gpu));
  h5::write_attr(g, attr::virtual_nodes, i64(a.virtual_nodes));
  h5::write_attr(g, attr::backend, a.backend);
  h5::write_attr(g, attr::comm, a.comm);
  h5::write_attr(g, attr::dtype, a.dtype);
  h5::write_attr(g, attr::d_model, i64(a.d_model));
  h5::write_attr(g, attr::d_ff, i64(a.d_ff));
  h5::write_attr(g, attr::trace, a.trace);
  h5::write_attr(g, attr::token_begin, i64(a.token_begin));
  h5::write_attr(g, attr::token_end, i64(a.token_end));
  h5::write_attr(g, attr::cluster, a.cluster);
}

void write_summary_attrs(hid_t g, const ConfigSummary& m) {
  h5::write_attr(g, attr::steps, static_cast<int64_t>(m.steps));
  h5::write_attr(g, attr::tokens, static_cast<int64_t>(m.tokens));
  h5::write_attr(g, attr::tokens_per_s, m.tokens_per_s);
  h5::write_attr(g, attr::step_time_mean, m.step_time_mean);
  h5::write_attr(g, attr::step_time_p50, m.step_time_p50);
  h5::write_attr(g, attr::step_time_p99, m.step_time_p99);
  h5::write_attr(g, attr::lower_bound_time, m.lower_bound_time);
  h5::write_attr(g, attr::gap_to_lower_bound, m.gap_to_lower_bound);
  h5::write_attr(g, attr::comm_share, m.comm_share);
  h5::write_attr(g, attr::imbalance, m.imbalance);
  h5::write_attr(g, attr::other_node_bytes_per_token, m.other_node_bytes_per_token);
}

void write_totals(hid_t g, const ConfigResult& r) {
  const std::vector<hsize_t> dims{r.layers, r.gpus};
  h5::write_all<uint64_t>(g, dset::totals_tokens_per_gpu, dims, r.total_pairs.data());
  h5::write_all<uint64_t>(g, dset::totals_bytes_same_node, dims, r.total_bytes_same_node.data());
  h5::write_all<uint64_t>(g, dset::totals_bytes_other_node, dims, r.total_bytes_other_node.data());
}

CubeWriter::CubeWriter(hid_t group, const std::string& prefix, size_t layers, size_t gpus,
                       CubeWriterOptions opt) {
  h5::DatasetOptions cube;
  cube.extendible = true;
  cube.chunk = {64, layers, gpus};
  const std::vector<hsize_t> dims{0, layers, gpus};
  if (opt.cubes) {
    for (const char* n : {dset::time_dispatch, dset::time_compute, dset::time_combine})
      f64_.push_back(h5::create_dataset<double>(group, prefix + n, dims, cube));
    for (const char* n : {dset::bytes_same_node, dset::bytes_other_node})
      u64_.push_back(h5::create_dataset<uint64_t>(group, prefix + n, dims, cube));
    for (const char* n : {dset::tokens_per_gpu, dset::experts_active})
      u32_.push_back(h5::create_dataset<uint32_t>(group, prefix + n, dims, cube));
  }
  h5::DatasetOptions row;
  row.extendible = true;
  row.chunk = {4096};
  time_ = h5::create_dataset<double>(group, prefix + dset::steps_time, {0}, row);
  bound_ = h5::create_dataset<double>(group, prefix + dset::steps_lower_bound, {0}, row);
  tokens_ = h5::create_dataset<uint32_t>(group, prefix + dset::steps_tokens, {0}, row);
  prefill_ = h5::create_dataset<uint8_t>(group, prefix + dset::steps_prefill, {0}, row);
  if (opt.step_phases)
    for (const char* n : {dset::steps_dispatch, dset::steps_compute, dset::steps_combine})
      phases_.push_back(h5::create_dataset<double>(group, prefix + n, {0}, row));
}

void CubeWriter::append(const ConfigResult& c) {
  const hsize_t n = c.steps;
  if (!f64_.empty()) {
    append_rows(f64_[0], c.dispatch.data(), n);
    append_rows(f64_[1], c.compute.data(), n);
    append_rows(f64_[2], c.combine.data(), n);
    append_rows(u64_[0], c.bytes_same_node.data(), n);
    append_rows(u64_[1], c.bytes_other_node.data(), n);
    append_rows(u32_[0], c.tokens_per_gpu.data(), n);
    append_rows(u32_[1], c.experts_active.data(), n);
  }
  if (!phases_.empty()) {
    append_rows(phases_[0], c.step_dispatch.data(), n);
    append_rows(phases_[1], c.step_compute.data(), n);
    append_rows(phases_[2], c.step_combine.data(), n);
  }
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
