// Fuzzes the arrivals CSV reader (the Azure LLM inference trace format); an accepted file's
// arrivals start at 0, never go back in time and have token counts >= 1.
#include <cmath>

#include "fuzz_util.h"
#include "sim/arrivals.h"

namespace {

using epbench::fuzz::require;

void read(const std::string& path) {
  const std::vector<epbench::Arrival> a = epbench::read_arrivals_csv(path);
  require(!a.empty(), "at least one arrival");
  require(a[0].time == 0, "the first arrival at 0");
  for (size_t i = 0; i < a.size(); ++i) {
    require(std::isfinite(a[i].time), "finite times");
    require(i == 0 || a[i].time >= a[i - 1].time, "times non-decreasing");
    require(a[i].prompt_tokens >= 1 && a[i].output_tokens >= 1, "token counts >= 1");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = epbench::fuzz::write_input("arrivals.csv", data, size);
  epbench::fuzz::expect_parse_or_input_error([&] { read(path); });
  return 0;
}
