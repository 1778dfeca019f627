#pragma once
// When requests reach `epbench serve`: open-loop processes (Poisson, gamma) generated from a
// seed, a closed loop of users with think time (the simulator drives it), or the timestamps
// and lengths of a recorded trace in the public Azure LLM inference CSV format. docs/arrivals.md.
#include <cstdint>
#include <string>
#include <vector>

namespace epbench {

enum class ArrivalKind { kPoisson, kGamma, kClosed, kCsv };

std::vector<std::string> arrival_names();  // "poisson", "gamma", "closed", "csv"
// Throws OptionError of field "arrival" for an unknown name.
ArrivalKind parse_arrival(const std::string& name);
const char* arrival_name(ArrivalKind k);

struct ArrivalSpec {
  ArrivalKind kind = ArrivalKind::kPoisson;
  double rate = 0;        // requests/s (poisson, gamma)
  double cv = 1;          // gamma: coefficient of variation of inter-arrival times (1 = Poisson)
  int users = 0;          // closed loop: concurrent users
  double think_s = 0;     // closed loop: think time between a user's finish and next request
  std::string csv;        // csv: path
  uint64_t requests = 0;  // poisson/gamma: how many arrivals to generate
  uint64_t seed = 1;
};

// Throws OptionError naming the field the kind uses: "rate" (> 0, finite), "cv" (> 0, finite),
// "requests" (> 0) for poisson and gamma; "users" (>= 1), "think" (>= 0, finite) for closed;
// "arrival-file" (not empty) for csv.
void check_arrival_spec(const ArrivalSpec& s);

struct Arrival {
  double time = 0;             // seconds from the start
  uint32_t prompt_tokens = 0;  // 0: take the trace request's own length
  uint32_t output_tokens = 0;  // 0: take the trace request's own length
};

// s.requests arrivals of a poisson or gamma spec (checked; other kinds: OptionError "arrival").
// Inter-arrival times have mean 1/rate: exponential (poisson) or gamma with shape 1/cv^2; the
// first arrival comes one inter-arrival time after 0. The same seed gives the same times on
// every platform (std::mt19937_64 and this file's own transforms, no std:: distribution).
// Lengths are 0: the simulator takes the trace requests' own.
std::vector<Arrival> open_arrivals(const ArrivalSpec& s);

// Reads a CSV in the public Azure LLM inference trace format: a header row naming TIMESTAMP,
// ContextTokens and GeneratedTokens (any order; other columns ignored), then one request per
// row. TIMESTAMP is seconds or a date-time "2023-11-16 18:15:46.6805900"; times are returned
// relative to the first row's and never decrease. Throws InputError "FILE:LINE: FIELD: ...".
std::vector<Arrival> read_arrivals_csv(const std::string& path);

}  // namespace epbench
