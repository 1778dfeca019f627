// JSON-lines import: parse every record into compact form, sort by (request, position,
// layer), check that they tile the requests exactly, then write tokens in that order.
#include "trace/import_jsonl.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/progress.h"
#include "model/presets.h"
#include "trace/trace_io.h"

namespace epbench {

namespace {

using nlohmann::json;

struct Record {
  uint64_t request = 0;
  uint64_t position = 0;
  uint64_t layer = 0;
  uint64_t line = 0;
  uint8_t phase = 0;
  int domain = -1;  // index into Records::domain_names, -1: none given
  size_t slot = 0;  // this record's ids start at ids[slot * top_k]
};

bool record_less(const Record& a, const Record& b) {
  return std::tie(a.request, a.position, a.layer, a.line) <
         std::tie(b.request, b.position, b.layer, b.line);
}

// A value as the user wrote it, shortened for an error message.
std::string brief(const json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

const json* find_key(const json& j, const char* key) {
  const auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

uint64_t uint_below(const json& v, const char* key, uint64_t limit, const std::string& expected,
                    const std::string& where) {
  if (!v.is_number_unsigned() || v.get<uint64_t>() >= limit)
    throw_field_error(where, key, expected, brief(v));
  return v.get<uint64_t>();
}

uint64_t required_uint(const json& j, const char* key, uint64_t limit, const std::string& expected,
                       const std::string& where) {
  const json* v = find_key(j, key);
  if (!v) throw_field_error(where, key, expected, "no \"" + std::string(key) + "\" key");
  return uint_below(*v, key, limit, expected, where);
}

class JsonlImporter {
 public:
  JsonlImporter(const ModelPreset& model, const std::string& file)
      : file_(file), L_(model.num_layers), K_(model.top_k), E_(model.num_experts) {}

  void read_all();
  void check_tokens();
  void finish_domains();
  TraceHeader header(const ModelPreset& model, const std::string& dataset) const;
  void write(const TraceHeader& h, const std::string& output) const;

 private:
  std::string where(uint64_t line) const { return file_ + ":" + std::to_string(line); }
  void parse_line(const std::string& text, uint64_t line);
  void parse_experts(const json& j, const std::string& at);
  void parse_weights(const json& j, const std::string& at);
  int parse_domain(const json& j, const std::string& at);
  void check_layers(size_t begin, size_t end) const;
  void check_token_order(size_t begin, const Record*& prev) const;
  void check_request_fields(size_t begin, size_t end, int& domain);
  void fill_block(TokenBlock& b) const;

  std::string file_;
  int L_, K_, E_;
  std::vector<Record> records_;
  std::vector<uint16_t> ids_;              // top_k per record
  std::vector<float> weights_;             // top_k per record when the file has weights
  int has_weights_ = -1;                   // -1 until the first record says
  std::vector<std::string> domain_names_;  // in order of first appearance
  std::map<std::string, int> domain_index_;
  std::vector<size_t> token_begin_;  // first record of each token, in token order
  TraceRequests requests_;
};

void JsonlImporter::read_all() {
  std::ifstream in(file_);
  if (!in) throw InputError(file_ + ": cannot open for reading");
  Progress progress("reading " + file_, std::filesystem::file_size(file_), "bytes");
  std::string text;
  for (uint64_t line = 1; std::getline(in, text); ++line) {
    if (text.find_first_not_of(" \t\r") != std::string::npos) parse_line(text, line);
    if (line % 4096 == 0)
      progress.update(static_cast<uint64_t>(std::max<std::streamoff>(in.tellg(), 0)));
  }
  if (records_.empty()) throw_field_error(file_, "records", "at least one JSON record", "none");
}

void JsonlImporter::parse_line(const std::string& text, uint64_t line) {
  const std::string at = where(line);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw_field_error(at, "record", "one JSON object per line",
                      "invalid JSON at column " + std::to_string(e.byte));
  } catch (const json::exception&) {
    // out_of_range: a number too large for a double (1e309), the parser's only other error.
    throw_field_error(at, "record", "one JSON object per line with numbers that fit a double",
                      "a number out of range");
  }
  if (!j.is_object()) throw_field_error(at, "record", "a JSON object", brief(j));
  Record r;
  r.line = line;
  r.request = required_uint(j, "request", UINT64_MAX, "a request number >= 0", at);
  r.position = required_uint(j, "position", UINT32_MAX, "a position >= 0 (32 bits)", at);
  r.layer = required_uint(j, "layer", static_cast<uint64_t>(L_),
                          "a layer in [0, " + std::to_string(L_) + ")", at);
  if (const json* p = find_key(j, "phase"))
    r.phase = static_cast<uint8_t>(uint_below(*p, "phase", 2, "0 (prefill) or 1 (decode)", at));
  r.domain = parse_domain(j, at);
  r.slot = records_.size();
  parse_experts(j, at);
  parse_weights(j, at);
  records_.push_back(r);
}

void JsonlImporter::parse_experts(const json& j, const std::string& at) {
  const std::string expected =
      std::to_string(K_) + " distinct expert ids in [0, " + std::to_string(E_) + ")";
  const json* v = find_key(j, "experts");
  if (!v) throw_field_error(at, "experts", expected, "no \"experts\" key");
  if (!v->is_array() || v->size() != static_cast<size_t>(K_))
    throw_field_error(at, "experts", expected, brief(*v));
  const size_t first = ids_.size();
  for (const json& e : *v) {
    const auto id =
        static_cast<uint16_t>(uint_below(e, "experts", static_cast<uint64_t>(E_), expected, at));
    if (std::find(ids_.begin() + static_cast<std::ptrdiff_t>(first), ids_.end(), id) != ids_.end())
      throw_field_error(at, "experts", expected, "expert " + std::to_string(id) + " twice");
    ids_.push_back(id);
  }
}

void JsonlImporter::parse_weights(const json& j, const std::string& at) {
  const json* v = find_key(j, "weights");
  if (has_weights_ == -1) has_weights_ = v != nullptr;
  if ((v != nullptr) != (has_weights_ == 1))
    throw_field_error(at, "weights",
                      has_weights_ ? "weights (the first record has them)"
                                   : "no weights (the first record has none)");
  if (!v) return;
  const std::string expected = std::to_string(K_) + " finite weights >= 0 (single precision)";
  if (!v->is_array() || v->size() != static_cast<size_t>(K_))
    throw_field_error(at, "weights", expected, brief(*v));
  for (const json& w : *v) {
    // Stored as float: a larger double would not convert (undefined behaviour in C++).
    if (!w.is_number() || !std::isfinite(w.get<double>()) || w.get<double>() < 0.0 ||
        w.get<double>() > std::numeric_limits<float>::max())
      throw_field_error(at, "weights", expected, brief(w));
    weights_.push_back(w.get<float>());
  }
}

int JsonlImporter::parse_domain(const json& j, const std::string& at) {
  const json* v = find_key(j, "domain");
  if (!v) return -1;
  if (!v->is_string() || v->get<std::string>().empty())
    throw_field_error(at, "domain", "a non-empty string", brief(*v));
  const auto [it, added] =
      domain_index_.emplace(v->get<std::string>(), static_cast<int>(domain_names_.size()));
  if (added) domain_names_.push_back(it->first);
  if (domain_names_.size() >= UINT16_MAX)
    throw_field_error(at, "domain", "fewer than 65535 distinct domains", brief(*v));
  return it->second;
}

// Records [begin, end) share a (request, position) and are sorted by layer: one per layer.
void JsonlImporter::check_layers(size_t begin, size_t end) const {
  const Record& first = records_[begin];
  const std::string token = " for request " + std::to_string(first.request) + " position " +
                            std::to_string(first.position);
  for (size_t i = begin + 1; i < end; ++i)
    if (records_[i].layer == records_[i - 1].layer)
      throw_field_error(where(records_[i].line), "layer", "each layer once per token",
                        "layer " + std::to_string(records_[i].layer) + " again (also line " +
                            std::to_string(records_[i - 1].line) + ")" + token);
  // Distinct, sorted and below num_layers: only a short group can miss one.
  for (size_t i = begin; i <= end; ++i) {
    const uint64_t want = i - begin;
    if (want == static_cast<uint64_t>(L_)) return;
    if (i == end || records_[i].layer != want)
      throw_field_error(where(first.line), "layer", "every layer 0.." + std::to_string(L_ - 1),
                        "layer " + std::to_string(want) + " missing" + token);
  }
}

// Requests are numbered 0..R-1 and positions 0..n-1 in each, without gaps.
void JsonlImporter::check_token_order(size_t begin, const Record*& prev) const {
  const Record& r = records_[begin];
  const bool new_request = !prev || prev->request != r.request;
  const uint64_t want_request = !prev ? 0 : prev->request + (new_request ? 1 : 0);
  if (r.request != want_request)
    throw_field_error(
        where(r.line), "request", "request numbers 0..R-1 without gaps",
        "request " + std::to_string(r.request) + " but no request " + std::to_string(want_request));
  const uint64_t want_position = new_request ? 0 : prev->position + 1;
  if (r.position != want_position)
    throw_field_error(where(r.line), "position",
                      "positions 0..n-1 without gaps in request " + std::to_string(r.request),
                      "position " + std::to_string(r.position) + " but no position " +
                          std::to_string(want_position));
  prev = &r;
}

// A token's layers agree on its phase; prefill comes before decode; one domain per request.
void JsonlImporter::check_request_fields(size_t begin, size_t end, int& domain) {
  const Record& first = records_[begin];
  const bool new_request =
      token_begin_.empty() || records_[token_begin_.back()].request != first.request;
  if (new_request) {
    requests_.token_offset.push_back(token_begin_.size());
    requests_.prompt_len.push_back(0);
    requests_.domain.push_back(0);
    domain = -1;
  }
  for (size_t i = begin; i < end; ++i) {
    const Record& r = records_[i];
    if (r.phase != first.phase)
      throw_field_error(where(r.line), "phase", "the same phase in every layer of a token",
                        std::to_string(r.phase) + " (line " + std::to_string(first.line) + " has " +
                            std::to_string(first.phase) + ")");
    if (r.domain >= 0 && domain >= 0 && r.domain != domain)
      throw_field_error(where(r.line), "domain", "one domain per request",
                        "'" + domain_names_[static_cast<size_t>(r.domain)] + "' after '" +
                            domain_names_[static_cast<size_t>(domain)] + "' in request " +
                            std::to_string(r.request));
    if (r.domain >= 0) domain = r.domain;
  }
  const uint64_t position = first.position;
  if (first.phase == 0 && requests_.prompt_len.back() != position)
    throw_field_error(where(first.line), "phase", "prefill (0) tokens before decode (1) tokens",
                      "phase 0 after phase 1 in request " + std::to_string(first.request));
  if (first.phase == 0) ++requests_.prompt_len.back();
  requests_.domain.back() = static_cast<uint16_t>(std::max(domain, 0));
  // Remember which requests named no domain, to refuse a mix below.
  if (domain < 0) requests_.domain.back() = UINT16_MAX;
  token_begin_.push_back(begin);
}

void JsonlImporter::check_tokens() {
  std::sort(records_.begin(), records_.end(), record_less);
  const Record* prev = nullptr;
  int domain = -1;
  for (size_t begin = 0; begin < records_.size();) {
    size_t end = begin;
    while (end < records_.size() && records_[end].request == records_[begin].request &&
           records_[end].position == records_[begin].position)
      ++end;
    check_layers(begin, end);
    check_token_order(begin, prev);
    check_request_fields(begin, end, domain);
    begin = end;
  }
  requests_.token_offset.push_back(token_begin_.size());
}

// Domain indices become positions in the sorted list of names; either every request names a
// domain or none does.
void JsonlImporter::finish_domains() {
  if (domain_names_.empty()) {
    requests_.domain.clear();
    return;
  }
  std::vector<std::string> sorted = domain_names_;
  std::sort(sorted.begin(), sorted.end());
  for (size_t r = 0; r < requests_.domain.size(); ++r) {
    uint16_t& d = requests_.domain[r];
    if (d == UINT16_MAX)
      throw_field_error(file_, "domain", "a domain for every request (some requests have one)",
                        "none for request " + std::to_string(r));
    const auto pos = std::lower_bound(sorted.begin(), sorted.end(), domain_names_[d]);
    d = static_cast<uint16_t>(pos - sorted.begin());
  }
  domain_names_ = std::move(sorted);
}

TraceHeader JsonlImporter::header(const ModelPreset& model, const std::string& dataset) const {
  TraceHeader h = header_for(model);
  h.source = "import:jsonl";
  h.dataset = dataset.empty() ? std::filesystem::path(file_).filename().string() : dataset;
  h.params = json{{"jsonl", file_}}.dump();
  h.domains = domain_names_;
  h.has_gate_weights = has_weights_ == 1;
  h.num_tokens = token_begin_.size();
  h.num_requests = requests_.size();
  return h;
}

void JsonlImporter::fill_block(TokenBlock& b) const {
  const auto K = static_cast<size_t>(K_);
  for (size_t t = 0; t < b.size(); ++t) {
    const size_t begin = token_begin_[b.first_token + t];
    b.phase[t] = records_[begin].phase;
    b.position[t] = static_cast<uint32_t>(records_[begin].position);
    for (int l = 0; l < L_; ++l) {
      const size_t slot = records_[begin + static_cast<size_t>(l)].slot;
      std::copy_n(ids_.begin() + static_cast<std::ptrdiff_t>(slot * K), K, b.experts(t, l));
      if (has_weights_ == 1)
        std::copy_n(weights_.begin() + static_cast<std::ptrdiff_t>(slot * K), K,
                    b.gate_weights.begin() +
                        static_cast<std::ptrdiff_t>((t * static_cast<size_t>(L_) + l) * K));
    }
  }
}

void JsonlImporter::write(const TraceHeader& h, const std::string& output) const {
  TraceWriter writer(output, h);
  const uint64_t block = std::max<uint64_t>(1, (uint64_t{1} << 20) / h.ids_per_token());
  TokenBlock b;
  b.num_layers = L_;
  b.top_k = K_;
  for (uint64_t first = 0; first < h.num_tokens; first += b.size()) {
    b.first_token = first;
    b.resize(std::min(block, h.num_tokens - first), has_weights_ == 1);
    fill_block(b);
    writer.append(b);
  }
  writer.finish(requests_);
}

}  // namespace

TraceHeader import_jsonl(const ModelPreset& model, const JsonlImportOptions& options,
                         const std::string& output) {
  JsonlImporter importer(model, options.path);
  importer.read_all();
  importer.check_tokens();
  importer.finish_domains();
  const TraceHeader h = importer.header(model, options.dataset);
  importer.write(h, output);
  return h;
}

}  // namespace epbench
