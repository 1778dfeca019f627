// The .npy reader. Format (numpy/lib/format.py): magic "\x93NUMPY", major and minor version
// bytes, a little-endian header length (2 bytes in version 1.0, 4 in 2.0 and 3.0), then a
// Python dict literal {'descr': '<i8', 'fortran_order': False, 'shape': (3, 4), } padded with
// spaces to an aligned offset, then the raw data.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/progress.h"
#include "model/presets.h"
#include "trace/import_npy.h"
#include "trace/trace_io.h"

namespace epbench {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

uint64_t load_le(const unsigned char* p, int size) {
  uint64_t v = 0;
  for (int b = size - 1; b >= 0; --b) v = (v << 8) | p[b];
  return v;
}

// Enough of a Python literal parser for the header dict numpy writes: strings, True/False,
// tuples of integers. Anything else (a structured dtype's list, say) is refused by field.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& file) : s_(text), file_(file) {}

  NpyHeader parse() {
    NpyHeader h;
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (!peek('}')) {
      const std::string key = string_value("header key");
      expect(':');
      if (key == "descr") {
        h.descr = string_value("descr");
        has_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = bool_value("fortran_order");
        has_order = true;
      } else if (key == "shape") {
        h.shape = tuple_value("shape");
        has_shape = true;
      } else {
        fail("header", "only the keys descr, fortran_order and shape", "'" + key + "'");
      }
      if (!peek('}')) expect(',');
    }
    if (!has_descr) fail("descr", "a 'descr' entry in the header", "none");
    if (!has_order) fail("fortran_order", "a 'fortran_order' entry in the header", "none");
    if (!has_shape) fail("shape", "a 'shape' entry in the header", "none");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& field, const std::string& expected,
                         const std::string& got) const {
    throw_field_error(file_, field, expected, got);
  }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool peek(char c) {
    skip_space();
    return i_ < s_.size() && s_[i_] == c;
  }
  void expect(char c) {
    if (!peek(c)) fail("header", std::string("'") + c + "' in the header dict", rest());
    ++i_;
  }
  std::string rest() const { return "'" + s_.substr(i_, 20) + "'"; }

  std::string string_value(const std::string& field) {
    skip_space();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"'))
      fail(field, "a quoted string (a simple dtype like '<i8')", rest());
    const char quote = s_[i_++];
    const size_t end = s_.find(quote, i_);
    if (end == std::string::npos) fail(field, "a closing quote", rest());
    std::string v = s_.substr(i_, end - i_);
    i_ = end + 1;
    return v;
  }
  bool bool_value(const std::string& field) {
    skip_space();
    for (const char* word : {"True", "False"})
      if (s_.compare(i_, std::strlen(word), word) == 0) {
        i_ += std::strlen(word);
        return word[0] == 'T';
      }
    fail(field, "True or False", rest());
  }
  std::vector<uint64_t> tuple_value(const std::string& field) {
    std::vector<uint64_t> v;
    expect('(');
    while (!peek(')')) {
      if (!std::isdigit(static_cast<unsigned char>(s_[i_])))
        fail(field, "a tuple of non-negative integers", rest());
      uint64_t d = 0;
      for (; i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_])); ++i_) {
        if (d > (std::numeric_limits<uint64_t>::max() - 9) / 10)
          fail(field, "dimensions that fit in 64 bits", rest());
        d = d * 10 + static_cast<uint64_t>(s_[i_] - '0');
      }
      v.push_back(d);
      if (i_ < s_.size() && s_[i_] == 'L') ++i_;  // Python 2 longs
      if (!peek(')')) expect(',');
    }
    ++i_;
    return v;
  }

  const std::string& s_;
  const std::string& file_;
  size_t i_ = 0;
};

// "<i8" -> byte order, kind, size. Unknown shapes leave kind 0, refused by require_*.
void parse_descr(NpyHeader& h) {
  const std::string& d = h.descr;
  if (d.size() < 3 || std::string("<>|=").find(d[0]) == std::string::npos) return;
  const std::string digits = d.substr(2);
  if (digits.empty() || digits.size() > 2 || !std::all_of(digits.begin(), digits.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) != 0;
      }))
    return;
  h.kind = d[1];
  h.item_size = std::stoi(digits);
  const bool native_big = std::endian::native == std::endian::big;
  h.big_endian = h.item_size > 1 && (d[0] == '>' || (d[0] == '=' && native_big));
}

