"""The report's serve figures and table (`epbench serve` results), on files fabricated with
h5py in the shape the tool writes, alone and mixed with evaluate results."""
import subprocess
import sys

import h5py
import matplotlib.image
import numpy as np
import pytest

import results_fixtures as rf
from conftest import ANALYSIS
from epbench_analysis import schema, serve
from epbench_analysis.serve import pareto_front, request_latencies, request_tpot

SERVE_FIGURES = ["serve_latency_cdf", "serve_throughput_tpot", "serve_goodput_rate"]
EVALUATE_FIGURES = ["phases", "pareto", "scaling", "load_heatmap", "placements_ranked"]


def report(*args):
    return subprocess.run([sys.executable, "-m", "epbench_analysis", "report", *map(str, args)],
                          capture_output=True, text=True, cwd=ANALYSIS, timeout=300)


def md_table(text, title):
    """The rows of the Markdown table under '## title' as dicts."""
    assert f"## {title}\n\n" in text, title
    block = text.split(f"## {title}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    header = [c.strip() for c in block[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in block[2:]]


def assert_figures(out, text, names):
    for name in names:
        path = out / f"{name}.png"
        assert path.is_file(), name
        assert path.stat().st_size > 5000, name
        assert matplotlib.image.imread(path).std() > 0.01, f"{name}: blank image"
        assert f"({name}.png)" in text, name


def close(cell, value):
    assert float(cell) == pytest.approx(float(value), rel=1e-5), (cell, value)


# --- the Pareto front and the per-request latencies ---

def test_pareto_front_returns_exactly_the_undominated_points():
    # p99 TPOT (lower is better), throughput (higher is better)
    latency = [1.0, 2.0, 2.0, 3.0, 4.0, 0.5, 3.0, 5.0, 4.0]
    throughput = [10.0, 30.0, 20.0, 25.0, 40.0, 5.0, 30.0, 40.0, 40.0]
    # 0 (1, 10), 1 (2, 30), 4 (4, 40), 5 (0.5, 5) and its equal 8 (4, 40); not 2 (1 is better),
    # 3 and 6 (1 is faster and no worse), 7 (4 is faster at the same throughput)
    assert pareto_front(latency, throughput) == [5, 0, 1, 4, 8]


def test_pareto_front_matches_brute_force_and_skips_nan():
    rng = np.random.default_rng(3)
    lat, thr = rng.random(60), rng.random(60)
    lat[[4, 9]] = np.nan
    expected = {i for i in range(60) if not np.isnan(lat[i]) and not any(
        (lat[j] <= lat[i] and thr[j] >= thr[i] and (lat[j] < lat[i] or thr[j] > thr[i]))
        for j in range(60) if j != i and not np.isnan(lat[j]))}
    front = pareto_front(lat, thr)
    assert set(front) == expected and len(front) == len(expected)
    assert [lat[i] for i in front] == sorted(lat[i] for i in front)
    assert pareto_front([], []) == []


def test_tpot_matches_a_hand_computation():
    first = [1.0, 2.0, 3.0, 4.0]
    finish = [1.9, 2.0, 3.5, 6.0]
    output = np.array([10, 1, 2, 5], dtype=np.uint32)  # the single-token request has no TPOT
    assert request_tpot(first, finish, output) == pytest.approx([0.9 / 9, 0.5 / 1, 2.0 / 4])
    lat = request_latencies([0.5, 1.5, 2.0, 3.0], first, finish, output)
    assert lat["ttft"] == pytest.approx([0.5, 0.5, 1.0, 1.0])
    assert lat["e2e"] == pytest.approx([1.4, 0.5, 1.5, 3.0])
    assert lat["tpot"] == pytest.approx([0.1, 0.5, 0.5])


def test_tpot_from_the_datasets_gives_the_files_percentiles(tmp_path):
    path = rf.serve_file(tmp_path / "serve.h5", layouts=("eplb",), policies=("fcfs",), rates=(4.0,))
    with h5py.File(path) as f:
        g = next(iter(f[schema.RUNS_GROUP].values()))
        q = {n: g[schema.dataset(f"requests/{n}")][()] for n in ("first_token", "finish", "output_tokens",
                                                                  "token_offset", "token_time")}
        tpot = request_tpot(q["first_token"], q["finish"], q["output_tokens"])
        # by hand, from each request's own token times
        off = q["token_offset"].astype(np.int64)
        hand = [(q["token_time"][off[r + 1] - 1] - q["token_time"][off[r]]) / (q["output_tokens"][r] - 1)
                for r in range(len(q["output_tokens"])) if q["output_tokens"][r] > 1]
        assert tpot == pytest.approx(hand)
        assert len(tpot) < len(q["output_tokens"])  # the single-token request is left out
        for p in (50, 90, 99):
            assert rf.nearest_rank(tpot, p / 100) == pytest.approx(g.attrs[schema.attr(f"tpot_p{p}")])


# --- the report ---

@pytest.fixture(scope="module")
def serve_report(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve")
    path = rf.serve_file(d / "serve.h5", users=(4,))
    out = d / "report"
    done = report(path, "-o", out)
    assert done.returncode == 0, done.stderr
    return path, out, (out / "report.md").read_text()


def test_serve_report_writes_the_three_figures(serve_report):
    _, out, text = serve_report
    assert_figures(out, text, SERVE_FIGURES)
    assert not any((out / f"{n}.png").exists() for n in EVALUATE_FIGURES)
    assert (out / "report.html").stat().st_size > 1000
    assert "predicted by the serving model (docs/serve.md)" in text


def test_serve_table_equals_the_attributes(serve_report):
    path, _, text = serve_report
    rows = md_table(text, serve.TABLE_TITLE)
    assert len(rows) == 2 * 2 * (3 + 1)  # layouts x policies x (rates + a closed-loop run)
    with h5py.File(path) as f:
        runs = f[schema.RUNS_GROUP]
        assert {r["run"] for r in rows} == set(runs)
        for row in rows:
            a = runs[row["run"]].attrs
            close(row["goodput (req/s)"], a[schema.attr("goodput")])
            close(row["SLO attainment"], a[schema.attr("slo_attainment")])
            close(row["req/s"], a[schema.attr("request_throughput")])
            close(row["output tok/s"], a[schema.attr("output_tokens_per_s")])
            close(row["TTFT p99 (ms)"], 1e3 * a[schema.attr("ttft_p99")])
            close(row["TPOT p50 (ms)"], 1e3 * a[schema.attr("tpot_p50")])
            close(row["TPOT p99 (ms)"], 1e3 * a[schema.attr("tpot_p99")])
            assert int(row["preemptions"]) == a[schema.attr("preemptions")]
            assert row["saturated"] == ("yes" if a[schema.attr("saturated")] else "no")
            assert row["policy"] == a[schema.attr("policy")] and row["routing"] == a[schema.attr("routing")]
            assert row["run"].startswith(row["layout"] + ".")
            users = a[schema.attr("users")]
            assert row["rate"] == (f"{users} users" if users else f"{a[schema.attr('rate')]:g}/s")
    assert any(r["saturated"] == "yes" for r in rows) and any(r["saturated"] == "no" for r in rows)


def test_many_runs_draw_one_rate_in_the_cdfs(tmp_path):
    from epbench_analysis.results import load_study
    path = rf.serve_file(tmp_path / "serve.h5", policies=("fcfs", "chunked", "decode-first"))
    _, runs, _ = load_study([str(path)])
    assert len(runs) == 2 * 3 * 3
    from epbench_analysis.serve_figures import cdf_runs
    drawn, which = cdf_runs(runs)
    # 32/s is saturated in the fixture: the highest rate where nothing is, one line per layout and policy
    assert set(drawn["rate"]) == {8.0} and len(drawn) == 2 * 3 and "8/s" in which


def test_closed_loop_only_has_no_goodput_figure(tmp_path):
    path = rf.serve_file(tmp_path / "serve.h5", rates=(), users=(2, 8))
    out = tmp_path / "report"
    done = report(path, "-o", out)
    assert done.returncode == 0, done.stderr
    text = (out / "report.md").read_text()
    assert_figures(out, text, SERVE_FIGURES[:2])
    assert not (out / "serve_goodput_rate.png").exists()
    assert "no goodput-against-rate figure" in text


def test_evaluate_only_report_still_works(tmp_path):
    path = rf.evaluate_file(tmp_path / "eval.h5")
    out = tmp_path / "report"
    done = report(path, "-o", out)
    assert done.returncode == 0, done.stderr
    text = (out / "report.md").read_text()
    assert_figures(out, text, EVALUATE_FIGURES)
    assert not any((out / f"{n}.png").exists() for n in SERVE_FIGURES)
    assert serve.TABLE_TITLE not in text
    rows = md_table(text, "Runs")
    assert len(rows) == 4 and {r["source"] for r in rows} == {"predicted"}
    with h5py.File(path) as f:
        for row in rows:
            close(row["tokens/s"], f[schema.RUNS_GROUP][row["run"]].attrs[schema.attr("tokens_per_s")])


def test_a_report_mixing_evaluate_and_serve_files(tmp_path):
    d = tmp_path / "study"
    d.mkdir()
    rf.evaluate_file(d / "eval.h5")
    serve_path = rf.serve_file(d / "serve.h5")
    out = tmp_path / "report"
    done = report(d, "-o", out)  # a directory holding both
    assert done.returncode == 0, done.stderr
    assert "16 runs from 2 file(s)" in done.stdout
    text = (out / "report.md").read_text()
    assert_figures(out, text, EVALUATE_FIGURES + SERVE_FIGURES)
    assert len(md_table(text, "Runs")) == 4
    rows = md_table(text, serve.TABLE_TITLE)
    assert len(rows) == 12
    with h5py.File(serve_path) as f:
        for row in rows:
            close(row["goodput (req/s)"], f[schema.RUNS_GROUP][row["run"]].attrs[schema.attr("goodput")])


def test_a_serve_run_missing_a_dataset_is_named(tmp_path):
    path = rf.serve_file(tmp_path / "serve.h5", layouts=("eplb",), policies=("fcfs",), rates=(4.0,))
    with h5py.File(path, "r+") as f:
        del f[schema.RUNS_GROUP]["eplb.first.fcfs.rate4"][schema.dataset("requests/finish")]
    done = report(path, "-o", tmp_path / "out")
    assert done.returncode == 2
    assert "runs/eplb.first.fcfs.rate4: dataset 'requests/finish' missing" in done.stderr


# --- on the file `epbench serve` writes ---

def test_report_of_epbench_serve(epbench_exe, tmp_path):
    d = str(tmp_path)
    trace = rf.make_trace(epbench_exe, d, "brown-moe-8e-top2", requests=40)
    path = rf.serve(epbench_exe, d, trace)
    table = schema._TABLE
    with h5py.File(path) as f:
        assert f.attrs["tool"] == serve.TOOL and set(f.attrs) <= set(table["root_attributes"])
        runs = f[schema.RUNS_GROUP]
        assert len(runs) == 2 * 2 * 2  # layouts x policies x rates
        names = set().union(*(table[k] for k in ("config_attributes", "summary_attributes",
                                                 "serving_attributes", "latency_attributes")))
        for name, g in runs.items():
            assert set(g.attrs) <= names, name
            datasets = []
            g.visit(lambda n: datasets.append(n) if isinstance(g[n], h5py.Dataset) else None)
            assert datasets and set(datasets) <= schema._DATASETS, name
            # the per-request latencies computed here give the tool's own percentiles
            lat = request_latencies(*(g[schema.dataset(f"requests/{n}")][()]
                                      for n in ("arrival", "first_token", "finish", "output_tokens")))
            for key in ("ttft", "tpot", "e2e"):
                for p in (50, 90, 99):
                    assert rf.nearest_rank(lat[key], p / 100) == pytest.approx(
                        g.attrs[schema.attr(f"{key}_p{p}")], rel=1e-9), (name, key, p)
    out = tmp_path / "report"
    done = report(path, "-o", out)
    assert done.returncode == 0, done.stderr
    text = (out / "report.md").read_text()
    assert_figures(out, text, SERVE_FIGURES)
    rows = md_table(text, serve.TABLE_TITLE)
    assert len(rows) == 8
    with h5py.File(path) as f:
        for row in rows:
            a = f[schema.RUNS_GROUP][row["run"]].attrs
            close(row["goodput (req/s)"], a[schema.attr("goodput")])
            close(row["TPOT p99 (ms)"], 1e3 * a[schema.attr("tpot_p99")])
