"""Records the routing of any PyTorch MoE model through forward hooks on its router modules.

An adapter says which modules are routers, which MoE layer each is, and how to turn the
module's output into (expert ids, gate weights) the way that model's MoE block does. The
hooks only read outputs: the model computes exactly what it would without them.
"""
import re
from dataclasses import dataclass
from typing import Callable

import torch

from .model import Router, select_experts


@dataclass
class Adapter:
    name: str
    is_router: Callable  # (module name, module) -> bool
    layer_of: Callable  # module name -> MoE layer index
    decode: Callable  # module output -> (ids [N, K] int64, weights [N, K] float32)


def _layer_from_name(name):
    match = re.search(r"(?:layers|blocks)\.(\d+)\.", name)
    if not match:
        raise ValueError(f"router module '{name}': no layer index (layers.<i>. or blocks.<i>.)")
    return int(match.group(1))


def _split_tuple(output):
    """Routers that return their choice directly, e.g. DeepSeek's MoEGate (ids, weights, aux)
    or newer Hugging Face routers (logits, weights, ids): find the integer and float tensors."""
    ids = next(t for t in output if torch.is_tensor(t) and not t.is_floating_point())
    weights = next(t for t in output if torch.is_tensor(t) and t.is_floating_point()
                   and t.shape == ids.shape)
    return ids, weights


def softmax_topk_decoder(top_k, norm_topk):
    """Logits -> softmax over all experts -> top-k (the Mixtral, OLMoE, Qwen-MoE rule)."""
    def decode(output):
        if isinstance(output, tuple):
            return _split_tuple(output)
        ids, weights, _ = select_experts(output.reshape(-1, output.shape[-1]), top_k, norm_topk)
        return ids, weights
    return decode


def epbench_adapter(cfg):
    """The model of this package (model.MoEDecoder)."""
    return Adapter("epbench", lambda n, m: isinstance(m, Router), _layer_from_name,
                   softmax_topk_decoder(cfg.top_k, cfg.norm_topk))


def huggingface_adapter(config):
    """Hugging Face transformers models, by config.model_type:
    mixtral     model.layers.<i>.block_sparse_moe.gate   softmax top-k, renormalised
    olmoe       model.layers.<i>.mlp.gate                softmax top-k, norm_topk_prob
    qwen2_moe   model.layers.<i>.mlp.gate                softmax top-k, norm_topk_prob
    qwen3_moe   model.layers.<i>.mlp.gate                softmax top-k, norm_topk_prob
    deepseek_v2/deepseek_v3 (trust_remote_code)  model.layers.<i>.mlp.gate (MoEGate returns
                the chosen ids and weights itself, group-limited routing included)"""
    kind = config.model_type
    patterns = {"mixtral": r"layers\.\d+\.block_sparse_moe\.gate$",
                "olmoe": r"layers\.\d+\.mlp\.gate$", "qwen2_moe": r"layers\.\d+\.mlp\.gate$",
                "qwen3_moe": r"layers\.\d+\.mlp\.gate$", "deepseek_v2": r"layers\.\d+\.mlp\.gate$",
                "deepseek_v3": r"layers\.\d+\.mlp\.gate$"}
    if kind not in patterns:
        raise ValueError(f"model_type '{kind}': no router adapter, expected one of {sorted(patterns)}")
    top_k = getattr(config, "num_experts_per_tok")
    norm = True if kind == "mixtral" else bool(getattr(config, "norm_topk_prob", False))
    pattern = re.compile(patterns[kind])
    return Adapter(kind, lambda n, m: bool(pattern.search(n)), _layer_from_name,
                   softmax_topk_decoder(top_k, norm))


class RouterRecorder:
    """Context manager: while active, every forward pass appends each router's choice.
    take() returns and clears them: ids and weights as [L, N, K] with N the tokens of the
    forward pass in row-major (batch, position) order."""

    def __init__(self, model, adapter):
        self.adapter = adapter
        self.routers = [(n, m) for n, m in model.named_modules() if adapter.is_router(n, m)]
        if not self.routers:
            raise ValueError(f"adapter '{adapter.name}': no router module found in the model")
        self.layers = sorted({adapter.layer_of(n) for n, _ in self.routers})
        self._handles, self._calls = [], {}

    def __enter__(self):
        for name, module in self.routers:
            layer = self.layers.index(self.adapter.layer_of(name))
            self._handles.append(module.register_forward_hook(self._hook(layer)))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles = []

    def _hook(self, layer):
        def hook(module, inputs, output):
            ids, weights = self.adapter.decode(output)
            self._calls.setdefault(layer, []).append((ids.detach().clone(), weights.detach().float().clone()))
        return hook

    def take(self):
        missing = [l for l in range(len(self.layers)) if l not in self._calls]
        if missing:
            raise RuntimeError(f"routers of layers {missing} did not run in this forward pass")
        ids = torch.stack([torch.cat([c[0] for c in self._calls[l]]) for l in range(len(self.layers))])
        weights = torch.stack([torch.cat([c[1] for c in self._calls[l]]) for l in range(len(self.layers))])
        self._calls = {}
        return ids, weights
