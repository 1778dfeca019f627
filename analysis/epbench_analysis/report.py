"""The report: every figure and the tables behind them, as Markdown and HTML."""
import html
import os

import pandas as pd

from . import serve as serving
from .figures import FIGURES
from .serve_figures import FIGURES as SERVE_FIGURES

# (column heading, how to compute it from a run row); seconds are shown in ms.
STRATEGY_COLUMNS = [
    ("algorithm", lambda r: r["algorithm"]),
    ("routing", lambda r: r["routing"]),
    ("batching", lambda r: r["batching"]),
    ("batch", lambda r: r["batch_size"]),
    ("GPUs", lambda r: r["world_size"]),
]
RUN_COLUMNS = [
    ("file", lambda r: os.path.basename(r["file"])),
    ("run", lambda r: r["run"]),
    ("source", lambda r: "measured" if r["tool"] == "run" else "predicted"),
    *STRATEGY_COLUMNS,
    ("tokens/s", lambda r: r["tokens_per_s"]),
    ("step mean (ms)", lambda r: 1e3 * r["step_time_mean"]),
    ("step p99 (ms)", lambda r: 1e3 * r["step_time_p99"]),
    ("dispatch (ms)", lambda r: 1e3 * r["dispatch_s"]),
    ("compute (ms)", lambda r: 1e3 * r["compute_s"]),
    ("combine (ms)", lambda r: 1e3 * r["combine_s"]),
    ("comm share", lambda r: r["comm_share"]),
    ("imbalance", lambda r: r["imbalance"]),
    ("gap to bound", lambda r: r["gap_to_lower_bound"]),
]
MEASURED_COLUMNS = [
    ("predicted tokens/s", lambda r: r["predicted_tokens_per_s"]),
    ("predicted step mean (ms)", lambda r: 1e3 * r["predicted_step_time_mean"]),
    ("model error", lambda r: r["model_error"]),
]
RANK_COLUMNS = [
    ("rank", None),
    *STRATEGY_COLUMNS,
    ("step mean (ms)", lambda r: 1e3 * r["step_time_mean"]),
    ("lower bound per step (ms)", lambda r: 1e3 * r["lower_bound_time"] / r["steps"]),
    ("gap to bound", lambda r: r["gap_to_lower_bound"]),
]


def cell(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def table_rows(runs, columns):
    rows = []
    for i, (_, run) in enumerate(runs.iterrows()):
        rows.append([cell(i + 1) if f is None else cell(f(run)) for _, f in columns])
    return [name for name, _ in columns], rows


def ranked(runs):
    return runs.sort_values(["world_size", "batch_size", "gap_to_lower_bound"], ascending=[False, False, True])


def build_tables(runs):
    columns = RUN_COLUMNS + (MEASURED_COLUMNS if (runs["tool"] == "run").all() else [])
    ordered = runs.sort_values(["file", "world_size", "batch_size", "algorithm", "routing", "batching"])
    return {
        "Runs": table_rows(ordered, columns),
        "Placements ranked against the lower bound": table_rows(ranked(runs), RANK_COLUMNS),
    }


def build_serve_tables(serve):
    return {serving.TABLE_TITLE: table_rows(serving.ordered(serve), serving.COLUMNS)}


def write_figures(runs, out_dir, figures=FIGURES):
    written = []
    for name, (draw, applies) in figures.items():
        if applies(runs):
            path = os.path.join(out_dir, f"{name}.png")
            draw(runs, path)
            written.append((name, path))
    return written


def markdown(infos, figures, tables, notes):
    lines = ["# epbench report", "", f"Model `{infos[0]['model']}`, {len(infos)} results file(s).", ""]
    lines += _md_table(["file", "tool", "trace", "git revision", "created"],
                       [[i["file"], i["tool"], i["trace"], i["git_revision"], i["created_at"]] for i in infos])
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    tools = {i["tool"] for i in infos}
    if tools & {"run", "evaluate"}:
        lines += ["Tool `run`: measured on real ranks; tool `evaluate`: predicted by the cost model. "
                  "Phase times: per step, the sum over layers of the slowest rank, averaged over steps.", ""]

    for name, path in figures:
        lines += [f"## {name.replace('_', ' ')}", "", f"![{name}]({os.path.basename(path)})", ""]
    for title, (header, rows) in tables.items():
        lines += [f"## {title}", ""] + _md_table(header, rows)
    return "\n".join(lines) + "\n"


def _md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


def html_page(infos, figures, tables, notes):
    esc = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>epbench report</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;"
             "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style></head><body>",
             f"<h1>epbench report</h1><p>Model <code>{esc(infos[0]['model'])}</code>, {len(infos)} results file(s).</p>"]
    parts += [f"<p>{esc(n)}</p>" for n in notes]
    for name, path in figures:
        parts.append(f"<h2>{esc(name.replace('_', ' '))}</h2><img src='{esc(os.path.basename(path))}'>")
    for title, (header, rows) in tables.items():
        parts.append(f"<h2>{esc(title)}</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows]
        parts.append("</table>")
    return "\n".join(parts + ["</body></html>"]) + "\n"


SERVE_NOTE = (f"Tool `serve`: {serving.SOURCE}. TTFT: first token - arrival; TPOT: (finish - first "
              "token) / (output tokens - 1), requests of more than one token; goodput: requests/s "
              "meeting both SLOs; saturated: completions fell behind arrivals.")


def write_report(runs, infos, out_dir, serve=None):
    """Writes the figures, report.md and report.html into out_dir; returns report.md's path.
    `runs`: evaluate and run results; `serve`: serve results; either may be empty."""
    os.makedirs(out_dir, exist_ok=True)
    serve = pd.DataFrame() if serve is None else serve
    notes, figures, tables = [], [], {}
    if len(runs):
        if runs["world_size"].nunique() == 1:
            notes.append(f"One GPU count ({runs['world_size'].iloc[0]}): the scaling figure has one point per "
                         f"strategy.")
        if not (runs["tool"] == "run").any():
            notes.append("No measured runs: no predicted-against-measured figure.")
        figures += write_figures(runs, out_dir)
        tables.update(build_tables(runs))
    if len(serve):
        notes.append(SERVE_NOTE)
        if not SERVE_FIGURES["serve_goodput_rate"][1](serve):
            notes.append("No serve run with open arrivals at a rate: no goodput-against-rate figure.")
        figures += write_figures(serve, out_dir, SERVE_FIGURES)
        tables.update(build_serve_tables(serve))
    for name, text in (("report.md", markdown(infos, figures, tables, notes)),
                       ("report.html", html_page(infos, figures, tables, notes))):
        tmp = os.path.join(out_dir, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, os.path.join(out_dir, name))
    return os.path.join(out_dir, "report.md")
