"""SGLang expert-distribution recorder dumps -> epbench load files and traces.

SGLang (python/sglang/srt/eplb/expert_distribution.py, read at commit
dd780ab9de484cf1198ff538a1b8b0da6464ab5a) records the experts its MoE layers select when
started with `--expert-distribution-recorder-mode MODE` and dumps them with torch.save when
`POST /dump_expert_distribution_record` is called (into $SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR,
default /tmp). Its arrays have one row per hidden layer, the leading dense layers included
(their rows hold nothing), and the recorded ids are PHYSICAL expert slots (replicas included),
which `last_physical_to_logical_map` [layers, slots] maps back to the model's logical experts.

The dumps, as `_StatAccumulator.dump` and `_DetailAccumulator.dump` write them:

* `stat`, `stat_approx` (one file, rank 0 only): {"rank", "logical_count": int32
  [steps, layers, experts] (or [layers, experts]), summed over all ranks, already logical,
  "average_utilization_rate_over_window" (newer versions)}. Imported: summed over the steps
  (and over several dumps), dense rows dropped -> a load file.
* `per_pass` (one file per rank): {"records": [{"forward_pass_id", "rank", "gatherer_key",
  "global_physical_count": int32 [layers, slots]}, ...], "last_physical_to_logical_map"}.
  Imported: slot counts folded onto logical experts with the map, summed over the records
  and files -> a load file. Summing every rank's file gives what `stat` would (it all-reduces
  over ranks). With plain tensor parallelism (no DP attention) every rank routes the same
  tokens, so each rank's file holds the same counts.
* `per_token` (one file per rank): the same dict, each record also carrying "input_ids",
  "positions" (lists, one entry per token of the rank's batch), "extend_seq_lens" (list for
  extend/prefill batches, None for decode), "forward_mode" (ForwardMode value: 1 EXTEND,
  2 DECODE, 3 MIXED, 4 IDLE) and "topk_ids_of_layer" int32 [layers, tokens, 8] (physical ids,
  -1 = none). Imported: ids translated to logical ones with the file's map, the MoE layers
  kept, per token the first top_k valid ids of the 8 columns (in the order SGLang recorded
  them) -> a trace. SGLang records no router weights, so the trace has no
  tokens/gate_weights (the dataset is optional in the format).

Requests (per_token). SGLang records no request ids, so tokens are grouped into requests by
their positions, separately for each rank (the record's "rank"), records in the order read
(files in the order given, records in file order):

* an extend record (extend_seq_lens given, forward_mode not DECODE) is split into segments of
  those lengths, one per request in the batch. A segment whose first position is 0 starts a
  new request. A segment whose first position p > 0 continues the first open request of that
  rank (in order of creation) whose last token is at position p-1 and which has not received
  tokens in this record yet (a later chunk of a chunked prefill); if there is none it starts
  a new request (e.g. a prompt whose prefix came from the prefix cache: its positions start
  at p). Segment tokens are prompt tokens (phase 0), except when they continue a request that
  already has generated tokens, or when a 1-token segment continues a request in a MIXED
  batch (`--enable-mixed-chunk` runs decode requests in extend batches as 1-token segments):
  those are generated tokens (phase 1).
* a decode record (extend_seq_lens None, or forward_mode DECODE) has one token per running
  request. Each token, at position p, continues the first open request of that rank (in order
  of creation) whose last token is at position p-1 and which has not received a token in this
  record yet; if there is none it starts a new request. Decode tokens are phase 1.
* requests are never closed (SGLang does not record when one finishes): two requests of one
  rank at the same position at the same time can be told apart only by creation order, so
  their tokens may be swapped between them; per-layer expert counts and the batch structure
  are unaffected. A request's prompt_len is its number of phase-0 tokens; its tokens keep
  SGLang's positions. Each request's domain is its rank ("rank R").
* with plain tensor parallelism every rank records the same tokens: import one rank's file.
  With DP attention each rank has its own requests: import all of them.
* record SGLang with `--disable-cuda-graph` (no padded tokens) and
  `--disable-shared-experts-fusion` (else fused shared-expert slots appear among the ids);
  the recorder refuses two-batch overlap itself.
"""
import os
import zipfile
from bisect import insort

