"""Results of `epbench serve` (docs/serve.md): one row per run with its configuration, its
serving settings and latency summary (the file's attributes), and the per-request latencies
the figures draw, computed from the `requests/*` datasets as the tool computes them.

Everything here is predicted by the serving model; nothing is measured."""
import os

import numpy as np

from . import schema

TOOL = "serve"
SOURCE = "predicted by the serving model (docs/serve.md)"

CONFIG_ATTRS = tuple(schema.attr(n) for n in (
    "layout", "algorithm", "routing", "allocation", "batching", "world_size"))
SERVING_ATTRS = tuple(schema.attr(n) for n in (
    "policy", "arrival", "rate", "cv", "users", "slo_ttft", "slo_tpot", "token_budget"))
LATENCY_ATTRS = tuple(schema.attr(n) for n in (
    "requests", "preemptions", "output_tokens", "duration", "offered_rate", "request_throughput",
    "output_tokens_per_s", "ttft_p50", "ttft_p90", "ttft_p99", "tpot_p50", "tpot_p90", "tpot_p99",
    "e2e_p50", "e2e_p90", "e2e_p99", "slo_attainment", "goodput", "saturated"))

ARRIVAL = schema.dataset("requests/arrival")
FIRST_TOKEN = schema.dataset("requests/first_token")
FINISH = schema.dataset("requests/finish")
OUTPUT_TOKENS = schema.dataset("requests/output_tokens")


def request_tpot(first_token, finish, output_tokens):
    """Time per output token after the first, per request with more than one output token:
    (finish - first_token) / (output_tokens - 1), as the tool computes it
    (src/results/serve_summary.cpp)."""
    first_token, finish = np.asarray(first_token, float), np.asarray(finish, float)
    output_tokens = np.asarray(output_tokens, np.int64)
    many = output_tokens > 1
    return (finish[many] - first_token[many]) / (output_tokens[many] - 1)


def request_latencies(arrival, first_token, finish, output_tokens):
    """Per request: time to first token, time per output token (requests of more than one
    token only) and end-to-end latency, seconds."""
    arrival, first_token, finish = (np.asarray(a, float) for a in (arrival, first_token, finish))
    return {"ttft": first_token - arrival, "tpot": request_tpot(first_token, finish, output_tokens),
            "e2e": finish - arrival}


def pareto_front(latency, throughput):
    """Indices of the points no other point dominates (a point dominates another when its
    latency is no higher and its throughput no lower, one of them strictly), by latency and
    then throughput; points with NaN are left out. Equal points are both kept."""
    lat, thr = np.asarray(latency, float), np.asarray(throughput, float)
    ok = ~(np.isnan(lat) | np.isnan(thr))
    front = []
    for i in np.flatnonzero(ok):
        others = ok.copy()
        others[i] = False
        dominated = others & (lat <= lat[i]) & (thr >= thr[i]) & ((lat < lat[i]) | (thr > thr[i]))
        if not dominated.any():
            front.append(int(i))
    return sorted(front, key=lambda i: (lat[i], -thr[i], i))


def layout_name(layout):
    """The layout file's name without directory and extension (as in the run names)."""
    base = os.path.basename(str(layout))
    return base[:-5] if base.endswith(".json") else base


def load_label(row):
    """The offered load of a run: its arrival rate, its closed-loop users, or its arrival file."""
    if row["users"] > 0:
        return f"{int(row['users'])} users"
    if row["rate"] > 0:
        return f"{row['rate']:g}/s"
    return str(row["arrival"])


def is_open(row):
    """Open arrivals at a given rate (not closed-loop users, not a replayed arrival file)."""
    return row["rate"] > 0 and row["users"] == 0


def read_serve_run(group, where, attr, dataset):
    """One run group of a serve file as a row; `attr` and `dataset` read and check one
    attribute or dataset (results._attr, results._dataset)."""
    row = {name: attr(group, name, where) for name in CONFIG_ATTRS + SERVING_ATTRS + LATENCY_ATTRS}
    row["layout_name"] = layout_name(row["layout"])
    row["saturated"] = bool(row["saturated"])
    arrays = [dataset(group, name, where, 1) for name in (ARRIVAL, FIRST_TOKEN, FINISH, OUTPUT_TOKENS)]
    sizes = {len(a) for a in arrays}
    if len(sizes) != 1:
        from .results import ResultsError
        raise ResultsError(f"{where}: datasets {ARRIVAL}, {FIRST_TOKEN}, {FINISH}, {OUTPUT_TOKENS} have "
                           f"lengths {[len(a) for a in arrays]}, expected one per request")
    row.update(request_latencies(*arrays))
    return row


def slo_text(slo_ttft, slo_tpot):
    def one(name, seconds):
        return f"{name} ≤ {_duration(seconds)}" if seconds > 0 else f"{name} any"
    return f"{one('TTFT', slo_ttft)}, {one('TPOT', slo_tpot)}"


def _duration(seconds):
    return f"{seconds:g} s" if seconds >= 1 else f"{seconds * 1e3:g} ms"


# The report's table of serve runs: (column heading, from a run row); seconds shown in ms.
TABLE_TITLE = f"Serving runs, {SOURCE}"
COLUMNS = [
    ("file", lambda r: os.path.basename(r["file"])),
    ("run", lambda r: r["run"]),
    ("layout", lambda r: r["layout_name"]),
    ("routing", lambda r: r["routing"]),
    ("policy", lambda r: r["policy"]),
    ("rate", load_label),
    ("req/s", lambda r: r["request_throughput"]),
    ("output tok/s", lambda r: r["output_tokens_per_s"]),
    ("TTFT p99 (ms)", lambda r: 1e3 * r["ttft_p99"]),
    ("TPOT p50 (ms)", lambda r: 1e3 * r["tpot_p50"]),
    ("TPOT p99 (ms)", lambda r: 1e3 * r["tpot_p99"]),
    ("goodput (req/s)", lambda r: r["goodput"]),
    ("SLO attainment", lambda r: r["slo_attainment"]),
    ("preemptions", lambda r: r["preemptions"]),
    ("saturated", lambda r: "yes" if r["saturated"] else "no"),
]


def ordered(serve):
    """Runs by file, layout, routing, policy and load."""
    return serve.sort_values(["file", "layout_name", "routing", "policy", "users", "rate"])
