"""epbench_import sglang: SGLang expert-distribution recorder dumps -> load files and traces.

The dumps here are written with torch.save in exactly the structure SGLang's recorder writes,
as read in sgl-project/sglang python/sglang/srt/eplb/expert_distribution.py at commit
dd780ab9de484cf1198ff538a1b8b0da6464ab5a:

* stat / stat_approx: `_StatAccumulator.dump` -> dict(rank=int, logical_count=int32 tensor
  [steps, hidden layers, experts], average_utilization_rate_over_window=float or None);
* per_pass / per_token: `_DetailAccumulator.dump` -> dict(records=[...],
  last_physical_to_logical_map=int64 tensor [hidden layers, physical slots]); each record is
  dict(forward_pass_id, rank, gatherer_key="primary", **gatherer data), the gatherer data
  being {global_physical_count: int32 [layers, slots]} (per_pass) or, from
  `_DetailSinglePassGatherer.collect`, {input_ids, positions, extend_seq_lens, forward_mode,
  topk_ids_of_layer: int32 [layers, tokens, 8] of physical ids, -1 = none, misc_objects,
  global_physical_count} (per_token).

The model: 2 dense + 3 MoE layers, 8 experts, top-2; 4 ranks x 3 slots = 12 physical slots,
so every MoE layer has 4 replicas and the physical -> logical translation matters.
"""
import collections
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from conftest import ANALYSIS, REPO
from epbench_import.__main__ import main

D, L_MOE, E, K, P = 2, 3, 8, 2, 12
L_ALL = D + L_MOE
NAME = "sgl-tiny"
SPEC = {"format": "epbench-model", "version": 1, "name": NAME, "attention": "gqa",
        "num_layers": L_MOE, "dense_layers": D, "num_experts": E, "top_k": K, "d_model": 64,
        "d_ff": 128, "attention_heads": 4, "kv_heads": 4, "head_dim": 16, "weight_bytes": 2,
        "kv_bytes": 2}
# Physical slot p of layer l holds logical expert MAP[l][p]; dense rows are SGLang's trivial
# p % E, MoE rows shuffle the experts and replicate four of them.
MAP = [[p % E for p in range(P)] for _ in range(D)] + [
    [3, 0, 7, 1, 6, 2, 5, 4, 3, 7, 0, 5],
    [0, 1, 2, 3, 4, 5, 6, 7, 1, 1, 2, 6],
    [7, 6, 5, 4, 3, 2, 1, 0, 0, 4, 4, 7],
]
FORWARD_EXTEND, FORWARD_DECODE, FORWARD_MIXED = 1, 2, 3


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "sgl-tiny.json"
    path.write_text(json.dumps(SPEC))
    return str(path)


