#include "runtime/schedule_replay.h"

#include <chrono>
#include <thread>

namespace epbench {

ReplayTimes replay_steps(MPI_Comm comm, const std::vector<double>& ready,
                         const std::function<void(uint64_t step)>& prepare,
                         const std::function<void(uint64_t step)>& run_step) {
  ReplayTimes t;
  MPI_Barrier(comm);
  const double t0 = MPI_Wtime();
  for (uint64_t s = 0; s < ready.size(); ++s) {
    prepare(s);
    // Early: wait for the arrivals, as a server idles with no request to run.
    const double early = t0 + ready[s] - MPI_Wtime();
    if (early > 0) std::this_thread::sleep_for(std::chrono::duration<double>(early));
    MPI_Barrier(comm);
    t.start.push_back(MPI_Wtime() - t0);
    run_step(s);
    MPI_Barrier(comm);
    t.end.push_back(MPI_Wtime() - t0);
  }
  return t;
}

}  // namespace epbench
