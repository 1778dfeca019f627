// Topology discovery and agreed errors, run under mpirun at several sizes (tests/CMakeLists.txt).
// Every rank runs every test; only rank 0 prints gtest's report, the others print their own
// failures, and the exit status is the worst over the ranks.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdlib>
#include <functional>
#include <optional>
#include <string>

#include "common/error.h"
#include "runtime/mpi_env.h"
#include "runtime/topology.h"

namespace epbench {
namespace {

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

int world_size() {
  int n = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

// Rank 0's text, on every rank.
std::string from_rank0(std::string text) {
  int len = static_cast<int>(text.size());
  MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  text.resize(static_cast<size_t>(len));
  MPI_Bcast(text.data(), len, MPI_CHAR, 0, MPI_COMM_WORLD);
  return text;
}

// Runs fn inside agree() and returns the AgreedFailure it raised, if any.
std::optional<AgreedFailure> agreed_failure(const std::function<void()>& fn) {
  try {
    agree(MPI_COMM_WORLD, fn);
  } catch (const AgreedFailure& e) {
    return e;
  }
  return std::nullopt;
}

TEST(Topology, EveryRankHoldsTheSameMap) {
  const JobTopology t = discover_topology(MPI_COMM_WORLD, 0);
  ASSERT_EQ(t.ranks.size(), static_cast<size_t>(world_size()));
  for (size_t r = 0; r < t.ranks.size(); ++r) EXPECT_EQ(t.ranks[r].rank, static_cast<int>(r));
  const std::string mine = format_topology(t);
  EXPECT_EQ(mine, from_rank0(mine));
}

TEST(Topology, HostNodesOnOneHost) {
  const JobTopology t = discover_topology(MPI_COMM_WORLD, 0);
  EXPECT_FALSE(t.virtual_nodes);
  EXPECT_EQ(t.hosts, 1);
  EXPECT_EQ(t.nodes, 1);
  EXPECT_EQ(t.ranks_per_node, world_size());
  for (const RankPlacement& r : t.ranks) {
    EXPECT_EQ(r.node, 0);
    EXPECT_EQ(r.host_index, 0);
    EXPECT_EQ(r.local_rank, r.rank);
    EXPECT_EQ(r.local_size, world_size());
    EXPECT_EQ(r.host, t.ranks[0].host);
    EXPECT_FALSE(r.numa.empty());
  }
}

// The smallest divisor > 1 of the job size: 2 for even jobs, 3 for 3 ranks (odd counts too).
int smallest_node_size() {
  int d = 2;
  while (world_size() % d != 0) ++d;
  return d;
}

TEST(Topology, VirtualNodesGroupConsecutiveRanks) {
  const int per_node = smallest_node_size();
  const JobTopology t = discover_topology(MPI_COMM_WORLD, per_node);
  EXPECT_TRUE(t.virtual_nodes);
  EXPECT_EQ(t.nodes, world_size() / per_node);
  EXPECT_EQ(t.ranks_per_node, per_node);
  for (const RankPlacement& r : t.ranks) EXPECT_EQ(r.node, r.rank / per_node);
  EXPECT_NE(format_topology(t).find("v0"), std::string::npos);
}

TEST(Topology, RanksPerNodeNotDividingTheJobIsAnInputErrorOnEveryRank) {
  const int bad = world_size() + 1;  // never divides the job
  const auto e = agreed_failure([bad] { discover_topology(MPI_COMM_WORLD, bad); });
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->exit_code(), 2);
  EXPECT_NE(std::string(e->what()).find("ranks_per_node: expected a divisor of the job's"),
            std::string::npos)
      << e->what();
  // Every rank failed alike, so rank 0 speaks: no "rank R: " prefix.
  EXPECT_EQ(std::string(e->what()).rfind("rank ", 0), std::string::npos) << e->what();
}

// A job on several hosts, as discover_topology would see it: host of each rank.
JobTopology hosts_of(const std::vector<int>& host_index) {
  JobTopology t;
  for (size_t r = 0; r < host_index.size(); ++r) {
    RankPlacement p;
    p.rank = static_cast<int>(r), p.host_index = host_index[r];
    p.host = "host" + std::to_string(host_index[r]);
    t.ranks.push_back(p);
  }
  return t;
}

TEST(Topology, NodesFollowHostsInBlocks) {
  JobTopology t = hosts_of({0, 0, 0, 1, 1, 1});
  assign_nodes(t, 0);
  EXPECT_EQ(t.nodes, 2);
  EXPECT_EQ(t.ranks_per_node, 3);
  EXPECT_FALSE(t.virtual_nodes);
  EXPECT_EQ(t.ranks[3].node, 1);

  JobTopology uneven = hosts_of({0, 0, 0, 1});
  assign_nodes(uneven, 0);
  EXPECT_EQ(uneven.ranks_per_node, 0);  // not the same on every node
}

TEST(Topology, RoundRobinMappingIsAnInputErrorSuggestingBlocks) {
  JobTopology t = hosts_of({0, 1, 0, 1});
  try {
    assign_nodes(t, 0);
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--map-by slot"), std::string::npos) << e.what();
  }
  // Virtual nodes ignore the hosts; a virtual node across two hosts is only a warning.
  JobTopology v = hosts_of({0, 1, 0, 1});
  assign_nodes(v, 2);
  EXPECT_EQ(v.nodes, 2);
  const std::vector<std::string> w = topology_warnings(v);
  ASSERT_FALSE(w.empty());
  EXPECT_NE(w.back().find("virtual node 1 spans 2 hosts"), std::string::npos) << w.back();
}

TEST(Topology, WarningsNameUnboundAndSharedGpus) {
  JobTopology t;
  t.ranks.resize(3);
  for (int r = 0; r < 3; ++r) t.ranks[size_t(r)].rank = r, t.ranks[size_t(r)].host = "h";
  t.ranks[0].cpuset = "0", t.ranks[0].gpu = 0, t.ranks[0].gpu_near = false;
  t.ranks[1].cpuset = "", t.ranks[1].gpu = 1;
  t.ranks[2].cpuset = "2", t.ranks[2].gpu = 1;
  const std::vector<std::string> w = topology_warnings(t);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_NE(w[0].find("rank 1 is not bound"), std::string::npos) << w[0];
  EXPECT_NE(w[1].find("rank 0 is bound to CPUs outside"), std::string::npos) << w[1];
  EXPECT_NE(w[2].find("ranks 1-2 share GPU 1"), std::string::npos) << w[2];
}

// One GPU and several ranks (a one-GPU machine): detected per host, and NCCL refused by name.
TEST(Topology, RanksSharingAGpuAreDetectedAndNcclRefused) {
  JobTopology t;
  t.ranks.resize(4);
  for (int r = 0; r < 4; ++r) {
    RankPlacement& p = t.ranks[size_t(r)];
    p.rank = r, p.host = r < 2 ? "a" : "b", p.host_index = r < 2 ? 0 : 1, p.gpu = 0;
  }
  t.ranks[3].gpu = 1;  // host b: ranks 2 and 3 on different GPUs
  const auto groups = shared_gpu_groups(t);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0], (std::vector<int>{0, 1}));
  EXPECT_EQ(ranks_on_gpu(t, 1), 2);
  EXPECT_EQ(ranks_on_gpu(t, 2), 1);
  try {
    require_distinct_gpus(t);
    FAIL() << "ranks 0 and 1 share GPU 0 on host a";
  } catch (const OptionError& e) {
    EXPECT_EQ(e.field(), "comm");
    EXPECT_NE(e.problem().find("ranks 0-1 share GPU 0 on a"), std::string::npos) << e.what();
    EXPECT_NE(e.problem().find("--comm mpi"), std::string::npos) << e.what();
  }
  t.ranks[1].gpu = 1;
  EXPECT_NO_THROW(require_distinct_gpus(t));
  EXPECT_TRUE(shared_gpu_groups(t).empty());
}