def run(capsys, *argv):
    """main() in process: (exit status, stdout, stderr lines)."""
    rc = main(["sglang", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err.strip().splitlines()


def stat_dump(path, logical_count):
    torch.save(dict(rank=0, logical_count=torch.tensor(logical_count, dtype=torch.int32),
                    average_utilization_rate_over_window=None), str(path))
    return str(path)


def detail_dump(path, records, phys_map=MAP):
    torch.save(dict(records=records, last_physical_to_logical_map=torch.tensor(phys_map)), str(path))
    return str(path)


def pass_record(pass_id, rank, counts):
    return dict(forward_pass_id=pass_id, rank=rank, gatherer_key="primary",
                global_physical_count=torch.tensor(counts, dtype=torch.int32))


def token_record(pass_id, rank, positions, extend_seq_lens, forward_mode, topk):
    """topk: int array [L_ALL, T, 8] of physical ids (-1 = none)."""
    topk = torch.tensor(topk, dtype=torch.int32)
    T = len(positions)
    count = torch.zeros((L_ALL, P), dtype=torch.int32)
    for l in range(L_ALL):
        for p in topk[l].flatten().tolist():
            if p >= 0:
                count[l, p] += 1
    return dict(forward_pass_id=pass_id, rank=rank, gatherer_key="primary",
                input_ids=[100 + t for t in range(T)], positions=list(positions),
                extend_seq_lens=extend_seq_lens, forward_mode=forward_mode,
                topk_ids_of_layer=topk, misc_objects=[], global_physical_count=count)


def random_topk(rng, T):
    """[L_ALL, T, 8] physical ids whose logical experts are distinct within each token, in
    columns 0-1 as SGLang writes them, -1 elsewhere and in the dense layers."""
    topk = np.full((L_ALL, T, 8), -1, np.int64)
    for l in range(D, L_ALL):
        for t in range(T):
            while True:
                slots = rng.choice(P, size=K, replace=False)
                if len({MAP[l][p] for p in slots}) == K:
                    break
            topk[l, t, :K] = slots
    return topk


def translate(topk):
    """The expected logical ids [T, L_MOE, K], by hand: the first K valid columns, mapped."""
    T = topk.shape[1]
    out = np.zeros((T, L_MOE, K), np.int64)
    for t in range(T):
        for l in range(D, L_ALL):
            valid = [p for p in topk[l, t] if p >= 0][:K]
            out[t, l - D] = [MAP[l][p] for p in valid]
    return out


def assert_refused(capsys, tmp_path, argv, *needles):
    before = set(os.listdir(tmp_path))
    rc, out, err = run(capsys, *argv)
    assert rc == 2, err
    assert len(err) == 1, err
    assert err[0].startswith("epbench_import: error: "), err
    for needle in needles:
        assert needle in err[0], err[0]
    assert set(os.listdir(tmp_path)) == before, "output or temporary file left behind"


# ------------------------------------------------------------------------------ load files


def test_stat_dumps_are_summed_over_steps_and_files_dense_rows_dropped(tmp_path, spec, capsys):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 50, size=(4, L_ALL, E))
    b = rng.integers(0, 50, size=(L_ALL, E))  # a [layers, experts] logical_count is accepted too
    a[:, :D] = 0
    b[:D] = 0
    fa, fb = stat_dump(tmp_path / "stat_a.pt", a), stat_dump(tmp_path / "stat_b.pt", b)
    out = tmp_path / "loads.json"
    rc, _, err = run(capsys, fa, fb, "--model", spec, "-o", out)
    assert rc == 0, err
    j = json.loads(out.read_text())
    assert list(j) == ["format", "version", "model", "num_layers", "num_experts", "source", "loads"]
    assert (j["format"], j["version"], j["model"]) == ("epbench-loads", 1, NAME)
    assert (j["num_layers"], j["num_experts"]) == (L_MOE, E)
    assert j["source"] == "sglang stat dump stat_a.pt, stat_b.pt"
    expected = [[int(a[:, l, e].sum() + b[l, e]) for e in range(E)] for l in range(D, L_ALL)]
    assert j["loads"] == expected
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []


def test_per_pass_counts_are_translated_to_logical_experts(tmp_path, spec, capsys):
    rng = np.random.default_rng(2)
    files, expected = [], np.zeros((L_MOE, E), np.int64)
    for rank in range(2):  # one file per rank, summed
        records = []
        for pass_id in range(3):
            counts = rng.integers(0, 20, size=(L_ALL, P))
            counts[:D] = 0
            records.append(pass_record(pass_id, rank, counts))
            for l in range(D, L_ALL):
                for p in range(P):
                    expected[l - D, MAP[l][p]] += counts[l, p]
        files.append(detail_dump(tmp_path / f"per_pass_{rank}.pt", records))
    out = tmp_path / "loads.json"
    rc, _, err = run(capsys, *files, "--model", spec, "-o", out)
    assert rc == 0, err
    j = json.loads(out.read_text())
    assert j["loads"] == expected.tolist()
    assert j["source"] == "sglang per_pass dump per_pass_0.pt, per_pass_1.pt"
    # replicas count for their logical expert: layer 3 (MoE layer 1) slots 1, 8, 9 are expert 1
    assert expected[1, 1] > 0


def test_preset_name_is_resolved_with_the_epbench_binary(tmp_path, capsys):
    fake = tmp_path / "fake-epbench"
    fake.write_text("#!/bin/sh\n"
                    "[ \"$1 $2 $3 $4\" = \"models --json --model sgl-tiny\" ] || exit 2\n"
                    f"cat <<'EOF'\n{json.dumps(SPEC, indent=2)}\nEOF\n")
    fake.chmod(0o755)
    lc = np.zeros((1, L_ALL, E), np.int64)
    lc[0, D:] = 1
    dump = stat_dump(tmp_path / "stat.pt", lc)
    out = tmp_path / "loads.json"
    rc, _, err = run(capsys, dump, "--model", NAME, "--epbench", fake, "-o", out)
    assert rc == 0, err
    assert json.loads(out.read_text())["loads"] == [[1] * E] * L_MOE
    out.unlink()
    assert_refused(capsys, tmp_path, [dump, "--model", NAME, "--epbench", tmp_path / "none", "-o", out],
                   "--model sgl-tiny", "epbench binary")


# ------------------------------------------------------------------------------ traces


def prefill_then_decode(rng, rank=0, first_pass=0):
    """A prefill of two requests (prompts of 3 and 2 tokens), then two decode passes."""
    steps = [([0, 1, 2, 0, 1], [3, 2], FORWARD_EXTEND), ([3, 2], None, FORWARD_DECODE),
             ([4, 3], None, FORWARD_DECODE)]
    records, topks = [], []
    for i, (positions, lens, mode) in enumerate(steps):
        topk = random_topk(rng, len(positions))
        topks.append(topk)
        records.append(token_record(first_pass + i, rank, positions, lens, mode, topk))
    return records, topks


def test_per_token_dump_becomes_a_trace_of_two_requests(tmp_path, spec, capsys):
    rng = np.random.default_rng(3)
    records, topks = prefill_then_decode(rng)
    # the first K valid columns count, wherever they are; later valid ones are ignored
    topks[1][D + 1, 0, :] = [-1, -1, topks[1][D + 1, 0, 0], -1, -1, topks[1][D + 1, 0, 1], 5, -1]
    records[1]["topk_ids_of_layer"] = torch.tensor(topks[1], dtype=torch.int32)
    dump = detail_dump(tmp_path / "per_token_0.pt", records)
    out = tmp_path / "trace.h5"
    rc, stdout, err = run(capsys, dump, "--model", spec, "-o", out)
    assert rc == 0, err
    assert "2 requests, 9 tokens" in stdout
    logical = [translate(t) for t in topks]  # per record [T, L_MOE, K]
    # request 0: record 0 tokens 0-2, then token 0 of each decode pass; request 1 the rest
    want_ids = np.concatenate([logical[0][0:3], logical[1][0:1], logical[2][0:1],
                               logical[0][3:5], logical[1][1:2], logical[2][1:2]])
    with h5py.File(out, "r") as f:
        assert f.attrs["format"] == "epbench-trace" and f.attrs["model"] == NAME
        assert (f.attrs["num_layers"], f.attrs["num_experts"], f.attrs["top_k"]) == (L_MOE, E, K)
        assert f.attrs["source"] == "sglang-per-token"
        assert f.attrs["dataset"] == "per_token_0.pt"
        assert "gate_weights" not in f["tokens"]  # SGLang records none
        ids = f["tokens/expert_ids"][:]
        assert ids.dtype == np.uint16 and ids.shape == (9, L_MOE, K)
        np.testing.assert_array_equal(ids, want_ids)
        assert f["requests/token_offset"][:].tolist() == [0, 5, 9]
        assert f["requests/prompt_len"][:].tolist() == [3, 2]
        assert f["tokens/phase"][:].tolist() == [0, 0, 0, 1, 1, 0, 0, 1, 1]
        assert f["tokens/position"][:].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3]
        assert f["requests/domain"][:].tolist() == [0, 0]
        assert [str(n) for n in f["requests/domain"].attrs["names"]] == ["rank 0"]
        params = json.loads(f.attrs["params"])
        assert params["physical_slots"] == P and params["dense_layers_dropped"] == D
    # the layer-1 token with ids in columns 2 and 5 (and a third valid one in column 6)
    assert want_ids[3, 1].tolist() == [MAP[D + 1][topks[1][D + 1, 0, 2]], MAP[D + 1][topks[1][D + 1, 0, 5]]]


