#include "results/serve_writer.h"

#include "common/numeric.h"
#include "io/h5.h"
#include "results/schema_names.h"

namespace epbench {

namespace {

namespace attr = results::attr;
namespace dset = results::dset;

template <class T>
void write_vector(hid_t g, const char* name, const std::vector<T>& v) {
  h5::write_all<T>(g, name, {static_cast<hsize_t>(v.size())}, v.data());
}

void write_serving_attrs(hid_t g, const ServingAttrs& a) {
  h5::write_attr(g, attr::policy, a.policy);
  h5::write_attr(g, attr::arrival, a.arrival);
  h5::write_attr(g, attr::step_cost, a.step_cost);
  h5::write_attr(g, attr::priced_model, a.priced_model);
  h5::write_attr(g, attr::rate, a.rate);
  h5::write_attr(g, attr::cv, a.cv);
  h5::write_attr(g, attr::think_time, a.think_time);
  h5::write_attr(g, attr::slo_ttft, a.slo_ttft);
  h5::write_attr(g, attr::slo_tpot, a.slo_tpot);
  h5::write_attr(g, attr::users, a.users);
  h5::write_attr(g, attr::token_budget, a.token_budget);
  h5::write_attr(g, attr::max_running, a.max_running);
  h5::write_attr(g, attr::seed, a.seed);
  h5::write_attr(g, attr::fixed_prompt_tokens, a.fixed_prompt_tokens);
  h5::write_attr(g, attr::fixed_output_tokens, a.fixed_output_tokens);
  h5::write_attr(g, attr::step_overhead, a.step_overhead);
  h5::write_attr(g, attr::kv_capacity_tokens, a.kv_capacity_tokens);
  h5::write_attr(g, attr::memory_fraction, a.memory_fraction);
}

void write_latency_attrs(hid_t g, const ServeSummary& m) {
  const auto i64 = [](auto v) { return static_cast<int64_t>(v); };
  h5::write_attr(g, attr::requests, i64(m.requests));
  h5::write_attr(g, attr::steps, i64(m.steps));
  h5::write_attr(g, attr::preemptions, i64(m.preemptions));
  h5::write_attr(g, attr::output_tokens, i64(m.output_tokens));
  h5::write_attr(g, attr::prompt_tokens, i64(m.prompt_tokens));
  h5::write_attr(g, attr::saturated, i64(m.saturated));
  const std::pair<const char*, double> values[] = {
      {attr::duration, m.duration},
      {attr::offered_rate, m.offered_rate},
      {attr::request_throughput, m.request_throughput},
      {attr::output_tokens_per_s, m.output_tokens_per_s},
      {attr::total_tokens_per_s, m.total_tokens_per_s},
      {attr::ttft_p50, m.ttft_p50},
      {attr::ttft_p90, m.ttft_p90},
      {attr::ttft_p99, m.ttft_p99},
      {attr::tpot_p50, m.tpot_p50},
      {attr::tpot_p90, m.tpot_p90},
      {attr::tpot_p99, m.tpot_p99},
      {attr::itl_p50, m.itl_p50},
      {attr::itl_p99, m.itl_p99},
      {attr::e2e_p50, m.e2e_p50},
      {attr::e2e_p90, m.e2e_p90},
      {attr::e2e_p99, m.e2e_p99},
      {attr::wait_mean, m.wait_mean},
      {attr::slo_attainment, m.slo_attainment},
      {attr::goodput, m.goodput},
      {attr::mean_in_system, m.mean_in_system},
      {attr::mean_time_in_system, m.mean_time_in_system},
      {attr::kv_peak, m.kv_peak}};
  for (const auto& [name, v] : values) h5::write_attr(g, name, v);
}

void write_requests(hid_t g, const ServedRequests& q) {
  write_vector(g, dset::requests_arrival, q.arrival);
  write_vector(g, dset::requests_admitted, q.admitted);
  write_vector(g, dset::requests_first_token, q.first_token);
  write_vector(g, dset::requests_finish, q.finish);
  write_vector(g, dset::requests_home, q.home);
  write_vector(g, dset::requests_prompt_tokens, q.prompt);
  write_vector(g, dset::requests_output_tokens, q.output);
  write_vector(g, dset::requests_preemptions, q.preemptions);
  write_vector(g, dset::requests_trace_request, q.trace_request);
  write_vector(g, dset::requests_token_offset, q.token_offset);
  write_vector(g, dset::requests_token_time, q.token_time);
}

void write_steps(hid_t g, const ServedSteps& s, size_t gpus) {
  std::vector<uint32_t> tokens(s.size());
  std::vector<uint8_t> prefill(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    tokens[i] = s.prefill_tokens[i] + s.decode_tokens[i];
    prefill[i] = s.prefill_tokens[i] > 0 ? 1 : 0;
  }
  write_vector(g, dset::steps_start, s.start);
  write_vector(g, dset::steps_time, s.time);
  write_vector(g, dset::steps_tokens, tokens);
  write_vector(g, dset::steps_prefill, prefill);
  write_vector(g, dset::steps_moe, s.moe);
  write_vector(g, dset::steps_dispatch, s.dispatch);
  write_vector(g, dset::steps_compute, s.compute);
  write_vector(g, dset::steps_combine, s.combine);
  write_vector(g, dset::steps_non_moe, s.non_moe);
  write_vector(g, dset::steps_overhead, s.overhead);
  write_vector(g, dset::steps_prefill_tokens, s.prefill_tokens);
  write_vector(g, dset::steps_decode_tokens, s.decode_tokens);
  write_vector(g, dset::steps_running, s.running);
  write_vector(g, dset::steps_waiting, s.waiting);
  write_vector(g, dset::steps_occupancy, s.occupancy);
  write_vector(g, dset::steps_kv_max, s.kv_max);
  write_vector(g, dset::steps_kv_total, s.kv_total);
  if (!s.kv_per_gpu.empty())
    h5::write_all<uint32_t>(g, dset::steps_kv_per_gpu, {s.size(), gpus}, s.kv_per_gpu.data());
}

}  // namespace

void write_serve_run(hid_t runs, const ServeRun& run, const ConfigAttrs& config,
                     const ServingAttrs& serving) {
  h5::Group g = h5::create_group(runs, run.name);
  write_config_attrs(g.id(), config);
  write_serving_attrs(g.id(), serving);
  write_latency_attrs(g.id(), run.summary);
  write_requests(g.id(), run.requests);
  write_steps(g.id(), run.steps, sz(config.world_size));
  if (!run.tokens_per_expert.empty())
    h5::write_all<uint64_t>(g.id(), dset::tokens_per_expert, {run.layers, run.experts},
                            run.tokens_per_expert.data());
}

}  // namespace epbench
