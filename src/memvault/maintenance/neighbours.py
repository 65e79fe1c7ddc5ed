"""All pairs of vectors whose cosine similarity reaches a threshold, without an n×n matrix.

Duplicate analysis needs every close pair in a namespace. Asking the store for
each memory's neighbours costs one index query per memory: sqlite-vec scans
every vector per query (30 ms each at 20k, hours at 100k), and even an HNSW
store pays a round trip per memory. So the vectors are streamed once out of the
store (``Store.scan``) and searched here, in two ways:

- ``exact``: blocks of rows against the rows after them (upper triangle only),
  a few MB of scores at a time. n²·d work: seconds at 20k, minutes at 100k.
- ``ivf``: an inverted file. Spherical k-means cuts the space into cells; each
  vector is filed under its nearest cell and compared with the vectors filed
  under its ``probes`` nearest cells. Close pairs (cosine ≥ 0.9) almost always
  share a cell or a neighbouring one; ``bench/dedup.py`` measures the recall
  against ``exact``. About n·(√n + probes·n/cells)·d work: seconds at 100k.

``auto`` picks exact up to ``EXACT_LIMIT`` vectors, where it costs seconds, and
ivf above.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EXACT_LIMIT = 20_000
PROBES = 6
KMEANS_ITERATIONS = 6
KMEANS_SAMPLE = 20_000
# Scores computed at once: rows × columns floats (32 MB of float32).
SCORE_BUDGET = 1 << 23
METHODS = ("auto", "exact", "ivf")

Progress = Callable[[int, int], None]
Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]


def similar_pairs(
    vectors: np.ndarray,
    threshold: float,
    *,
    method: str = "auto",
    progress: Progress | None = None,
    seed: int = 0,
) -> Pairs:
    """Index pairs (i < j) with cosine ≥ ``threshold`` and their similarities.

    ``vectors`` must be L2-normalized rows. Each pair appears once.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    n = len(vectors)
    if n < 2:
        return _empty()
    if method == "exact" or (method == "auto" and n <= EXACT_LIMIT):
        return _exact(vectors, threshold, progress)
    return _ivf(vectors, threshold, progress, seed)


def _empty() -> Pairs:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)


def _exact(vectors: np.ndarray, threshold: float, progress: Progress | None) -> Pairs:
    n = len(vectors)
    rows_per_block = max(16, SCORE_BUDGET // n)
    found: list[Pairs] = []
    for start in range(0, n, rows_per_block):
        stop = min(n, start + rows_per_block)
        scores = vectors[start:stop] @ vectors[start:].T
        rows, cols = np.nonzero(scores >= threshold)
        upper = cols > rows  # column offset is ``start``: this keeps j > i
        rows, cols = rows[upper], cols[upper]
        found.append((rows + start, cols + start, scores[rows, cols]))
        if progress is not None:
            progress(stop, n)
    return _concat(found)


def _ivf(vectors: np.ndarray, threshold: float, progress: Progress | None, seed: int) -> Pairs:
    n = len(vectors)
    probes = PROBES
    cells = min(n, max(probes * 2, round(float(np.sqrt(n * probes)))))
    probes = min(probes, cells)
    rng = np.random.default_rng(seed)
    centroids = spherical_kmeans(vectors, cells, rng)
    nearest = _nearest_cells(vectors, centroids, probes)
    home = nearest[:, 0]
    members = _group_by(home, cells)
    visitors = _group_by(nearest.reshape(-1), cells, owners=np.repeat(np.arange(n), probes))
    found: list[Pairs] = []
    done = 0
    for cell in range(cells):
        filed, queries = members[cell], visitors[cell]
        step = max(16, SCORE_BUDGET // max(1, len(filed)))
        for start in range(0, len(queries) if len(filed) else 0, step):
            part = queries[start : start + step]
            scores = vectors[part] @ vectors[filed].T
            q, f = np.nonzero(scores >= threshold)
            i, j = part[q], filed[f]
            keep = i != j
            found.append((np.minimum(i, j)[keep], np.maximum(i, j)[keep], scores[q, f][keep]))
        done += len(filed)
        if progress is not None:
            progress(done, n)
    first, second, sims = _concat(found)
    # A pair is met from both sides when each lies in a cell the other probes.
    _, unique = np.unique(first * n + second, return_index=True)
    return first[unique], second[unique], sims[unique]


def spherical_kmeans(vectors: np.ndarray, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Unit centroids of ``cells`` clusters by cosine, trained on a sample."""
    sample = vectors
    if len(vectors) > KMEANS_SAMPLE:
        sample = vectors[rng.choice(len(vectors), KMEANS_SAMPLE, replace=False)]
    centroids = sample[rng.choice(len(sample), cells, replace=False)].copy()
    for _ in range(KMEANS_ITERATIONS):
        assigned = _nearest_cells(sample, centroids, 1)[:, 0]
        order = np.argsort(assigned, kind="stable")
        starts = np.searchsorted(assigned[order], np.arange(cells))
        sums = np.add.reduceat(sample[order], np.minimum(starts, len(sample) - 1), axis=0)
        # reduceat gives an empty cell the next cell's first row; zero those.
        sums[np.bincount(assigned, minlength=cells) == 0] = 0.0
        norms = np.linalg.norm(sums, axis=1)
        empty = norms == 0
        # An empty cell restarts at a random point rather than staying dead.
        sums[empty] = sample[rng.choice(len(sample), int(empty.sum()))]
        norms[empty] = 1.0
        centroids = (sums / norms[:, None]).astype(np.float32)
    return centroids


def _nearest_cells(vectors: np.ndarray, centroids: np.ndarray, count: int) -> np.ndarray:
    """For each vector, the indices of its ``count`` most similar centroids, best first."""
    out = np.empty((len(vectors), count), dtype=np.int64)
    step = max(16, SCORE_BUDGET // len(centroids))
    for start in range(0, len(vectors), step):
        scores = vectors[start : start + step] @ centroids.T
        if count == 1:
            out[start : start + step, 0] = scores.argmax(axis=1)
            continue
        top = np.argpartition(-scores, count - 1, axis=1)[:, :count]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[start : start + step] = np.take_along_axis(top, order, axis=1)
    return out


def _group_by(
    cells_of: np.ndarray, cells: int, owners: np.ndarray | None = None
) -> list[np.ndarray]:
    """For each cell, the owners (default: positions) whose entry names that cell."""
    owners = np.arange(len(cells_of)) if owners is None else owners
    order = np.argsort(cells_of, kind="stable")
    bounds = np.searchsorted(cells_of[order], np.arange(cells + 1))
    return [owners[order[bounds[c] : bounds[c + 1]]] for c in range(cells)]


def _concat(parts: list[Pairs]) -> Pairs:
    if not parts:
        return _empty()
    firsts, seconds, similarities = zip(*parts, strict=True)
    return (
        np.concatenate(firsts).astype(np.int64),
        np.concatenate(seconds).astype(np.int64),
        np.concatenate(similarities).astype(np.float32),
    )
