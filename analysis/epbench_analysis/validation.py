"""Predicted against measured, from `epbench validate --report` files (docs/validate.md).

    /usr/bin/python3 -m epbench_analysis.validation REPORT.json... -o DIR

Writes DIR/validation.png (one panel per report: each configuration's predicted step time
against its measured one, log-log, the diagonal and the 10 % and 25 % bands, coloured by batch
size; for a served schedule, each request's simulated TTFT and TPOT against the measured) and DIR/validation.md (per report: the errors, the ranking of the layouts at each batch
size and routing). Exit status 2 on a missing or malformed report, naming the file and field."""
import argparse
import json
import math
import os
import sys

from .results import ResultsError

_STATS = ("count", "median", "p90", "max")


def _field(obj, key, path, kind):
    if not isinstance(obj, dict) or key not in obj:
        raise ResultsError(f"{path}: {key}: expected a field of the validation report, missing")
    value = obj[key]
    if kind is float and value is None:
        return math.nan
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else isinstance(value, kind)
    if not ok:
        raise ResultsError(f"{path}: {key}: expected {kind.__name__}, got {type(value).__name__}")
    return float(value) if kind is float else value


def load_report(path):
    """The report as a dict, every field this module reads checked."""
    try:
        with open(path) as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        raise ResultsError(f"{path}: (file): expected a JSON validation report, got {e}") from None
    if not isinstance(j, dict) or j.get("format") != "epbench-validation":
        raise ResultsError(f"{path}: format: expected 'epbench-validation'")
    if j.get("version") != 1:
        raise ResultsError(f"{path}: version: expected 1, got {j.get('version')!r}")
    out = {"path": path, "world_size": _field(j, "world_size", path, int),
           "cost_model": _field(j, "cost_model", path, str), "cluster": _field(j, "cluster", path, str),
           "rounds": int(j.get("rounds", 1)),  # reports before rounds existed ran once
           "configurations": [], "ranking": []}
    for c in _field(j, "configurations", path, list):
        out["configurations"].append({
            "layout": _field(c, "layout", path, str), "routing": _field(c, "routing", path, str),
            "batch_size": _field(c, "batch_size", path, int),
            "measured": _field(c, "measured_step_s", path, float),
            "predicted": _field(c, "predicted_step_s", path, float)})
    for g in _field(j, "ranking", path, list):
        row = {k: _field(g, k, path, t) for k, t in
               (("batch_size", int), ("routing", str), ("layouts", int), ("spearman", float))}
        # the measurement against itself: reports before each figure existed have none
        for key in ("rounds_spearman", "halves_spearman", "exact_model_spearman"):
            row[key] = _field(g, key, path, float) if key in g else math.nan
        # layouts that place alike ranked once: reports before it ranked every layout
        row["placements"] = _field(g, "placements", path, int) if "placements" in g else row["layouts"]
        row["placed_alike"] = [str(x) for x in _field(g, "placed_alike", path, list)] \
            if "placed_alike" in g else []
        out["ranking"].append(row)
    out["machine_drift"] = []
    for d in j.get("machine_drift", []):
        out["machine_drift"].append({k: _field(d, k, path, t) for k, t in
                                     (("active_experts", int), ("tokens", int), ("profiled_s", float),
                                      ("before_s", float), ("after_s", float))})
    out["requests"] = []
    for q in j.get("requests", []):
        out["requests"].append({k: _field(q, k, path, float) for k in
                                ("ttft_measured_s", "ttft_simulated_s", "tpot_measured_s", "tpot_simulated_s")})
    for name in ("step_time_error", "ttft_error", "tpot_error"):
        stats = _field(j, name, path, dict)
        out[name] = {k: _field(stats, k, path, float) for k in _STATS}
    # TTFT less the lateness its first step inherited: reports before it have none
    own = _field(j, "ttft_own_error", path, dict) if "ttft_own_error" in j else None
    out["ttft_own_error"] = {k: _field(own, k, path, float) for k in _STATS} if own else None
    # the errors with the machine's drift taken out: reports before it have none
    out["drift_factor"] = _field(j, "drift_factor", path, float) if "drift_factor" in j else math.nan
    adjusted = _field(j, "drift_adjusted", path, dict) if "drift_adjusted" in j else {}
    out["drift_adjusted"] = {name: {k: _field(_field(adjusted, name, path, dict), k, path, float)
                                    for k in _STATS} for name in adjusted}
    return out


def _pct(x):
    return "n/a" if x != x else f"{100 * x:.1f} %"


def _signed_pct(x):
    return f"{100 * x:+.1f} %"


def _rho(x):
    return "n/a" if x != x else f"{x:.2f}"


