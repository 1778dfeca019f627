// epbench: expert placement benchmark for Mixture-of-Experts inference.
// Exit status: 0 success, 2 bad input or options (one line on stderr), 1 anything else.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "cli/cli_common.h"
#include "common/atomic_file.h"
#include "common/error.h"

namespace {

void register_commands(CLI::App& app) {
  using namespace epbench::cli;
  register_models(app);
  register_version(app);
  CLI::App* trace = app.add_subcommand("trace", "Expert-activation traces (HDF5)");
  trace->require_subcommand(1);
  register_trace_info(*trace);
  register_trace_split(*trace);
  register_trace_synth(*trace);
  register_trace_import(*trace);
  register_trace_stats(*trace);
  register_place(app);
  register_layout(app);
  register_bound(app);
  register_evaluate(app);
  register_serve(app);
  register_run(app);
  register_validate(app);
  register_profile(app);
  register_topo(app);
  register_calibrate(app);
}

// The rank the launcher gave this process (0 when not launched by mpirun or srun), known
// before MPI is initialised.
int launcher_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* v = std::getenv(var)) return std::atoi(v);
  return 0;
}

// CLI11 reports a mistyped command as "a subcommand is required"; name the word instead.
std::string unknown_command(CLI::App& app, int argc, char** argv) {
  CLI::App* level = &app;
  for (int i = 1; i < argc && argv[i][0] != '-'; ++i) {
    if (level->get_subcommands({}).empty()) return "";
    CLI::App* next = nullptr;
    for (CLI::App* sub : level->get_subcommands({}))
      if (sub->get_name() == argv[i]) next = sub;
    if (!next) return argv[i];
    level = next;
  }
  return "";
}

// The flag of the chosen subcommand that sets a library field (`batch_sizes`: --batch-sizes).
std::string flag_for_field(const CLI::App& app, const std::string& field) {
  std::string flag = "--" + field;
  for (char& c : flag)
    if (c == '_') c = '-';
  for (const CLI::App* level = &app; level;) {
    if (level->get_option_no_throw(flag)) return flag;
    const auto chosen = level->get_subcommands();
    level = chosen.empty() ? nullptr : chosen.front();
  }
  return field;
}

}  // namespace

int main(int argc, char** argv) {
  epbench::install_termination_cleanup();
  epbench::cli::set_command_line(argc, argv);
  CLI::App app{"epbench: expert placement, routing and batching for MoE inference"};
  app.require_subcommand(1);
  app.set_version_flag("--version", EPBENCH_VERSION);
  register_commands(app);
  epbench::set_field_namer([&app](const std::string& field) { return flag_for_field(app, field); });
  if (const std::string word = unknown_command(app, argc, argv); !word.empty()) {
    std::fprintf(stderr, "epbench: error: unknown command '%s' (see --help)\n", word.c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Under mpirun/srun every rank parses the same line: one message is enough.
    if (launcher_rank() == 0) std::fprintf(stderr, "epbench: error: %s (see --help)\n", e.what());
    return 2;
  } catch (const epbench::SilentExit& e) {
    return e.code();
  } catch (const epbench::InputError& e) {
    std::fprintf(stderr, "epbench: error: %s\n", epbench::user_message(e).c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "epbench: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