void read_exact(std::ifstream& in, char* dst, size_t n, const std::string& file,
                const std::string& field) {
  in.read(dst, static_cast<std::streamsize>(n));
  if (static_cast<size_t>(in.gcount()) != n)
    throw_field_error(file, field, std::to_string(n) + " more bytes", "end of file (truncated?)");
}

NpyHeader read_header(std::ifstream& in, const std::string& file) {
  char pre[kMagicLen + 2] = {};
  in.read(pre, sizeof pre);
  if (static_cast<size_t>(in.gcount()) < kMagicLen || std::memcmp(pre, kMagic, kMagicLen) != 0)
    throw_field_error(file, "magic", "a NumPy .npy file starting with \\x93NUMPY",
                      "something else");
  if (static_cast<size_t>(in.gcount()) < sizeof pre)
    throw_field_error(file, "version", "2 version bytes", "end of file");
  const int major = static_cast<unsigned char>(pre[kMagicLen]);
  if (major < 1 || major > 3)
    throw_field_error(file, "version", "1.0, 2.0 or 3.0", std::to_string(major) + ".x");
  const size_t len_bytes = major == 1 ? 2 : 4;
  unsigned char len_raw[4] = {};
  read_exact(in, reinterpret_cast<char*>(len_raw), len_bytes, file, "header length");
  const uint64_t header_len = load_le(len_raw, static_cast<int>(len_bytes));
  // Checked before allocating: a few corrupt bytes could otherwise ask for 4 GiB.
  const uint64_t header_at = kMagicLen + 2 + len_bytes;
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(file, ec);
  const uint64_t rest = size - std::min(size, header_at);
  if (!ec && header_len > rest)
    throw_field_error(file, "header length",
                      "at most " + std::to_string(rest) + " bytes (the rest of the file)",
                      std::to_string(header_len) + " bytes (truncated or corrupt file?)");
  std::string text(header_len, '\0');
  read_exact(in, text.data(), header_len, file, "header");
  NpyHeader h = HeaderParser(text, file).parse();
  h.data_offset = header_at + header_len;
  parse_descr(h);
  return h;
}

float half_to_float(uint16_t bits) {
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  float v = 0.0f;
  if (exponent == 0)
    v = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31)
    v = mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else
    v = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
  return (bits & 0x8000) ? -v : v;
}

}  // namespace

uint64_t NpyHeader::num_elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) {
    // Saturates: no file is that large, so the size check refuses it.
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / d)
      return std::numeric_limits<uint64_t>::max();
    n *= d;
  }
  return n;
}

NpyReader::NpyReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  if (!in_) throw InputError(path + ": cannot open for reading");
  header_ = read_header(in_, path);
  if (header_.fortran_order && header_.shape.size() > 1)
    throw_field_error(path, "fortran_order", "False (C order; save with np.ascontiguousarray)",
                      "True");
}

// Checked once the dtype is known good, so a wrong dtype is reported as such.
void NpyReader::check_data_size() const {
  const uint64_t n = header_.num_elements();
  const uint64_t size = std::filesystem::file_size(path_);
  const uint64_t data = size - std::min(size, header_.data_offset);
  if (n > data / static_cast<uint64_t>(header_.item_size))
    throw_field_error(path_, "data",
                      std::to_string(n) + " elements of '" + header_.descr + "' for shape " +
                          shape_text(header_.shape),
                      std::to_string(data) + " bytes (truncated file)");
}

void NpyReader::require_integer(const std::string& what) const {
  const int s = header_.item_size;
  const bool sized = s == 1 || s == 2 || s == 4 || s == 8;
  if ((header_.kind != 'i' && header_.kind != 'u') || !sized)
    throw_field_error(path_, "descr",
                      "an integer dtype for " + what + " (|u1 <u2 <u4 <u8 |i1 <i2 <i4 <i8)",
                      "'" + header_.descr + "'");
  if (header_.big_endian)
    throw_field_error(path_, "descr", "little-endian data for " + what + " ('<')",
                      "big-endian '" + header_.descr + "' (convert with a.astype('<" +
                          header_.descr.substr(1) + "'))");
  check_data_size();
}

