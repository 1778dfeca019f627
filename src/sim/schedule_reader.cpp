// Reads a schedule file (sim/schedule_file.h) and refuses, naming the file and the field,
// anything `run --schedule` could not execute exactly: another format or version, a missing
// attribute or dataset, lengths or indices that do not agree.
#include <algorithm>

#include "common/error.h"
#include "io/h5.h"
#include "sim/schedule_file.h"

namespace epbench {

namespace {

class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {
    try {
      f_ = h5::open_file(path);
    } catch (const InputError&) {
      throw_field_error(path, "file", "an HDF5 schedule file", "a truncated or unreadable file");
    }
  }
  hid_t id() const { return f_.id(); }

  std::string text(const char* name) const {
    const auto v = h5::read_attr_string(f_.id(), name);
    if (!v) fail(name, "a string attribute", "nothing");
    return *v;
  }
  int64_t integer(const char* name) const {
    const auto v = h5::read_attr_int(f_.id(), name);
    if (!v) fail(name, "an integer attribute", "nothing");
    return *v;
  }
  double real(const char* name) const {
    const auto v = h5::read_attr_double(f_.id(), name);
    if (!v) fail(name, "a number attribute", "nothing");
    return *v;
  }
  template <class T>
  std::vector<T> data(const char* name, size_t expected_size) const {
    if (!h5::exists(f_.id(), name)) fail(name, "a dataset", "nothing");
    try {
      const h5::Dataset d = h5::open_dataset(f_.id(), name);
      const std::vector<hsize_t> dims = h5::dims(d.id());
      if (!h5::stored_type_is<T>(d.id()) || dims.size() != 1)
        fail(name,
             "a 1-D dataset of the "
             "written type",
             "another");
      std::vector<T> v = h5::read_all<T>(d.id());
      if (expected_size != kAny && v.size() != expected_size)
        fail(name, std::to_string(expected_size) + " values", std::to_string(v.size()));
      return v;
    } catch (const InputError& e) {
      if (std::string(e.what()).find(name) != std::string::npos) throw;
      fail(name, "a readable dataset", e.what());
    }
  }
  [[noreturn]] void fail(const std::string& field, const std::string& expected,
                         const std::string& got) const {
    throw_field_error(path_, field, expected, got);
  }
  static constexpr size_t kAny = static_cast<size_t>(-1);

 private:
  std::string path_;
  h5::File f_;
};

void read_header(const Reader& r, ScheduleFile& s) {
  if (!h5::has_attr(r.id(), "format") || r.text("format") != kScheduleFormat)
    r.fail("format", std::string("\"") + kScheduleFormat + "\"",
           h5::has_attr(r.id(), "format") ? "\"" + r.text("format") + "\"" : "nothing");
  if (r.integer("version") != kScheduleVersion)
    r.fail("version", std::to_string(kScheduleVersion), std::to_string(r.integer("version")));
  ScheduleIdentity& id = s.id;
  id.trace = r.text("trace"), id.model = r.text("trace_model");
  id.tokens = r.integer("trace_tokens"), id.layers = r.integer("trace_layers");
  id.experts = r.integer("trace_experts"), id.top_k = r.integer("trace_top_k");
  id.requests = r.integer("trace_requests"), id.range_hash = r.text("trace_range_hash");
  id.begin = r.integer("token_begin"), id.end = r.integer("token_end");
  if (id.begin < 0 || id.end <= id.begin) r.fail("token_end", "a non-empty range", "an empty one");
  id.layout = r.text("layout"), id.layout_hash = r.text("layout_hash");
  id.nodes = r.integer("layout_nodes"), id.gpus_per_node = r.integer("layout_gpus_per_node");
  id.slots_per_gpu = r.integer("layout_slots_per_gpu");
  s.routing = r.text("routing"), s.policy = r.text("policy"), s.cluster = r.text("cluster");
  s.step_cost = r.text("step_cost"), s.rate = r.real("rate");
  s.command_line = r.text("command_line");
}

template <class T>
void check_offsets(const Reader& r, const char* name, const std::vector<T>& off, size_t total) {
  if (off.empty() || off.front() != 0 || off.back() != total ||
      !std::is_sorted(off.begin(), off.end()))
    r.fail(name, "offsets from 0 rising to " + std::to_string(total), "others");
}

void read_requests(const Reader& r, ScheduleFile& s) {
  s.arrival = r.data<double>("requests/arrival", Reader::kAny);
  const size_t R = s.arrival.size();
  s.ttft = r.data<double>("requests/ttft", R), s.tpot = r.data<double>("requests/tpot", R);
  s.prompt = r.data<uint32_t>("requests/prompt", R);
  s.output = r.data<uint32_t>("requests/output", R);
}

void read_steps(const Reader& r, ScheduleFile& s) {
  ScheduledSteps& st = s.steps;
  s.step_start = r.data<double>("steps/start", Reader::kAny);
  const size_t S = s.step_start.size();
  s.step_end = r.data<double>("steps/end", S);
  st.item_offset = r.data<uint64_t>("steps/item_offset", S + 1);
  st.request = r.data<uint32_t>("items/request", Reader::kAny);
  const size_t I = st.request.size();
  check_offsets(r, "steps/item_offset", st.item_offset, I);
  st.position = r.data<uint32_t>("items/position", I);
  st.tokens = r.data<uint32_t>("items/tokens", I);
  st.prefill = r.data<uint8_t>("items/prefill", I);
  st.produces = r.data<uint8_t>("items/produces", I);
  st.home = r.data<int32_t>("items/home", I);
  st.token_offset = r.data<uint64_t>("items/token_offset", I + 1);
  st.token = r.data<uint64_t>("items/trace_token", Reader::kAny);
  check_offsets(r, "items/token_offset", st.token_offset, st.token.size());
}

// Every index points where the run can follow it; each request produces its output tokens.
void check_items(const Reader& r, ScheduleFile& s) {
  ScheduledSteps& st = s.steps;
  const int64_t gpus = s.id.nodes * s.id.gpus_per_node;
  std::vector<uint32_t> produced(s.requests(), 0);
  for (size_t i = 0; i < st.items(); ++i) {
    if (st.request[i] >= s.requests()) r.fail("items/request", "request indices", "beyond");
    if (st.home[i] < 0 || st.home[i] >= gpus)
      r.fail("items/home", "GPUs below " + std::to_string(gpus), std::to_string(st.home[i]));
    if (st.token_offset[i + 1] - st.token_offset[i] != st.tokens[i])
      r.fail("items/tokens", "the lengths of items/token_offset", "others");
    produced[st.request[i]] += st.produces[i] ? 1 : 0;
  }
  for (size_t q = 0; q < s.requests(); ++q)
    if (produced[q] != s.output[q])
      r.fail("requests/output", "one producing item per output token",
             "request " + std::to_string(q) + " with " + std::to_string(produced[q]));
  for (uint64_t& t : st.token) {
    if (t < static_cast<uint64_t>(s.id.begin) || t >= static_cast<uint64_t>(s.id.end))
      r.fail("items/trace_token", "tokens within token_begin:token_end", std::to_string(t));
    t -= static_cast<uint64_t>(s.id.begin);  // relative to the range, as the run reads it
  }
}

}  // namespace

ScheduleFile read_schedule_file(const std::string& path) {
  const Reader r(path);
  ScheduleFile s;
  read_header(r, s);
  read_requests(r, s);
  read_steps(r, s);
  check_items(r, s);
  return s;
}

}  // namespace epbench
