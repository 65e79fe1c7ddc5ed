"""Tokenization for the ONNX runtime: the model's own tokenizer.json, batched by length.

The shipped ``tokenizer.json`` of all-MiniLM-L6-v2 pads every text to 128
tokens and truncates at 128. Both are wrong for us: padding is done per batch
(to the longest text in it), and truncation follows sentence-transformers,
whose window is ``max_seq_length`` from ``sentence_bert_config.json`` (256).
Batches are formed from texts sorted by length so that short texts are not
padded up to long ones; the caller gets each batch's original positions back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer

BATCH_SIZE = 32

Batch = tuple[list[int], dict[str, np.ndarray]]


def load_tokenizer(model_dir: Path, max_tokens: int) -> Tokenizer:
    """The model's tokenizer, unpadded, truncating like sentence-transformers."""
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer


def length_sorted_batches(
    tokenizer: Tokenizer, texts: Sequence[str], batch_size: int = BATCH_SIZE
) -> Iterator[Batch]:
    """(positions in ``texts``, model inputs) for batches of texts of similar length."""
    if len(texts) == 1:
        encodings = [tokenizer.encode(texts[0])]
    else:
        encodings = tokenizer.encode_batch(list(texts))
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    for start in range(0, len(order), batch_size):
        positions = order[start : start + batch_size]
        yield positions, model_inputs([encodings[i] for i in positions])


def embed_in_batches(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    dimension: int,
    run: Callable[[dict[str, np.ndarray]], np.ndarray],
) -> np.ndarray:
    """Vectors of ``texts``, in order, computed by ``run`` one length-sorted batch at a time."""
    vectors = np.empty((len(texts), dimension), dtype=np.float32)
    for positions, inputs in length_sorted_batches(tokenizer, texts):
        vectors[positions] = run(inputs)
    return vectors


def model_inputs(encodings: Sequence[Encoding]) -> dict[str, np.ndarray]:
    """BERT inputs for a batch, padded with zeros to its longest member."""
    width = max(len(e.ids) for e in encodings)
    input_ids = np.zeros((len(encodings), width), dtype=np.int64)
    attention_mask = np.zeros_like(input_ids)
    for row, encoding in enumerate(encodings):
        input_ids[row, : len(encoding.ids)] = encoding.ids
        attention_mask[row, : len(encoding.ids)] = 1
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "token_type_ids": np.zeros_like(input_ids),
    }
