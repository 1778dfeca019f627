// Placeholder until `epbench run` lands.
#include "cli/cli_common.h"
namespace epbench::cli {
void register_run(CLI::App&) {}
}  // namespace epbench::cli
