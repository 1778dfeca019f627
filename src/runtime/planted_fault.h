#pragma once
// Test-only faults that make `epbench run` compute a wrong layer output on purpose, so the
// tests can show that `--check` catches each kind (tests/test_run_faults.cpp). Nothing on the
// command line reaches them: only the environment variable EPBENCH_PLANT_FAULT, read here and
// nowhere else, set to one of
//   zero-rank     rank 1 zeroes the partial sums of every expert it holds
//   swap-experts  the shards' weight generator swaps experts 0 and 1 of every layer
//   drop-partial  home rank 0 leaves out the first partial sum it receives in each combine
//   scale-1pct    every home rank multiplies its layer outputs by 1.01
namespace epbench {

enum class PlantedFault { kNone, kZeroRank, kSwapExperts, kDropPartial, kScale1pct };

// The fault EPBENCH_PLANT_FAULT names (kNone when unset or empty); InputError for other values.
PlantedFault planted_fault();
const char* planted_fault_name(PlantedFault f);

inline constexpr int kPlantedZeroRank = 1;  // the rank that zero-rank silences

// The expert whose weights the shards generate for `expert`: swap-experts swaps 0 and 1.
int planted_expert_id(int expert);

}  // namespace epbench
