// `epbench topo` as users launch it: under mpirun, from a plain (non-MPI) test process.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"

namespace epbench::test {
namespace {

CommandResult mpirun_epbench(int ranks, const std::vector<std::string>& args) {
  std::vector<std::string> argv = mpirun_args(ranks);
  argv.push_back(EPBENCH_EXE);
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

int count_lines(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

TEST(TopoCommand, TableListsEveryRankOnce) {
  const CommandResult r = mpirun_epbench(2, {"topo", "--ranks-per-node", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("2 ranks on 1 host, 2 nodes of 1 rank"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.out, "rank  host"), 1) << r.out;  // printed by rank 0 only
  EXPECT_EQ(count_lines(r.out, " v0 "), 1) << r.out;
  EXPECT_EQ(count_lines(r.out, " v1 "), 1) << r.out;
}

TEST(TopoCommand, JsonMapIsWritten) {
  ScratchDir dir;
  const std::string path = dir.path("topo.json");
  const CommandResult r = mpirun_epbench(2, {"topo", "--json", path});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::ifstream f(path);
  const nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j.at("format"), "epbench-topology");
  EXPECT_EQ(j.at("ranks").size(), 2u);
  EXPECT_EQ(j.at("nodes"), 1);
  EXPECT_EQ(j.at("virtual_nodes"), false);
  EXPECT_TRUE(files_matching(dir.path(""), ".tmp.").empty());
}

TEST(TopoCommand, RanksPerNodeNotDividingTheJobFailsOnceWithStatus2) {
  const CommandResult r = mpirun_epbench(2, {"topo", "--ranks-per-node", "3"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(count_lines(r.err, "epbench: error:"), 1) << r.err;
  EXPECT_EQ(count_lines(r.err, "--ranks-per-node: expected a divisor"), 1) << r.err;
  EXPECT_EQ(r.out.find("rank  host"), std::string::npos) << r.out;
}

TEST(TopoCommand, UnwritableJsonFailsOnceWithStatus2) {
  const CommandResult r = mpirun_epbench(2, {"topo", "--json", "/nonexistent-dir/topo.json"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(count_lines(r.err, "epbench: error:"), 1) << r.err;
}

}  // namespace
}  // namespace epbench::test
