#include "test_run_util.h"

#include "trace/trace_io.h"

namespace epbench {

RunFixture::RunFixture() : trace(dir_.path("t.h5")) {
  Trace t = test::make_trace(8, 7, 2, 8, 2, true);
  t.header.d_model = 256, t.header.d_ff = 512;  // the placements' cost model needs sizes
  write_trace(trace, t);
  header = TraceReader(trace).header();
}

std::string RunFixture::place(const std::string& algo, int nodes, int gpus_per_node, int slots) {
  const std::string out = path(algo + ".json");
  std::vector<std::string> args{"place",
                                "--algo",
                                algo,
                                "--trace",
                                trace,
                                "--nodes",
                                std::to_string(nodes),
                                "--gpus-per-node",
                                std::to_string(gpus_per_node),
                                "-o",
                                out};
  if (slots > 0) args.insert(args.end(), {"--slots", std::to_string(slots)});
  if (algo == "exact")  // its cost model takes sizes from a preset or from these
    args.insert(args.end(), {"--param", "d_model=256", "--param", "d_ff=512"});
  const auto r = test::run_epbench(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

test::CommandResult RunFixture::run_mpi(int ranks, const std::vector<std::string>& args,
                                        const std::string& out, const std::string& command) const {
  std::vector<std::string> argv = test::mpirun_args(ranks);
  // Later options win (TakeLast), so a test may override the small default sizes.
  argv.insert(argv.end(), {EPBENCH_EXE, command, "--trace", trace, "--d-model",
                           std::to_string(kDModel), "--d-ff", std::to_string(kDFf)});
  argv.insert(argv.end(), args.begin(), args.end());
  if (!out.empty()) argv.insert(argv.end(), {"-o", out});
  return test::run_command(argv);
}

}  // namespace epbench
