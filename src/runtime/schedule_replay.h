#pragma once
// Executes a serving schedule's steps on the wall clock (docs/run.md "Serving schedules run
// for real"): step s starts no earlier than ready[s] seconds after the job's start (its
// requests have arrived), and no earlier than the previous step's end. Collective over comm.
#include <mpi.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace epbench {

struct ReplayTimes {
  std::vector<double> start, end;  // [S] seconds from the start, rank 0's clock
};

// Barriers before and after each step, so a step's end is its slowest rank's. prepare(s) runs
// before step s's wait and opening barrier, off its clock: what the harness makes for a step
// (synthetic hidden states) is not the server's work.
ReplayTimes replay_steps(MPI_Comm comm, const std::vector<double>& ready,
                         const std::function<void(uint64_t step)>& prepare,
                         const std::function<void(uint64_t step)>& run_step);

}  // namespace epbench