void NpyReader::require_float(const std::string& what) const {
  const int s = header_.item_size;
  if (header_.kind != 'f' || (s != 2 && s != 4 && s != 8))
    throw_field_error(path_, "descr", "a float dtype for " + what + " (<f2 <f4 <f8)",
                      "'" + header_.descr + "'");
  if (header_.big_endian)
    throw_field_error(path_, "descr", "little-endian data for " + what + " ('<')",
                      "big-endian '" + header_.descr + "'");
  check_data_size();
}

const unsigned char* NpyReader::read_raw(uint64_t count) {
  if (consumed_ + count > header_.num_elements())
    throw std::logic_error("NpyReader: read past the end of " + path_);
  const size_t bytes = count * static_cast<size_t>(header_.item_size);
  raw_.resize(bytes);
  read_exact(in_, reinterpret_cast<char*>(raw_.data()), bytes, path_, "data");
  consumed_ += count;
  return raw_.data();
}

void NpyReader::read_ints(uint64_t count, std::vector<int64_t>& out) {
  const unsigned char* p = read_raw(count);
  const int size = header_.item_size;
  const bool is_signed = header_.kind == 'i';
  const uint64_t sign_bit = uint64_t{1} << (size * 8 - 1);
  out.resize(count);
  for (uint64_t i = 0; i < count; ++i, p += size) {
    uint64_t bits = load_le(p, size);
    if (is_signed && size < 8 && (bits & sign_bit)) bits |= ~((sign_bit << 1) - 1);
    if (!is_signed && bits > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bits = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    out[i] = static_cast<int64_t>(bits);
  }
}

void NpyReader::read_floats(uint64_t count, std::vector<float>& out) {
  const unsigned char* p = read_raw(count);
  const int size = header_.item_size;
  out.resize(count);
  for (uint64_t i = 0; i < count; ++i, p += size) {
    const uint64_t bits = load_le(p, size);
    if (size == 2)
      out[i] = half_to_float(static_cast<uint16_t>(bits));
    else if (size == 4)
      out[i] = std::bit_cast<float>(static_cast<uint32_t>(bits));
    else
      out[i] = static_cast<float>(std::bit_cast<double>(bits));
  }
}

// ---- Importing an expert-id array as a trace ----

namespace {

uint64_t check_ids_shape(const NpyHeader& h, const ModelPreset& m, NpyLayout layout,
                         const std::string& file) {
  const auto L = static_cast<uint64_t>(m.num_layers), K = static_cast<uint64_t>(m.top_k);
  const bool tlk = layout == NpyLayout::kTokenLayerK;
  const uint64_t a = tlk ? L : K, b = tlk ? K : L;
  const std::string expected = "[tokens, " + std::to_string(a) + ", " + std::to_string(b) + "] (" +
                               (tlk ? "[tokens, layers, top_k]" : "[tokens, top_k, layers]") +
                               " of " + m.name + " with --layout " + layout_name(layout) + ")";
  if (h.shape.size() != 3) throw_field_error(file, "shape", expected, shape_text(h.shape));
  if (h.shape[1] != a || h.shape[2] != b) {
    const bool swapped = h.shape[1] == b && h.shape[2] == a;
    throw_field_error(file, "shape", expected,
                      shape_text(h.shape) + (swapped ? " (the other --layout?)" : ""));
  }
  if (h.shape[0] == 0) throw_field_error(file, "shape", "at least one token", shape_text(h.shape));
  return h.shape[0];
}

std::vector<uint64_t> offsets_from_file(const std::string& path, uint64_t num_tokens) {
  NpyReader r(path);
  r.require_integer("request offsets");
  const auto& shape = r.header().shape;
  if (shape.size() != 1 || shape[0] < 2)
    throw_field_error(path, "shape", "one dimension of R+1 >= 2 request offsets",
                      shape_text(shape));
  std::vector<int64_t> v;
  r.read_ints(shape[0], v);
  if (v[0] != 0) throw_field_error(path, "data", "offsets starting at 0", std::to_string(v[0]));
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] <= v[i - 1])
      throw_field_error(path, "data", "strictly increasing offsets",
                        std::to_string(v[i - 1]) + " then " + std::to_string(v[i]) + " at index " +
                            std::to_string(i));
  if (static_cast<uint64_t>(v.back()) != num_tokens)
    throw_field_error(path, "data", "last offset = number of tokens " + std::to_string(num_tokens),
                      std::to_string(v.back()));
  return {v.begin(), v.end()};
}

