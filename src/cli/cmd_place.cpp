// placeholder: being written
#include "cli/cli_common.h"

namespace epbench::cli {
void register_place(CLI::App& app) { app.add_subcommand("place", "(being written)"); }
}  // namespace epbench::cli
