// Placeholder until `epbench topo` lands.
#include "cli/cli_common.h"
namespace epbench::cli {
void register_topo(CLI::App&) {}
}  // namespace epbench::cli
