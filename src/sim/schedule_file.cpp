#include "sim/schedule_file.h"

#include <cmath>

#include "common/atomic_file.h"
#include "common/error.h"
#include "io/h5.h"

namespace epbench {

namespace {

template <class T>
void put(hid_t f, const char* name, const std::vector<T>& v) {
  h5::create_parent_groups(f, name);
  h5::write_all<T>(f, name, {v.size()}, v.data());
}

void write_identity(hid_t f, const ScheduleIdentity& id) {
  h5::write_attr(f, "trace", id.trace);
  h5::write_attr(f, "trace_model", id.model);
  h5::write_attr(f, "trace_tokens", id.tokens);
  h5::write_attr(f, "trace_layers", id.layers);
  h5::write_attr(f, "trace_experts", id.experts);
  h5::write_attr(f, "trace_top_k", id.top_k);
  h5::write_attr(f, "trace_requests", id.requests);
  h5::write_attr(f, "trace_range_hash", id.range_hash);
  h5::write_attr(f, "token_begin", id.begin);
  h5::write_attr(f, "token_end", id.end);
  h5::write_attr(f, "layout", id.layout);
  h5::write_attr(f, "layout_hash", id.layout_hash);
  h5::write_attr(f, "layout_nodes", id.nodes);
  h5::write_attr(f, "layout_gpus_per_node", id.gpus_per_node);
  h5::write_attr(f, "layout_slots_per_gpu", id.slots_per_gpu);
}

void write_content(hid_t f, const ScheduleFile& s) {
  h5::write_attr(f, "format", std::string(kScheduleFormat));
  h5::write_attr(f, "version", int64_t{kScheduleVersion});
  write_identity(f, s.id);
  h5::write_attr(f, "routing", s.routing);
  h5::write_attr(f, "policy", s.policy);
  h5::write_attr(f, "cluster", s.cluster);
  h5::write_attr(f, "step_cost", s.step_cost);
  h5::write_attr(f, "rate", s.rate);
  h5::write_attr(f, "command_line", s.command_line);
  const ScheduledSteps& st = s.steps;
  put(f, "steps/start", s.step_start), put(f, "steps/end", s.step_end);
  put(f, "steps/item_offset", st.item_offset);
  put(f, "items/request", st.request), put(f, "items/position", st.position);
  put(f, "items/tokens", st.tokens), put(f, "items/prefill", st.prefill);
  put(f, "items/produces", st.produces), put(f, "items/home", st.home);
  put(f, "items/token_offset", st.token_offset);
  std::vector<uint64_t> absolute(st.token);  // trace token indices, as the trace numbers them
  for (uint64_t& t : absolute) t += static_cast<uint64_t>(s.id.begin);
  put(f, "items/trace_token", absolute);
  put(f, "requests/arrival", s.arrival), put(f, "requests/ttft", s.ttft);
  put(f, "requests/tpot", s.tpot);
  put(f, "requests/prompt", s.prompt), put(f, "requests/output", s.output);
}

}  // namespace

void write_schedule_file(const std::string& path, const ScheduleFile& s) {
  AtomicOutput out(path);
  {
    h5::File f = h5::create_memory_file(path);
    write_content(f.id(), s);
    h5::write_image(f.id(), out);
  }
  out.commit();
}

}  // namespace epbench
