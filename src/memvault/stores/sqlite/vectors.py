"""An in-process copy of the SQLite store's vectors, for fast search.

The ``memory_vectors`` table is where vectors live (one BLOB per memory row,
float16 or int8 as the store chose, ``precision``; durable and
transactional); reading every blob through SQLite on each query, as
sqlite-vec's KNN did, costs about 60 ms at 100k vectors on a small machine.
Held per namespace in process, a search is one int8 pass over every vector
(``int8_scan``, about 2 ms at 100k) and a rescoring, from the file's values,
of the few that its error bounds cannot rule out; a filter becomes a row mask.
A float16 store's values are float16 copies held beside the codes; an int8
store's are the codes themselves, so its pass has no rounding error of its
own and rescoring reads the codes.

The copy follows the file: rowids are never reused (AUTOINCREMENT), so rows
above the highest loaded rowid are new; if the row count then disagrees,
something was deleted and the namespace set is reloaded. ``PRAGMA
data_version`` tells when another connection committed, so an unchanged file
costs one pragma per search.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from .allowed import positions_of
from .int8_scan import FACTS, SCALE, estimate
from .precision import Precision
from .rows import Row

# A filter matching at most this many rows of a namespace scores them directly.
DIRECT = 256


class Database(Protocol):
    """What the index needs of ``SqliteDatabase``."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def batches(
        self, sql: str, params: Sequence[Any] = (), size: int = 4096
    ) -> Iterator[list[Row]]: ...


