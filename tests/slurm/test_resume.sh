#!/usr/bin/env bash
# An interrupted study loses nothing: a study of 4 configurations run one at a time
# (--throttle 1) is cancelled right after its first results file appears; re-submitting
# the same command submits only the rest, leaves the first file alone and completes.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"
setup
make_trace
# shellcheck disable=SC2054 # commas inside values
study=(--study "$work/study" --trace trace.h5 --gpus 4 --gpus-per-node 2
  --algos round-robin,eplb --batching fifo,affinity --throttle 1 -- "${run_opts[@]}")
manifest=$work/study/manifest.tsv
dir=$work/study/g4

"$repo/jobs/scaling.sh" "${study[@]}" | tee submit1.txt || fail "scaling.sh failed"
grep -q -- '--array=1,2,3,4%1' submit1.txt || fail "expected --array=1,2,3,4%1 in: $(cat submit1.txt)"
array=$(awk -F'\t' 'NR == 2 { split($8, j, "_"); print j[1] }' "$manifest")

first=""
for ((t = 0; t < job_timeout * 4; t++)); do
  first=$(find "$dir" -name '*.h5' | head -n1)
  [[ -n $first ]] && break
  sleep 0.25
done
[[ -n $first ]] || { scancel "$array"; fail "no results after ${job_timeout}s"; }
first_idx=$(awk -F'\t' -v r="$first" '$6 == r { print $7 }' "$manifest")
# Let the next configuration start its run, so that the cancel kills a running epbench.
for ((t = 0; t < 120; t++)); do
  grep -l '^epbench.sbatch: job ' "$work/study/logs/g4-${array}"_*.out 2>/dev/null |
    grep -qv "_$first_idx.out" && break
  sleep 0.25
done
sleep 1
scancel "$array"
echo "cancelled array $array after $first appeared"
wait_jobs "$array"
before=$(stat -c '%i %Y' "$first")
mapfile -t done1 < <(find "$dir" -name '*.h5')
[[ ${#done1[@]} -lt 4 ]] || fail "all 4 results exist before the cancel took effect: nothing to resume"
[[ -z $(find "$dir" -name '*.h5*' ! -name '*.h5') ]] || fail "the cancelled run left files: $(ls "$dir")"
ok "interrupted with ${#done1[@]} of 4 results: ${done1[*]##*/}"

"$repo/jobs/scaling.sh" "${study[@]}" | tee submit2.txt || fail "re-submission failed"
[[ $(awk -F'\t' -v r="$first" '$6 == r { print $9 }' "$manifest") == skipped-existing ]] ||
  fail "manifest does not say skipped-existing for $first: $(cat "$manifest")"
array_list=$(grep -o -- '--array=[0-9,%]*' submit2.txt) || fail "re-submission submitted nothing"
[[ ,${array_list#--array=}, != *",$first_idx,"* && ,${array_list#--array=} != *",$first_idx%"* ]] ||
  fail "re-submission redoes configuration $first_idx: $array_list"
[[ $(awk -F'\t' 'NR > 1 && $9 == "submitted"' "$manifest" | wc -l) -eq $((4 - ${#done1[@]})) ]] ||
  fail "manifest: expected $((4 - ${#done1[@]})) submitted: $(cat "$manifest")"
ok "re-submission: $array_list, configuration $first_idx skipped-existing"
mapfile -t jobs < <(awk -F'\t' 'NR > 1 && $9 == "submitted" { split($8, j, "_"); print j[1] }' "$manifest" | sort -u)
wait_jobs "${jobs[@]}"

while IFS=$'\t' read -r _ _ _ algo batching results _ job _; do
  check_results "$results" 4
  ok "$algo-$batching: $results (job $job)"
done < <(tail -n +2 "$manifest")
[[ $(stat -c '%i %Y' "$first") == "$before" ]] || fail "$first was rewritten (inode mtime $before -> $(stat -c '%i %Y' "$first"))"
ok "$first untouched (inode, mtime $before)"
"$repo/jobs/scaling.sh" "${study[@]}" | grep -q "all 4 configurations have results" ||
  fail "a third submission did not find all results"
ok "third submission: all 4 configurations have results"
