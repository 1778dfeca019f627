#pragma once
// Reading and writing trace files. Everything read is validated: a bad file raises an
// InputError naming the file, the field and what was expected.
#include <functional>
#include <memory>
#include <string>

#include "common/atomic_file.h"
#include "io/h5.h"
#include "trace/trace.h"

namespace epbench {

// Checks one block's tokens against the header: ids in range, no expert twice in one
// token's top-k, phases 0/1, gate weights finite and >= 0. `file` names the source.
void validate_block(const TraceHeader& h, const TokenBlock& b, const std::string& file);
// Offsets start at 0, strictly increase, end at num_tokens; prompt_len <= length; domains known.
void validate_requests(const TraceHeader& h, const TraceRequests& r, const std::string& file);

class TraceReader {
 public:
  // Opens and validates the header, dataset shapes and the requests; tokens are validated
  // as they are read.
  explicit TraceReader(const std::string& path);

  const std::string& path() const { return path_; }
  const TraceHeader& header() const { return header_; }
  const TraceRequests& requests() const { return requests_; }
  uint64_t chunk_tokens() const { return chunk_tokens_; }

  // gate_weights false: leave them out (evaluate routes by ids alone; they double the memory).
  TokenBlock read(uint64_t first, uint64_t count, bool gate_weights = true) const;
  // Streams every token in order, `block_tokens` at a time (0: the file's chunk size).
  void for_each_block(const std::function<void(const TokenBlock&)>& fn,
                      uint64_t block_tokens = 0) const;

 private:
  std::string path_;
  h5::File file_;
  h5::Dataset ids_, gates_, phase_, position_;
  TraceHeader header_;
  TraceRequests requests_;
  uint64_t chunk_tokens_ = 0;
};

Trace read_trace(const std::string& path);

// Streams a trace to disk: append blocks in order, then finish() with the requests.
// The file appears (renamed from a temporary) only when finish() succeeds.
class TraceWriter {
 public:
  TraceWriter(const std::string& path, const TraceHeader& header);
  void append(const TokenBlock& block);
  void finish(const TraceRequests& requests);
  uint64_t tokens_written() const { return written_; }

 private:
  std::string path_;
  AtomicOutput out_;
  h5::File file_;
  h5::Dataset ids_, gates_, phase_, position_;
  TraceHeader header_;
  uint64_t written_ = 0;
};

void write_trace(const std::string& path, const Trace& trace);

// Tokens per HDF5 chunk for a model shape (about 1 MiB of expert ids).
uint64_t default_chunk_tokens(int num_layers, int top_k);

}  // namespace epbench