TEST(Agree, ReturnsNormallyWhenNoRankFails) {
  int calls = 0;
  EXPECT_FALSE(agreed_failure([&] { ++calls; }).has_value());
  EXPECT_EQ(calls, 1);
}

TEST(Agree, LowestFailingRankSpeaksForAll) {
  const int size = world_size();
  const auto e = agreed_failure([] {
    if (world_rank() >= 1) throw InputError("bad input on rank " + std::to_string(world_rank()));
  });
  ASSERT_TRUE(e.has_value());
  EXPECT_STREQ(e->what(), "rank 1: bad input on rank 1");
  EXPECT_EQ(e->exit_code(), 2);

  const auto last = agreed_failure([size] {
    if (world_rank() == size - 1) throw std::runtime_error("broken");
  });
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(std::string(last->what()), "rank " + std::to_string(size - 1) + ": broken");
  EXPECT_EQ(last->exit_code(), 1);
}

TEST(Agree, RankZeroFailureHasNoPrefix) {
  const auto e = agreed_failure([] {
    if (world_rank() == 0) throw InputError("zero");
  });
  ASSERT_TRUE(e.has_value());
  EXPECT_STREQ(e->what(), "zero");
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_, old_->c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(Launcher, AcceptsTheRealSize) {
  ScopedEnv slurm("SLURM_NTASKS", std::to_string(world_size()));
  EXPECT_NO_THROW(check_launcher(MPI_COMM_WORLD));
}

TEST(Launcher, RejectsASlurmTaskCountThatDisagrees) {
  ScopedEnv slurm("SLURM_NTASKS", std::to_string(world_size() + 1));
  try {
    check_launcher(MPI_COMM_WORLD);
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("SLURM_NTASKS"), std::string::npos) << e.what();
  }
}

// On ranks other than 0: print failed assertions only, prefixed with the rank.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "rank %d: %s:%d: %s\n", rank_, r.file_name() ? r.file_name() : "?",
                   r.line_number(), r.summary());
  }

 private:
  int rank_;
};

}  // namespace
}  // namespace epbench

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  MPI_Init(&argc, &argv);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  const int rank = epbench::world_rank();
  if (rank != 0) {
    ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new epbench::RankFailurePrinter(rank));
  }
  int failed = RUN_ALL_TESTS(), any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return any;
}
