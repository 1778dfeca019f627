"""`python3 -m epbench_analysis.study_placement` on a one-cell study written by epbench."""
import os
import subprocess
import sys

import pytest

import results_fixtures as rf
from conftest import ANALYSIS
from epbench_analysis import results, study_placement


@pytest.fixture(scope="module")
def study(tmp_path_factory, epbench_exe):
    """case/spare1/b8.h5: round-robin, eplb and steptime, first, optimal and min-time routing."""
    d = str(tmp_path_factory.mktemp("study"))
    trace = rf.make_trace(epbench_exe, d, "mixtral-8x7b", requests=40)
    cell = os.path.join(d, "study", "tiny", "spare1")
    os.makedirs(cell)
    shape = ["--trace", trace, "--nodes", "2", "--gpus-per-node", "2"]
    layouts = []
    for algo in ("round-robin", "eplb", "steptime"):
        layouts.append(os.path.join(cell, f"{algo}.json"))
        rf.epbench(epbench_exe, "place", "--algo", algo, *shape, "--fit", "0:50%", "--slots", 3,
                   "--param" if algo == "steptime" else "--seed",
                   "batch_sizes=8" if algo == "steptime" else 1, "-o", layouts[-1])
    path = os.path.join(cell, "b8.h5")
    rf.epbench(epbench_exe, "evaluate", *shape, "--test", "50%:100%", "--prefill-chunk", 0, "--steps", 20,
               "--layouts", ",".join(layouts), "--routing", "first,optimal,min-time", "--batch-sizes", 8, "-o", path)
    return {"root": os.path.join(d, "study"), "file": path}


def test_cell_keeps_each_algorithms_best_routing(study):
    _, rows = results.load_file(study["file"])
    [(case, spare, batch, best)] = study_placement.cells(study["root"])
    assert (case, spare, batch) == ("tiny", 1, 8)
    for algo in ("round-robin", "eplb", "steptime"):
        mine = [float(r["step_time_mean"]) for r in rows if r["algorithm"] == algo]
        assert len(mine) == 3
        assert best[algo][0] == min(mine)
        assert sorted(best[algo][4].values()) == sorted(mine)


def test_table_ratios_follow_the_cells(study):
    [(_, _, _, best)] = study_placement.cells(study["root"])
    text = study_placement.table(study_placement.cells(study["root"]))
    row = [line for line in text.splitlines() if line.startswith("| tiny")][0]
    cols = [c.strip() for c in row.strip("|").split("|")]
    other = min(best["round-robin"][0], best["eplb"][0])
    assert float(cols[-4]) == pytest.approx(best["steptime"][0] / other, abs=1e-4)
    assert float(cols[-3].rstrip("x")) == pytest.approx(best["eplb"][0] / best["steptime"][0], abs=0.01)
    as_designed = best["eplb"][4]["optimal"] / best["steptime"][0]
    assert float(cols[-2].rstrip("x")) == pytest.approx(as_designed, abs=0.01)
    assert "worst cell" in text and "token-balancing" in text


def test_empty_directory_is_a_clear_error(tmp_path):
    r = subprocess.run([sys.executable, "-m", "epbench_analysis.study_placement", str(tmp_path)],
                       capture_output=True, text=True, cwd=ANALYSIS, timeout=60)
    assert r.returncode == 2
    assert "no cells" in r.stderr
