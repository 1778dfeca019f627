// How `epbench profile` times a phase (runtime/profile_measure.h), under mpirun with 3 ranks
// (tests/CMakeLists.txt): where ranks take turns on a core, the time counts the turns, as the
// next collective of a run's layer waits for them; which weights its FFN calls read; and how
// `run --schedule` clocks a step (runtime/schedule_replay.h). Every rank runs every test; the
// exit status is the worst over the ranks.
#include <gtest/gtest.h>
#include <mpi.h>
#include <sched.h>

#include <chrono>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "runtime/ffn_backend.h"
#include "runtime/profile_job.h"
#include "runtime/profile_measure.h"
#include "runtime/schedule_replay.h"

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
  const double t = CollectiveTimer(MPI_COMM_WORLD).time(1, 9, [&] { work_for(work); });
  // One core does every rank's work one after another: no schedule finishes sooner.
  EXPECT_GE(t, 0.9 * work * world(MPI_Comm_size)) << "a phase of 1 ms of CPU on each rank";
}

TEST(PhaseTiming, TheSlowestRankSetsTheTime) {
  const double work = 2e-3;
  const double t = CollectiveTimer(MPI_COMM_WORLD).time(1, 9, [&] {
    if (world(MPI_Comm_rank) == 0) work_for(work);
  });
  EXPECT_GE(t, work);
  EXPECT_LT(t, 1.0);  // not a sum over repetitions, nor a unit slip
}

// Records the shard of every forward and does no work.
class ShardLog final : public FfnBackend {
 public:
  std::string name() const override { return "log"; }
  void load(size_t, const float*, const float*, const float*) override {}
  void forward(size_t shard, const float*, size_t, float*) override { shards.push_back(shard); }
  void raw_gemms(size_t, size_t) override {}
  std::vector<size_t> shards;
};

// The cold table's calls read every set's weights in turn, however few experts a call has:
// one expert per call rotating through only 4 (6 MiB here) had stayed in the cache.
TEST(ProfileFfn, ColdCallsOfOneExpertCycleThroughTheWholePool) {
  ProfileOptions o;
  o.d_model = 4, o.d_ff = 8, o.max_tokens = 2, o.max_active = 5, o.weight_sets = 4;
  o.warmup = 0, o.repetitions = 20;
  ShardLog log;
  measure_ffn_points(o, log, MPI_COMM_WORLD, {{1, 1}});
  ASSERT_EQ(log.shards.size(), 20u);
  for (size_t i = 0; i < 20; ++i) EXPECT_EQ(log.shards[i], i) << "call " << i;
  log.shards.clear();  // 2 experts a call: 10 disjoint pairs, then round again
  o.repetitions = 11;
  measure_ffn_points(o, log, MPI_COMM_WORLD, {{2, 1}});
  ASSERT_EQ(log.shards.size(), 22u);
  EXPECT_EQ(log.shards[18], 18u);
  EXPECT_EQ(log.shards[19], 19u);
  EXPECT_EQ(log.shards[20], 0u);
}

// The reuse curves' calls: an expert, `others` more, then the timed read of the first again;
// then a loop over `others` + 1 experts (each read twice first), one of them timed. Out to
// twice the cache share (4 experts here), each on the next experts of the pool.
TEST(ProfileFfn, ReuseCurvesRereadAnExpertAfterOthers) {
  ProfileOptions o;
  o.d_model = 4, o.d_ff = 8, o.max_tokens = 2, o.max_active = 5, o.weight_sets = 4;
  o.warmup = 0, o.repetitions = 1;
  Profile p;
  p.backend = "cpu", p.d_model = 4, p.d_ff = 8;
  const int64_t expert = 3 * 4 * 8 * 4;
  p.cache_bytes_per_rank = 2 * expert;
  ShardLog log;
  measure_reuse_curve(o, log, MPI_COMM_WORLD, p);
  EXPECT_EQ(p.ffn_reuse_bytes, (std::vector<int64_t>{expert, 2 * expert, 3 * expert, 4 * expert}));
  EXPECT_EQ(p.ffn_reuse_time_s.size(), 4u);
  EXPECT_EQ(p.ffn_reuse_loop_time_s.size(), 4u);
  const std::vector<size_t> first_two = {0, 1, 0, 2, 3, 2, 3, 2,  // one other
                                         4, 5, 6, 4, 7, 8, 9, 7, 8, 9, 7};
  ASSERT_EQ(log.shards.size(), 8u + 11u + 14u + 17u);
  EXPECT_EQ(std::vector<size_t>(log.shards.begin(), log.shards.begin() + 19), first_two);
  p.cache_bytes_per_rank = 0;  // no cache known: no curves
  measure_reuse_curve(o, log, MPI_COMM_WORLD, p);
  EXPECT_TRUE(p.ffn_reuse_bytes.empty());
}

TEST(ProfileFfn, WeightSetsOverflowTheCacheTheyAreGiven) {
  ProfileOptions o;
  o.d_model = 256, o.d_ff = 512, o.max_active = 5, o.weight_sets = 4;  // 1.5 MiB an expert
  EXPECT_EQ(weight_sets(o), 4);
  o.overflow_bytes = 32 << 20;  // 7.5 MiB a set: 5 sets hold 37.5 MiB
  EXPECT_EQ(weight_sets(o), 5);
  o.overflow_bytes = uint64_t{1} << 40;  // never more than 1 GiB of weights
  EXPECT_EQ(weight_sets(o), static_cast<int>(kProfileWeightBytes / (5 * 1536 * 1024)));
}

// run --schedule's clock: a step starts once its requests arrived and the step before ended,
// and what the harness prepares for it (here 150 ms) falls before its start, on no step's time.
TEST(ScheduleReplay, StepsWaitForArrivalsAndLeaveTheirPreparationOffTheClock) {
  const std::vector<double> ready = {0.0, 0.0, 0.5};
  const ReplayTimes t = replay_steps(
      MPI_COMM_WORLD, ready,
      [](uint64_t) { std::this_thread::sleep_for(std::chrono::milliseconds(150)); },
      [](uint64_t) {});
  ASSERT_EQ(t.start.size(), 3u);
  for (size_t s = 0; s < 3; ++s) {
    EXPECT_GE(t.start[s], ready[s]) << s;
    EXPECT_LT(t.end[s] - t.start[s], 0.1) << s;  // 150 ms of preparation is not in it
    if (s > 0) {
      EXPECT_GE(t.start[s], t.end[s - 1] + 0.15) << s;
    }
  }
  EXPECT_LT(t.start[2], 0.6);  // prepared (0.3 to 0.45 s) while it waited for its arrival
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
