#!/usr/bin/env bash
# ctest fixture: start|stop CLUSTER_DIR, the local cluster of the slurm.* tests.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
for cmd in munged slurmctld slurmd sbatch; do
  if ! command -v "$cmd" >/dev/null; then
    echo "SKIP: $cmd not found (install slurm-wlm and munge: third_party/install-deps.sh)"
    [[ $1 == stop ]] && exit 0
    exit 77
  fi
done
exec "$repo/jobs/local-cluster.sh" "$1" --dir "$2"