import numpy as np
import torch

from epbench_moe.trace_writer import Request

from . import InputError

# ForwardMode values at dd780ab9 (python/sglang/srt/model_executor/forward_batch_info.py:
# EXTEND, DECODE, MIXED, IDLE, TARGET_VERIFY, DRAFT_EXTEND, ... = auto()).
FORWARD_DECODE, FORWARD_MIXED = 2, 3
EXPECTED_DUMP = "an SGLang expert-distribution dump (dict with 'logical_count' or 'records')"
TRACE_SOURCE = "sglang-per-token"


class Dump:
    """One loaded dump: path, kind ('stat', 'per_pass' or 'per_token') and its dict."""

    def __init__(self, path, kind, data):
        self.path, self.kind, self.data = path, kind, data

    @property
    def name(self):
        return os.path.basename(self.path)


def _describe(obj):
    if isinstance(obj, torch.Tensor):
        return f"a tensor of shape {list(obj.shape)}"
    if isinstance(obj, dict):
        keys = [repr(k) for k in list(obj)[:6]]
        more = ", ..." if len(obj) > 6 else ""
        return f"a dict with keys [{', '.join(keys)}{more}]" if obj else "an empty dict"
    if isinstance(obj, (list, tuple)):
        return f"a {type(obj).__name__} of {len(obj)} items"
    if obj is None:
        return "None"
    return f"a {type(obj).__name__}"


