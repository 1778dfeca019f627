// Reading trace files: header and shapes are checked on open, tokens as they stream.
#include <algorithm>

#include "common/error.h"
#include "trace/trace_io.h"

namespace epbench {

namespace {

std::string required_string(hid_t file, const std::string& path, const std::string& name) {
  auto v = h5::read_attr_string(file, name);
  if (!v) throw_field_error(path, name, "a string attribute at the root", "none");
  return *v;
}

int required_positive(hid_t file, const std::string& path, const std::string& name,
                      int64_t max_value) {
  auto v = h5::read_attr_int(file, name);
  if (!v) throw_field_error(path, name, "an integer attribute at the root", "none");
  if (*v <= 0 || *v > max_value)
    throw_field_error(path, name, "an integer in [1, " + std::to_string(max_value) + "]",
                      std::to_string(*v));
  return static_cast<int>(*v);
}

TraceHeader read_header(hid_t file, const std::string& path) {
  TraceHeader h;
  const std::string format = required_string(file, path, "format");
  if (format != kTraceFormat)
    throw_field_error(path, "format", std::string("'") + kTraceFormat + "'", "'" + format + "'");
  auto version = h5::read_attr_int(file, "version");
  if (!version) throw_field_error(path, "version", "an integer attribute", "none");
  if (*version < 1 || *version > kTraceVersion)
    throw_field_error(path, "version",
                      "1.." + std::to_string(kTraceVersion) + " (this epbench reads up to " +
                          std::to_string(kTraceVersion) + ")",
                      std::to_string(*version));
  h.version = static_cast<int>(*version);
  h.model = required_string(file, path, "model");
  h.num_layers = required_positive(file, path, "num_layers", 4096);
  h.num_experts = required_positive(file, path, "num_experts", 65535);
  h.top_k = required_positive(file, path, "top_k", h.num_experts);
  h.d_model = required_positive(file, path, "d_model", 1 << 20);
  h.d_ff = required_positive(file, path, "d_ff", 1 << 20);
  h.source = h5::read_attr_string(file, "source").value_or("");
  h.dataset = h5::read_attr_string(file, "dataset").value_or("");
  h.params = h5::read_attr_string(file, "params").value_or("");
  return h;
}

template <class T>
h5::Dataset open_typed(hid_t file, const std::string& path, const std::string& name,
                       const std::string& type_name) {
  if (!h5::exists(file, name)) throw_field_error(path, name, "a dataset", "missing");
  h5::Dataset ds = h5::open_dataset(file, name);
  if (!h5::stored_type_is<T>(ds.id())) throw_field_error(path, name, type_name + " elements");
  return ds;
}

void expect_dims(const std::string& path, const std::string& name, const std::vector<hsize_t>& got,
                 const std::vector<hsize_t>& want) {
  if (got == want) return;
  auto show = [](const std::vector<hsize_t>& d) {
    std::string s = "[";
    for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + "]";
  };
  throw_field_error(path, name, "shape " + show(want), show(got));
}

// The offsets are read a block at a time and checked as they come: a tiny file may declare
// 2^40 offsets without storing them (chunks never written read as zeros), and must fail on
// its first block rather than ask for terabytes. Real offsets increase, so what is kept is at
// most num_tokens + 1 values that the file really holds.
std::vector<uint64_t> read_offsets(hid_t ds, const std::string& path, uint64_t count,
                                   uint64_t num_tokens) {
  constexpr uint64_t kBlock = 1 << 16;
  std::vector<uint64_t> off, block;
  for (uint64_t first = 0; first < count; first += kBlock) {
    block.resize(std::min(kBlock, count - first));
    h5::read_rows(ds, first, block.size(), block.data());
    for (uint64_t v : block) {
      const bool ok = off.empty() ? v == 0 : v > off.back() && v <= num_tokens;
      if (!ok)
        throw_field_error(
            path, "requests/token_offset",
            "strictly increasing offsets from 0 to num_tokens = " + std::to_string(num_tokens),
            std::to_string(v) + " at index " + std::to_string(off.size()));
      off.push_back(v);
    }
  }
  return off;
}

TraceRequests read_requests(hid_t file, const std::string& path, TraceHeader& h) {
  TraceRequests r;
  auto off = open_typed<uint64_t>(file, path, "requests/token_offset", "unsigned integer");
  auto plen = open_typed<uint32_t>(file, path, "requests/prompt_len", "unsigned integer");
  const auto off_dims = h5::dims(off.id());
  if (off_dims.size() != 1 || off_dims[0] < 2)
    throw_field_error(path, "requests/token_offset", "a 1-D array of R+1 >= 2 offsets");
  h.num_requests = off_dims[0] - 1;
  expect_dims(path, "requests/prompt_len", h5::dims(plen.id()), {h.num_requests});
  // Every request has a token, so R <= T; the offsets then show whether the file holds them.
  if (h.num_requests > h.num_tokens)
    throw_field_error(path, "requests/token_offset",
                      "at most num_tokens + 1 = " + std::to_string(h.num_tokens + 1) + " offsets",
                      std::to_string(off_dims[0]));
  r.token_offset = read_offsets(off.id(), path, off_dims[0], h.num_tokens);
  r.prompt_len = h5::read_all<uint32_t>(plen.id());
  if (h5::exists(file, "requests/domain")) {
    auto dom = open_typed<uint16_t>(file, path, "requests/domain", "unsigned integer");
    expect_dims(path, "requests/domain", h5::dims(dom.id()), {h.num_requests});
    auto names = h5::read_attr_strings(dom.id(), "names");
    if (!names) throw_field_error(path, "requests/domain", "a 'names' attribute", "none");
    h.domains = *names;
    r.domain = h5::read_all<uint16_t>(dom.id());
  }
  return r;
}

}  // namespace

TraceReader::TraceReader(const std::string& path) : path_(path) {
  file_ = h5::open_file(path);
  header_ = read_header(file_.id(), path);
  ids_ = open_typed<uint16_t>(file_.id(), path, "tokens/expert_ids", "unsigned 16-bit integer");
  phase_ = open_typed<uint8_t>(file_.id(), path, "tokens/phase", "unsigned 8-bit integer");
  position_ = open_typed<uint32_t>(file_.id(), path, "tokens/position", "unsigned integer");
  const auto id_dims = h5::dims(ids_.id());
  if (id_dims.size() != 3) throw_field_error(path, "tokens/expert_ids", "a 3-D array [T, L, K]");
  header_.num_tokens = id_dims[0];
  const std::vector<hsize_t> want = {header_.num_tokens, static_cast<hsize_t>(header_.num_layers),
                                     static_cast<hsize_t>(header_.top_k)};
  expect_dims(path, "tokens/expert_ids", id_dims, want);
  expect_dims(path, "tokens/phase", h5::dims(phase_.id()), {header_.num_tokens});
  expect_dims(path, "tokens/position", h5::dims(position_.id()), {header_.num_tokens});
  if (h5::exists(file_.id(), "tokens/gate_weights")) {
    gates_ = open_typed<float>(file_.id(), path, "tokens/gate_weights", "floating-point");
    expect_dims(path, "tokens/gate_weights", h5::dims(gates_.id()), want);
    header_.has_gate_weights = true;
  }
  requests_ = read_requests(file_.id(), path, header_);
  validate_requests(header_, requests_, path);
  chunk_tokens_ = default_chunk_tokens(header_.num_layers, header_.top_k);
}

TokenBlock TraceReader::read(uint64_t first, uint64_t count, bool gate_weights) const {
  if (first + count > header_.num_tokens)
    throw InputError(path_ + ": tokens [" + std::to_string(first) + ", " +
                     std::to_string(first + count) + ") requested, the trace has " +
                     std::to_string(header_.num_tokens));
  TokenBlock b;
  b.first_token = first;
  b.num_layers = header_.num_layers;
  b.top_k = header_.top_k;
  TraceHeader h = header_;
  h.has_gate_weights = header_.has_gate_weights && gate_weights;
  b.resize(count, h.has_gate_weights);
  h5::read_rows(ids_.id(), first, count, b.expert_ids.data());
  h5::read_rows(phase_.id(), first, count, b.phase.data());
  h5::read_rows(position_.id(), first, count, b.position.data());
  if (h.has_gate_weights) h5::read_rows(gates_.id(), first, count, b.gate_weights.data());
  validate_block(h, b, path_);
  return b;
}

void TraceReader::for_each_block(const std::function<void(const TokenBlock&)>& fn,
                                 uint64_t block_tokens) const {
  if (block_tokens == 0) block_tokens = chunk_tokens_;
  for (uint64_t first = 0; first < header_.num_tokens; first += block_tokens)
    fn(read(first, std::min(block_tokens, header_.num_tokens - first)));
}

Trace read_trace(const std::string& path) {
  TraceReader reader(path);
  Trace t;
  t.header = reader.header();
  t.requests = reader.requests();
  t.tokens = reader.read(0, t.header.num_tokens);
  return t;
}

uint64_t default_chunk_tokens(int num_layers, int top_k) {
  const uint64_t per_token = static_cast<uint64_t>(num_layers) * top_k * sizeof(uint16_t);
  return std::max<uint64_t>(1024, (1u << 20) / per_token);
}

}  // namespace epbench
