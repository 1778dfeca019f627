#pragma once
// The requests of one served run: when each arrives, its prompt and output lengths, and the
// trace request whose expert choices its tokens replay (docs/serve.md "Requests").
#include <string>
#include <vector>

#include "routing/batching.h"
#include "sim/arrivals.h"
#include "sim/serve_state.h"

namespace epbench {

// Trace requests a run can replay: those of the range with at least one prompt token.
std::vector<RequestSpan> servable_spans(const std::vector<RequestSpan>& spans);

struct RequestSource {
  ArrivalSpec arrivals;                           // rate set for open kinds
  std::vector<Arrival> csv_rows;                  // kind csv: the file's rows
  uint32_t prompt_tokens = 0, output_tokens = 0;  // fixed lengths; 0: the trace's or the CSV's
};

// Request i replays trace request i mod spans.size(); lengths come from the fixed values,
// else the arrival (CSV), else the trace request (output = its decode tokens + 1, the last
// token produced but never fed back). Closed-loop arrival times are set as the run goes.
std::vector<RequestShape> make_requests(const RequestSource& src,
                                        const std::vector<RequestSpan>& spans);

// InputError when a request's whole context cannot fit in one GPU's KV capacity.
void check_requests_fit(const std::vector<RequestShape>& shapes, double kv_capacity_tokens);

}  // namespace epbench