def markdown(reports):
    lines = ["# Cost model against measurement (epbench validate)", ""]
    for r in reports:
        s = r["step_time_error"]
        lines += [f"## {os.path.basename(r['path'])}: {r['world_size']} ranks, {r['cost_model']} cost model "
                  f"({r['cluster']})", "",
                  f"Step time, |predicted - measured| / measured over {int(s['count'])} configurations "
                  f"(measured: each step's median over {r['rounds']} round(s), averaged): "
                  f"median {_pct(s['median'])}, p90 {_pct(s['p90'])}, max {_pct(s['max'])}.", ""]
        for name, label in (("ttft_error", "TTFT"), ("tpot_error", "TPOT")):
            t = r[name]
            if t["count"] > 0:
                lines += [f"{label} over {int(t['count'])} requests: median {_pct(t['median'])}, "
                          f"p90 {_pct(t['p90'])}, max {_pct(t['max'])}.", ""]
        own = r["ttft_own_error"]
        if own and own["count"] > 0:
            lines += [f"TTFT from the request's own steps (less the lateness its first step "
                      f"inherited from the steps before it; not judged by the bars): median "
                      f"{_pct(own['median'])}, p90 {_pct(own['p90'])}, max {_pct(own['max'])}.", ""]
        if r["machine_drift"]:
            lines += ["The machine against its profile (the expert phase measured again, over the "
                      "profiled time - 1): " + ", ".join(
                          f"{d['active_experts']}x{d['tokens']}: before {_signed_pct(d['before_s'] / d['profiled_s'] - 1)}"
                          f", after {_signed_pct(d['after_s'] / d['profiled_s'] - 1)}"
                          for d in r["machine_drift"]) + ".", ""]
        if r["drift_factor"] == r["drift_factor"]:
            parts = [f"{label} median {_pct(e['median'])}, p90 {_pct(e['p90'])}" for name, label in
                     (("step_time_error", "step time"), ("ttft_error", "TTFT"), ("tpot_error", "TPOT"))
                     for e in [r["drift_adjusted"].get(name)] if e and e["count"] > 0]
            lines += [f"With the machine's drift taken out (every prediction x {r['drift_factor']:.3f}, "
                      "the probes' median; not the model's error, which is above): " +
                      "; ".join(parts) + ".", ""]
        if r["ranking"] and r["ranking"][0]["placed_alike"]:
            lines += ["Layouts that place alike, ranked once (their mean): " +
                      "; ".join(r["ranking"][0]["placed_alike"]) + ".", ""]
        lines += ["| B | routing | layouts | placements | Spearman | rounds against each other "
                  "| even rounds against odd | an exact model's |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for g in r["ranking"]:
            lines.append(f"| {g['batch_size']} | {g['routing']} | {g['layouts']} | {g['placements']} | "
                         f"{_rho(g['spearman'])} | {_rho(g['rounds_spearman'])} | "
                         f"{_rho(g['halves_spearman'])} | {_rho(g['exact_model_spearman'])} |")
        lines.append("")
    return "\n".join(lines)


def _diagonal(ax, values):
    """The y = x line and the 10 % (dashed) and 25 % (dotted) bands, log-log."""
    values = [v for v in values if v > 0]
    lo, hi = min(values) / 1.5, max(values) * 1.5
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    for band, style in ((0.10, "--"), (0.25, ":")):
        for f in (1 - band, 1 + band):
            ax.plot([lo, hi], [lo * f, hi * f], "k" + style, lw=0.6)
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlim(lo, hi), ax.set_ylim(lo, hi)


def _steps_panel(ax, r):
    configs = r["configurations"]
    for b in sorted({c["batch_size"] for c in configs}):
        mine = [c for c in configs if c["batch_size"] == b]
        ax.scatter([1e3 * c["measured"] for c in mine], [1e3 * c["predicted"] for c in mine],
                   label=f"B={b}", s=18)
    _diagonal(ax, [1e3 * c[k] for c in configs for k in ("measured", "predicted")])
    ax.set_xlabel("measured step time (ms)")
    ax.set_ylabel(f"predicted, {r['cost_model']} model (ms)")
    s = r["step_time_error"]
    ax.set_title(f"{r['world_size']} ranks, step time: median {_pct(s['median'])}, p90 {_pct(s['p90'])}",
                 fontsize=9)


def _requests_panel(ax, r):
    """A served schedule: each request's TTFT and TPOT, simulated against measured."""
    values = []
    for kind, marker in (("ttft", "o"), ("tpot", "^")):
        pairs = [(1e3 * q[f"{kind}_measured_s"], 1e3 * q[f"{kind}_simulated_s"]) for q in r["requests"]
                 if q[f"{kind}_measured_s"] > 0 and q[f"{kind}_simulated_s"] > 0]
        if pairs:
            ax.scatter(*zip(*pairs), marker=marker, s=18, label=kind.upper())
            values += [v for p in pairs for v in p]
    if values:
        _diagonal(ax, values)
    ax.set_xlabel("measured (ms)")
    ax.set_ylabel(f"simulated, {r['cost_model']} model (ms)")
    t, p = r["ttft_error"], r["tpot_error"]
    ax.set_title(f"{r['world_size']} ranks, served: TTFT median {_pct(t['median'])}, "
                 f"TPOT median {_pct(p['median'])}", fontsize=9)


def figure(reports, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(reports), figsize=(5 * len(reports), 4.5), squeeze=False)
    for ax, r in zip(axes[0], reports):
        (_requests_panel if r["requests"] else _steps_panel)(ax, r)
        ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path + ".tmp.png"  # complete or absent
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m epbench_analysis.validation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", help="epbench validate --report files")
    parser.add_argument("-o", "--output", required=True, help="directory for validation.png and .md")
    args = parser.parse_args(argv)
    try:
        reports = [load_report(p) for p in args.reports]
        for r in reports:
            if not r["configurations"]:
                raise ResultsError(f"{r['path']}: configurations: expected at least one, got none")
    except ResultsError as e:
        print(f"epbench_analysis: error: {e}", file=sys.stderr)
        return 2
    os.makedirs(args.output, exist_ok=True)
    figure(reports, os.path.join(args.output, "validation.png"))
    md = os.path.join(args.output, "validation.md")
    with open(md + ".tmp", "w") as f:
        f.write(markdown(reports))
    os.replace(md + ".tmp", md)
    print(f"validation: {md} and validation.png beside it ({len(reports)} report(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
