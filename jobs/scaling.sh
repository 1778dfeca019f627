#!/usr/bin/env bash
# Submits a scaling study: for each GPU count one SLURM job array whose index picks a
# (placement algorithm, batching) configuration; each task places and runs it with
# jobs/epbench.sbatch. Re-submitting with the same arguments submits only the configurations
# whose results file does not exist yet (an interrupted study loses nothing).
# Usage: jobs/scaling.sh --study DIR --trace T.h5 --gpus 8,16 [--gpus-per-node 4]
#          [--algos round-robin,eplb] [--batching fifo,affinity] [--throttle N]
#          [--place-opts "--fit 0:50% --cluster h100"] [--sbatch-opts "--partition gpu"] [--dry-run]
#          [-- EXTRA epbench run OPTIONS]
# Layout and results of a configuration: DIR/g<GPUs>/<algo>-<batching>.{json,h5}; logs:
# DIR/logs/g<GPUs>-<array job>_<index>.out; manifest: DIR/manifest.tsv. Nodes per point:
# ceil(GPUs / gpus-per-node). With --ranks-per-node K among the extra options (virtual
# nodes), every point runs on one real node. Layouts are fitted on the first half of the
# trace (--place-opts default "--fit 0:50%"), runs replay the second (epbench run's default
# --range). Environment: EPBENCH as for epbench.sbatch. See docs/slurm.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
study="" trace="" gpus_list="" gpn=4 algos="round-robin,eplb" batchings="fifo" throttle=""
place_opts="--fit 0:50%" sbatch_opts="" dry_run=0 failures=0
virtual=0 # K of --ranks-per-node K among the extra options (virtual nodes), else 0
extra=()

usage() { sed -n '2,15s/^# \{0,1\}//p' "$0"; }
die() { echo "scaling: error: $*" >&2; exit 2; }
log() { echo "scaling: $*"; }

