"""python3 -m epbench_import sglang DUMP.pt [DUMP.pt ...] --model MODEL -o OUT [--epbench PATH]

Bad input is one line on stderr, 'epbench_import: error: FILE: FIELD: expected ..., got ...',
with exit status 2, and no output file."""
import argparse
import os
import sys

from . import InputError

PROG = "epbench_import"


def _parser():
    p = argparse.ArgumentParser(prog=PROG, description="Import routing recorded by inference "
                                "engines into epbench load files and traces.")
    sub = p.add_subparsers(dest="engine", required=True, metavar="ENGINE")
    s = sub.add_parser("sglang", help="SGLang expert-distribution recorder dumps (.pt)",
                       description="SGLang expert-distribution recorder dumps: stat, stat_approx "
                       "and per_pass dumps become a load file (-o OUT.json, counts summed over "
                       "every dump), per_token dumps a trace (-o OUT.h5, one dump per rank, read "
                       "in the order given).")
    s.add_argument("dumps", nargs="+", metavar="DUMP.pt", help="files written by SGLang's "
                   "/dump_expert_distribution_record (expert_distribution_recorder_*.pt)")
    s.add_argument("--model", required=True, metavar="MODEL",
                   help="the model they were recorded on: an epbench model spec FILE.json or a "
                   "preset name (resolved with `epbench models --json --model NAME`)")
    s.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="OUT.json (load file) for stat/per_pass dumps, OUT.h5 (trace) for per_token")
    s.add_argument("--epbench", metavar="PATH", help="the epbench binary for preset names "
                   "(default: $EPBENCH, `epbench` on PATH, else build/default/src/epbench)")
    return p


def run_sglang(args):
    from epbench_moe.trace_writer import write_trace

    from . import sglang
    from .loads import write_load_file
    from .model import resolve_model

    model = resolve_model(args.model, args.epbench)
    dumps = [sglang.load_dump(path) for path in args.dumps]
    for d in dumps[1:]:
        if d.kind != dumps[0].kind:
            raise InputError(f"{d.path}: expected a {dumps[0].kind} dump like {dumps[0].path}, got a "
                             f"{d.kind} dump (import one kind at a time)")
    kind, out = dumps[0].kind, args.output
    want = ".h5" if kind == "per_token" else ".json"
    if not out.endswith(want):
        what = "a trace" if kind == "per_token" else "a load file"
        raise InputError(f"-o {out}: expected a path ending in {want} ({kind} dumps become {what})")
    if kind == "per_token":
        requests, domains, slots = sglang.import_requests(dumps, model)
        params = {"importer": "epbench_import sglang", "dumps": [d.name for d in dumps],
                  "dense_layers_dropped": model.dense_layers, "physical_slots": slots,
                  "gate_weights": "absent (SGLang records none)",
                  "requests": "grouped by rank and position (epbench_import/sglang.py)"}
        write_trace(out, model.trace_sizes(), requests, domains, sglang.TRACE_SOURCE,
                    ", ".join(d.name for d in dumps), params)
        tokens = sum(len(r.phase) for r in requests)
        print(f"{out}: trace of {len(requests)} requests, {tokens} tokens, {model.num_layers} "
              f"MoE layers of {model.name}")
    else:
        loads, source = sglang.import_loads(dumps, model)
        write_load_file(out, model.name, loads, source)
        print(f"{out}: load file of {model.num_layers} MoE layers x {model.num_experts} experts, "
              f"{int(loads.sum())} selections ({source})")


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        run_sglang(args)
    except InputError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        where = e.filename or args.output
        print(f"{PROG}: error: {where}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # epbench_moe is a sibling package in analysis/: importable when run from a checkout
    # without PYTHONPATH too.
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
