// Placeholder until `epbench calibrate` lands.
#include "cli/cli_common.h"
namespace epbench::cli {
void register_calibrate(CLI::App&) {}
}  // namespace epbench::cli
