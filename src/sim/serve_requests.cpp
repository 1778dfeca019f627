#include "sim/serve_requests.h"

#include <string>

#include "common/error.h"

namespace epbench {

std::vector<RequestSpan> servable_spans(const std::vector<RequestSpan>& spans) {
  std::vector<RequestSpan> out;
  for (const RequestSpan& s : spans)
    if (s.prompt_end > s.first) out.push_back(s);
  if (out.empty())
    throw OptionError("range", "expected a token range holding at least one request's prompt");
  return out;
}

std::vector<RequestShape> make_requests(const RequestSource& src,
                                        const std::vector<RequestSpan>& spans) {
  ArrivalSpec spec = src.arrivals;
  if (spec.requests == 0) spec.requests = spans.size();
  std::vector<Arrival> rows;
  switch (spec.kind) {
    case ArrivalKind::kPoisson:
    case ArrivalKind::kGamma:
      rows = open_arrivals(spec);
      break;
    case ArrivalKind::kClosed:
      rows.resize(spec.requests);
      break;
    case ArrivalKind::kCsv:
      rows = src.csv_rows;
      break;
  }
  std::vector<RequestShape> shapes(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const RequestSpan& s = spans[i % spans.size()];
    RequestShape& q = shapes[i];
    q.arrival = rows[i].time;
    q.trace_request = static_cast<uint32_t>(i % spans.size());
    q.prompt = src.prompt_tokens       ? src.prompt_tokens
               : rows[i].prompt_tokens ? rows[i].prompt_tokens
                                       : static_cast<uint32_t>(s.prompt_end - s.first);
    q.output = src.output_tokens       ? src.output_tokens
               : rows[i].output_tokens ? rows[i].output_tokens
                                       : static_cast<uint32_t>(s.end - s.prompt_end + 1);
  }
  return shapes;
}

void check_requests_fit(const std::vector<RequestShape>& shapes, double kv_capacity_tokens) {
  if (kv_capacity_tokens <= 0) return;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const double need = double(shapes[i].prompt) + shapes[i].output - 1;
    if (need > kv_capacity_tokens)
      throw InputError("serve: request " + std::to_string(i) + " needs " +
                       std::to_string(static_cast<uint64_t>(need)) +
                       " tokens of KV cache (prompt + output - 1), more than one GPU's " +
                       std::to_string(static_cast<uint64_t>(kv_capacity_tokens)) +
                       "; expected shorter requests, a larger --kv-capacity or fewer weights "
                       "per GPU");
  }
}

}  // namespace epbench
