#pragma once
// The two measurements of `epbench profile` (docs/profile.md), each filling its part of a
// Profile; collective over comm, every rank gets the same times.
#include <mpi.h>

#include <functional>
#include <vector>

#include "costmodel/profile.h"
#include "runtime/exchange.h"
#include "runtime/ffn_backend.h"
#include "runtime/profile_job.h"

namespace epbench {

// OSU-style: `warmup` untimed calls, then `reps` calls each started together (barrier), each
// timed as the slowest rank's; returns their median (warm caches, like a run's steady state).
double time_collective(MPI_Comm comm, int warmup, int reps, const std::function<void()>& fn);

// ffn_time_s over ffn_active x ffn_tokens: `a` experts of n tokens each, back to back.
void measure_ffn(const ProfileOptions& o, FfnBackend& backend, MPI_Comm comm, Profile& p);

// a2a_time_s per pattern (node: each rank's node) over a2a_bytes, and the count exchange.
void measure_a2a(const ProfileOptions& o, Exchange& exchange, const std::vector<int>& node,
                 MPI_Comm comm, Profile& p);

}  // namespace epbench
