"""Reading and validating epbench results files (docs/evaluate.md, docs/run.md, docs/serve.md).

Every run group becomes one row of a pandas table (one table for evaluate and run results,
one for serve results, whose runs have no [S,L,G] cubes but per-request datasets); the
datasets are reduced to the figures the report draws. Bad input raises ResultsError naming the file, the field and what
was expected."""
import os

import h5py
import numpy as np
import pandas as pd

from . import schema
from .schema import FORMAT, PHASES, VERSION

# Attributes every run group carries, and those only measured runs (tool "run") carry.
RUN_ATTRS = tuple(schema.attr(n) for n in (
             "layout", "algorithm", "routing", "allocation", "batching", "batch_size", "world_size",
             "nodes", "gpus_per_node", "steps", "tokens", "tokens_per_s", "step_time_mean",
             "step_time_p50", "step_time_p99", "comm_share", "imbalance", "lower_bound_time",
             "gap_to_lower_bound", "backend", "dtype"))
MEASURED_ATTRS = tuple(schema.attr(n) for n in (
                  "predicted_tokens_per_s", "predicted_step_time_mean", "predicted_comm_share",
                  "model_error"))
RUNS = schema.RUNS_GROUP
TOKENS_PER_GPU = schema.dataset("tokens/per_gpu")
TOTAL_TOKENS_PER_GPU = schema.dataset("totals/tokens_per_gpu")


class ResultsError(Exception):
    pass


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _attr(obj, name, where):
    if name not in obj.attrs:
        raise ResultsError(f"{where}: attribute '{name}' missing, expected in every epbench results run")
    value = obj.attrs[name]
    return _text(value) if isinstance(value, (str, bytes)) else value.item() if hasattr(value, "item") else value


def open_results(path):
    """The open file after checking its format and version."""
    if not os.path.isfile(path):
        raise ResultsError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ResultsError(f"{path}: not an HDF5 file ({e})") from None
    fmt = _text(f.attrs.get("format", "none"))
    if fmt != FORMAT:
        f.close()
        raise ResultsError(f"{path}: format '{fmt}', expected '{FORMAT}' (a results file of "
                           f"epbench evaluate or epbench run)")
    version = f.attrs.get("version")
    if version is None or int(version) != VERSION:
        f.close()
        raise ResultsError(f"{path}: version {version}, expected {VERSION} (this analysis reads version {VERSION})")
    if RUNS not in f or len(f[RUNS]) == 0:
        f.close()
        raise ResultsError(f"{path}: group '{RUNS}' missing or empty, expected one group per run")
    return f


def _dataset(group, name, where, ndim):
    if name not in group:
        raise ResultsError(f"{where}: dataset '{name}' missing")
    data = group[name][()]
    if data.ndim != ndim:
        raise ResultsError(f"{where}/{name}: {data.ndim} dimensions, expected {ndim}")
    return data


def phase_means(group, where, prefix=""):
    """Per phase: mean over steps of the sum over layers of the slowest rank (seconds), the
    time the phase adds to a step. From the [S] series steps/<phase> where written (evaluate),
    else from the [S, L, G] cubes (run, evaluate --cubes of older files)."""
    means = {}
    for p in PHASES:
        series = prefix + schema.dataset(f"steps/{p}")
        if series in group:
            means[p] = float(_dataset(group, series, where, 1).mean())
        else:
            cube = _dataset(group, prefix + schema.dataset(f"time/{p}"), where, 3)
            means[p] = float(cube.max(axis=2).sum(axis=1).mean())
    return means


def load_per_gpu(group, where):
    """[L, G] token-expert pairs per layer and GPU over the run: evaluate's totals, else the
    sum of the tokens/per_gpu cube over steps."""
    if TOTAL_TOKENS_PER_GPU in group:
        return _dataset(group, TOTAL_TOKENS_PER_GPU, where, 2)
    return _dataset(group, TOKENS_PER_GPU, where, 3).sum(axis=0)  # [S, L, G] -> [L, G]


def read_run(group, where, tool):
    row = {name: _attr(group, name, where) for name in RUN_ATTRS}
    if tool == "run":
        row.update({name: _attr(group, name, where) for name in MEASURED_ATTRS})
    for phase, seconds in phase_means(group, where).items():
        row[f"{phase}_s"] = seconds
    if tool == "run":
        for phase, seconds in phase_means(group, where, schema.PREDICTED_PREFIX).items():
            row[f"predicted_{phase}_s"] = seconds
    row["load_per_gpu"] = load_per_gpu(group, where)
    return row


def load_file(path):
    """(file attributes, [rows]) of one results file."""
    from . import serve
    with open_results(path) as f:
        tool = _text(f.attrs.get(schema.attr("tool"), ""))
        if tool not in ("run", "evaluate", serve.TOOL):
            raise ResultsError(f"{path}: tool '{tool}', expected 'run', 'evaluate' or '{serve.TOOL}'")
        info = {"file": path, "tool": tool, "model": _text(f.attrs.get("model", "")),
                "trace": _text(f.attrs.get("trace", "")),
                "git_revision": _text(f.attrs.get("git_revision", "")),
                "created_at": _text(f.attrs.get("created_at", ""))}
        rows = []
        for name in sorted(f[RUNS]):
            where = f"{path}: {RUNS}/{name}"
            if tool == serve.TOOL:
                row = serve.read_serve_run(f[RUNS][name], where, _attr, _dataset)
            else:
                row = read_run(f[RUNS][name], where, tool)
            row.update(file=path, run=name, tool=tool, model=info["model"])
            rows.append(row)
    return info, rows


def expand(paths):
    """Files as given; directories (a study) searched for *.h5, sorted."""
    files = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(os.path.join(d, n) for d, _, names in os.walk(p) for n in names if n.endswith(".h5"))
            if not found:
                raise ResultsError(f"{p}: directory holds no results files (*.h5)")
            files += found
        else:
            files.append(p)
    return files


def load_study(paths):
    """The runs of the given files and directories as two DataFrames, evaluate and run results
    in one, serve results in the other (either may be empty), and the files' attributes.
    One study compares one model: files of different models are refused."""
    from . import serve
    infos, rows, serve_rows = [], [], []
    for path in expand(paths):
        info, file_rows = load_file(path)
        if infos and info["model"] != infos[0]["model"]:
            raise ResultsError(f"{path}: model '{info['model']}', but {infos[0]['file']} has model "
                               f"'{infos[0]['model']}': a study compares one model; report them separately")
        infos.append(info)
        if info["tool"] == serve.TOOL:
            serve_rows += file_rows
        else:
            rows += file_rows
    table = pd.DataFrame(rows)
    if rows:
        table["strategy"] = table["algorithm"] + " / " + table["routing"] + " / " + table["batching"]
    return table, pd.DataFrame(serve_rows), infos


def pareto_front(latency, throughput):
    """Indices of points not dominated (lower latency and higher throughput), by latency."""
    order = np.lexsort((-np.asarray(throughput), np.asarray(latency)))
    front, best = [], -np.inf
    for i in order:
        if throughput[i] > best:
            front.append(int(i))
            best = throughput[i]
    return front
