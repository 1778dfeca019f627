"""The models epbench trains and traces: two shipped configurations and a tiny one for tests.
The model names are epbench model presets (`epbench models`) with the same sizes."""
from dataclasses import dataclass

from .model import ModelConfig


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_size: int
    seq_len: int
    lr: float
    warmup: int
    weight_decay: float = 0.1
    eval_windows: int = 64  # held-out windows of seq_len tokens for the reported loss
    seed: int = 1


@dataclass(frozen=True)
class RecordConfig:
    prompt_len: int  # P: the first P tokens of a held-out document are the prompt
    decode_len: int  # D: tokens generated after it
    temperature: float = 0.8
    seed: int = 2


@dataclass(frozen=True)
class Experiment:
    model: ModelConfig
    train: TrainConfig
    record: RecordConfig
    trace_file: str


VOCAB = 4096
# Both shipped models are trained and served alike, so their traces differ by the model only.
SHIPPED_TRAIN = TrainConfig(steps=400, batch_size=8, seq_len=512, lr=2e-3, warmup=40)
SHIPPED_RECORD = RecordConfig(prompt_len=384, decode_len=128)
MIXTRAL_LIKE = Experiment(
    ModelConfig("brown-moe-8e-top2", VOCAB, d_model=256, num_heads=4, num_layers=4,
                num_experts=8, top_k=2, d_ff=512, norm_topk=True),
    SHIPPED_TRAIN, SHIPPED_RECORD, "brown-moe-8e-top2.h5")
OLMOE_LIKE = Experiment(
    ModelConfig("brown-moe-32e-top4", VOCAB, d_model=256, num_heads=4, num_layers=4,
                num_experts=32, top_k=4, d_ff=256, norm_topk=False),
    SHIPPED_TRAIN, SHIPPED_RECORD, "brown-moe-32e-top4.h5")
EXPERIMENTS = {e.model.name: e for e in (MIXTRAL_LIKE, OLMOE_LIKE)}

# Seconds on any machine: for tests of the whole pipeline.
TINY = Experiment(
    ModelConfig("tiny-moe", 512, d_model=32, num_heads=2, num_layers=2, num_experts=4,
                top_k=2, d_ff=32, norm_topk=True),
    TrainConfig(steps=30, batch_size=4, seq_len=64, lr=1e-2, warmup=3, eval_windows=4),
    RecordConfig(prompt_len=16, decode_len=8),
    "tiny-moe.h5")
