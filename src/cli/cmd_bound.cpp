// placeholder: being written
#include "cli/cli_common.h"

namespace epbench::cli {
void register_bound(CLI::App& app) { app.add_subcommand("bound", "(being written)"); }
}  // namespace epbench::cli
