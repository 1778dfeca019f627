#!/usr/bin/env bash
# jobs/scaling.sh: a 2-point study (2 and 4 GPUs in virtual nodes of 2) with 2 placements each,
# one job array per point; every results file and the manifest; re-submission submits nothing.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"
setup
make_trace
# shellcheck disable=SC2054 # commas inside values
study=(--study "$work/study" --trace trace.h5 --gpus 2,4 --gpus-per-node 2
  --algos round-robin,eplb --batching fifo -- "${run_opts[@]}")

"$repo/jobs/scaling.sh" "${study[@]}" | tee submit1.txt || fail "scaling.sh failed"
manifest=$work/study/manifest.tsv
[[ -r $manifest ]] || fail "no manifest $manifest"
mapfile -t jobs < <(awk -F'\t' 'NR > 1 { split($8, j, "_"); print j[1] }' "$manifest" | sort -u)
[[ ${#jobs[@]} -eq 2 ]] || fail "expected one job array per GPU count, manifest has jobs: ${jobs[*]}"
wait_jobs "${jobs[@]}"

expected="gpus	nodes	gpus_per_node	algo	batching	results	array_index	job_id	state"
[[ $(head -n1 "$manifest") == "$expected" ]] || fail "manifest header: $(head -n1 "$manifest")"
[[ $(wc -l <"$manifest") -eq 5 ]] || fail "manifest: expected 4 rows: $(cat "$manifest")"
while IFS=$'\t' read -r gpus nodes pn algo batching results idx job state; do
  [[ $state == submitted ]] || fail "manifest: $algo-$batching at $gpus GPUs is $state, not submitted"
  [[ $results == "$work/study/g$gpus/$algo-$batching.h5" ]] || fail "manifest: results path $results"
  [[ $nodes == $((gpus / 2)) && $pn == 2 ]] || fail "manifest: $gpus GPUs as $nodes x $pn"
  [[ $job =~ ^[0-9]+_${idx}$ ]] || fail "manifest: job id $job for array index $idx"
  [[ $(job_state "$job") == COMPLETED ]] || fail "job $job ended $(job_state "$job")"
  check_results "$results" "$gpus"
  [[ -s $work/study/logs/g$gpus-$job.out ]] || fail "no log $work/study/logs/g$gpus-$job.out"
  ok "$gpus GPUs ($nodes x $pn), $algo, $batching: job $job, $results"
done < <(tail -n +2 "$manifest")

"$repo/jobs/scaling.sh" "${study[@]}" | tee submit2.txt || fail "re-submission failed"
grep -q "all 4 configurations have results" submit2.txt || fail "re-submission did not say all results exist"
! grep -q -- '--array=' submit2.txt || fail "re-submission submitted jobs"
[[ $(awk -F'\t' 'NR > 1 && $9 != "skipped-existing"' "$manifest" | wc -l) -eq 0 ]] ||
  fail "manifest after re-submission: $(cat "$manifest")"
ok "re-submission: nothing submitted, manifest says skipped-existing for all 4"

# The study directory is what the analysis reads: one report over both GPU counts.
PYTHONPATH=$repo/analysis /usr/bin/python3 -m epbench_analysis report "$work/study" -o "$work/report" ||
  fail "epbench_analysis report of the study failed"
[[ -s $work/report/scaling.png ]] || fail "no scaling figure in $work/report"
[[ $(grep -c "$work/study/g" "$work/report/report.md") -eq 4 ]] || fail "report does not list the 4 results files"
ok "report of the study: $work/report/report.md"
