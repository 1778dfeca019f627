#pragma once
// TEMPORARY stand-in until the arrivals branch lands (same interface).
#include <cstdint>
#include <string>
#include <vector>

namespace epbench {

enum class ArrivalKind { kPoisson, kGamma, kClosed, kCsv };
std::vector<std::string> arrival_names();
ArrivalKind parse_arrival(const std::string& name);
const char* arrival_name(ArrivalKind k);

struct ArrivalSpec {
  ArrivalKind kind = ArrivalKind::kPoisson;
  double rate = 0;
  double cv = 1;
  int users = 0;
  double think_s = 0;
  std::string csv;
  uint64_t requests = 0;
  uint64_t seed = 1;
};
void check_arrival_spec(const ArrivalSpec& s);

struct Arrival {
  double time = 0;
  uint32_t prompt_tokens = 0;
  uint32_t output_tokens = 0;
};
std::vector<Arrival> open_arrivals(const ArrivalSpec& s);
std::vector<Arrival> read_arrivals_csv(const std::string& path);

}  // namespace epbench
