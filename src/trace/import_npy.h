#pragma once
// Importing expert choices saved with NumPy (.npy) as a trace, and the small .npy reader it
// needs (written from the format description in numpy/lib/format.py; no Python involved).
// Files are streamed a block of tokens at a time, so a trace larger than memory can be
// imported.
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "io/npy_writer.h"  // shape_text
#include "trace/trace.h"

namespace epbench {

struct ModelPreset;

// What a .npy header says about its array.
struct NpyHeader {
  std::string descr;  // dtype as written, e.g. "<i8"
  char kind = 0;      // 'i' signed, 'u' unsigned, 'f' float, 'b' bool, ...
  int item_size = 0;  // bytes per element
  bool big_endian = false;
  bool fortran_order = false;
  std::vector<uint64_t> shape;
  uint64_t data_offset = 0;  // bytes before the first element

  uint64_t num_elements() const;
};

// Reads a .npy file's elements in storage order, a slice at a time. The constructor checks
// the header, require_*() the dtype and that the file is not truncated (so a bad file fails
// before anything is written); every problem is an InputError naming the file.
class NpyReader {
 public:
  explicit NpyReader(const std::string& path);

  const std::string& path() const { return path_; }
  const NpyHeader& header() const { return header_; }

  // Refuse dtypes the caller cannot use (`what` says what the array holds), then check that
  // the file holds all the data its header announces.
  void require_integer(const std::string& what) const;
  void require_float(const std::string& what) const;

  // The next `count` elements. Integers wider than int64 saturate (they are out of every
  // range epbench accepts anyway).
  void read_ints(uint64_t count, std::vector<int64_t>& out);
  void read_floats(uint64_t count, std::vector<float>& out);

 private:
  void check_data_size() const;
  const unsigned char* read_raw(uint64_t count);

  std::string path_;
  std::ifstream in_;
  NpyHeader header_;
  std::vector<unsigned char> raw_;
  uint64_t consumed_ = 0;  // elements read so far
};

// The order of the two inner axes of a [tokens, ., .] expert-id array.
enum class NpyLayout {
  kTokenLayerK,  // "tlk": [tokens, layers, top_k], epbench's own order
  kTokenKLayer,  // "tkl": [tokens, top_k, layers], the allenai analysis_* sets' exp_ids
};
NpyLayout parse_npy_layout(const std::string& text, const std::string& option = "--layout");
const char* layout_name(NpyLayout layout);

struct NpyImportOptions {
  std::string ids_path;
  NpyLayout layout = NpyLayout::kTokenLayerK;
  std::string offsets_path;            // .npy of R+1 request offsets; or else:
  uint64_t request_length = 0;         // fixed request length (the last one may be shorter)
  std::optional<uint32_t> prompt_len;  // prefill tokens per request; unset: all prefill
  std::string gate_weights_path;       // optional float .npy shaped like the ids
  std::string dataset;                 // empty: the ids file's name
  uint64_t block_tokens = 0;           // tokens per streamed block; 0: about 1M ids
};

// Writes the trace to `output` (atomically: nothing is left behind on error) and returns
// its header.
TraceHeader import_npy(const ModelPreset& model, const NpyImportOptions& options,
                       const std::string& output);

}  // namespace epbench
