#include "runtime/run_results.h"

#include "common/atomic_file.h"
#include "common/numeric.h"
#include "io/h5.h"
#include "results/schema_names.h"
#include "results/summary.h"

namespace epbench {

namespace attr = results::attr;  // the format's names (results/schema.json)
namespace dset = results::dset;

namespace {

// Per phase: time_<phase>_min / _avg / _max, seconds per step across ranks.
void write_rank_spreads(hid_t g, const ConfigResult& m) {
  const std::pair<const char*, const std::vector<double>*> phases[] = {
      {"dispatch", &m.dispatch}, {"compute", &m.compute}, {"combine", &m.combine}};
  for (const auto& [name, cube] : phases) {
    const RankSpread s = rank_spread(*cube, m.steps, m.layers, m.gpus);
    const std::string base = std::string("time_") + name;
    h5::write_attr(g, base + "_min", s.min);
    h5::write_attr(g, base + "_avg", s.avg);
    h5::write_attr(g, base + "_max", s.max);
  }
}

void write_run_summary(hid_t g, const MeasuredConfig& r) {
  write_summary_attrs(g, summarize(r.measured));
  const ConfigSummary p = summarize(r.predicted);
  h5::write_attr(g, attr::predicted_tokens_per_s, p.tokens_per_s);
  h5::write_attr(g, attr::predicted_step_time_mean, p.step_time_mean);
  h5::write_attr(g, attr::predicted_comm_share, p.comm_share);
  h5::write_attr(g, attr::overhead_vs_raw_alltoallv, r.overhead_alltoallv);
  h5::write_attr(g, attr::overhead_vs_raw_alltoallv_no_counts, r.overhead_alltoallv_no_counts);
  h5::write_attr(g, attr::overhead_vs_raw_gemm, r.overhead_gemm);
  h5::write_attr(g, attr::model_error, r.model_error);
  h5::write_attr(g, attr::check_tokens, static_cast<int64_t>(r.checked_tokens));
  h5::write_attr(g, attr::check_max_error, r.check_max_error);
  write_rank_spreads(g, r.measured);
}

void write_job_facts(hid_t g, const RunFileInfo& info, const ConfigAttrs& a) {
  h5::write_attr(g, attr::trace_d_model, int64_t{info.trace_d_model});
  h5::write_attr(g, attr::trace_d_ff, int64_t{info.trace_d_ff});
  h5::write_attr(g, attr::scaled,
                 int64_t{a.d_model != info.trace_d_model || a.d_ff != info.trace_d_ff});
  h5::write_attr(g, attr::warmup_steps, int64_t{info.warmup});
  h5::write_attr(g, attr::blas_threads, int64_t{info.threads});
  h5::write_attr(g, attr::shard_bytes_per_rank, static_cast<int64_t>(info.shard_bytes_per_rank));
  h5::write_attr(g, attr::rank_hosts, info.rank_hosts);
  std::vector<int64_t> nodes(info.rank_node.begin(), info.rank_node.end());
  h5::write_all<int64_t>(g, dset::ranks_node, {nodes.size()}, nodes.data());
}

template <class T>
void put(hid_t g, const char* name, const std::vector<T>& v) {
  h5::write_all<T>(g, name, {v.size()}, v.data());
}

// run --schedule: per request and per step, measured next to simulated (docs/run.md).
void write_schedule(hid_t config, const ScheduleComparison& c) {
  h5::Group g = h5::create_group(config, "schedule");
  put(g.id(), "arrival", c.arrival);
  put(g.id(), "ttft_measured", c.ttft_measured), put(g.id(), "ttft_simulated", c.ttft_simulated);
  put(g.id(), "tpot_measured", c.tpot_measured), put(g.id(), "tpot_simulated", c.tpot_simulated);
  put(g.id(), "first_step_late", c.first_step_late);
  put(g.id(), "decode_intervals", c.decode_intervals);
  put(g.id(), "step_start", c.step_start), put(g.id(), "step_end", c.step_end);
  put(g.id(), "step_start_simulated", c.sim_step_start);
  put(g.id(), "step_end_simulated", c.sim_step_end);
  h5::write_attr(g.id(), "output_tokens", static_cast<int64_t>(c.output_tokens));
  h5::write_attr(g.id(), "duration_measured", c.duration_measured);
  h5::write_attr(g.id(), "duration_simulated", c.duration_simulated);
}

void write_config(hid_t runs, const RunFileInfo& info, const ConfigAttrs& a,
                  const MeasuredConfig& r) {
  h5::Group g = h5::create_group(runs, r.name);
  write_config_attrs(g.id(), a);
  write_job_facts(g.id(), info, a);
  write_run_summary(g.id(), r);
  const ConfigResult& m = r.measured;
  CubeWriter(g.id(), "", m.layers, m.gpus).append(m);
  CubeWriter(g.id(), results::kPredictedPrefix, m.layers, m.gpus).append(r.predicted);
  const std::vector<hsize_t> cube{m.steps, m.layers, m.gpus};
  h5::write_all<double>(g.id(), dset::raw_alltoallv, cube, r.raw_alltoallv.data());
  h5::write_all<double>(g.id(), dset::raw_gemm, cube, r.raw_gemm.data());
  h5::write_all<double>(g.id(), dset::comm_count_exchange, cube, r.count_exchange.data());
  h5::write_all<double>(g.id(), dset::bench_exchange, cube, r.bench_exchange.data());
  h5::write_all<double>(g.id(), dset::bench_count_exchange, cube, r.bench_count_exchange.data());
  h5::write_all<uint64_t>(g.id(), dset::tokens_per_expert, {m.layers, m.experts},
                          m.tokens_per_expert.data());
  if (!r.schedule.arrival.empty()) write_schedule(g.id(), r.schedule);
}

}  // namespace

void write_run_results(const std::string& path, const RunFileInfo& info,
                       const std::vector<MeasuredConfig>& configs) {
  AtomicOutput out(path);
  {
    h5::File f = h5::create_memory_file(path);
    write_results_root(f.id(), info.header);
    {
      h5::Group runs = h5::create_group(f.id(), results::kRunsGroup);
      for (size_t i = 0; i < configs.size(); ++i)
        write_config(runs.id(), info, info.attrs[i], configs[i]);
    }
    h5::write_image(f.id(), out);
  }
  out.commit();
}

}  // namespace epbench
