"""Duplicate analysis: which memories of a namespace say the same thing.

Two memories are duplicates when

- **exact**: their text is the same once folded: Unicode NFKC, case folded,
  punctuation dropped, whitespace runs folded ("Alice prefers tabs." and
  "alice prefers tabs!"). The store already refuses byte-identical content in
  a namespace, so this is the exact kind that can still occur;
- **near**: the cosine similarity of their vectors reaches the threshold
  (default 0.95), and they agree on the small words that change a fact:
  numbers, negation (not, never, no, n't) and time words (weekdays, months,
  yesterday, next, last, ...). Embeddings barely see those ("the rate limit
  is 100 per minute" and "... 1000 per minute" score 0.97, "deployed
  yesterday" and "deployed last month" 0.98), and merging them would lose a
  fact; ``bench/dedup.py`` measures the precision this buys. Identical
  vectors are a special case of near.

A memory long enough to be split into chunks is matched only exactly: its
vector covers only its first window, so two long texts that begin alike would
look identical. Duplicates are clustered transitively (union-find), so A~B
and B~C put A, B and C together; each duplicate reports its similarity to the
survivor, so a chain that drifted shows. The survivor and the merged fields
follow ``merge.py``.

The pass streams the namespace once (``vectors.VectorTable``); the pairs come
from ``neighbours.similar_pairs``.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..model import Filter, Memory, MemoryChanges
from ..stores import Store
from .merge import check_rule, merged_changes, rank
from .neighbours import METHODS, similar_pairs
from .oplog import Progress
from .vectors import VectorTable

DEFAULT_THRESHOLD = 0.95
BATCH = 1000
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[^\W\d_]+(?:'t)?")
NEGATIONS = frozenset({"not", "never", "no", "nor", "cannot", "n't"})
TIME_WORDS = frozenset(
    """
    monday tuesday wednesday thursday friday saturday sunday weekday weekend weekends
    mondays tuesdays wednesdays thursdays fridays saturdays sundays
    january february march april may june july august september october november december
    yesterday today tonight tomorrow morning afternoon evening night
    day week month year days weeks months years daily weekly monthly yearly annual
    last next ago previous upcoming before after early late
""".split()
)


def text_key(content: str) -> str:
    """The content folded for exact matching (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", content).casefold()
    kept = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in folded)
    # Text that is all punctuation folds to nothing; it then matches only itself.
    return " ".join(kept.split()) or content


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A member to be merged into the survivor."""

    memory: Memory
    similarity: float
    exact: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "memory": self.memory.to_dict(),
            "similarity": round(self.similarity, 4),
            "match": "exact" if self.exact else "near",
        }


@dataclass(frozen=True, slots=True)
class DuplicateCluster:
    """Memories that say the same thing, the one that stays, and what it becomes."""

    id: str
    survivor: Memory
    duplicates: tuple[Duplicate, ...]
    changes: MemoryChanges

    @property
    def kind(self) -> str:
        return "exact" if all(d.exact for d in self.duplicates) else "near"

    @property
    def min_similarity(self) -> float:
        return min(d.similarity for d in self.duplicates)

    @property
    def members(self) -> list[Memory]:
        """Survivor first, then the others in rank order."""
        return [self.survivor, *(d.memory for d in self.duplicates)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "size": len(self.duplicates) + 1,
            "min_similarity": round(self.min_similarity, 4),
            "survivor": self.survivor.to_dict(),
            "duplicates": [d.to_dict() for d in self.duplicates],
            "merged": {
                "tags": list(self.changes.tags or ()),
                "metadata": self.changes.metadata,
                "importance": self.changes.importance,
            },
        }


@dataclass(frozen=True, slots=True)
class DuplicatePlan:
    """The result of an analysis: a dry run of consolidation."""

    namespace: str
    threshold: float
    keep: str
    method: str
    scanned: int
    clusters: tuple[DuplicateCluster, ...]
    elapsed: float = field(default=0.0, compare=False)
    chunks: dict[str, list[str]] = field(default_factory=dict, compare=False, repr=False)
    """Chunk ids of the clustered memories that have chunks, for their before-images."""

    @property
    def redundant(self) -> int:
        """Memories a consolidation would remove."""
        return sum(len(c.duplicates) for c in self.clusters)

    @property
    def duplicate_ratio(self) -> float:
        return self.redundant / self.scanned if self.scanned else 0.0

    def select(self, cluster_ids: Sequence[str] | None) -> DuplicatePlan:
        """The plan narrowed to ``cluster_ids`` (all when None); unknown ids are refused."""
        if cluster_ids is None:
            return self
        known = {c.id: c for c in self.clusters}
        missing = [i for i in cluster_ids if i not in known]
        if missing:
            raise InvalidInput(
                f"no cluster {missing[0]!r} in the current plan (the store may have changed "
                "since the dry run; run it again)",
                field="clusters",
            )
        chosen = tuple(c for c in self.clusters if c.id in set(cluster_ids))
        return replace(self, clusters=chosen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "threshold": self.threshold,
            "keep": self.keep,
            "method": self.method,
            "scanned": self.scanned,
            "clusters": len(self.clusters),
            "redundant": self.redundant,
            "duplicate_ratio": round(self.duplicate_ratio, 4),
            "elapsed_seconds": round(self.elapsed, 3),
            "plan": [c.to_dict() for c in self.clusters],
        }


def cluster_id(members: Sequence[Memory]) -> str:
    """A cluster's id: the same members give the same id, in any order and any analysis."""
    return hashlib.sha1("\n".join(sorted(m.id for m in members)).encode()).hexdigest()[:10]


