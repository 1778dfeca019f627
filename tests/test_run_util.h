#pragma once
// Shared by the `epbench run` tests: a small trace, layouts placed on it by the real `place`,
// and `epbench run` launched under the real mpirun.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"
#include "trace/trace.h"

namespace epbench {

// Small experts keep oversubscribed runs quick; the check compares them all the same.
inline constexpr int kDModel = 32, kDFf = 64;

class RunFixture : public ::testing::Test {
 protected:
  RunFixture();
  std::string path(const std::string& name) const { return dir_.path(name); }
  // `epbench place --algo algo` on `nodes` x `gpus_per_node`; returns the layout's path.
  std::string place(const std::string& algo, int nodes, int gpus_per_node, int slots = 0);
  // mpirun -np ranks epbench COMMAND --trace T --d-model .. --d-ff .. ARGS -o out (COMMAND:
  // run, or validate, which takes run's options).
  test::CommandResult run_mpi(int ranks, const std::vector<std::string>& args,
                              const std::string& out, const std::string& command = "run") const;

  test::ScratchDir dir_;

 public:
  std::string trace;
  TraceHeader header;
};

}  // namespace epbench
