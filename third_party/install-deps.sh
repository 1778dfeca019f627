#!/usr/bin/env bash
# Installs every Debian/Ubuntu package that epbench's build, tests and analysis need.
# Idempotent: packages already present are skipped, so a second run does nothing.
# Usage: sudo third_party/install-deps.sh   (or as root)
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang-format
  # MPI: OpenMPI (the default build) and MPICH (CI builds against both); HDF5 serial, which
  # epbench links, and the parallel flavours for EPBENCH_HDF5_PARALLEL=ON
  libopenmpi-dev openmpi-bin libmpich-dev mpich
  libhdf5-dev libhdf5-openmpi-dev libhdf5-mpich-dev hdf5-tools
  # the fuzz harnesses (scripts/fuzz.sh): clang with libFuzzer and the sanitizer runtimes
  clang libclang-rt-dev
  # topology, BLAS, command line, JSON
  libhwloc-dev hwloc libopenblas-dev libcli11-dev nlohmann-json3-dev
  # inference engines' placement files: TensorRT-LLM's are YAML
  libyaml-cpp-dev
  # threads over configurations and layers (evaluate, serve)
  libtbb-dev
  # graph partitioning (colocate and topo placements)
  libmetis-dev
  # linear and mixed-integer programs (the LP lower bound and the exact ILP, placement/lp_bound)
  coinor-libcbc-dev coinor-libclp-dev
  # max-flow (optimal routing) and perfect matching (spread)
  liblemon-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # Python analysis (Debian's interpreter: /usr/bin/python3)
  python3 python3-h5py python3-numpy python3-pytest python3-pandas python3-matplotlib python3-yaml
  # the MoE models trained for the shipped traces (analysis/epbench_moe)
  python3-torch python3-sentencepiece
  # SLURM job scripts (jobs/) and their tests: a one-node cluster on localhost
  slurm-wlm munge
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
