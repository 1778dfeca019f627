"""Writes epbench load files: per MoE layer and expert, how often the expert was selected
(JSON, format "epbench-loads", version 1; read by src/trace/load_file.cpp)."""
import json
import os
import tempfile

import numpy as np

FORMAT, VERSION = "epbench-loads", 1


def load_file_json(model_name, loads, source):
    """The file's object; loads: integer array [MoE layers, experts], counts >= 0."""
    loads = np.asarray(loads)
    if loads.ndim != 2 or loads.shape[0] < 1 or loads.shape[1] < 1:
        raise ValueError(f"loads: expected [layers, experts], got shape {list(loads.shape)}")
    if (loads < 0).any():
        raise ValueError("loads: expected counts >= 0")
    return {"format": FORMAT, "version": VERSION, "model": model_name,
            "num_layers": int(loads.shape[0]), "num_experts": int(loads.shape[1]),
            "source": source, "loads": [[int(c) for c in row] for row in loads]}


def write_load_file(path, model_name, loads, source):
    """Written to a temporary file in the target's directory and renamed into place, so the
    file appears whole or not at all; the temporary is removed on any error."""
    text = json.dumps(load_file_json(model_name, loads, source), separators=(",", ":")) + "\n"
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
