#!/usr/bin/env bash
# Builds epbench and runs every test. Usage: scripts/test.sh [PRESET]   (default: default)
# PRESET is a CMake preset (default, debug, asan, ...). EPBENCH_WERROR=ON turns warnings into
# errors (CI does). Installs missing system packages first (third_party/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}
jobs=${EPBENCH_JOBS:-$(nproc)}

bash third_party/install-deps.sh
cmake --preset "$preset" ${EPBENCH_WERROR:+-DEPBENCH_WERROR=$EPBENCH_WERROR} >/dev/null
cmake --build --preset "$preset" -j "$jobs"
ctest --preset "$preset" -j "$jobs"
