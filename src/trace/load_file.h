#pragma once
// Load files: per-layer expert selection counts without the tokens behind them, as engines
// record them (SGLang's `stat` dumps, vLLM's EPLB load). `epbench place --loads` fits the
// placements that need loads only. JSON, format "epbench-loads" (docs/formats.md).
#include <cstdint>
#include <string>
#include <vector>

namespace epbench {

struct ModelPreset;
struct TraceStats;

inline constexpr const char* kLoadsFormat = "epbench-loads";
inline constexpr int kLoadsVersion = 1;

struct LoadFile {
  std::string model;
  int num_layers = 0, num_experts = 0;  // MoE layers
  std::string source;                   // where the counts came from
  std::vector<uint64_t> loads;          // [L][E] selections of expert e in MoE layer l
};

// Reads and checks every field; InputError "FILE: FIELD: expected ..., got ...".
LoadFile read_load_file(const std::string& path);
void write_load_file(const std::string& path, const LoadFile& loads);  // atomic

// Statistics for placement from counts alone: load filled, no co-activation pairs, no
// transitions, no tokens (placements that need pairs refuse such statistics). Refuses a
// load file of another model (`path` named).
TraceStats stats_from_loads(const LoadFile& loads, const ModelPreset& model,
                            const std::string& path);

}  // namespace epbench
