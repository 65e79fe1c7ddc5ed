"""The rows the scale benchmarks load: real MiniLM vectors of sentences, then random ones.

Row r has one of ten namespaces and one of four tags, and is created r minutes
after START, which is how a search hit is traced back to its row (``row_of``).
See ``postgres_scale`` for why the vectors are made this way.
"""

from __future__ import annotations

import ast
import json
import re
import sysconfig
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from memvault.model import Candidate, Memory

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
DIM = 384
NAMESPACES = 10
BATCH = 10_000
START = datetime(2025, 1, 1, tzinfo=UTC)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def stdlib_sentences() -> list[str]:
    """Distinct English sentences from the standard library's docstrings."""
    seen: dict[str, None] = {}
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if "test" in path.parts or "site-packages" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
                doc = ast.get_docstring(node) or ""
                for part in _SENTENCE.split(" ".join(doc.split())):
                    if 40 <= len(part) <= 300 and part[0].isupper():
                        seen.setdefault(part, None)
    return list(seen)


def real_vectors(count: int) -> tuple[list[str], np.ndarray]:
    """``count`` sentences and their MiniLM vectors, computed once and cached."""
    CACHE.mkdir(exist_ok=True)
    texts_file, vectors_file = CACHE / f"minilm_{count}.json", CACHE / f"minilm_{count}.npy"
    if texts_file.exists() and vectors_file.exists():
        return json.loads(texts_file.read_text()), np.load(vectors_file)
    sentences = stdlib_sentences()
    if len(sentences) < count:
        raise SystemExit(f"only {len(sentences)} sentences available; lower --sample")
    picked = [sentences[i] for i in np.random.default_rng(7).permutation(len(sentences))[:count]]
    from memvault.embedding import SentenceTransformerEmbedder

    print(f"embedding {count} real sentences once (cached in {CACHE}) ...", flush=True)
    vectors = SentenceTransformerEmbedder().embed(picked)
    texts_file.write_text(json.dumps(picked))
    np.save(vectors_file, vectors)
    return picked, vectors


def random_units(count: int, seed: int) -> np.ndarray:
    out = np.random.default_rng(seed).standard_normal((count, DIM), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def batch_vectors(first: int, count: int, real: np.ndarray) -> np.ndarray:
    """Vectors of rows first..first+count: the real sample's while they last, then random."""
    real_rows = max(0, min(count, len(real) - first))
    return np.concatenate(
        [real[first : first + real_rows], random_units(count - real_rows, seed=first + 1)]
    )


def all_vectors(n: int, real: np.ndarray) -> np.ndarray:
    """Every row's vector, batch by batch as the load makes them."""
    return np.concatenate(
        [batch_vectors(start, min(BATCH, n - start), real) for start in range(0, n, BATCH)]
    )


def build_memories(
    first: int, vectors: np.ndarray, texts: list[str], vocabulary: list[str]
) -> list[Memory]:
    """Rows first..first+len(vectors): real sentences while they last, then a dozen
    words drawn from the sentences' vocabulary. Row r is created r minutes after START,
    which is how a search hit is traced back to its row."""
    picks = np.random.default_rng(first + 2).integers(len(vocabulary), size=(len(vectors), 12))
    memories = []
    for row, vector, words in zip(range(first, first + len(vectors)), vectors, picks, strict=True):
        content = (
            texts[row]
            if row < len(texts)
            else (f"synthetic memory {row}: " + " ".join(vocabulary[w] for w in words))
        )
        memories.append(
            Memory(
                content=content,
                namespace=f"ns{row % NAMESPACES}",
                tags=(f"tag{row // NAMESPACES % 4}",),  # independent of the namespace
                created_at=START + timedelta(minutes=row),
                embedding=vector,
            )
        )
    return memories


def row_of(found: Memory | Candidate) -> int:
    """The row a memory was made from: each row is stamped one minute after the last."""
    return round((found.created_at - START) / timedelta(minutes=1))


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, rows: np.ndarray) -> list[set[int]]:
    """Row numbers of the k nearest (cosine) among ``rows``, per query."""
    out = []
    candidates = vectors[rows]
    for start in range(0, len(queries), 64):
        scores = queries[start : start + 64] @ candidates.T
        best = np.argpartition(-scores, k, axis=1)[:, :k]
        out.extend({int(rows[j]) for j in line} for line in best)
    return out
