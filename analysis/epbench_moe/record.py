"""Serves held-out documents as requests (prefill of the first P tokens, then D sampled
tokens with a key/value cache) and records every token's routing in every MoE layer."""
from collections import defaultdict

import numpy as np
import torch

from .recorder import RouterRecorder, epbench_adapter
from .trace_writer import Request


@torch.no_grad()
def serve_batch(model, recorder, prompts, rc, generator):
    """prompts [B, P] -> per request (ids [P+D, L, K], weights [P+D, L, K])."""
    model.eval()
    B, P = prompts.shape
    caches = [dict() for _ in model.blocks]
    logits, _ = model(prompts, 0, caches)
    ids, weights = recorder.take()  # [L, B*P, K]
    steps_ids = [ids.view(ids.shape[0], B, P, -1)]
    steps_w = [weights.view(ids.shape[0], B, P, -1)]
    for t in range(rc.decode_len):
        probs = (logits[:, -1].float() / rc.temperature).softmax(dim=-1)
        token = torch.multinomial(probs, 1, generator=generator)  # [B, 1]
        logits, _ = model(token, P + t, caches)
        ids, weights = recorder.take()  # [L, B, K]
        steps_ids.append(ids.view(ids.shape[0], B, 1, -1))
        steps_w.append(weights.view(ids.shape[0], B, 1, -1))
    all_ids = torch.cat(steps_ids, dim=2).permute(1, 2, 0, 3)  # [B, P+D, L, K]
    all_w = torch.cat(steps_w, dim=2).permute(1, 2, 0, 3)
    return all_ids.numpy(), all_w.numpy()


def record_requests(model, docs_tokens, genres, rc):
    """One request per document, in document order. Documents with the same prompt length
    are served together in one batch."""
    generator = torch.Generator().manual_seed(rc.seed)
    prompt_lens = [min(rc.prompt_len, len(t)) for t in docs_tokens]
    by_len = defaultdict(list)
    for i, p in enumerate(prompt_lens):
        by_len[p].append(i)
    requests = [None] * len(docs_tokens)
    with RouterRecorder(model, epbench_adapter(model.cfg)) as recorder:
        for p in sorted(by_len):
            members = by_len[p]
            prompts = torch.tensor(np.array([docs_tokens[i][:p] for i in members]), dtype=torch.long)
            ids, weights = serve_batch(model, recorder, prompts, rc, generator)
            for row, i in enumerate(members):
                requests[i] = _request(ids[row], weights[row], p, rc.decode_len, genres[i])
    return requests


def _request(ids, weights, prompt_len, decode_len, genre):
    total = prompt_len + decode_len
    phase = np.concatenate([np.zeros(prompt_len, np.uint8), np.ones(decode_len, np.uint8)])
    return Request(ids, weights, phase, np.arange(total, dtype=np.uint32), prompt_len, genre)
