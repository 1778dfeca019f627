#!/usr/bin/env bash
# Builds the libFuzzer harnesses (preset `fuzz`, clang) and runs each for a while on a copy of
# its seed corpus, so the repository is not modified. Usage: scripts/fuzz.sh [SECONDS] (20).
# Prints per harness the seconds run and the inputs executed; exits non-zero on any crash,
# leak, timeout or out-of-memory, printing the path of the input that caused it.
# EPBENCH_FUZZERS="layout cluster" runs only those harnesses. See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
jobs=${EPBENCH_JOBS:-$(nproc)}
root=$PWD

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"
bindir=build/fuzz/fuzz
# trace_file feeds raw bytes to libhdf5, which hangs on some corrupt files (its bugs, not
# epbench's): run it by name only (docs/fuzzing.md).
fuzzers=${EPBENCH_FUZZERS:-$(cd fuzz/corpus && ls | grep -vx trace_file)}

work=$(mktemp -d "${TMPDIR:-/tmp}/epbench-fuzz-run.XXXXXX")
echo "== fuzzing ${seconds}s per harness in $work"
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# A corrupt HDF5 file can make libhdf5 ask malloc for terabytes; it handles a null return
# (an error, so InputError). Allocations epbench makes still fail loudly: operator new throws
# bad_alloc, which no reader catches.
export ASAN_OPTIONS="allocator_may_return_null=1"
failed=()
for name in $fuzzers; do
  exe=$bindir/fuzz_$name
  [[ -x $exe ]] || { echo "no harness $exe (is it in fuzz/CMakeLists.txt?)"; exit 1; }
  cp -r "fuzz/corpus/$name" "$work/corpus-$name"
  mkdir -p "$work/artifacts-$name"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$work/artifacts-$name/")
  [[ -f fuzz/$name.dict ]] && args+=(-dict="fuzz/$name.dict")
  log=$work/$name.log
  rc=0
  "$exe" "${args[@]}" "$work/corpus-$name" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  printf '%-14s %4ss  %8s inputs  exit %d\n' "$name" "$seconds" "${runs:-?}" "$rc"
  if ((rc != 0)); then
    failed+=("$name")
    grep -E 'ERROR|SUMMARY|invariant|uncaught|Test unit written' "$log" | head -20 || true
    echo "   log: $log"
    for f in "$work/artifacts-$name"/*; do [[ -e $f ]] && echo "   crashing input: $f"; done
  fi
done
if ((${#failed[@]})); then
  echo "== fuzz FAILED: ${failed[*]} (inputs and logs kept in $work)"
  exit 1
fi
rm -rf "$work"
echo "== fuzz OK"