std::vector<uint64_t> offsets_by_length(uint64_t length, uint64_t num_tokens) {
  std::vector<uint64_t> off;
  for (uint64_t t = 0; t < num_tokens; t += length) off.push_back(t);
  off.push_back(num_tokens);
  return off;
}

TraceRequests make_requests(const NpyImportOptions& o, uint64_t num_tokens) {
  if (o.offsets_path.empty() == (o.request_length == 0))
    throw OptionError("request_offsets",
                      "expected exactly one of request_offsets and request_length (request "
                      "boundaries)");
  TraceRequests r;
  r.token_offset = o.offsets_path.empty() ? offsets_by_length(o.request_length, num_tokens)
                                          : offsets_from_file(o.offsets_path, num_tokens);
  for (size_t i = 0; i + 1 < r.token_offset.size(); ++i) {
    const uint64_t len = r.token_offset[i + 1] - r.token_offset[i];
    if (len > std::numeric_limits<uint32_t>::max())
      throw_field_error(o.offsets_path, "data", "requests shorter than 2^32 tokens",
                        std::to_string(len) + " tokens in request " + std::to_string(i));
    const uint64_t prompt = o.prompt_len ? std::min<uint64_t>(*o.prompt_len, len) : len;
    r.prompt_len.push_back(static_cast<uint32_t>(prompt));
  }
  return r;
}

nlohmann::json params_json(const NpyImportOptions& o) {
  nlohmann::json p = {{"ids", o.ids_path}, {"layout", layout_name(o.layout)}};
  if (!o.offsets_path.empty()) p["request_offsets"] = o.offsets_path;
  if (o.request_length) p["request_length"] = o.request_length;
  if (o.prompt_len) p["prompt_len"] = *o.prompt_len;
  if (!o.gate_weights_path.empty()) p["gate_weights"] = o.gate_weights_path;
  return p;
}

TraceHeader make_header(const ModelPreset& m, const NpyImportOptions& o, uint64_t num_tokens,
                        size_t num_requests) {
  TraceHeader h = header_for(m);
  h.source = "import:npy";
  h.dataset = o.dataset.empty() ? std::filesystem::path(o.ids_path).filename().string() : o.dataset;
  h.params = params_json(o).dump();
  h.has_gate_weights = !o.gate_weights_path.empty();
  h.num_tokens = num_tokens;
  h.num_requests = num_requests;
  return h;
}

// Index within one token's slice of the file of (layer, slot).
size_t source_index(NpyLayout layout, size_t L, size_t K, size_t layer, size_t slot) {
  return layout == NpyLayout::kTokenLayerK ? layer * K + slot : slot * L + layer;
}

std::string token_where(uint64_t token, size_t layer, size_t slot) {
  return " at token " + std::to_string(token) + " layer " + std::to_string(layer) + " slot " +
         std::to_string(slot);
}

void fill_ids(const std::vector<int64_t>& raw, NpyLayout layout, int num_experts,
              const std::string& file, TokenBlock& b) {
  const auto L = static_cast<size_t>(b.num_layers), K = static_cast<size_t>(b.top_k);
  for (size_t t = 0; t < b.size(); ++t)
    for (size_t l = 0; l < L; ++l)
      for (size_t k = 0; k < K; ++k) {
        const int64_t id = raw[t * L * K + source_index(layout, L, K, l, k)];
        if (id < 0 || id >= num_experts)
          throw_field_error(file, "data", "expert ids in [0, " + std::to_string(num_experts) + ")",
                            std::to_string(id) + token_where(b.first_token + t, l, k));
        b.experts(t, static_cast<int>(l))[k] = static_cast<uint16_t>(id);
      }
}

