// How `epbench profile` times a phase (runtime/profile_measure.h), under mpirun with 3 ranks
// (tests/CMakeLists.txt): where ranks take turns on a core, the time counts the turns, as the
// next collective of a run's layer waits for them. Every rank runs every test; the exit status
// is the worst over the ranks.
#include <gtest/gtest.h>
#include <mpi.h>
#include <sched.h>

#include <ctime>

#include "runtime/profile_measure.h"

namespace epbench {
namespace {

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Busy until this thread has had `seconds` of CPU: that much work, however it is scheduled.
void work_for(double seconds) {
  const double until = thread_cpu_seconds() + seconds;
  volatile double x = 0;
  while (thread_cpu_seconds() < until)
    for (int i = 0; i < 1000; ++i) x = x + 1;
}

int world(int (*query)(MPI_Comm, int*)) {
  int v = 0;
  query(MPI_COMM_WORLD, &v);
  return v;
}

// Pins every rank to the lowest CPU any of them may use, for the scope; `pinned` is false on
// every rank when one could not be pinned (the test then skips on all of them).
class SharedCore {
 public:
  SharedCore() {
    sched_getaffinity(0, sizeof(before_), &before_);
    int lowest = CPU_SETSIZE;
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &before_)) {
        lowest = c;
        break;
      }
    int common = 0;
    MPI_Allreduce(&lowest, &common, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(common, &one);
    int ok = sched_setaffinity(0, sizeof(one), &one) == 0, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    pinned = all == 1;
  }
  ~SharedCore() { sched_setaffinity(0, sizeof(before_), &before_); }
  SharedCore(const SharedCore&) = delete;
  SharedCore& operator=(const SharedCore&) = delete;
  bool pinned = false;

 private:
  cpu_set_t before_{};
};

TEST(PhaseTiming, RanksTakingTurnsOnOneCoreCountTheirTurns) {
  const SharedCore core;
  if (!core.pinned) GTEST_SKIP() << "a rank could not be pinned to the CPU the others share";
  const double work = 1e-3;
  const double t = time_collective(MPI_COMM_WORLD, 1, 9, [&] { work_for(work); });
  // One core does every rank's work one after another: no schedule finishes sooner.
  EXPECT_GE(t, 0.9 * work * world(MPI_Comm_size)) << "a phase of 1 ms of CPU on each rank";
}

TEST(PhaseTiming, TheSlowestRankSetsTheTime) {
  const double work = 2e-3;
  const double t = time_collective(MPI_COMM_WORLD, 1, 9, [&] {
    if (world(MPI_Comm_rank) == 0) work_for(work);
  });
  EXPECT_GE(t, work);
  EXPECT_LT(t, 1.0);  // not a sum over repetitions, nor a unit slip
}

}  // namespace
}  // namespace epbench

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  MPI_Init(&argc, &argv);
  int failed = RUN_ALL_TESTS(), any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
