"""`python3 -m epbench_analysis.validation` on validate reports: the figure and the tables,
and a malformed report refused naming the file and the field."""
import json
import os

from epbench_analysis import validation


def _report(path, **overrides):
    j = {"format": "epbench-validation", "version": 1, "world_size": 2, "cluster": "c.json",
         "cost_model": "profile",
         "configurations": [
             {"layout": "rr", "routing": "first", "batch_size": 1, "measured_step_s": 1e-3,
              "predicted_step_s": 1.1e-3},
             {"layout": "eplb", "routing": "first", "batch_size": 1, "measured_step_s": 2e-3,
              "predicted_step_s": 1.5e-3}],
         "ranking": [{"batch_size": 1, "routing": "first", "layouts": 2, "spearman": 1.0}],
         "step_time_error": {"count": 2, "median": 0.1, "p90": 0.25, "max": 0.25},
         "ttft_error": {"count": 0, "median": None, "p90": None, "max": None},
         "tpot_error": {"count": 0, "median": None, "p90": None, "max": None}}
    j.update(overrides)
    with open(path, "w") as f:
        json.dump(j, f)
    return str(path)


def test_writes_the_figure_and_the_tables(tmp_path):
    a = _report(tmp_path / "bound.json")
    b = _report(tmp_path / "four.json", world_size=4, ranking=[
        {"batch_size": 1, "routing": "first", "layouts": 2, "spearman": None}])
    served = _report(tmp_path / "served.json", requests=[
        {"ttft_measured_s": 0.02, "ttft_simulated_s": 0.021, "tpot_measured_s": 0.001,
         "tpot_simulated_s": None}],  # one output token: no TPOT
        ttft_error={"count": 1, "median": 0.05, "p90": 0.05, "max": 0.05},
        ttft_own_error={"count": 1, "median": 0.03, "p90": 0.03, "max": 0.03})
    drifted = _report(tmp_path / "drifted.json", ranking=[
        {"batch_size": 1, "routing": "first", "layouts": 3, "placements": 2, "spearman": 1.0,
         "rounds_spearman": 0.5, "halves_spearman": 0.6, "exact_model_spearman": 0.866,
         "placed_alike": ["balanced = eplb"]}],
        machine_drift=[{"active_experts": 2, "tokens": 16, "profiled_s": 1e-3, "before_s": 1.1e-3,
                        "after_s": 0.95e-3}], drift_factor=1.05,
        drift_adjusted={"step_time_error": {"count": 1, "median": 0.04, "p90": 0.06, "max": 0.06},
                        "ttft_error": {"count": 0, "median": None, "p90": None, "max": None}})
    out = tmp_path / "out"
    assert validation.main([a, b, served, drifted, "-o", str(out)]) == 0
    assert (out / "validation.png").stat().st_size > 1000
    md = (out / "validation.md").read_text()
    assert "## bound.json: 2 ranks, profile cost model (c.json)" in md
    assert "median 10.0 %, p90 25.0 %, max 25.0 %" in md
    assert "| 1 | first | 2 | 2 | 1.00 | n/a | n/a | n/a |" in md  # without the rounds' agreement
    assert "| 1 | first | 2 | 2 | n/a | n/a | n/a | n/a |" in md  # four.json's undefined ranking
    assert "| 1 | first | 3 | 2 | 1.00 | 0.50 | 0.60 | 0.87 |" in md
    assert md.count("place alike") == 1
    assert "Layouts that place alike, ranked once (their mean): balanced = eplb." in md
    assert "2x16: before +10.0 %, after -5.0 %" in md
    assert "(every prediction x 1.050, the probes' median; not the model's error, which is above): " \
        "step time median 4.0 %, p90 6.0 %." in md
    assert md.count("drift taken out") == 1  # reports without a factor print none
    assert md.count("TTFT") == 2  # only the served schedule has requests
    assert "TTFT over 1 requests: median 5.0 %" in md
    assert "TTFT from the request's own steps (less the lateness its first step inherited " \
        "from the steps before it; not judged by the bars): median 3.0 %, p90 3.0 %" in md
    assert not [p for p in os.listdir(out) if "tmp" in p]


def test_a_malformed_report_names_the_file_and_field(tmp_path, capsys):
    bad = _report(tmp_path / "bad.json", configurations=[{"layout": "rr", "routing": "first",
                                                          "batch_size": "one"}])
    assert validation.main([bad, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "bad.json: batch_size: expected int, got str" in err
    assert not (tmp_path / "out").exists()


def test_not_a_report_is_refused(tmp_path, capsys):
    p = tmp_path / "x.json"
    p.write_text("[1, 2")
    assert validation.main([str(p), "-o", str(tmp_path / "out")]) == 2
    assert "x.json: (file): expected a JSON validation report" in capsys.readouterr().err
