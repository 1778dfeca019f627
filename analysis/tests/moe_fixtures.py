"""Shared inputs of the epbench_moe tests: real Brown text, the tiny configuration."""
import os

from epbench_moe import brown

EXCERPT = os.path.join(os.path.dirname(__file__), "data", "brown-excerpt")
DATASET_INFO = {"name": "Brown corpus excerpt", "package": "tests/data/brown-excerpt",
                "sha256": "-", "split_seed": 0, "held_out_fraction": 0.5}


def excerpt_split():
    names = sorted(n for n in os.listdir(EXCERPT) if brown.is_document_name(n))
    docs = [brown.document(n, open(os.path.join(EXCERPT, n)).read()) for n in names]
    return brown.split(docs, 0.5, seed=0)
