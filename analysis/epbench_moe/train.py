"""Deterministic training on one CPU thread, held-out loss against a unigram baseline."""
import ctypes
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from .model import MoEDecoder

EOS = 2


def token_stream(docs_tokens):
    """Documents joined into one stream, each followed by end-of-sequence."""
    return np.concatenate([np.append(np.asarray(t, np.int64), EOS) for t in docs_tokens])


def make_deterministic(seed):
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # reductions in one fixed order: bit-identical reruns
    torch.use_deterministic_algorithms(True)
    _one_openblas_thread()
    _keep_freed_memory()


def _one_openblas_thread():
    # Debian's torch calls the system OpenBLAS, whose threads torch.set_num_threads misses.
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(1)
    except (OSError, AttributeError):
        pass


def _keep_freed_memory():
    # glibc returns large freed blocks to the kernel at once; every step then page-faults its
    # activations in again, which more than doubled the step time here. Keep them instead.
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_MAX, 0)  # large blocks from the heap, too
        libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1)
    except (OSError, AttributeError):
        pass


def lr_at(step, tc):
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    progress = (step - tc.warmup) / max(1, tc.steps - tc.warmup)
    return tc.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def lm_loss(model, batch):
    logits, aux = model(batch[:, :-1])
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
    return ce, aux


def train(cfg, tc, train_stream, log=print):
    """Returns the model and its per-step history [(step, lm_loss, aux_loss)]."""
    make_deterministic(tc.seed)
    model = MoEDecoder(cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=tc.lr, betas=(0.9, 0.95))
    rng = np.random.RandomState(tc.seed)
    stream = torch.from_numpy(train_stream)
    history, start = [], time.time()
    for step in range(tc.steps):
        starts = rng.randint(0, len(train_stream) - tc.seq_len - 1, size=tc.batch_size)
        batch = torch.stack([stream[s:s + tc.seq_len + 1] for s in starts])
        for group in opt.param_groups:
            group["lr"] = lr_at(step, tc)
        ce, aux = lm_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        (ce + cfg.aux_loss_coef * aux).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        history.append((step, ce.item(), aux.item()))
        if step % 20 == 0 or step == tc.steps - 1:
            log(f"{cfg.name} step {step:4d}/{tc.steps}  loss {ce.item():.4f}  aux {aux.item():.4f}  "
                f"{time.time() - start:.0f} s")
    return model, history


@torch.no_grad()
def held_out_loss(model, stream, tc):
    """Mean next-token cross-entropy (nats) over the first eval_windows windows of seq_len."""
    model.eval()
    n = min(tc.eval_windows, (len(stream) - 1) // tc.seq_len)
    total = 0.0
    for w in range(n):
        s = w * tc.seq_len
        batch = torch.from_numpy(stream[s:s + tc.seq_len + 1]).unsqueeze(0)
        total += lm_loss(model, batch)[0].item()
    model.train()
    return total / n, n * tc.seq_len


def unigram_loss(train_stream, held_stream, vocab_size, tokens):
    """Cross-entropy of add-one unigram frequencies of the training stream on the same
    held-out targets as held_out_loss."""
    counts = np.bincount(train_stream, minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    targets = held_stream[1:tokens + 1]
    return float(-logp[targets].mean())
