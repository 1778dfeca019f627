#include "runtime/planted_fault.h"

#include <array>
#include <cstdlib>
#include <string>
#include <utility>

#include "common/error.h"

namespace epbench {

namespace {

constexpr std::array<std::pair<PlantedFault, const char*>, 4> kNames{{
    {PlantedFault::kZeroRank, "zero-rank"},
    {PlantedFault::kSwapExperts, "swap-experts"},
    {PlantedFault::kDropPartial, "drop-partial"},
    {PlantedFault::kScale1pct, "scale-1pct"},
}};

PlantedFault parse_planted_fault() {
  const char* env = std::getenv("EPBENCH_PLANT_FAULT");
  if (env == nullptr || *env == '\0') return PlantedFault::kNone;
  for (const auto& [fault, name] : kNames)
    if (name == std::string(env)) return fault;
  throw InputError(std::string("EPBENCH_PLANT_FAULT (test-only): expected zero-rank, "
                               "swap-experts, drop-partial or scale-1pct, got '") +
                   env + "'");
}

}  // namespace

PlantedFault planted_fault() {
  static const PlantedFault fault = parse_planted_fault();  // the environment is read once
  return fault;
}

const char* planted_fault_name(PlantedFault f) {
  for (const auto& [fault, name] : kNames)
    if (fault == f) return name;
  return "none";
}

int planted_expert_id(int expert) {
  if (planted_fault() != PlantedFault::kSwapExperts || expert > 1) return expert;
  return 1 - expert;
}

}  // namespace epbench
