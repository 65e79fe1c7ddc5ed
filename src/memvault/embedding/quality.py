"""The quality gate: how close a runtime's vectors are to the reference model's.

A faster runtime (ONNX, int8) is only worth having if search behaves the same.
Two checks on a fixed, varied set of texts shipped with memvault (chat turns,
notes, code, numbers, many languages, texts longer than the model's window):
the cosine between each text's vector and the reference vector (mean and
worst case), and the overlap of each query's ten nearest neighbours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources

import numpy as np

MIN_MEAN_COSINE = 0.99
MIN_COSINE = 0.97
MIN_NEIGHBOUR_OVERLAP = 0.9
NEIGHBOURS = 10

Embed = Callable[[Sequence[str]], np.ndarray]


@cache
def gate_texts() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(corpus, queries): the fixed texts of the gate, in ``gate_texts/``."""
    folder = resources.files(__package__) / "gate_texts"
    corpus = folder.joinpath("corpus.txt").read_text("utf-8").split("\n%\n")
    queries = folder.joinpath("queries.txt").read_text("utf-8").splitlines()
    return (
        tuple(t.strip("\n") for t in corpus if t.strip()),
        tuple(q for q in queries if q.strip()),
    )


@dataclass(frozen=True)
class GateResult:
    mean_cosine: float
    min_cosine: float
    neighbour_overlap: float

    @property
    def passed(self) -> bool:
        return (
            self.mean_cosine >= MIN_MEAN_COSINE
            and self.min_cosine >= MIN_COSINE
            and self.neighbour_overlap >= MIN_NEIGHBOUR_OVERLAP
        )

    def to_dict(self) -> dict[str, float | bool]:
        return {**{k: round(v, 5) for k, v in asdict(self).items()}, "passed": self.passed}

    def __str__(self) -> str:
        return (
            f"mean cosine {self.mean_cosine:.4f}, min {self.min_cosine:.4f}, "
            f"top-{NEIGHBOURS} overlap {self.neighbour_overlap:.3f}"
        )


def compare(reference: np.ndarray, candidate: np.ndarray, n_corpus: int) -> GateResult:
    """Gate figures for vectors of the same texts: corpus rows first, then queries."""
    cosines = np.sum(reference * candidate, axis=1)
    overlap = float(
        np.mean(
            [
                len(set(r) & set(c)) / NEIGHBOURS
                for r, c in zip(
                    _neighbours(reference, n_corpus), _neighbours(candidate, n_corpus), strict=True
                )
            ]
        )
    )
    return GateResult(float(cosines.mean()), float(cosines.min()), overlap)


def gate_vectors(embed: Embed) -> tuple[np.ndarray, int]:
    """(vectors of the gate texts, number of corpus rows), embedded as memvault does:
    the corpus in batches (``store_many``), each query on its own (``search``)."""
    corpus, queries = gate_texts()
    return np.vstack([embed(corpus), *(embed([q]) for q in queries)]), len(corpus)


def _neighbours(vectors: np.ndarray, n_corpus: int) -> np.ndarray:
    """Each query's nearest corpus texts, best first (ties broken by position)."""
    similarities = vectors[n_corpus:] @ vectors[:n_corpus].T
    return np.argsort(-similarities, axis=1, kind="stable")[:, :NEIGHBOURS]
