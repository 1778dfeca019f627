"""The model an SGLang dump was recorded on: an epbench model spec file (format
"epbench-model", docs/formats.md) or a preset name, resolved by the epbench binary
(`epbench models --json --model NAME` prints the preset as a spec object)."""
import json
import os
import shutil
import subprocess

from . import InputError

SPEC_FORMAT = "epbench-model"
_REQUIRED = ("num_layers", "num_experts", "top_k", "d_model", "d_ff")
# The package lives in <repo>/analysis/epbench_import; the default build is <repo>/build/default.
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_BUILD_EXE = os.path.join(_REPO, "build", "default", "src", "epbench")


class Model:
    """The sizes the importer needs. num_layers counts MoE layers only; SGLang's arrays have a
    row per hidden layer, the dense_layers leading dense ones included (total_layers)."""

    def __init__(self, name, num_layers, dense_layers, num_experts, top_k, d_model, d_ff):
        self.name, self.num_layers, self.dense_layers = name, num_layers, dense_layers
        self.num_experts, self.top_k, self.d_model, self.d_ff = num_experts, top_k, d_model, d_ff

    @property
    def total_layers(self):
        return self.dense_layers + self.num_layers

    def describe(self):
        """'deepseek-v3 (61 hidden layers incl. 3 dense)', for error messages."""
        dense = f" incl. {self.dense_layers} dense" if self.dense_layers else ", all MoE"
        return f"{self.name} ({self.total_layers} hidden layers{dense})"

    def trace_sizes(self):
        """The model dict epbench_moe.trace_writer.write_trace takes (MoE layers only)."""
        return dict(name=self.name, num_layers=self.num_layers, num_experts=self.num_experts,
                    top_k=self.top_k, d_model=self.d_model, d_ff=self.d_ff)


def model_from_spec(spec, where):
    """A Model from a spec object (a dict parsed from JSON); `where` names it in errors."""
    if not isinstance(spec, dict):
        raise InputError(f"{where}: (top level): expected a model spec object (epbench-model), "
                         f"got {type(spec).__name__}")
    if spec.get("format") != SPEC_FORMAT:
        raise InputError(f"{where}: format: expected \"{SPEC_FORMAT}\", got {json.dumps(spec.get('format'))}")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: name: expected a string, got {json.dumps(name)}")

    def integer(key, minimum, default=None):
        v = spec.get(key, default)
        if v is None:
            raise InputError(f"{where}: {key}: expected an integer >= {minimum}, got nothing (missing)")
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise InputError(f"{where}: {key}: expected an integer >= {minimum}, got {json.dumps(v)}")
        return v

    sizes = {key: integer(key, 1) for key in _REQUIRED}
    if sizes["num_experts"] > 65535:  # trace expert ids are uint16
        raise InputError(f"{where}: num_experts: expected at most 65535, got {sizes['num_experts']}")
    if sizes["top_k"] > sizes["num_experts"]:
        raise InputError(f"{where}: top_k: expected at most num_experts ({sizes['num_experts']}), "
                         f"got {sizes['top_k']}")
    return Model(name, sizes["num_layers"], integer("dense_layers", 0, 0), sizes["num_experts"],
                 sizes["top_k"], sizes["d_model"], sizes["d_ff"])


def read_spec_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read the model spec file ({e.strerror})") from None
    try:
        spec = json.loads(text)
    except ValueError as e:
        raise InputError(f"{path}: (JSON): expected a model spec in JSON, got {e}") from None
    return model_from_spec(spec, path)


def find_epbench(explicit=None):
    """--epbench PATH, else $EPBENCH, else `epbench` on PATH, else <repo>/build/default/src/epbench;
    None when none of them is an executable file."""
    candidates = [explicit] if explicit else [os.environ.get("EPBENCH"), shutil.which("epbench"),
                                              DEFAULT_BUILD_EXE]
    for exe in candidates:
        if exe and os.path.isfile(exe) and os.access(exe, os.X_OK):
            return exe
    return None


def preset_from_epbench(name, exe):
    """Runs `epbench models --json --model NAME`, which prints one spec object."""
    try:
        proc = subprocess.run([exe, "models", "--json", "--model", name], capture_output=True,
                              text=True, timeout=120)
    except OSError as e:
        raise InputError(f"--model {name}: cannot run {exe} ({e.strerror})") from None
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise InputError(f"--model {name}: `{exe} models --json --model {name}` failed: {why}")
    try:
        spec = json.loads(proc.stdout)
    except ValueError:
        raise InputError(f"--model {name}: `{exe} models --json` printed no JSON") from None
    if isinstance(spec, list) and len(spec) == 1:  # an array of one, should a version print one
        spec = spec[0]
    return model_from_spec(spec, f"--model {name}")


def resolve_model(value, epbench=None):
    """A spec file (a value ending in .json, or naming an existing file) or a preset name."""
    if value.endswith(".json") or os.path.isfile(value):
        return read_spec_file(value)
    exe = find_epbench(epbench)
    if exe is None:
        where = epbench if epbench else f"$EPBENCH, `epbench` on PATH or {DEFAULT_BUILD_EXE}"
        raise InputError(f"--model {value}: a preset name needs the epbench binary "
                         f"(looked for {where}); build it, or pass a model spec FILE.json "
                         f"(`epbench models --json --model NAME > FILE.json`)")
    return preset_from_epbench(value, exe)
