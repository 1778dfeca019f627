"""A byte-fallback BPE tokenizer (SentencePiece) trained on the training documents only."""
import io

import sentencepiece as spm


def train_tokenizer(sentences, vocab_size):
    """Deterministic: one thread, no sampling or shuffling of the input sentences."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size,
        model_type="bpe", character_coverage=1.0, byte_fallback=True, num_threads=1,
        input_sentence_size=0, shuffle_input_sentence=False, unk_id=0, bos_id=1, eos_id=2,
        pad_id=-1, minloglevel=2)
    return spm.SentencePieceProcessor(model_proto=model.getvalue()), model.getvalue()


def encode(tokenizer, text):
    return tokenizer.encode(text, out_type=int)
