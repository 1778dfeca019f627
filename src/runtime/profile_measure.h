#pragma once
// The two measurements of `epbench profile` (docs/profile.md), each filling its part of a
// Profile; collective over comm, every rank gets the same times.
#include <mpi.h>

#include <functional>
#include <utility>
#include <vector>

#include "costmodel/profile.h"
#include "runtime/exchange.h"
#include "runtime/ffn_backend.h"
#include "runtime/profile_job.h"

namespace epbench {

// OSU-style: `warmup` untimed calls, then `reps` calls each started together (barrier) and
// timed as the slowest host's span, from its first rank's start to its last rank's end (warm
// caches, like a run's steady state); time() returns the median. Where ranks outnumber cores
// they take turns, and a rank that waits for a core starts its own clock late (docs/profile.md).
// `prepare`, where given, runs untimed before each call (and each warm-up call). Collective over
// `comm`; its host's ranks are split once for all the calls timed (a profile times a few
// hundred points).
class CollectiveTimer {
 public:
  explicit CollectiveTimer(MPI_Comm comm);
  ~CollectiveTimer();
  CollectiveTimer(const CollectiveTimer&) = delete;
  CollectiveTimer& operator=(const CollectiveTimer&) = delete;
  double time(int warmup, int reps, const std::function<void()>& fn,
              const std::function<void()>& prepare = {}) const;

 private:
  MPI_Comm comm_, host_ = MPI_COMM_NULL;
};

// The calling rank on its host; take_turns (the same on every rank): some host's ranks
// outnumber its hardware threads.
struct HostShare {
  int local_rank = 0, local_size = 1;
  bool take_turns = false;
};

// ffn_time_s over ffn_active x ffn_tokens: `a` experts of n tokens each, back to back; the warm
// table; the reuse curve; with host.take_turns, ffn_turns_ratio.
void measure_ffn(const ProfileOptions& o, FfnBackend& backend, MPI_Comm comm, const HostShare& host,
                 Profile& p);

// The reuse curve alone (ffn_reuse_bytes, ffn_reuse_time_s) for p's sizes and cache share.
void measure_reuse_curve(const ProfileOptions& o, FfnBackend& backend, MPI_Comm comm, Profile& p);

// The cold table at `points` (active experts, tokens each), measured as measure_ffn measures
// it; validate compares them with a profile's to see how far the machine moved since.
std::vector<double> measure_ffn_points(const ProfileOptions& o, FfnBackend& backend, MPI_Comm comm,
                                       const std::vector<std::pair<int64_t, int64_t>>& points);

// a2a_time_s per pattern (node: each rank's node) over a2a_bytes, the count exchange, and
// row_move_time_s over row_moves (none where that is empty); each call after an untimed expert
// phase of the most active experts on `backend`, as in a step (a2a_cache_state
// "after_experts"); and each back to back (a2a_hot_time_s, count_exchange_hot_s,
// row_move_hot_time_s).
void measure_comm(const ProfileOptions& o, FfnBackend& backend, Exchange& exchange,
                  const std::vector<int>& node, MPI_Comm comm, Profile& p);

}  // namespace epbench
