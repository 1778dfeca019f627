#pragma once
// Reading a results file (docs/formats.md) into the samples that `epbench calibrate` fits
// (docs/calibrate.md): per (step, layer, GPU), dispatch + combine against the bytes sent, and
// compute against the tokens and active experts. Everything that reads HDF5 for it is here.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "costmodel/nnls.h"

namespace epbench {
class ResultsReader;
}  // namespace epbench

namespace epbench::calib {

// The attributes of one run that the fits need.
struct RunMeta {
  std::string name;  // the group's name under /runs
  int d_model = 0, d_ff = 0, bytes_per_value = 2, nodes = 0, gpus_per_node = 0, slots = 0;
  std::string cluster;
  bool dtype_other = false;  // dtype "other": the size is a guess
};

// Communication: target dispatch + combine of one GPU in one layer; features, per link class,
// [bytes > 0] and the bytes (other node: the GPU's NIC group's, which share one NIC).
enum CommFeature { kSameInd, kSameBytes, kOtherInd, kOtherBytes, kCommFeatures };

// Compute: the samples grouped by (run, active experts, tokens), which repeat a lot.
struct ComputeKey {
  uint32_t run, active, tokens;
  bool operator==(const ComputeKey&) const = default;
};
struct ComputeKeyHash {
  size_t operator()(const ComputeKey& k) const {
    return std::hash<uint64_t>()((uint64_t{k.run} << 48) ^ (uint64_t{k.active} << 32) ^ k.tokens);
  }
};
struct Group {
  double n = 0, sy = 0, syy = 0;
};

// A communication sample kept for the quantile fit (floats: plenty for a fit, half the memory).
struct CommSample {
  float y, same, nic;
  uint8_t used;  // bit 0: same-node bytes > 0, bit 1: other-node bytes > 0
};

// The sample's features, x[0..kCommFeatures) indexed by CommFeature.
inline void comm_features(const CommSample& s, double* x) {
  x[kSameInd] = s.used & 1u, x[kSameBytes] = s.same;
  x[kOtherInd] = s.used >> 1 & 1u, x[kOtherBytes] = s.nic;
}

struct Samples {
  NormalEquations comm{kCommFeatures};  // every sample: least squares and the fit quality
  std::vector<CommSample> kept;
  uint64_t comm_seen = 0, rng = 0x5eed;
  double ind_differ = 0;  // samples where exactly one of the two links was used
  double other_bytes = 0, same_bytes = 0;
  std::unordered_map<ComputeKey, Group, ComputeKeyHash> compute;
  std::vector<RunMeta> runs;
};

// A results file opened for calibration. Throws InputError naming the file and field on
// anything that is not a usable results file.
class ResultsFile {
 public:
  // Opens `path` and checks its format, version and /runs.
  explicit ResultsFile(const std::string& path);
  ~ResultsFile();
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  // Each run's `cluster` attribute, in the runs' order; "" where it has none.
  std::vector<std::string> cluster_attrs() const;
  // True when the file holds measurements (`tool` = run), false for predictions.
  bool measured() const;
  // The samples of every run. `gpus_per_nic`: the GPUs that share one NIC (taken as 1 for a
  // run whose gpus_per_node it does not divide).
  Samples read_samples(int gpus_per_nic) const;

 private:
  std::unique_ptr<ResultsReader> reader_;
};

}  // namespace epbench::calib
