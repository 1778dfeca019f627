"""The placement study's tables (docs/study-placement.md) from scripts/study-placement.sh's
output: OUT/<case>/spare<N>/b<B>.h5, one `evaluate` results file per cell.

    /usr/bin/python3 -m epbench_analysis.study_placement OUT [--markdown FILE]

Per cell, each algorithm's best routing (the lowest mean step time over the routings
evaluated), `steptime` with min-time routing against the best other algorithm, against EPLB
(its best routing, min-time included), against EPLB with the token-balancing routing its
replicas are made for (`optimal`: the fewest tokens on the busiest GPU), and the best layout's
step time over the lower bound."""
import argparse
import os
import re
import sys

from .results import ResultsError, load_file

OURS = "steptime"
# EPLB as designed: replicas split a hot expert's tokens, routed to balance token counts.
EPLB_AS_DESIGNED = ("eplb", "optimal")


def cell_rows(path):
    """{algorithm: (mean step s of its best routing, that routing, step over lower bound,
    tokens per step, {routing: mean step s})}"""
    _, rows = load_file(path)
    best = {}
    for r in rows:
        t = float(r["step_time_mean"])
        times = best[r["algorithm"]][4] if r["algorithm"] in best else {}
        times[r["routing"]] = t
        if r["algorithm"] not in best or t < best[r["algorithm"]][0]:
            best[r["algorithm"]] = (t, r["routing"], float(r["gap_to_lower_bound"]),
                                    float(r["tokens"]) / max(1.0, float(r["steps"])), times)
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


def summary_of(ratios):
    """mean, min and max of the ratios that were measured (a cell without the routing: nan)."""
    got = [r for r in ratios if r == r]
    if not got:
        return "not evaluated"
    return (f"mean {sum(got) / len(got):.2f}x, min {min(got):.2f}x, max {max(got):.2f}x over "
            f"{len(got)} cells")


def table(all_cells):
    algos = sorted({a for c in all_cells for a in c[3] if a != OURS})
    head = ["case", "spare", "B", "tokens/step"] + [f"{a} ms" for a in algos] + [
        f"{OURS} ms", "vs best other", "vs eplb", "vs eplb optimal", "best / bound"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    worst, speedups, as_designed = 0.0, [], []
    for case, spare, b, best in all_cells:
        ours = best[OURS][0]
        other = min(best[a][0] for a in algos)
        ratio = ours / other
        worst = max(worst, ratio)
        eplb = best["eplb"][0] / ours
        algo, routing = EPLB_AS_DESIGNED
        designed = best[algo][4].get(routing, float("nan")) / ours
        if spare > 0:
            speedups.append(eplb)
            as_designed.append(designed)
        top = min(best.values(), key=lambda v: v[0])  # the best layout's row: its gap to the bound
        cols = [case, str(spare), str(b), f"{best[OURS][3]:.1f}"] + [f"{best[a][0] * 1e3:.4g}" for a in algos] + [
            f"{ours * 1e3:.4g}", f"{ratio:.4f}", f"{eplb:.2f}x", f"{designed:.2f}x",
            f"{top[2]:.2f}"]
        lines.append("| " + " | ".join(cols) + " |")
    summary = (f"\nsteptime over the best other algorithm (each with its best routing): worst cell "
               f"{worst:.4f}; speed-up over EPLB (its best routing) in the cells with spare slots: "
               f"mean {sum(speedups) / max(1, len(speedups)):.2f}x, min {min(speedups):.2f}x, "
               f"max {max(speedups):.2f}x over {len(speedups)} cells; over EPLB with optimal "
               f"(token-balancing) routing: {summary_of(as_designed)}\n")
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
