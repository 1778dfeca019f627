"""The recorder reports exactly the experts the MoE layers dispatched to, with their weights."""
import pytest
import torch

from epbench_moe.configs import TINY
from epbench_moe.model import MoEDecoder
from epbench_moe.recorder import RouterRecorder, epbench_adapter
from epbench_moe.train import make_deterministic


def dispatch_probe(model):
    """Hooks that see, independently of the router, what each expert computed on: the MoE
    input rows and, per expert, its input and output rows. (Hooks return None: a forward
    hook's return value would replace the module's output.)"""
    seen = {"moe_in": {}, "expert_in": {}, "expert_out": {}, "moe_out": {}}

    def rows(t):
        return t.reshape(-1, t.shape[-1])

    def moe_hooks(l):
        def pre(m, inp):
            seen["moe_in"][l] = rows(inp[0])

        def post(m, inp, out):
            seen["moe_out"][l] = rows(out[0])
        return pre, post

    def expert_hook(l, e):
        def post(m, inp, out):
            seen["expert_in"][(l, e)], seen["expert_out"][(l, e)] = inp[0], out
        return post

    handles = []
    for l, moe in enumerate(model.moe_layers()):
        pre, post = moe_hooks(l)
        handles += [moe.register_forward_pre_hook(pre), moe.register_forward_hook(post)]
        handles += [expert.register_forward_hook(expert_hook(l, e)) for e, expert in enumerate(moe.experts)]
    return seen, handles


@pytest.mark.parametrize("norm_topk", [True, False])
def test_recorder_reproduces_the_dispatch(norm_topk):
    make_deterministic(3)
    cfg = TINY.model.__class__(**dict(TINY.model.as_dict(), norm_topk=norm_topk, num_experts=6, top_k=3))
    model = MoEDecoder(cfg).eval()
    tokens = torch.randint(0, cfg.vocab_size, (3, 20))
    seen, handles = dispatch_probe(model)
    with torch.no_grad(), RouterRecorder(model, epbench_adapter(cfg)) as recorder:
        model(tokens)
        ids, weights = recorder.take()
    for h in handles:
        h.remove()
    assert ids.shape == (cfg.num_layers, 3 * 20, cfg.top_k)
    for l in range(cfg.num_layers):
        rows = seen["moe_in"][l]
        rebuilt = torch.zeros_like(rows)
        for e in range(cfg.num_experts):
            token, slot = (ids[l] == e).nonzero(as_tuple=True)
            got = seen["expert_in"].get((l, e), rows[:0])
            assert torch.equal(got, rows[token]), f"layer {l} expert {e}: other tokens than recorded"
            if token.numel():
                rebuilt.index_add_(0, token, seen["expert_out"][(l, e)] * weights[l][token, slot].unsqueeze(1))
        torch.testing.assert_close(rebuilt, seen["moe_out"][l], rtol=1e-5, atol=1e-6)


def test_recorder_without_routers_is_an_error():
    with pytest.raises(ValueError, match="no router module"):
        RouterRecorder(torch.nn.Linear(2, 2), epbench_adapter(TINY.model))


def test_recorder_hooks_are_removed():
    model = MoEDecoder(TINY.model)
    with RouterRecorder(model, epbench_adapter(TINY.model)):
        pass
    assert all(not m._forward_hooks for m in model.modules())
