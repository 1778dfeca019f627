"""The files `epbench layout export` writes, parsed by each engine's own loader rules.

The rules are restated here from the engines' loaders (docs/engines.md cites file and
function for each), independently of epbench's C++ importers: the container each loader
opens, the key names, shapes and dtypes it builds, the checks it makes, and where it puts
physical slot p (rank p // slots per rank). Each test then checks that the placement the
file describes is the layout's, slot by slot."""
import json
import os
import subprocess

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO

DEEPSEEK_LAYOUT = os.path.join(REPO, "layouts", "deepseek-v3.4x8.eplb.json")
DEEPSEEK_BALANCED = os.path.join(REPO, "layouts", "deepseek-v3.4x8.balanced.json")
BROWN_TRACE = os.path.join(REPO, "traces", "brown-moe-8e-top2.h5")


def run(exe, *args):
    r = subprocess.run([exe, *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r


def model_spec(exe, name):
    return json.loads(run(exe, "models", "--json", "--model", name).stdout)


def layouts(exe, tmp):
    """DeepSeek-V3 (dense layers, 32 ranks; EPLB's holds some experts twice on a GPU,
    balanced's does not); FlashLB's example (two replicas of one expert on one GPU);
    round-robin with spare slots (empty slots)."""
    loads = os.path.join(tmp, "flash.json")
    with open(loads, "w") as f:
        json.dump({"format": "epbench-loads", "version": 1, "model": "brown-moe-8e-top2",
                   "num_layers": 4, "num_experts": 8,
                   "loads": [[600, 560, 120, 120, 20, 10, 10, 10]] * 4}, f)
    flash = os.path.join(tmp, "flash.eplb.json")
    run(exe, "place", "--algo", "eplb", "--loads", loads, "--nodes", "1", "--gpus-per-node", "8",
        "--slots", "2", "-o", flash)
    spare = os.path.join(tmp, "rr.json")
    run(exe, "place", "--algo", "round-robin", "--trace", BROWN_TRACE, "--fit", "0:10%",
        "--nodes", "2", "--gpus-per-node", "2", "--slots", "3", "-o", spare)
    return [DEEPSEEK_LAYOUT, DEEPSEEK_BALANCED, flash, spare]


def read_layout(path):
    with open(path) as f:
        lay = json.load(f)
    assert lay["version"] == 2
    return lay


def check_placement(lay, moe_layer, row):
    """Physical slot p of `row` is slot p % S of rank p // S, as the layout's gpu_slots say;
    an empty slot holds some expert (engines have none empty; the C++ tests check the rule)."""
    gpus = lay["layers"][moe_layer]["gpu_slots"]
    S = lay["cluster"]["slots_per_gpu"]
    assert len(row) == len(gpus) * S
    for p, e in enumerate(row):
        want = gpus[p // S][p % S]
        if want >= 0:
            assert e == want, (moe_layer, p)
        else:
            assert 0 <= e < lay["num_experts"]


def covers_every_expert(row, E):
    return sorted(set(int(e) for e in row)) == list(range(E))


@pytest.fixture(scope="module")
def cases(epbench_exe, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("engines"))
    out = []
    for path in layouts(epbench_exe, tmp):
        lay = read_layout(path)
        out.append((path, lay, model_spec(epbench_exe, lay["model"])))
    return tmp, out


def export(exe, tmp, layout, fmt):
    path = os.path.join(tmp, os.path.basename(layout) + "." + fmt + ".out.json")
    run(exe, "layout", "export", layout, "--format", fmt, "-o", path)
    return path


def test_sglang_init_expert_location(epbench_exe, cases):
    # sglang python/sglang/srt/eplb/expert_location.py: compute_initial_expert_location_metadata
    # (.json -> json.loads), init_by_mapping(**data) (one key), torch.tensor -> int64 [L, P]
    # with L = num_hidden_layers; static dispatch needs every expert in every row.
    tmp, items = cases
    for path, lay, model in items:
        with open(export(epbench_exe, tmp, path, "sglang")) as f:
            data = json.loads(f.read())
        assert set(data) == {"physical_to_logical_map"}
        m = torch.tensor(data["physical_to_logical_map"])
        dense, L, E = model.get("dense_layers", 0), model["num_layers"], model["num_experts"]
        ep = lay["cluster"]["nodes"] * lay["cluster"]["gpus_per_node"]
        assert m.dtype == torch.int64 and tuple(m.shape)[0] == dense + L
        P = m.shape[1]
        assert P % ep == 0 and P == ep * lay["cluster"]["slots_per_gpu"]
        for row in m.tolist():
            assert all(0 <= e < E for e in row) and covers_every_expert(row, E)
        for l in range(dense):
            assert m[l].tolist() == [p % E for p in range(P)]  # init_trivial's row
        for l in range(L):
            check_placement(lay, l, m[dense + l].tolist())


def test_trtllm_load_balancer_yaml(epbench_exe, cases):
    # TensorRT-LLM tensorrt_llm/llmapi/llm_args.py: yaml.safe_load -> MoeLoadBalancerConfig(**d)
    # (extra keys forbidden); setup(): num_slots % ep_size == 0; per MoE layer (key = decoder
    # layer index): a list, len == num_slots >= num_experts, set == set(range(num_experts)).
    tmp, items = cases
    for path, lay, model in items:
        with open(export(epbench_exe, tmp, path, "trtllm")) as f:
            d = yaml.safe_load(f)
        assert set(d) <= {"num_slots", "layer_updates_per_iter", "initial_global_assignments"}
        dense, L, E = model.get("dense_layers", 0), model["num_layers"], model["num_experts"]
        ep = lay["cluster"]["nodes"] * lay["cluster"]["gpus_per_node"]
        slots = d["num_slots"]
        assert isinstance(slots, int) and slots % ep == 0 and slots >= E
        assert d["layer_updates_per_iter"] == 0
        assignments = d["initial_global_assignments"]
        assert sorted(assignments) == list(range(dense, dense + L))
        for layer_idx, a in assignments.items():
            assert isinstance(a, list) and len(a) == slots and set(a) == set(range(E))
            check_placement(lay, layer_idx - dense, a)


def test_vllm_ascend_expert_map(epbench_exe, cases):
    # vllm-ascend vllm_ascend/eplb/core/eplb_utils.py expert_file_to_tensor / init_eplb_config:
    # layers by position (MoE ordinal), devices by position (EP rank), torch.tensor(int32) of
    # the device lists (rectangular), redundant = listed slots - experts; one copy per device.
    tmp, items = cases
    parsed = 0
    for path, lay, model in items:
        if twice_on_a_gpu(lay):
            continue  # refused (test below)
        parsed += 1
        with open(export(epbench_exe, tmp, path, "vllm-ascend")) as f:
            data = json.load(f)
        L, E = model["num_layers"], model["num_experts"]
        ep = lay["cluster"]["nodes"] * lay["cluster"]["gpus_per_node"]
        assert data["moe_layer_count"] == L and len(data["layer_list"]) == L
        for l, layer in enumerate(data["layer_list"]):
            t = torch.tensor([d["device_expert"] for d in layer["device_list"]], dtype=torch.int32)
            assert tuple(t.shape) == (ep, lay["cluster"]["slots_per_gpu"])
            assert (t.numel() - E + E) % ep == 0
            for device in t.tolist():
                assert len(set(device)) == len(device)
            row = t.flatten().tolist()
            assert covers_every_expert(row, E)
            check_placement(lay, l, row)
    assert parsed >= 2


def twice_on_a_gpu(lay):
    return any(len([e for e in gpu if e >= 0]) != len(set(e for e in gpu if e >= 0))
               for layer in lay["layers"] for gpu in layer["gpu_slots"])


def test_vllm_ascend_refuses_two_copies_on_one_device(epbench_exe, cases):
    # EPLB's FlashLB placement holds expert 1 twice on GPU 7; vLLM-Ascend's local map keeps one.
    tmp, items = cases
    refused = 0
    for path, lay, _ in items:
        if not twice_on_a_gpu(lay):
            continue
        out = os.path.join(tmp, "refused.json")
        r = subprocess.run([epbench_exe, "layout", "export", path, "--format", "vllm-ascend", "-o", out],
                           capture_output=True, text=True)
        assert r.returncode == 2 and "twice" in r.stderr and not os.path.exists(out)
        refused += 1
    assert refused >= 1


def test_eplb_tensors(epbench_exe, cases):
    # deepseek-ai/EPLB eplb.py rebalance_experts: int64 phy2log [L, P], log2phy [L, E, X]
    # padded with -1 (X = largest replica count), logcnt [L, E].
    tmp, items = cases
    for path, lay, model in items:
        out = export(epbench_exe, tmp, path, "eplb")
        stem = out[: -len(".json")]
        phy2log, log2phy, logcnt = (np.load(f"{stem}.{n}.npy") for n in ("phy2log", "log2phy", "logcnt"))
        with open(out) as f:
            j = json.load(f)
        L, E = model["num_layers"], model["num_experts"]
        assert phy2log.dtype == log2phy.dtype == logcnt.dtype == np.int64
        assert phy2log.shape[0] == L and logcnt.shape == (L, E)
        assert log2phy.shape == (L, E, logcnt.max())
        assert j["phy2log"] == phy2log.tolist() and j["log2phy"] == log2phy.tolist()
        assert j["logcnt"] == logcnt.tolist()
        for l in range(L):
            assert (np.bincount(phy2log[l], minlength=E) == logcnt[l]).all()
            for e in range(E):
                slots = log2phy[l, e]
                assert (slots[logcnt[l, e]:] == -1).all()
                assert sorted(slots[: logcnt[l, e]]) == sorted(np.flatnonzero(phy2log[l] == e))
            check_placement(lay, l, phy2log[l].tolist())


def test_vllm_offline_map(epbench_exe, cases):
    # vLLM EplbModelState.physical_to_logical_map (num_moe_layers, num_physical_experts) int64;
    # the offline-map loader checks shape, ids in [0, E) and every expert in every layer.
    tmp, items = cases
    for path, lay, model in items:
        with open(export(epbench_exe, tmp, path, "vllm")) as f:
            d = json.load(f)
        L, E = model["num_layers"], model["num_experts"]
        m = torch.tensor(d["physical_to_logical_map"])
        assert m.dtype == torch.int64 and tuple(m.shape) == (L, d["num_physical_experts"])
        assert d["num_moe_layers"] == L and d["num_logical_experts"] == E
        assert d["num_redundant_experts"] == d["num_physical_experts"] - E
        for l, row in enumerate(m.tolist()):
            assert covers_every_expert(row, E)
            check_placement(lay, l, row)