def load_dump(path):
    """Loads a dump (torch.load, weights_only: no code from the file runs) and tells its kind."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: expected {EXPECTED_DUMP}, got no such file")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise InputError(f"{path}: cannot read the dump ({e.strerror})") from None
    # torch.save writes a zip archive (a raw pickle, protocol 2, with the legacy format)
    if not (zipfile.is_zipfile(path) or head[:1] == b"\x80"):
        raise InputError(f"{path}: expected {EXPECTED_DUMP}, got a file that is no torch.save archive")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        text = str(e).strip()
        why = text.split("WeightsUnpickler error:")[-1].strip() if "WeightsUnpickler error:" in text else text
        why = (why.splitlines() or [type(e).__name__])[0][:160]
        raise InputError(f"{path}: expected {EXPECTED_DUMP}, got a torch.save archive that "
                         f"torch.load(weights_only=True) refuses ({why})") from None
    if not isinstance(obj, dict) or not ("logical_count" in obj or "records" in obj):
        raise InputError(f"{path}: expected {EXPECTED_DUMP}, got {_describe(obj)}")
    if "logical_count" in obj:
        return Dump(path, "stat", obj)
    records = obj["records"]
    if not isinstance(records, (list, tuple)):
        raise InputError(f"{path}: records: expected a list of per-pass records, got {_describe(records)}")
    if not records:
        raise InputError(f"{path}: records: expected at least one record, got an empty list "
                         f"(was recording started before the requests ran?)")
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or not ("topk_ids_of_layer" in rec or "global_physical_count" in rec):
            raise InputError(f"{path}: records[{i}]: expected a dict with 'topk_ids_of_layer' "
                             f"(per_token) or 'global_physical_count' (per_pass), got {_describe(rec)}")
    per_token = ["topk_ids_of_layer" in rec for rec in records]
    if any(per_token) and not all(per_token):
        i = per_token.index(False)
        raise InputError(f"{path}: records[{i}]: expected 'topk_ids_of_layer' as in records[0] "
                         f"(a per_token dump), got a per_pass record")
    return Dump(path, "per_token" if per_token[0] else "per_pass", obj)


def _int_array(value, path, field):
    """An integer tensor (or nested list of ints) as an int64 array."""
    if value is None:
        raise InputError(f"{path}: {field}: expected an integer tensor, got nothing (missing)")
    if isinstance(value, torch.Tensor):
        if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
            raise InputError(f"{path}: {field}: expected an integer tensor, got dtype {value.dtype}")
        return value.detach().cpu().numpy().astype(np.int64)
    if isinstance(value, (list, tuple)):
        try:
            arr = np.asarray(value)
        except ValueError:
            arr = None
        if arr is not None and (arr.dtype.kind in "iu" or arr.size == 0):
            return arr.astype(np.int64)
        raise InputError(f"{path}: {field}: expected an integer tensor, got a list that is no integer array")
    raise InputError(f"{path}: {field}: expected an integer tensor, got {_describe(value)}")


def _shape(arr):
    return "[" + ", ".join(str(n) for n in arr.shape) + "]"


def _first(mask):
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _check_counts(arr, path, field, axes):
    if (arr < 0).any():
        where = _first(arr < 0)
        at = " ".join(f"{a} {i}" for a, i in zip(axes, where))
        raise InputError(f"{path}: {field}: expected counts >= 0, got {arr[where]} at {at}")


def _drop_dense(counts, path, field, model):
    """counts [hidden layers, E] -> [MoE layers, E]; the dense rows must be empty."""
    D = model.dense_layers
    if D and counts[:D].any():
        l = _first(counts[:D] != 0)[0]
        raise InputError(f"{path}: {field}: expected no selections in the {D} dense layers "
                         f"(0..{D - 1}) of {model.describe()}, got {int(counts[l].sum())} in layer {l} "
                         f"(recorded on another model?)")
    return counts[D:]


def stat_loads(dump, model):
    """[MoE layers, E] int64 counts of a stat / stat_approx dump, summed over its steps."""
    path, L, E = dump.path, model.total_layers, model.num_experts
    lc = _int_array(dump.data["logical_count"], path, "logical_count")
    if lc.ndim == 2:
        lc = lc[None]
    if lc.ndim != 3 or lc.shape[1:] != (L, E):
        raise InputError(f"{path}: logical_count: expected [steps, {L}, {E}] for {model.describe()}, "
                         f"got {_shape(lc)}")
    _check_counts(lc, path, "logical_count", ("step", "layer", "expert"))
    return _drop_dense(lc.sum(axis=0), path, "logical_count", model)


def physical_map(dump, model):
    """last_physical_to_logical_map as int64 [hidden layers, P], values in [0, E)."""
    path, L, E = dump.path, model.total_layers, model.num_experts
    field = "last_physical_to_logical_map"
    m = _int_array(dump.data.get(field), path, field)
    if m.ndim != 2 or m.shape[0] != L or m.shape[1] < 1:
        raise InputError(f"{path}: {field}: expected [{L}, physical slots] for {model.describe()}, "
                         f"got {_shape(m)}")
    bad = (m < 0) | (m >= E)
    if bad.any():
        l, p = _first(bad)
        raise InputError(f"{path}: {field}: expected logical expert ids in [0, {E}) for "
                         f"{model.describe()}, got {m[l, p]} at layer {l} slot {p}")
    return m


def per_pass_loads(dump, model):
    """[MoE layers, E] int64 counts of a per_pass dump: slot counts folded onto logical experts."""
    path, L, E = dump.path, model.total_layers, model.num_experts
    pmap = physical_map(dump, model)
    P = pmap.shape[1]
    phys = np.zeros((L, P), np.int64)
    for i, rec in enumerate(dump.data["records"]):
        field = f"records[{i}].global_physical_count"
        gpc = _int_array(rec.get("global_physical_count"), path, field)
        if gpc.shape != (L, P):
            raise InputError(f"{path}: {field}: expected [{L}, {P}] ([hidden layers, physical slots] "
                             f"as last_physical_to_logical_map), got {_shape(gpc)}")
        _check_counts(gpc, path, field, ("layer", "slot"))
        phys += gpc
    logical = np.zeros((L, E), np.int64)
    np.add.at(logical, (np.arange(L)[:, None], pmap), phys)  # slot p of layer l counts for pmap[l, p]
    return _drop_dense(logical, path, "records[*].global_physical_count", model)


def import_loads(dumps, model):
    """The summed [MoE layers, E] counts of stat or per_pass dumps, and the load file's source."""
    total = np.zeros((model.num_layers, model.num_experts), np.int64)
    for d in dumps:
        total += stat_loads(d, model) if d.kind == "stat" else per_pass_loads(d, model)
    if not total.any():
        names = ", ".join(d.path for d in dumps)
        field = "logical_count" if dumps[0].kind == "stat" else "records[*].global_physical_count"
        raise InputError(f"{names}: {field}: expected some expert selections, got none in the MoE "
                         f"layers (was recording started before the requests ran?)")
    return total, f"sglang {dumps[0].kind} dump " + ", ".join(d.name for d in dumps)


