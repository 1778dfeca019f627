"""The names of the epbench results format, read from the one table the C++ writer is
generated from (src/results/schema.json), so the analysis and the tool cannot drift apart.

`attr(name)` and `dataset(name)` return the name after checking the table holds it: a name
the format does not have fails at import time, not as a silently empty column."""
import json
import os

_DEFAULT = os.path.join(os.path.dirname(__file__), "..", "..", "src", "results", "schema.json")
SCHEMA_PATH = os.environ.get("EPBENCH_RESULTS_SCHEMA", os.path.normpath(_DEFAULT))

with open(SCHEMA_PATH, encoding="utf-8") as _f:
    _TABLE = json.load(_f)

FORMAT = _TABLE["format"]
VERSION = _TABLE["version"]
RUNS_GROUP = _TABLE["runs_group"]
PREDICTED_PREFIX = _TABLE["predicted_prefix"]
PHASES = tuple(_TABLE["phases"])
_ATTRIBUTES = {name for key in ("root_attributes", "config_attributes", "summary_attributes",
                                "measured_attributes", "job_attributes",
                                "serving_attributes", "latency_attributes") for name in _TABLE[key]}
_DATASETS = {d["name"] for d in _TABLE["datasets"]}


def attr(name):
    if name not in _ATTRIBUTES:
        raise KeyError(f"{SCHEMA_PATH}: no attribute '{name}' in the results format")
    return name


def dataset(name):
    if name not in _DATASETS:
        raise KeyError(f"{SCHEMA_PATH}: no dataset '{name}' in the results format")
    return name
