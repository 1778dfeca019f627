"""The Hugging Face adapter on a randomly initialised tiny Mixtral: the recorder's choices
equal the top-k of the router logits the model itself returns."""
import pytest
import torch

from epbench_moe.recorder import RouterRecorder, huggingface_adapter


def test_mixtral_adapter_matches_output_router_logits():
    transformers = pytest.importorskip(
        "transformers", reason="transformers is not installed (no Debian package; PyPI unreachable here)")
    config = transformers.MixtralConfig(vocab_size=64, hidden_size=32, intermediate_size=32,
                                        num_hidden_layers=2, num_attention_heads=2,
                                        num_key_value_heads=2, num_local_experts=4,
                                        num_experts_per_tok=2)
    model = transformers.MixtralForCausalLM(config).eval()
    tokens = torch.randint(0, 64, (2, 10))
    with torch.no_grad(), RouterRecorder(model, huggingface_adapter(config)) as recorder:
        out = model(tokens, output_router_logits=True)
        ids, _ = recorder.take()
    for layer, logits in enumerate(out.router_logits):
        expected = torch.topk(logits.softmax(-1), 2, dim=-1).indices
        assert torch.equal(ids[layer], expected)


def test_unknown_model_type_is_refused():
    class Config:
        model_type = "llama"
    with pytest.raises(ValueError, match="model_type 'llama'"):
        huggingface_adapter(Config())
