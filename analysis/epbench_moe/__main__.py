"""python3 -m epbench_moe regenerate [--out traces] [--cache DIR]: trains both models on the
Brown corpus and records their traces (one process per model, in parallel, one thread each).
python3 -m epbench_moe build NAME ...: one of them."""
import argparse
import os
import subprocess
import sys

from .configs import EXPERIMENTS
from .pipeline import brown_split, build

DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "epbench")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m epbench_moe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    regen = sub.add_parser("regenerate", help="train and record every model")
    one = sub.add_parser("build", help="train and record one model")
    one.add_argument("name", choices=sorted(EXPERIMENTS))
    for p in (regen, one):
        p.add_argument("--out", default="traces", help="output directory (default: traces)")
        p.add_argument("--cache", default=DEFAULT_CACHE, help="where the corpus tarball is kept")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.command == "build":
        train_docs, held_docs, info = brown_split(args.cache)
        build(EXPERIMENTS[args.name], train_docs, held_docs, args.out, info,
              log=lambda m: print(m, flush=True))
        return 0
    return regenerate(args)


def regenerate(args):
    brown_split(args.cache)  # fetch once, before the parallel builds
    procs = [subprocess.Popen([sys.executable, "-m", "epbench_moe", "build", name, "--out", args.out,
                               "--cache", args.cache]) for name in sorted(EXPERIMENTS)]
    failed = [name for name, p in zip(sorted(EXPERIMENTS), procs) if p.wait() != 0]
    if failed:
        print(f"epbench_moe: building {', '.join(failed)} failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