def test_chunked_prefill_mixed_batches_and_ranks(tmp_path, spec, capsys):
    rng = np.random.default_rng(4)
    r0 = [  # rank 0: a 5-token prompt in chunks of 3 and 2, a mixed batch, then decode
        ([0, 1, 2], [3], FORWARD_EXTEND),
        ([3, 4, 0, 1], [2, 2], FORWARD_EXTEND),         # chunk 2 of request A, new request B
        ([0, 5, 2], [1, 1, 1], FORWARD_MIXED),          # new request C; decode A (5) and B (2)
        ([6, 3, 1], None, FORWARD_DECODE),              # A, B, C
    ]
    r1 = [([0, 1], [2], FORWARD_EXTEND), ([2], None, FORWARD_DECODE)]  # rank 1: its own request
    f0 = detail_dump(tmp_path / "per_token_0.pt",
                     [token_record(i, 0, pos, lens, mode, random_topk(rng, len(pos)))
                      for i, (pos, lens, mode) in enumerate(r0)])
    f1 = detail_dump(tmp_path / "per_token_1.pt",
                     [token_record(i, 1, pos, lens, mode, random_topk(rng, len(pos)))
                      for i, (pos, lens, mode) in enumerate(r1)])
    out = tmp_path / "trace.h5"
    rc, _, err = run(capsys, f0, f1, "--model", spec, "-o", out)
    assert rc == 0, err
    with h5py.File(out, "r") as f:
        # A: 0-4 prompt, 5-6 generated; B: 0-1, 2-3; C: 0, 1; D (rank 1): 0-1, 2
        assert f["requests/token_offset"][:].tolist() == [0, 7, 11, 13, 16]
        assert f["requests/prompt_len"][:].tolist() == [5, 2, 1, 2]
        assert f["tokens/position"][:].tolist() == [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 0, 1, 0, 1, 2]
        assert f["tokens/phase"][:].tolist() == [0] * 5 + [1] * 2 + [0, 0, 1, 1] + [0, 1] + [0, 0, 1]
        assert f["requests/domain"][:].tolist() == [0, 0, 0, 1]
        assert f["tokens/expert_ids"].shape == (16, L_MOE, K)
        assert f.attrs["dataset"] == "per_token_0.pt, per_token_1.pt"


