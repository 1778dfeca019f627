"""Writes routing records in the epbench trace format (docs/formats.md, version 1)."""
import json
import os

import h5py
import numpy as np

FORMAT, VERSION = "epbench-trace", 1


class Request:
    """One request's routing: expert_ids and gate_weights [T, L, K], phase and position [T].
    gate_weights may be None when the recording has none (the dataset is optional)."""

    def __init__(self, expert_ids, gate_weights, phase, position, prompt_len, domain):
        self.expert_ids = np.asarray(expert_ids, dtype=np.uint16)
        self.gate_weights = None if gate_weights is None else np.asarray(gate_weights, dtype=np.float32)
        self.phase = np.asarray(phase, dtype=np.uint8)
        self.position = np.asarray(position, dtype=np.uint32)
        self.prompt_len = int(prompt_len)
        self.domain = int(domain)


def chunk_tokens(num_layers, top_k):
    # about 1 MiB of expert ids per chunk, as the C++ writer does
    return max(1024, (1 << 20) // (2 * num_layers * top_k))


def _token_dataset(group, name, data, chunk):
    shape = data.shape
    group.create_dataset(name, data=data, maxshape=(None,) + shape[1:],
                         chunks=(min(chunk, max(shape[0], 1)),) + shape[1:],
                         shuffle=True, compression="gzip", compression_opts=1, track_times=False)


def write_trace(path, model, requests, domains, source, dataset, params):
    """model: dict with name, num_layers, num_experts, top_k, d_model, d_ff.
    tokens/gate_weights is written when every request has gate weights, omitted when none has.
    Written under a temporary name and renamed, so a failure leaves no partial file."""
    L, K = model["num_layers"], model["top_k"]
    for r in requests:
        if r.expert_ids.ndim != 3 or r.expert_ids.shape[1:] != (L, K):
            raise ValueError(f"{path}: request expert_ids shape {r.expert_ids.shape}, expected [T, {L}, {K}]")
    with_gates = [r.gate_weights is not None for r in requests]
    if any(with_gates) and not all(with_gates):
        raise ValueError(f"{path}: gate weights for some requests only")
    ids = np.concatenate([r.expert_ids for r in requests])
    offsets = np.cumsum([0] + [len(r.phase) for r in requests]).astype(np.uint64)
    tmp = path + ".tmp"
    try:
        with h5py.File(tmp, "w", track_order=False) as f:
            _write_root_attrs(f, model, source, dataset, params)
            chunk = chunk_tokens(L, K)
            tok = f.create_group("tokens", track_order=False)
            _token_dataset(tok, "expert_ids", ids, chunk)
            if all(with_gates):
                _token_dataset(tok, "gate_weights", np.concatenate([r.gate_weights for r in requests]), chunk)
            _token_dataset(tok, "phase", np.concatenate([r.phase for r in requests]), chunk)
            _token_dataset(tok, "position", np.concatenate([r.position for r in requests]), chunk)
            req = f.create_group("requests", track_order=False)
            req.create_dataset("token_offset", data=offsets, track_times=False)
            req.create_dataset("prompt_len", data=np.array([r.prompt_len for r in requests], np.uint32),
                               track_times=False)
            dom = req.create_dataset("domain", data=np.array([r.domain for r in requests], np.uint16),
                                     track_times=False)
            dom.attrs.create("names", np.array(domains, dtype=h5py.string_dtype()))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _write_root_attrs(f, model, source, dataset, params):
    f.attrs["format"] = FORMAT
    f.attrs["version"] = np.int64(VERSION)
    f.attrs["model"] = model["name"]
    for key in ("num_layers", "num_experts", "top_k", "d_model", "d_ff"):
        f.attrs[key] = np.int64(model[key])
    f.attrs["source"] = source
    f.attrs["dataset"] = dataset
    f.attrs["params"] = json.dumps(params, sort_keys=True)
