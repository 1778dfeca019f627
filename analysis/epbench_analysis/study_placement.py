"""The placement study's tables (docs/study-placement.md) from scripts/study-placement.sh's
output: OUT/<case>/spare<N>/b<B>.h5, one `evaluate` results file per cell.

    /usr/bin/python3 -m epbench_analysis.study_placement OUT [--markdown FILE]

Per cell, each algorithm's best routing (the lowest mean step time over the routings
evaluated), `steptime` with min-time routing against the best other algorithm, against EPLB,
and the best layout's step time over the lower bound."""
import argparse
import os
import re
import sys

from .results import ResultsError, load_file

OURS = "steptime"


def cell_rows(path):
    _, rows = load_file(path)
    best = {}  # algorithm -> (mean step s, routing, step over lower bound, tokens per step)
    for r in rows:
        t = float(r["step_time_mean"])
        if r["algorithm"] not in best or t < best[r["algorithm"]][0]:
            best[r["algorithm"]] = (t, r["routing"], float(r["gap_to_lower_bound"]),
                                    float(r["tokens"]) / max(1.0, float(r["steps"])))
    return best


def cells(root):
    """(case, spare, batch, {algorithm: (time, routing, bound)}) for every cell, sorted."""
    out = []
    for case in sorted(os.listdir(root)):
        for spare_dir in sorted(os.listdir(os.path.join(root, case))) if os.path.isdir(os.path.join(root, case)) else []:
            m = re.fullmatch(r"spare(\d+)", spare_dir)
            if not m:
                continue
            for name in os.listdir(os.path.join(root, case, spare_dir)):
                b = re.fullmatch(r"b(\d+)\.h5", name)
                if b:
                    path = os.path.join(root, case, spare_dir, name)
                    out.append((case, int(m.group(1)), int(b.group(1)), cell_rows(path)))
    if not out:
        raise ResultsError(f"{root}: no cells (<case>/spare<N>/b<B>.h5)")
    return sorted(out, key=lambda c: (c[0], c[1], c[2]))


def table(all_cells):
    algos = sorted({a for c in all_cells for a in c[3] if a != OURS})
    head = ["case", "spare", "B", "tokens/step"] + [f"{a} ms" for a in algos] + [
        f"{OURS} ms", "vs best other", "vs eplb", "best / bound"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    worst, speedups = 0.0, []
    for case, spare, b, best in all_cells:
        ours = best[OURS][0]
        other = min(best[a][0] for a in algos)
        ratio = ours / other
        worst = max(worst, ratio)
        eplb = best["eplb"][0] / ours
        if spare > 0:
            speedups.append(eplb)
        top = min(best.values())  # the best layout's row: its gap to the bound
        cols = [case, str(spare), str(b), f"{best[OURS][3]:.1f}"] + [f"{best[a][0] * 1e3:.4g}" for a in algos] + [
            f"{ours * 1e3:.4g}", f"{ratio:.4f}", f"{eplb:.2f}x",
            f"{top[2]:.2f}"]
        lines.append("| " + " | ".join(cols) + " |")
    summary = (f"\nsteptime over the best other algorithm (each with its best routing): worst cell "
               f"{worst:.4f}; speed-up over EPLB (its best routing) in the cells with spare slots: "
               f"mean {sum(speedups) / max(1, len(speedups)):.2f}x, min {min(speedups):.2f}x, "
               f"max {max(speedups):.2f}x over {len(speedups)} cells\n")
    return "\n".join(lines) + "\n" + summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", help="the study's output directory")
    p.add_argument("--markdown", help="also write the table to this file")
    a = p.parse_args(argv)
    try:
        text = table(cells(a.root))
    except (ResultsError, OSError, KeyError) as e:
        print(f"study_placement: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
