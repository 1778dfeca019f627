"""A small Mixtral-style decoder: RMSNorm, causal attention with RoPE, MoE feed-forward
layers of SwiGLU experts behind a softmax top-k router."""
from dataclasses import dataclass, asdict

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    name: str
    vocab_size: int
    d_model: int
    num_heads: int
    num_layers: int  # every layer is an MoE layer
    num_experts: int
    top_k: int
    d_ff: int  # one expert's hidden width
    norm_topk: bool  # renormalise the top-k gate weights to sum 1 (Mixtral) or not (OLMoE)
    aux_loss_coef: float = 0.01
    rope_base: float = 10000.0

    def as_dict(self):
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_dim, positions, base):
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = positions.to(torch.float32)[:, None] * inv_freq[None, :]
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    # x: [B, H, T, Dh]; rotate the two halves of each head (GPT-NeoX / Llama convention)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.num_heads = cfg.num_heads
        self.head_dim = cfg.d_model // cfg.num_heads
        self.rope_base = cfg.rope_base
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def forward(self, x, start_pos=0, cache=None):
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)
        q, k, v = (t.view(B, T, self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        positions = torch.arange(start_pos, start_pos + T)
        cos, sin = rope_tables(self.head_dim, positions, self.rope_base)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:  # decoding: keys and values of earlier positions are kept
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        scores = (q @ k.transpose(-1, -2)) / self.head_dim**0.5
        total = k.shape[2]
        # query i (absolute position start_pos + i) sees keys 0..start_pos + i
        mask = torch.ones(T, total, dtype=torch.bool).tril(diagonal=total - T)
        scores = scores.masked_fill(~mask, float("-inf"))
        y = scores.softmax(dim=-1) @ v
        return self.out(y.transpose(1, 2).reshape(B, T, D))


class Router(nn.Module):
    """Returns the router logits; the hooks of the trace recorder attach here."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.proj = nn.Linear(cfg.d_model, cfg.num_experts, bias=False)

    def forward(self, x):
        return self.proj(x)


def select_experts(logits, top_k, norm_topk):
    """The routing rule, shared by the MoE layer and the recorder: softmax over all experts,
    the top-k by probability (ties to the lower id), optionally renormalised."""
    probs = logits.float().softmax(dim=-1)
    weights, ids = torch.topk(probs, top_k, dim=-1, sorted=True)
    if norm_topk:
        weights = weights / weights.sum(dim=-1, keepdim=True)
    return ids, weights, probs


class SwiGLUExpert(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.w_gate = nn.Linear(d_model, d_ff, bias=False)
        self.w_up = nn.Linear(d_model, d_ff, bias=False)
        self.w_down = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        return self.w_down(F.silu(self.w_gate(x)) * self.w_up(x))


class MoEFeedForward(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.top_k = cfg.top_k
        self.norm_topk = cfg.norm_topk
        self.num_experts = cfg.num_experts
        self.router = Router(cfg)
        self.experts = nn.ModuleList(SwiGLUExpert(cfg.d_model, cfg.d_ff) for _ in range(cfg.num_experts))

    def forward(self, x):
        B, T, D = x.shape
        flat = x.reshape(B * T, D)
        ids, weights, probs = select_experts(self.router(flat), self.top_k, self.norm_topk)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            token, slot = (ids == e).nonzero(as_tuple=True)
            if token.numel() == 0:
                continue
            y = expert(flat.index_select(0, token)) * weights[token, slot].unsqueeze(1)
            out.index_add_(0, token, y.to(out.dtype))
        return out.view(B, T, D), load_balancing_loss(ids, probs, self.num_experts)


def load_balancing_loss(ids, probs, num_experts):
    """Switch/Mixtral auxiliary loss: E * sum_e (share of assignments to e) * (mean prob of e)."""
    assigned = F.one_hot(ids, num_experts).float().sum(dim=1)  # [N, E]
    share = assigned.mean(dim=0) / ids.shape[1]
    return num_experts * (share * probs.mean(dim=0)).sum()


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.moe_norm = RMSNorm(cfg.d_model)
        self.moe = MoEFeedForward(cfg)

    def forward(self, x, start_pos=0, cache=None):
        x = x + self.attn(self.attn_norm(x), start_pos, cache)
        y, aux = self.moe(self.moe_norm(x))
        return x + y, aux


class MoEDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.norm = RMSNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.apply(_init_weights)

    def forward(self, tokens, start_pos=0, caches=None):
        """tokens [B, T] -> (logits [B, T, V], mean auxiliary loss over the layers)."""
        x = self.embed(tokens)
        aux_total = x.new_zeros(())
        for i, block in enumerate(self.blocks):
            x, aux = block(x, start_pos, None if caches is None else caches[i])
            aux_total = aux_total + aux
        return self.head(self.norm(x)), aux_total / len(self.blocks)

    def moe_layers(self):
        return [b.moe for b in self.blocks]


def _init_weights(module):
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