def epbench_or_skip():
    exe = os.environ.get("EPBENCH") or os.path.join(REPO, "build", "default", "src", "epbench")
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        pytest.skip(f"epbench executable not found at {exe}: build it or set EPBENCH")
    return exe


def test_cli_writes_a_trace_that_epbench_accepts(tmp_path, spec):
    """The module run as `python3 -m epbench_import`, and the trace checked by the C++ reader."""
    records, _ = prefill_then_decode(np.random.default_rng(5))
    dump = detail_dump(tmp_path / "per_token_0.pt", records)
    out = tmp_path / "trace.h5"
    env = dict(os.environ, PYTHONPATH=ANALYSIS)
    proc = subprocess.run([sys.executable, "-m", "epbench_import", "sglang", dump, "--model", spec,
                           "-o", str(out)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    exe = epbench_or_skip()
    info = subprocess.run([exe, "trace", "info", str(out)], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    lc = np.zeros((2, L_ALL, E), np.int64)
    lc[:, D:] = 3
    loads = tmp_path / "loads.json"
    proc = subprocess.run([sys.executable, "-m", "epbench_import", "sglang",
                           stat_dump(tmp_path / "stat.pt", lc), "--model", spec, "-o", str(loads)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------------------ bad input


def test_not_a_dump_is_refused(tmp_path, spec, capsys):
    out = tmp_path / "out.json"
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3, 4, dtype=torch.int32), str(tensor))
    assert_refused(capsys, tmp_path, [tensor, "--model", spec, "-o", out], f"{tensor}: expected an "
                   "SGLang expert-distribution dump (dict with 'logical_count' or 'records'), got a "
                   "tensor of shape [3, 4]")
    other = tmp_path / "other.pt"
    torch.save({"state_dict": torch.zeros(2)}, str(other))
    assert_refused(capsys, tmp_path, [other, "--model", spec, "-o", out], str(other),
                   "got a dict with keys ['state_dict']")
    text = tmp_path / "text.pt"
    text.write_text("not a torch archive\n")
    assert_refused(capsys, tmp_path, [text, "--model", spec, "-o", out], str(text),
                   "got a file that is no torch.save archive")
    pickled = tmp_path / "pickled.pt"  # weights_only: no class outside tensors and plain values
    torch.save({"records": [], "counter": collections.Counter()}, str(pickled))
    assert_refused(capsys, tmp_path, [pickled, "--model", spec, "-o", out], str(pickled),
                   "torch.load(weights_only=True) refuses", "collections.Counter")
    empty = detail_dump(tmp_path / "empty.pt", [])
    assert_refused(capsys, tmp_path, [empty, "--model", spec, "-o", out], empty, "records: expected")


def test_dump_of_another_model_is_refused(tmp_path, spec, capsys):
    out = tmp_path / "out.json"
    wrong_layers = stat_dump(tmp_path / "l.pt", np.ones((4, L_ALL + 1, E), np.int64))
    assert_refused(capsys, tmp_path, [wrong_layers, "--model", spec, "-o", out],
                   f"{wrong_layers}: logical_count: expected [steps, 5, 8] for sgl-tiny (5 hidden "
                   "layers incl. 2 dense), got [4, 6, 8]")
    wrong_experts = stat_dump(tmp_path / "e.pt", np.ones((L_ALL, E * 2), np.int64))
    assert_refused(capsys, tmp_path, [wrong_experts, "--model", spec, "-o", out],
                   f"{wrong_experts}: logical_count: expected", "got [1, 5, 16]")
    dense = np.zeros((1, L_ALL, E), np.int64)
    dense[0, 1, 3] = 7  # a selection in a dense layer: the layers are not this model's
    dense_file = stat_dump(tmp_path / "d.pt", dense)
    assert_refused(capsys, tmp_path, [dense_file, "--model", spec, "-o", out],
                   f"{dense_file}: logical_count: expected no selections in the 2 dense layers",
                   "got 7 in layer 1")
    short_map = detail_dump(tmp_path / "m.pt", [pass_record(0, 0, np.zeros((L_ALL - 1, P)))], MAP[1:])
    assert_refused(capsys, tmp_path, [short_map, "--model", spec, "-o", out],
                   f"{short_map}: last_physical_to_logical_map: expected [5, physical slots]")


def test_ids_out_of_range_are_refused(tmp_path, spec, capsys):
    out = tmp_path / "out.h5"
    records, topks = prefill_then_decode(np.random.default_rng(6))
    topks[1][D + 2, 1, 1] = P  # a physical slot that does not exist
    records[1]["topk_ids_of_layer"] = torch.tensor(topks[1], dtype=torch.int32)
    bad = detail_dump(tmp_path / "bad_id.pt", records)
    assert_refused(capsys, tmp_path, [bad, "--model", spec, "-o", out],
                   f"{bad}: records[1].topk_ids_of_layer: expected physical expert ids in [0, 12) "
                   "or -1 (none), got 12 at layer 4 token 1 column 1")
    records, _ = prefill_then_decode(np.random.default_rng(6))
    bad_map = [row[:] for row in MAP]
    bad_map[3][5] = E
    bad = detail_dump(tmp_path / "bad_map.pt", records, bad_map)
    assert_refused(capsys, tmp_path, [bad, "--model", spec, "-o", out],
                   f"{bad}: last_physical_to_logical_map: expected logical expert ids in [0, 8)",
                   "got 8 at layer 3 slot 5")
    records, topks = prefill_then_decode(np.random.default_rng(6))
    topks[0][D, 4, 1] = -1  # only one expert for token 4 in layer 2
    records[0]["topk_ids_of_layer"] = torch.tensor(topks[0], dtype=torch.int32)
    bad = detail_dump(tmp_path / "short.pt", records)
    assert_refused(capsys, tmp_path, [bad, "--model", spec, "-o", out],
                   f"{bad}: records[0].topk_ids_of_layer: expected at least top_k = 2",
                   "got 1 at layer 2 token 4")
    records, topks = prefill_then_decode(np.random.default_rng(6))
    same = [p for p in range(P) if MAP[D][p] == MAP[D][0] and p != 0][0]  # a replica of slot 0
    topks[2][D, 0, :2] = [0, same]
    records[2]["topk_ids_of_layer"] = torch.tensor(topks[2], dtype=torch.int32)
    bad = detail_dump(tmp_path / "dup.pt", records)
    assert_refused(capsys, tmp_path, [bad, "--model", spec, "-o", out],
                   f"{bad}: records[2].topk_ids_of_layer: expected distinct logical experts",
                   f"got expert {MAP[D][0]} twice at layer 2 token 0")


def test_kinds_and_output_suffix(tmp_path, spec, capsys):
    lc = np.ones((1, L_ALL, E), np.int64)
    lc[:, :D] = 0
    stat = stat_dump(tmp_path / "stat.pt", lc)
    records, _ = prefill_then_decode(np.random.default_rng(7))
    per_token = detail_dump(tmp_path / "per_token_0.pt", records)
    assert_refused(capsys, tmp_path, [stat, per_token, "--model", spec, "-o", tmp_path / "x.json"],
                   f"{per_token}: expected a stat dump", "got a per_token dump")
    assert_refused(capsys, tmp_path, [per_token, "--model", spec, "-o", tmp_path / "x.json"],
                   "expected a path ending in .h5")
    assert_refused(capsys, tmp_path, [stat, "--model", spec, "-o", tmp_path / "x.h5"],
                   "expected a path ending in .json")


def test_failed_write_leaves_no_temporary(tmp_path, spec, capsys, monkeypatch):
    import epbench_import.loads as loads_module
    lc = np.ones((1, L_ALL, E), np.int64)
    lc[:, :D] = 0
    stat = stat_dump(tmp_path / "stat.pt", lc)

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(loads_module.os, "replace", boom)
    before = set(os.listdir(tmp_path))
    rc, _, err = run(capsys, stat, "--model", spec, "-o", tmp_path / "out.json")
    assert rc == 1 and "No space left on device" in err[0]
    assert set(os.listdir(tmp_path)) == before