# ----------------------------------------------------------------------------- per_token


def _record_ids(rec, i, path, pmap, model):
    """The record's logical expert ids [T, MoE layers, top_k] (uint16)."""
    L, D, K, P = model.total_layers, model.dense_layers, model.top_k, pmap.shape[1]
    field = f"records[{i}].topk_ids_of_layer"
    ids = _int_array(rec.get("topk_ids_of_layer"), path, field)
    if ids.ndim != 3 or ids.shape[0] != L or ids.shape[2] < K:
        raise InputError(f"{path}: {field}: expected [{L}, tokens, >= {K}] ([hidden layers, tokens, "
                         f"columns] for {model.describe()}, top-{K}), got {_shape(ids)}")
    bad = (ids < -1) | (ids >= P)
    if bad.any():
        l, t, c = _first(bad)
        raise InputError(f"{path}: {field}: expected physical expert ids in [0, {P}) or -1 (none), "
                         f"got {ids[l, t, c]} at layer {l} token {t} column {c}")
    if D and (ids[:D] >= 0).any():
        l, t, c = _first(ids[:D] >= 0)
        raise InputError(f"{path}: {field}: expected no experts (-1) in the {D} dense layers of "
                         f"{model.describe()}, got {ids[l, t, c]} at layer {l} token {t} "
                         f"(recorded on another model?)")
    moe = ids[D:]
    valid = moe >= 0
    nvalid = valid.sum(axis=2)
    if (nvalid < K).any():
        l, t = _first(nvalid < K)
        raise InputError(f"{path}: {field}: expected at least top_k = {K} expert ids per token in "
                         f"each MoE layer, got {nvalid[l, t]} at layer {D + l} token {t} (padded "
                         f"tokens? record with --disable-cuda-graph)")
    order = np.argsort(~valid, axis=2, kind="stable")[:, :, :K]  # the first K valid columns
    phys = np.take_along_axis(moe, order, axis=2)
    logical = pmap[D:][np.arange(moe.shape[0])[:, None, None], phys]
    if K > 1:
        s = np.sort(logical, axis=2)
        dup = s[:, :, 1:] == s[:, :, :-1]
        if dup.any():
            l, t, k = _first(dup)
            raise InputError(f"{path}: {field}: expected distinct logical experts in a token's "
                             f"top-{K}, got expert {s[l, t, k]} twice at layer {D + l} token {t} "
                             f"(physical ids {phys[l, t].tolist()})")
    return logical.transpose(1, 0, 2).astype(np.uint16)


def _int_list(value, path, field, n=None):
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise InputError(f"{path}: {field}: expected a list of integers >= 0, got {_describe(value)}")
    if n is not None and len(value) != n:
        raise InputError(f"{path}: {field}: expected {n} entries (the record's tokens), got {len(value)}")
    return list(value)


class _Req:
    def __init__(self, rank):
        self.rank, self.chunks, self.last_pos, self.decoded = rank, [], None, False

    def add(self, ids, positions, phase):
        self.chunks.append((ids, positions, phase))
        self.last_pos = int(positions[-1])
        self.decoded = self.decoded or phase == 1


