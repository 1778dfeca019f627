"""`python3 -m epbench_analysis report` on results written by epbench run and evaluate."""
import os
import re
import shutil
import subprocess
import sys

import h5py
import matplotlib.image
import numpy as np
import pytest

import results_fixtures as rf
from conftest import ANALYSIS

MEASURED_FIGURES = ["phases", "pareto", "scaling", "load_heatmap", "predicted_vs_measured", "placements_ranked"]


@pytest.fixture(scope="module")
def study(tmp_path_factory, epbench_exe):
    """A two-point study (2 and 4 ranks) measured with epbench run, plus evaluate files."""
    d = str(tmp_path_factory.mktemp("study"))
    trace = rf.make_trace(epbench_exe, d, "mixtral-8x7b")
    os.makedirs(os.path.join(d, "runs"))
    runs = [shutil.move(rf.run(epbench_exe, d, trace, n), os.path.join(d, "runs")) for n in (2, 4)]
    other = rf.make_trace(epbench_exe, d, "olmoe-1b-7b")
    return {"dir": d, "runs": runs, "evaluate": rf.evaluate(epbench_exe, d, trace, "eval.h5"),
            "other_model": rf.evaluate(epbench_exe, d, other, "eval-olmoe.h5"), "trace": trace}


def report(*args):
    return subprocess.run([sys.executable, "-m", "epbench_analysis", "report", *args], capture_output=True,
                          text=True, cwd=ANALYSIS, timeout=300)


def md_table(text, title):
    """The rows of the Markdown table under '## title' as dicts."""
    block = text.split(f"## {title}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    header = [c.strip() for c in block[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in block[2:]]


@pytest.fixture(scope="module")
def study_report(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    done = report(os.path.join(study["dir"], "runs"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out, (out / "report.md").read_text()


def test_every_figure_is_written_and_not_blank(study_report):
    out, text = study_report
    for name in MEASURED_FIGURES:
        path = out / f"{name}.png"
        assert path.stat().st_size > 5000, name
        pixels = matplotlib.image.imread(path)
        assert pixels.std() > 0.01, f"{name}: blank image"
        assert f"({name}.png)" in text
    assert (out / "report.html").stat().st_size > 1000


def test_run_table_numbers_equal_the_hdf5(study_report, study):
    _, text = study_report
    rows = md_table(text, "Runs")
    assert len(rows) == 2 * 2 * 2  # 2 GPU counts x 2 placements x 2 batch sizes
    for row in rows:
        path = next(p for p in study["runs"] if os.path.basename(p) == row["file"])
        with h5py.File(path) as f:
            g = f["runs"][row["run"]]
            a = g.attrs
            assert row["source"] == "measured"
            assert int(row["GPUs"]) == a["world_size"] and int(row["batch"]) == a["batch_size"]
            close(row["tokens/s"], a["tokens_per_s"])
            close(row["step mean (ms)"], 1e3 * a["step_time_mean"])
            close(row["step p99 (ms)"], 1e3 * a["step_time_p99"])
            close(row["comm share"], a["comm_share"])
            close(row["imbalance"], a["imbalance"])
            close(row["gap to bound"], a["gap_to_lower_bound"])
            close(row["predicted tokens/s"], a["predicted_tokens_per_s"])
            close(row["model error"], a["model_error"])
            for phase in ("dispatch", "compute", "combine"):
                per_step = g[f"time/{phase}"][()].max(axis=2).sum(axis=1)
                close(row[f"{phase} (ms)"], 1e3 * per_step.mean())


def test_ranked_table_orders_by_gap_and_shows_the_bound(study_report, study):
    _, text = study_report
    rows = md_table(text, "Placements ranked against the lower bound")
    largest = [r for r in rows if r["GPUs"] == "4" and r["batch"] == "8"]
    gaps = [float(r["gap to bound"]) for r in largest]
    assert gaps == sorted(gaps) and len(gaps) == 2
    with h5py.File(study["runs"][1]) as f:
        for r in largest:
            run = next(g for g in f["runs"].values() if g.attrs["algorithm"] == r["algorithm"]
                       and g.attrs["batch_size"] == 8)
            close(r["lower bound per step (ms)"], 1e3 * run.attrs["lower_bound_time"] / run.attrs["steps"])


def close(cell, value):
    assert float(cell) == pytest.approx(float(value), rel=1e-5), (cell, value)


def test_evaluate_results_are_labelled_predicted(study, tmp_path):
    done = report(study["evaluate"], "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "report.md").read_text()
    assert {r["source"] for r in md_table(text, "Runs")} == {"predicted"}
    assert "No measured runs" in text
    assert not (tmp_path / "predicted_vs_measured.png").exists()


def test_evaluate_without_cubes_reports_as_with_them(study, tmp_path, epbench_exe):
    """evaluate's default file (per-step series and [L, G] totals) gives the report of --cubes."""
    d = str(tmp_path)
    cubes = rf.evaluate(epbench_exe, d, study["trace"], "cubes.h5", "--cubes")
    with h5py.File(study["evaluate"]) as f:
        assert all("time" not in g for g in f["runs"].values())
    tables = []
    for path in (study["evaluate"], cubes):
        out = tmp_path / ("out-" + os.path.basename(path))
        done = report(path, "-o", str(out))
        assert done.returncode == 0, done.stderr
        tables.append(md_table((out / "report.md").read_text(), "Runs"))
    assert len(tables[0]) == len(tables[1]) > 0
    for a, b in zip(*tables):
        for key, cell in a.items():
            if key == "file":
                continue
            try:
                close(cell, b[key])
            except ValueError:
                assert cell == b[key], key


def test_a_trace_is_not_a_results_file(study, tmp_path):
    done = report(study["trace"], "-o", str(tmp_path))
    assert done.returncode == 2
    assert f"{study['trace']}: format 'epbench-trace', expected 'epbench-results'" in done.stderr
    assert not any(tmp_path.iterdir())


def test_another_version_is_refused(study, tmp_path):
    newer = tmp_path / "newer.h5"
    shutil.copy(study["evaluate"], newer)
    with h5py.File(newer, "r+") as f:
        f.attrs["version"] = np.int64(2)
    done = report(str(newer), "-o", str(tmp_path / "out"))
    assert done.returncode == 2
    assert f"{newer}: version 2, expected 1" in done.stderr


def test_a_study_mixing_models_is_refused(study, tmp_path):
    done = report(study["evaluate"], study["other_model"], "-o", str(tmp_path))
    assert done.returncode == 2
    assert re.search(r"eval-olmoe.h5: model 'olmoe-1b-7b', but .*eval.h5 has model 'mixtral-8x7b'", done.stderr)


def test_a_missing_file_is_named(tmp_path):
    done = report(str(tmp_path / "nope.h5"), "-o", str(tmp_path))
    assert done.returncode == 2 and "nope.h5: no such file" in done.stderr


def test_pareto_front_keeps_only_undominated_points():
    from epbench_analysis.results import pareto_front
    latency = [1.0, 2.0, 2.0, 3.0, 4.0]
    throughput = [10.0, 30.0, 20.0, 25.0, 40.0]
    assert pareto_front(latency, throughput) == [0, 1, 4]