void fill_gates(const std::vector<float>& raw, NpyLayout layout, const std::string& file,
                TokenBlock& b) {
  const auto L = static_cast<size_t>(b.num_layers), K = static_cast<size_t>(b.top_k);
  for (size_t t = 0; t < b.size(); ++t)
    for (size_t l = 0; l < L; ++l)
      for (size_t k = 0; k < K; ++k) {
        const float w = raw[t * L * K + source_index(layout, L, K, l, k)];
        if (!std::isfinite(w) || w < 0.0f)
          throw_field_error(file, "data", "finite gate weights >= 0",
                            std::to_string(w) + token_where(b.first_token + t, l, k));
        b.gate_weights[(t * L + l) * K + k] = w;
      }
}

// Positions count from each request's start; the first prompt_len tokens are prefill.
void fill_positions(const TraceRequests& r, size_t& request, TokenBlock& b) {
  for (size_t t = 0; t < b.size(); ++t) {
    const uint64_t token = b.first_token + t;
    while (token >= r.token_offset[request + 1]) ++request;
    const auto pos = static_cast<uint32_t>(token - r.token_offset[request]);
    b.position[t] = pos;
    b.phase[t] =
        static_cast<uint8_t>(pos < r.prompt_len[request] ? Phase::kPrefill : Phase::kDecode);
  }
}

void stream_tokens(NpyReader& ids, NpyReader* gates, const TraceHeader& h, const TraceRequests& r,
                   const NpyImportOptions& o, TraceWriter& writer) {
  const uint64_t per_token = h.ids_per_token();
  const uint64_t block =
      o.block_tokens ? o.block_tokens : std::max<uint64_t>(1, (uint64_t{1} << 20) / per_token);
  Progress progress("import " + ids.path(), h.num_tokens);
  TokenBlock b;
  b.num_layers = h.num_layers;
  b.top_k = h.top_k;
  std::vector<int64_t> raw;
  std::vector<float> raw_gates;
  size_t request = 0;
  for (uint64_t first = 0; first < h.num_tokens; first += b.size()) {
    b.first_token = first;
    b.resize(std::min(block, h.num_tokens - first), gates != nullptr);
    ids.read_ints(b.size() * per_token, raw);
    fill_ids(raw, o.layout, h.num_experts, ids.path(), b);
    if (gates) {
      gates->read_floats(b.size() * per_token, raw_gates);
      fill_gates(raw_gates, o.layout, gates->path(), b);
    }
    fill_positions(r, request, b);
    validate_block(h, b, ids.path());  // a token choosing one expert twice
    writer.append(b);
    progress.update(first + b.size());
  }
}

}  // namespace

NpyLayout parse_npy_layout(const std::string& text, const std::string& option) {
  if (text == "tlk") return NpyLayout::kTokenLayerK;
  if (text == "tkl") return NpyLayout::kTokenKLayer;
  throw_field_error(option, "value",
                    "tlk ([tokens, layers, top_k]) or tkl ([tokens, top_k, layers])",
                    "'" + text + "'");
}

const char* layout_name(NpyLayout layout) {
  return layout == NpyLayout::kTokenLayerK ? "tlk" : "tkl";
}

TraceHeader import_npy(const ModelPreset& model, const NpyImportOptions& o,
                       const std::string& output) {
  NpyReader ids(o.ids_path);
  ids.require_integer("expert ids");
  const uint64_t num_tokens = check_ids_shape(ids.header(), model, o.layout, o.ids_path);
  std::optional<NpyReader> gates;
  if (!o.gate_weights_path.empty()) {
    gates.emplace(o.gate_weights_path);
    gates->require_float("gate weights");
    if (gates->header().shape != ids.header().shape)
      throw_field_error(o.gate_weights_path, "shape",
                        shape_text(ids.header().shape) + " like the expert ids",
                        shape_text(gates->header().shape));
  }
  const TraceRequests requests = make_requests(o, num_tokens);
  const TraceHeader h = make_header(model, o, num_tokens, requests.size());
  TraceWriter writer(output, h);
  stream_tokens(ids, gates ? &*gates : nullptr, h, requests, o, writer);
  writer.finish(requests);
  return h;
}

}  // namespace epbench
