"""The results files epbench writes use exactly the names of src/results/schema.json, the table
the analysis reads its names from."""
import h5py

import results_fixtures as rf
from epbench_analysis import schema


def test_evaluate_file_uses_only_schema_names(epbench_exe, tmp_path):
    trace = rf.make_trace(epbench_exe, str(tmp_path), "brown-moe-8e-top2", requests=20)
    path = rf.evaluate(epbench_exe, str(tmp_path), trace, "eval.h5")
    table = schema._TABLE
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == schema.FORMAT and f.attrs["version"] == schema.VERSION
        assert set(f.attrs) <= set(table["root_attributes"])
        runs = f[schema.RUNS_GROUP]
        assert len(runs) == 4  # 2 layouts x 2 batch sizes
        expected = set(table["config_attributes"]) | set(table["summary_attributes"])
        for name, group in runs.items():
            assert set(group.attrs) <= expected, name
            assert {"layout", "routing", "steps", "tokens_per_s"} <= set(group.attrs)
            datasets = []
            group.visit(lambda n: datasets.append(n) if isinstance(group[n], h5py.Dataset) else None)
            assert datasets and set(datasets) <= schema._DATASETS, name


def test_unknown_name_is_refused():
    try:
        schema.attr("no_such_attribute")
    except KeyError as e:
        assert "no_such_attribute" in str(e)
    else:
        raise AssertionError("schema.attr accepted a name the format does not have")
