// placeholder: being written
#include "cli/cli_common.h"

namespace epbench::cli {
void register_evaluate(CLI::App& app) { app.add_subcommand("evaluate", "(being written)"); }
}  // namespace epbench::cli
