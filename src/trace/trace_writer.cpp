// Writing trace files: extendible, chunked, compressed datasets appended block by block.
#include "common/error.h"
#include "trace/trace_io.h"

namespace epbench {

namespace {

template <class T>
h5::Dataset create_token_dataset(hid_t file, const std::string& name, const TraceHeader& h,
                                 bool per_expert) {
  const hsize_t chunk = default_chunk_tokens(h.num_layers, h.top_k);
  std::vector<hsize_t> dims = {0}, chunk_dims = {chunk};
  if (per_expert) {
    dims = {0, static_cast<hsize_t>(h.num_layers), static_cast<hsize_t>(h.top_k)};
    chunk_dims = {chunk, dims[1], dims[2]};
  }
  return h5::create_dataset<T>(file, name, dims, {chunk_dims, true, 1});
}

template <class T>
void append_rows(hid_t ds, uint64_t first, const std::vector<T>& rows, size_t n) {
  h5::extend(ds, first + n);
  h5::write_rows(ds, first, n, rows.data());
}

void write_header_attrs(hid_t file, const TraceHeader& h) {
  h5::write_attr(file, "format", std::string(kTraceFormat));
  h5::write_attr(file, "version", int64_t{kTraceVersion});
  h5::write_attr(file, "model", h.model);
  h5::write_attr(file, "num_layers", int64_t{h.num_layers});
  h5::write_attr(file, "num_experts", int64_t{h.num_experts});
  h5::write_attr(file, "top_k", int64_t{h.top_k});
  h5::write_attr(file, "d_model", int64_t{h.d_model});
  h5::write_attr(file, "d_ff", int64_t{h.d_ff});
  h5::write_attr(file, "source", h.source);
  h5::write_attr(file, "dataset", h.dataset);
  h5::write_attr(file, "params", h.params);
}

}  // namespace

TraceWriter::TraceWriter(const std::string& path, const TraceHeader& header)
    : path_(path), out_(path), header_(header) {
  if (header_.num_layers <= 0 || header_.num_experts <= 0 || header_.top_k <= 0 ||
      header_.top_k > header_.num_experts || header_.num_experts > 65535)
    throw InputError(path + ": cannot write a trace for model '" + header_.model +
                     "': sizes out of range");
  file_ = h5::create_memory_file(path);  // written out whole at finish (common/atomic_file.h)
  ids_ = create_token_dataset<uint16_t>(file_.id(), "tokens/expert_ids", header_, true);
  if (header_.has_gate_weights)
    gates_ = create_token_dataset<float>(file_.id(), "tokens/gate_weights", header_, true);
  phase_ = create_token_dataset<uint8_t>(file_.id(), "tokens/phase", header_, false);
  position_ = create_token_dataset<uint32_t>(file_.id(), "tokens/position", header_, false);
}

void TraceWriter::append(const TokenBlock& block) {
  if (block.first_token != written_)
    throw std::logic_error("TraceWriter: blocks must be appended in order");
  validate_block(header_, block, path_);
  const size_t n = block.size();
  append_rows(ids_.id(), written_, block.expert_ids, n);
  if (header_.has_gate_weights) append_rows(gates_.id(), written_, block.gate_weights, n);
  append_rows(phase_.id(), written_, block.phase, n);
  append_rows(position_.id(), written_, block.position, n);
  written_ += n;
}

void TraceWriter::finish(const TraceRequests& requests) {
  header_.num_tokens = written_;
  header_.num_requests = requests.size();
  validate_requests(header_, requests, path_);
  write_header_attrs(file_.id(), header_);
  const hsize_t r = requests.size();
  h5::write_all(file_.id(), "requests/token_offset", {r + 1}, requests.token_offset.data());
  h5::write_all(file_.id(), "requests/prompt_len", {r}, requests.prompt_len.data());
  if (!requests.domain.empty()) {
    h5::write_all(file_.id(), "requests/domain", {r}, requests.domain.data());
    h5::Dataset dom = h5::open_dataset(file_.id(), "requests/domain");
    h5::write_attr(dom.id(), "names", header_.domains);
  }
  ids_.reset();
  gates_.reset();
  phase_.reset();
  position_.reset();
  h5::write_image(file_.id(), out_);
  if (file_.close() < 0) throw InputError(path_ + ": cannot finish writing the trace");
  out_.commit();
}

void write_trace(const std::string& path, const Trace& trace) {
  TraceWriter w(path, trace.header);
  w.append(trace.tokens);
  w.finish(trace.requests);
}

}  // namespace epbench
