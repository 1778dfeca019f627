#pragma once
// Synthetic expert-activation traces for any model preset (docs/synth.md): per-layer
// popularity skew calibrated to real router counts, per-domain preferences, planted
// co-activation groups and cross-layer affinity, all reproducible from one seed.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trace/trace.h"

namespace epbench {

struct SynthOptions {
  std::string model = "mixtral-8x7b";
  uint64_t seed = 1;
  uint64_t requests = 0;  // exactly one of requests / tokens is > 0
  uint64_t tokens = 0;    // the last request is cut so the trace has exactly this many
  uint32_t prompt_min = 64, prompt_max = 512;
  uint32_t decode_min = 16, decode_max = 256;
  std::string calibrate;         // empty: default_calibration_source(model)
  int domains = 0;               // synthetic domains (only with a single-profile source)
  double domain_strength = 0.5;  // sigma of their log-normal perturbation
  int coact_groups = -1;         // -1: E/k groups; 0 or E: no co-activation groups
  double coact_strength = 1.0;   // weight multiplier 1+s for group-mates of chosen experts
  double layer_affinity = 1.0;   // weight multiplier 1+a for successors of the previous layer
  bool gate_weights = true;
  uint64_t calib_tokens = 16384;  // tokens simulated per calibration iteration
  int calib_iters = 12;
};

// Throws InputError naming the option for anything out of range (checked before any work).
void validate(const SynthOptions& opt);
// The options as a JSON object, for TraceHeader::params.
std::string options_json(const SynthOptions& opt, const std::string& calibrate_resolved);

struct SynthModel;  // calibrated sampling tables (synth.cpp)

class SynthGenerator {
 public:
  // Validates the options, plans the requests and calibrates the sampler (the slow part:
  // a few hundred thousand token-layers are simulated).
  explicit SynthGenerator(const SynthOptions& opt);
  ~SynthGenerator();
  SynthGenerator(const SynthGenerator&) = delete;
  SynthGenerator& operator=(const SynthGenerator&) = delete;

  const TraceHeader& header() const { return header_; }
  const TraceRequests& requests() const { return requests_; }
  // Fills `block` with the next up to `max_tokens` tokens; returns false once all are made.
  // The output does not depend on the block sizes used.
  bool next_block(TokenBlock& block, size_t max_tokens);
  uint64_t tokens_done() const { return next_token_; }
  // Starts again from the first token (benchmarks; the same tokens come out again).
  void rewind();

  // What was planted, for reports and tests.
  int num_domains() const;
  const std::vector<std::vector<int>>& coact_groups(int layer) const;  // disjoint groups
  int successor(int layer, int expert) const;                          // affinity target in layer+1
  const std::vector<double>& target_load(int layer, int domain) const;  // mean 1
  // Target max/mean of a layer over all domains (mixed by their expected token shares).
  double target_max_over_mean(int layer) const;
  // Max/mean the calibration simulation reached, per layer over all domains.
  double calibrated_max_over_mean(int layer) const;
  // Messages for stderr, e.g. targets capped by top-k.
  const std::vector<std::string>& warnings() const;

 private:
  void plan_requests();
  void start_request(uint64_t r);

  SynthOptions opt_;
  TraceHeader header_;
  TraceRequests requests_;
  std::unique_ptr<SynthModel> model_;
  struct Cursor;  // where generation stands: request, position, the request's RNG, scratch
  std::unique_ptr<Cursor> cursor_;
  uint64_t next_token_ = 0;
};

}  // namespace epbench
