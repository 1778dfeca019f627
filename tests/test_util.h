#pragma once
// Helpers shared by the tests: a scratch directory, small hand-made traces, and running the
// real `epbench` executable to check exit status and messages.
#include <string>
#include <vector>

#include "trace/stats.h"
#include "trace/trace.h"

namespace epbench::test {

// A fresh directory under the build tree's temp area, removed when the object dies.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

// A small valid trace: `requests` requests of `tokens_per_request` tokens, L layers,
// E experts, top-k; expert ids follow a simple deterministic pattern; two domains.
Trace make_trace(int requests = 3, int tokens_per_request = 5, int layers = 2, int experts = 8,
                 int top_k = 2, bool gate_weights = true);

// The statistics of a whole in-memory trace (one StatsAccumulator pass).
TraceStats stats_of(const Trace& t, StatsOptions opt = {});

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};
// Runs argv[0] (searched in PATH when it has no slash) with the rest as arguments, no shell,
// stdin from /dev/null, capturing stdout and stderr.
CommandResult run_command(const std::vector<std::string>& argv);
// Runs the epbench executable with `args` (no shell), capturing stdout and stderr.
CommandResult run_epbench(const std::vector<std::string>& args);

// The mpiexec CMake found (EPBENCH_MPIEXEC).
std::string mpirun_path();
// mpiexec -n N, with OpenMPI --oversubscribe (so tests may start more ranks than cores) and
// --allow-run-as-root when running as root (CI): prepend to a command for run_command.
std::vector<std::string> mpirun_args(int ranks);

bool file_exists(const std::string& path);
// Files in `dir` whose names contain `needle` (to check no temporary file was left).
std::vector<std::string> files_matching(const std::string& dir, const std::string& needle);

}  // namespace epbench::test