def check_threshold(value: Any, field_name: str = "threshold") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
        raise InvalidInput(f"{field_name} must be a number above 0 and at most 1", field=field_name)
    return float(value)


def check_method(value: Any) -> str:
    if value not in METHODS:
        raise InvalidInput(f"method must be one of {', '.join(METHODS)}", field="method")
    return value


def find_duplicates(
    store: Store,
    flt: Filter,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    keep: str = "newest",
    method: str = "auto",
    progress: Progress | None = None,
) -> DuplicatePlan:
    """Analyse the memories ``flt`` matches (one namespace) and plan their consolidation."""
    threshold, keep, method = check_threshold(threshold), check_rule(keep), check_method(method)
    if flt.namespace is None:
        raise InvalidInput("duplicate analysis works within one namespace", field="namespace")
    started = time.perf_counter()
    table = VectorTable.read(store, flt, progress=progress, extra=_match_facts)
    groups = _UnionFind(len(table.ids))
    by_key: dict[bytes, int] = {}
    for index, (key, _) in enumerate(table.extra):
        groups.union(by_key.setdefault(key, index), index)
    searchable = np.flatnonzero(~table.chunked)
    if progress is not None:
        progress("compare", 0, len(searchable))
    first, second, _ = similar_pairs(
        table.vectors[searchable],
        threshold,
        method=method,
        progress=(lambda done, total: progress("compare", done, total)) if progress else None,
    )
    for i, j in zip(searchable[first].tolist(), searchable[second].tolist(), strict=True):
        if table.extra[i][1] == table.extra[j][1]:
            groups.union(i, j)
    components = groups.components()
    if progress is not None:
        progress("plan", 0, len(components))
    clusters = _build_clusters(store, table, components, keep)
    clustered = {m.id for c in clusters for m in c.members}
    return DuplicatePlan(
        flt.namespace,
        threshold,
        keep,
        method,
        len(table.ids),
        tuple(clusters),
        time.perf_counter() - started,
        {p: ids for p, ids in table.chunks.items() if p in clustered},
    )


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def components(self) -> list[list[int]]:
        """Groups of two or more, each in index order."""
        groups: dict[int, list[int]] = {}
        for item in range(len(self.parent)):
            groups.setdefault(self.find(item), []).append(item)
        return [g for g in groups.values() if len(g) > 1]


def fact_words(content: str) -> tuple[str, ...]:
    """The numbers, time words and whether it negates (as "not"): what near duplicates share.

    Negation is one mark however it is said: "never" and "didn't" agree.
    """
    words = {"n't" if w.endswith("n't") else w for w in _WORD.findall(content.casefold())}
    negated = ("not",) if words & NEGATIONS else ()
    return tuple(sorted({*_NUMBER.findall(content), *(words & TIME_WORDS), *negated}))


def _match_facts(memory: Memory) -> tuple[bytes, tuple[str, ...]]:
    """What exact and near matching compare besides vectors: the folded text (hashed)
    and its fact words."""
    key = hashlib.blake2b(text_key(memory.content).encode("utf-8"), digest_size=16).digest()
    return key, fact_words(memory.content)


def _build_clusters(
    store: Store, table: VectorTable, components: list[list[int]], keep: str
) -> list[DuplicateCluster]:
    wanted = [table.ids[i] for group in components for i in group]
    memories: dict[str, Memory] = {}
    for start in range(0, len(wanted), BATCH):
        memories.update((m.id, m) for m in store.get_many(wanted[start : start + BATCH]))
    position = {memory_id: i for i, memory_id in enumerate(table.ids)}
    clusters = []
    for group in components:
        ranked = rank([table.candidates[i] for i in group], keep)
        if any(c.id not in memories for c in ranked):
            continue  # deleted while we looked; the next analysis sees the rest
        head = position[ranked[0].id]
        duplicates = []
        for c in ranked[1:]:
            i = position[c.id]
            duplicates.append(
                Duplicate(
                    memories[c.id],
                    float(table.vectors[head] @ table.vectors[i]),
                    table.extra[i][0] == table.extra[head][0],
                )
            )
        members = [memories[c.id] for c in ranked]
        clusters.append(
            DuplicateCluster(
                id=cluster_id(members),
                survivor=members[0],
                duplicates=tuple(duplicates),
                changes=merged_changes(members, None),
            )
        )
    clusters.sort(key=lambda c: (-len(c.duplicates), -c.min_similarity, c.id))
    return clusters
