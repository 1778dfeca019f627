// `epbench version`: version, build features and whether a GPU is usable here.
#include <cstdio>

#include "cli/cli_common.h"
#include "runtime/gpu_info.h"

namespace epbench::cli {

namespace {
void print_version() {
  const GpuInfo gpu = probe_gpus();
  std::printf("epbench %s\n", EPBENCH_VERSION);
  std::printf("cuda: %s\n", gpu.built_with_cuda ? "built" : "not built");
  if (gpu.built_with_nccl)
    std::printf("nccl: built (version %d)\n", gpu.nccl_version);
  else
    std::printf("nccl: not built\n");
  if (gpu.device_count > 0)
    std::printf("gpus: %d (%s)\n", gpu.device_count, gpu.device_name.c_str());
  else
    std::printf("gpus: none (%s)\n", gpu.reason.c_str());
}
}  // namespace

void register_version(CLI::App& app) {
  app.add_subcommand("version", "Print the version, build features and visible GPUs")
      ->callback(print_version);
}

}  // namespace epbench::cli
