#include "sim/serve_options.h"

#include "common/named.h"

namespace epbench {

namespace {

constexpr Named<SchedulePolicy> kPolicies[] = {{"fcfs", SchedulePolicy::kFcfs},
                                               {"chunked", SchedulePolicy::kChunked},
                                               {"decode-first", SchedulePolicy::kDecodeFirst},
                                               {"slo-aware", SchedulePolicy::kSloAware}};

constexpr Named<StepCostKind> kStepCosts[] = {{"full", StepCostKind::kFull},
                                              {"moe", StepCostKind::kMoe},
                                              {"constant", StepCostKind::kConstant}};

}  // namespace

std::vector<std::string> schedule_names() {
  return names_of<SchedulePolicy>(kPolicies);
}
SchedulePolicy parse_schedule(const std::string& name) {
  return parse_named<SchedulePolicy>(kPolicies, name, "policy");
}
const char* schedule_name(SchedulePolicy p) {
  return name_of<SchedulePolicy>(kPolicies, p);
}

std::vector<std::string> step_cost_names() {
  return names_of<StepCostKind>(kStepCosts);
}
StepCostKind parse_step_cost(const std::string& name) {
  return parse_named<StepCostKind>(kStepCosts, name, "step-cost");
}
const char* step_cost_name(StepCostKind k) {
  return name_of<StepCostKind>(kStepCosts, k);
}

}  // namespace epbench