class _Grouper:
    """Requests in order of creation; per rank, open requests by their last position."""

    def __init__(self):
        self.requests = []
        self.by_last = {}  # (rank, last position) -> request indices, ascending

    def _find(self, rank, pos, used):
        for r in self.by_last.get((rank, pos - 1), ()):
            if r not in used:
                return r
        return None

    def _add(self, r, ids, positions, phase):
        req = self.requests[r]
        if req.last_pos is not None:
            self.by_last[(req.rank, req.last_pos)].remove(r)
        req.add(ids, positions, phase)
        insort(self.by_last.setdefault((req.rank, req.last_pos), []), r)

    def _new(self, rank):
        self.requests.append(_Req(rank))
        return len(self.requests) - 1

    def segment(self, rank, ids, positions, used, mixed):
        first = int(positions[0])
        r = self._find(rank, first, used) if first > 0 else None
        if r is None:
            r, phase = self._new(rank), 0
        else:
            phase = 1 if self.requests[r].decoded or (mixed and len(positions) == 1) else 0
        self._add(r, ids, positions, phase)
        used.add(r)

    def decode(self, rank, ids, positions, used):
        for t in range(len(positions)):
            r = self._find(rank, int(positions[t]), used)
            if r is None:
                r = self._new(rank)
            self._add(r, ids[t:t + 1], positions[t:t + 1], 1)
            used.add(r)


def import_requests(dumps, model):
    """The requests of per_token dumps (epbench_moe Request objects, no gate weights), the
    domain names ('rank R') and the largest physical slot count seen."""
    grouper = _Grouper()
    max_slots = 0
    for d in dumps:
        pmap = physical_map(d, model)
        max_slots = max(max_slots, pmap.shape[1])
        for i, rec in enumerate(d.data["records"]):
            rank = rec.get("rank", 0)
            if not isinstance(rank, int) or isinstance(rank, bool) or rank < 0:
                raise InputError(f"{d.path}: records[{i}].rank: expected an integer >= 0, got {rank!r}")
            positions = _int_list(rec.get("positions"), d.path, f"records[{i}].positions")
            T = len(positions)
            if "input_ids" in rec:
                _int_list(rec["input_ids"], d.path, f"records[{i}].input_ids", T)
            ids = _record_ids(rec, i, d.path, pmap, model)
            if ids.shape[0] != T:
                raise InputError(f"{d.path}: records[{i}].topk_ids_of_layer: expected {T} tokens "
                                 f"(as records[{i}].positions), got {ids.shape[0]}")
            if T == 0:
                continue  # an IDLE pass
            positions = np.asarray(positions, np.uint32)
            mode, lens = rec.get("forward_mode"), rec.get("extend_seq_lens")
            used = set()
            if lens is None or mode == FORWARD_DECODE:
                grouper.decode(rank, ids, positions, used)
                continue
            lens = _int_list(lens, d.path, f"records[{i}].extend_seq_lens")
            if sum(lens) != T:
                raise InputError(f"{d.path}: records[{i}].extend_seq_lens: expected lengths summing "
                                 f"to the record's {T} tokens, got {lens} (sum {sum(lens)})")
            start = 0
            for n in lens:
                if n:
                    grouper.segment(rank, ids[start:start + n], positions[start:start + n], used,
                                    mode == FORWARD_MIXED)
                start += n
    if not grouper.requests:
        raise InputError(f"{', '.join(d.path for d in dumps)}: records: expected some tokens, got "
                         f"none (only empty passes)")
    ranks = []
    for req in grouper.requests:
        if req.rank not in ranks:
            ranks.append(req.rank)
    requests = []
    for req in grouper.requests:
        ids = np.concatenate([c[0] for c in req.chunks])
        pos = np.concatenate([c[1] for c in req.chunks])
        phase = np.concatenate([np.full(len(c[1]), c[2], np.uint8) for c in req.chunks])
        requests.append(Request(ids, None, phase, pos, int((phase == 0).sum()), ranks.index(req.rank)))
    return requests, [f"rank {r}" for r in ranks], max_slots
