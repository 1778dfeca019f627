#pragma once
// `epbench profile` (docs/profile.md): times the expert FFN backend and the all-to-all this
// job's ranks use, and writes the profile (costmodel/profile.h) that the cost model can price
// with. Collective over comm; rank 0 writes the file.
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "costmodel/profile.h"
#include "runtime/seeded_values.h"

namespace epbench {

struct ProfileOptions {
  std::string backend = "cpu", comm = "mpi";
  DType dtype = DType::kFp32;
  int d_model = 0, d_ff = 0;
  int max_tokens = 512;  // tokens per expert: 1, 2, 4, ... up to this
  int max_active = 4;    // active experts per rank: 1 .. this
  // Sets of max_active experts' weights that consecutive calls rotate through, as a run's
  // layers do: the weights come from memory as often as in a run (0: 1). Capped so that the
  // weights stay within kProfileWeightBytes per rank.
  int weight_sets = 0;
  // Where > 0, at least enough sets that their weights overflow this many bytes (twice the
  // rank's share of the last-level cache): a cold call then finds its weights in memory.
  uint64_t overflow_bytes = 0;
  int64_t max_bytes = 1 << 22;  // bytes per destination: 8, 16, ... up to this
  int repetitions = 20;         // timed, per grid point (median); warm-up calls before
  int sweeps = 3;               // the whole grid this many times; each point's median kept
  int warmup = 3;
  int ranks_per_node = 0;  // > 0: virtual nodes of this many ranks
  int threads = 1;         // BLAS threads per rank
  uint64_t seed = 1;
  std::string output, command_line;
};

inline constexpr size_t kProfileWeightBytes = size_t{1} << 30;

// The weight sets the FFN measurement rotates through: o.weight_sets, or more to overflow
// o.overflow_bytes, within the cap.
int weight_sets(const ProfileOptions& o);

// The grids: powers of two from `first` up to `last`, and `last` itself.
std::vector<int64_t> doubling_grid(int64_t first, int64_t last);

// Measures on every rank and returns the profile (complete on rank 0), written if output.
Profile run_profile(const ProfileOptions& o, MPI_Comm comm);

// One point of a profile's cold expert table, measured again.
struct DriftPoint {
  int64_t active = 0, tokens = 0;
  double profiled_s = 0, measured_s = 0;
};

// How far this machine's speed moved since `profile` was measured: its cold expert table at
// the most active experts and 1, 16 and 128 tokens each (those of its grid), measured again
// now with the profile's own settings and `threads` BLAS threads. Collective; the same on
// every rank. `gpu`: this rank's device (cuda).
std::vector<DriftPoint> probe_profile(const Profile& profile, MPI_Comm comm, int gpu, int threads);

}  // namespace epbench