class _Partition:
    """The vectors of one namespace, in ascending rowid order, grown by a quarter at a time.

    The int8 pass reads every column held, filled or not, so spare room is
    kept small (doubling left up to half of a scan reading zeros).

    Each vector is held as int8 codes, one column per vector, for a first pass
    over all of them (``int8_scan``); a float16 store's also as a float16 row,
    to rescore the candidates it leaves (1.2 KB a 384-d vector in all, 0.4 KB
    in an int8 store, which rescores from the codes).
    """

    def __init__(self, dimension: int, precision: Precision, capacity: int = 0) -> None:
        self.size = 0
        self._precision = precision
        self._rowids = np.zeros(capacity, dtype=np.int64)
        self._codes = np.zeros((dimension, capacity), dtype=np.int8)
        self._facts = np.zeros((capacity, FACTS), dtype=np.float32)
        rows = capacity if precision.rescores_from_rows else 0
        self._rows = np.zeros((rows, dimension), dtype=np.float16)

    @property
    def rowids(self) -> np.ndarray:
        return self._rowids[: self.size]

    def extend(self, rowids: list[int], blobs: list[bytes]) -> None:
        """Append rows, which come in ascending rowid order above those held."""
        needed = self.size + len(rowids)
        if needed > len(self._rowids):
            # Small to start with: thousands of namespaces of a few memories
            # each must not cost a megabyte of spare room apiece.
            self._grow(max(needed + needed // 4, 16))
        held = self._precision.scannable(b"".join(blobs), self._codes.shape[0])
        new = slice(self.size, needed)
        self._rowids[new] = rowids
        self._codes[:, new] = held.codes.T
        self._facts[new] = held.facts
        if held.rows is not None:
            self._rows[new] = held.rows
        self.size = needed

    def _grow(self, capacity: int) -> None:
        held = slice(0, self.size)
        codes = np.zeros((self._codes.shape[0], capacity), dtype=np.int8)
        codes[:, held] = self._codes[:, held]
        self._codes = codes
        self._rowids = np.resize(self._rowids, capacity)
        for name in ("_facts", "_rows") if self._precision.rescores_from_rows else ("_facts",):
            old = getattr(self, name)
            grown = np.zeros((capacity, old.shape[1]), dtype=old.dtype)
            grown[held] = old[held]
            setattr(self, name, grown)

    def candidates(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rowids, cosine scores) of rows in ``allowed`` (all if None) that hold the k best.

        A filter matching few rows scores them directly. Otherwise the int8
        pass estimates every row, with a bound on its error: a row whose best
        case falls below the k-th best worst case cannot be among the k best,
        and the rest are rescored from the stored values.
        """
        rowids = self.rowids
        if allowed is not None and len(allowed) <= DIRECT:
            positions = positions_of(rowids, allowed)
        else:
            estimates, bounds = estimate(vector, self._codes, self._facts[: self.size])
            keep = np.full(self.size, allowed is None)
            if allowed is not None:
                keep[positions_of(rowids, allowed)] = True
            # The k-th best worst case among the allowed rows only: padding the
            # others with -inf instead made np.partition crawl over the ties
            # (about 70 ms at 100k rows with 10 % allowed, against 0.5 ms).
            worst = estimates - bounds if allowed is None else (estimates - bounds)[keep]
            if k < len(worst):
                keep &= estimates + bounds >= np.partition(worst, len(worst) - k)[len(worst) - k]
            positions = np.flatnonzero(keep)
        return rowids[positions], self._rescore(positions, vector)

    def _rescore(self, positions: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Cosine scores of the rows at ``positions``, from the values the file holds."""
        if self._precision.rescores_from_rows:
            return self._rows[positions].astype(np.float32) @ vector
        codes = self._codes[:, positions].astype(np.float32)
        return (vector @ codes) * self._facts[positions, SCALE]


class VectorIndex:
    """Exact cosine search over unit vectors, kept in step with ``memory_vectors``."""

    def __init__(self, dimension: int, precision: Precision) -> None:
        self.dimension = dimension
        self.precision = precision
        self._parts: dict[str, _Partition] = {}
        self._max_rowid = 0
        self._count = 0
        self._data_version: int | None = None
        self.stale = True

    def refresh(self, db: Database) -> None:
        """Bring the copy up to date with the file; cheap when nothing changed."""
        version = db.scalar("PRAGMA data_version")
        if not self.stale and version == self._data_version:
            return
        self._data_version = version
        self.stale = False
        (held,) = db.rows(
            "SELECT count(*) AS vectors, coalesce(max(rowid), 0) AS max_rowid FROM memory_vectors"
        )
        count, max_rowid = held.vectors, held.max_rowid
        if count == self._count and max_rowid == self._max_rowid:
            return
        if self._count and max_rowid > self._max_rowid:
            self._load_above(db, self._max_rowid)
        if self._count != count:
            self._load_all(db)

    def _load_all(self, db: Database) -> None:
        """Every vector, streamed into matrices sized up front: no second copy in memory."""
        self._max_rowid = self._count = 0
        self._parts = {
            r.namespace: _Partition(self.dimension, self.precision, capacity=r.vectors)
            for r in db.rows(
                "SELECT m.namespace, count(*) AS vectors FROM memory_vectors v "
                "JOIN memories m ON m.rowid = v.rowid GROUP BY m.namespace"
            )
        }
        self._load_above(db, 0)

    def _load_above(self, db: Database, rowid: int) -> None:
        # Walk the vectors by rowid (CROSS JOIN keeps that order of loops), so
        # each namespace's rows arrive in the ascending order searches rely on.
        self._add(
            db.batches(
                "SELECT v.rowid, m.namespace, v.embedding FROM memory_vectors v "
                "CROSS JOIN memories m ON m.rowid = v.rowid "
                "WHERE v.rowid > ?",
                (rowid,),
            )
        )

    def _add(self, batches: Iterator[list[Row]]) -> None:
        for batch in batches:
            grouped: dict[str, tuple[list[int], list[bytes]]] = {}
            for row in batch:
                ids, blobs = grouped.setdefault(row.namespace, ([], []))
                ids.append(row.rowid)
                blobs.append(row.embedding)
            for namespace, (ids, blobs) in grouped.items():
                if namespace not in self._parts:
                    self._parts[namespace] = _Partition(self.dimension, self.precision)
                self._parts[namespace].extend(ids, blobs)
                self._max_rowid = max(self._max_rowid, max(ids))
            self._count += len(batch)

    def search(
        self, vector: np.ndarray, k: int, namespace: str | None, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        """The k best (rowid, cosine similarity); ``allowed`` limits the rowids."""
        parts = (
            [self._parts[namespace]]
            if namespace in self._parts
            else ([] if namespace is not None else list(self._parts.values()))
        )
        best_ids: list[np.ndarray] = []
        best_scores: list[np.ndarray] = []
        for part in parts:
            rowids, scores = part.candidates(vector, k, allowed)
            top = top_positions(scores, k)
            best_ids.append(rowids[top])
            best_scores.append(scores[top])
        if not best_ids:
            return []
        ids, scores = np.concatenate(best_ids), np.concatenate(best_scores)
        top = top_positions(scores, k)
        return [(int(ids[i]), float(scores[i])) for i in top]


def top_positions(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first (ties by position, so stable)."""
    if len(scores) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.lexsort((part, -scores[part]))]
    return np.lexsort((np.arange(len(scores)), -scores))
