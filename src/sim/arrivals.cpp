// TEMPORARY stand-in until the arrivals branch lands.
#include "sim/arrivals.h"

#include <random>

#include "common/error.h"
#include "common/named.h"

namespace epbench {
namespace {
constexpr Named<ArrivalKind> kKinds[] = {{"poisson", ArrivalKind::kPoisson},
                                         {"gamma", ArrivalKind::kGamma},
                                         {"closed", ArrivalKind::kClosed},
                                         {"csv", ArrivalKind::kCsv}};
}
std::vector<std::string> arrival_names() { return names_of<ArrivalKind>(kKinds); }
ArrivalKind parse_arrival(const std::string& n) { return parse_named<ArrivalKind>(kKinds, n, "arrival"); }
const char* arrival_name(ArrivalKind k) { return name_of<ArrivalKind>(kKinds, k); }
void check_arrival_spec(const ArrivalSpec& s) {
  if ((s.kind == ArrivalKind::kPoisson || s.kind == ArrivalKind::kGamma) && !(s.rate > 0))
    throw OptionError("rate", "expected > 0");
}
std::vector<Arrival> open_arrivals(const ArrivalSpec& s) {
  std::mt19937_64 rng(s.seed);
  std::vector<Arrival> out(s.requests);
  double t = 0;
  if (s.kind == ArrivalKind::kGamma) {
    std::gamma_distribution<double> g(1 / (s.cv * s.cv), s.cv * s.cv / s.rate);
    for (auto& a : out) a.time = t += g(rng);
  } else {
    std::exponential_distribution<double> e(s.rate);
    for (auto& a : out) a.time = t += e(rng);
  }
  return out;
}
std::vector<Arrival> read_arrivals_csv(const std::string& path) {
  throw InputError(path + ": csv arrivals not available yet");
}
}  // namespace epbench