parse_args() {
  while (($#)); do
    case $1 in
      --study | --trace | --gpus | --gpus-per-node | --algos | --batching | --throttle | --place-opts | --sbatch-opts)
        [[ $# -ge 2 ]] || die "$1 needs a value"
        case $1 in
          --study) study=$2 ;;
          --trace) trace=$2 ;;
          --gpus) gpus_list=$2 ;;
          --gpus-per-node) gpn=$2 ;;
          --algos) algos=$2 ;;
          --batching) batchings=$2 ;;
          --throttle) throttle=$2 ;;
          --place-opts) place_opts=$2 ;;
          --sbatch-opts) sbatch_opts=$2 ;;
        esac
        shift 2 ;;
      --dry-run) dry_run=1; shift ;;
      -h | --help) usage; exit 0 ;;
      --) shift; extra=("$@"); break ;;
      *) die "unknown option '$1' (epbench run options go after --; see --help)" ;;
    esac
  done
  [[ -n $study ]] || die "missing --study DIR"
  [[ -n $trace ]] || die "missing --trace: the trace to place and run (HDF5)"
  [[ -n $gpus_list ]] || die "missing --gpus: GPU counts, comma-separated (e.g. --gpus 8,16)"
  [[ -f $trace ]] || die "--trace: '$trace' is not a file"
  [[ $gpn =~ ^[1-9][0-9]*$ ]] || die "--gpus-per-node: '$gpn' is not a positive integer"
  [[ -z $throttle || $throttle =~ ^[1-9][0-9]*$ ]] || die "--throttle: '$throttle' is not a positive integer"
  local g a
  for g in ${gpus_list//,/ }; do
    [[ $g =~ ^[1-9][0-9]*$ ]] || die "--gpus: '$g' is not a positive integer"
  done
  local i
  for ((i = 0; i < ${#extra[@]}; i++)); do
    case ${extra[i]} in
      -o | --output | --output=* | -o?* | --layouts | --layouts=* | --batching | --batching=*)
        die "'${extra[i]}' among the extra options: the study chooses the layouts, the batching and the results file" ;;
      --ranks-per-node) virtual=${extra[i + 1]:-} ;;
      --ranks-per-node=*) virtual=${extra[i]#*=} ;;
    esac
  done
  [[ $virtual =~ ^[0-9]+$ ]] || die "--ranks-per-node: '$virtual' is not a number"
  study=$(realpath -m "$study")
  trace=$(realpath "$trace")
}

# point_shape GPUS: "NODES GPUS_PER_NODE" of one point of the study.
point_shape() {
  local g=$1 nodes
  nodes=$(((g + gpn - 1) / gpn))
  ((g % nodes == 0)) || die "$g GPUs do not split evenly over $nodes nodes of at most $gpn"
  echo "$nodes $((g / nodes))"
}

# job_alive ID: whether SLURM still has job (or array task) ID pending or running.
job_alive() {
  [[ $1 != - ]] && [[ -n $(squeue -h -j "$1" -o %T 2>/dev/null) ]]
}

# previous_job GPUS ALGO BATCHING: the job id of that configuration in the old manifest.
previous_job() {
  [[ -r $study/manifest.tsv ]] || { echo -; return; }
  awk -F'\t' -v g="$1" -v a="$2" -v b="$3" \
    'NR > 1 && $1 == g && $4 == a && $5 == b { id = $8 } END { print (id == "" ? "-" : id) }' \
    "$study/manifest.tsv"
}

# submit_point GPUS: writes the point's configuration file, submits its missing
# configurations as one array and appends their manifest rows to $rows.
submit_point() {
  local g=$1 nodes pn idx=0 a b results prev state config indices=() lines=() pending=()
  local shape
  shape=$(point_shape "$g") || exit 2
  read -r nodes pn <<<"$shape"
  if ((virtual && pn != virtual)); then
    die "$g GPUs make nodes of $pn GPUs but the extra options say --ranks-per-node $virtual: use --gpus-per-node $virtual"
  fi
  local pdir="$study/g$g"
  for a in ${algos//,/ }; do
    for b in ${batchings//,/ }; do
      idx=$((idx + 1))
      results="$pdir/$a-$b.h5"
      lines+=("$(printf '%s\t' "$idx" "$g" "$nodes" "$pn" "$a" "$b" "$trace" "$pdir/$a-$b.json" "$results")$place_opts")
      prev=$(previous_job "$g" "$a" "$b")
      if [[ -e $results ]]; then
        state=skipped-existing
      elif job_alive "$prev"; then
        state=skipped-queued
      else
        state=submitted prev=- indices+=("$idx")
      fi
      pending+=("$g	$nodes	$pn	$a	$b	$results	$idx	$prev	$state")
    done
  done
  local jobid=-
  if ((${#indices[@]})); then
    local array
    array=$(IFS=,; echo "${indices[*]}")${throttle:+%$throttle}
    local -a cmd=(sbatch --parsable --job-name="epbench-g$g" --array="$array"
      --output="$study/logs/g$g-%A_%a.out" --export="ALL,EPBENCH_STUDY_CONFIG=$pdir/configs.tsv")
    if ((virtual)); then
      cmd+=(--nodes=1 --ntasks="$g" --ntasks-per-node="$g")
    else
      cmd+=(--nodes="$nodes" --ntasks="$g" --ntasks-per-node="$pn")
    fi
    local -a more
    read -r -a more <<<"$sbatch_opts"
    cmd+=("${more[@]}" "$here/epbench.sbatch" "${extra[@]}")
    log "$g GPUs ($nodes x $pn): ${cmd[*]}"
    if ((dry_run)); then
      jobid=DRYRUN
    else
      mkdir -p "$pdir" "$study/logs"
      config=$(mktemp "$pdir/.configs.XXXXXX")
      printf '%s\n' "${lines[@]}" >"$config"
      chmod 644 "$config"
      mv -f "$config" "$pdir/configs.tsv"
      if jobid=$("${cmd[@]}"); then
        jobid=${jobid%%;*}
      else
        echo "scaling: error: sbatch failed for $g GPUs" >&2
        jobid=FAILED failures=$((failures + 1))
      fi
    fi
  else
    log "$g GPUs: nothing to submit"
  fi
  local row
  for row in "${pending[@]}"; do
    IFS=$'\t' read -r g nodes pn a b results idx prev state <<<"$row"
    if [[ $state == submitted ]]; then
      prev="${jobid}_$idx"
      ((dry_run)) && state=dry-run
      [[ $jobid == FAILED ]] && state=sbatch-failed prev=-
    fi
    rows+=("$g	$nodes	$pn	$a	$b	$results	$idx	$prev	$state")
  done
}

count_state() { printf '%s\n' "${rows[@]}" | awk -F'\t' -v s="$1" '$9 == s' | wc -l; }

write_manifest() {
  local header=$'gpus\tnodes\tgpus_per_node\talgo\tbatching\tresults\tarray_index\tjob_id\tstate'
  if ((dry_run)); then
    printf '%s\n' "$header" "${rows[@]}"
    return
  fi
  local tmp
  tmp=$(mktemp "$study/.manifest.XXXXXX")
  printf '%s\n' "$header" "${rows[@]}" >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$study/manifest.tsv"
}

main() {
  parse_args "$@"
  command -v sbatch >/dev/null || die "sbatch not found (on a laptop: jobs/local-cluster.sh start)"
  if ((virtual)); then
    log "virtual nodes of $virtual ranks (--ranks-per-node among the extra options): every point runs on one real node"
  fi
  ((dry_run)) || mkdir -p "$study"
  rows=()
  local g
  for g in ${gpus_list//,/ }; do submit_point "$g"; done
  write_manifest
  local total=${#rows[@]} existing submitted queued
  existing=$(count_state skipped-existing)
  queued=$(count_state skipped-queued)
  submitted=$(($(count_state submitted) + $(count_state dry-run)))
  if ((existing == total)); then
    log "all $total configurations have results in $study: nothing submitted"
  elif ((dry_run)); then
    log "dry run: $submitted of $total configurations would be submitted, $existing have results, $queued still queued"
  else
    log "$submitted of $total configurations submitted, $existing have results, $queued still queued from an earlier submission; manifest: $study/manifest.tsv"
  fi
  ((failures == 0)) || die "sbatch failed for $failures GPU count(s): their configurations are sbatch-failed in the manifest; run the command again"
}

main "$@"
