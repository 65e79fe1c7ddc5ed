"""How many memories a filter matches, roughly, from the planner's statistics: which
tags are common, so a word search can leave their index aside, and whether a
vector search can skip counting its matches.

A search for words under a tag filter is planned as a bitmap AND of the word
index and the tag index. For a tag on a large share of the store, building
the tag's bitmap is the cost: at 1,000,000 memories, a tag on a quarter of
them took 25-60 ms to list, against 1.5 ms to check the tag on the few
thousand memories holding the query's rarest word. The planner does not
price that bitmap well, so for common tags the word search writes the tag
condition in a form no index serves (``schema.filter_sql``). For a rare tag
the index stays the better way in, and is kept.

A vector search counts its filter's matches (up to a bound) to choose an
exact search for a small filter; under a tag that count reads rows until the
bound is reached, 40-60 ms at 1,000,000, and 4 ms of an 8 ms vector search
in one namespace and one tag at 100,000 (it lists the tag's index and the
namespace's). A filter estimated at the bound or above needs no count
(``search.nearest_parts``). The estimate is the filter evaluated on what
ANALYZE sampled, never a product of shares: a tag on a quarter of the store
may be on a few memories of one namespace, and a search there must still
compare each of them. So a namespace with tags is estimated from the most
common combinations of namespace and tags that memories hold (extended
statistics, ``migrations``), several tags without one from those too; a
combination not listed counts as none, so the estimate errs low, and a
filter it puts low is counted, as before (as every such filter is for a
role that does not own the table: ``pg_stats_ext`` shows it none).

The frequencies are ``pg_stats``' most common values of ``namespace`` and
most common elements of ``tags``, and ``pg_stats_ext``'s most common
combinations (what ANALYZE, or autovacuum's, last sampled), with the
table's row estimate, read at most once a minute per store: they change
only when the table is analyzed again, and a search sends no extra
statement for them. (An array of element frequencies ends with three more
numbers than there are elements; their rows have no value.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ...model import Filter
from .database import Database

# A tag held by at least this share of the memories is common.
COMMON_SHARE = 0.01
REFRESH_S = 60.0

SHARES = """
SELECT s.attname AS column_name, e.value, e.share,
       (SELECT greatest(c.reltuples, 0) FROM pg_class c
        WHERE c.oid = 'memvault_memories'::regclass) AS rows
FROM pg_stats s, unnest(
    CASE s.attname WHEN 'tags' THEN s.most_common_elems::text::text[]
                   ELSE s.most_common_vals::text::text[] END,
    CASE s.attname WHEN 'tags' THEN s.most_common_elem_freqs
                   ELSE s.most_common_freqs END) AS e(value, share)
WHERE s.schemaname = current_schema() AND s.tablename = 'memvault_memories'
  AND s.attname IN ('tags', 'namespace') AND e.value IS NOT NULL
"""
# A combination's tags are an array's text in a two-dimensional array of text.
COMBINATIONS = """
SELECT s.most_common_vals[i][1] AS namespace, s.most_common_vals[i][2]::text[] AS tags,
       s.most_common_freqs[i] AS share
FROM pg_stats_ext s, generate_subscripts(s.most_common_vals, 1) AS i
WHERE s.schemaname = current_schema() AND s.tablename = 'memvault_memories'
  AND s.statistics_name = 'memvault_memories_namespace_tags'
"""


@dataclass(frozen=True)
class Shares:
    """The sampled share of memories for each common namespace and tag: one snapshot,
    which every estimate is computed from whole (a refresh replaces it)."""

    rows: float = 0.0
    namespaces: dict[str, float] = field(default_factory=dict)
    tags: dict[str, float] = field(default_factory=dict)
    # (namespace, tags, share) of the most common combinations memories hold.
    combinations: tuple[tuple[str, frozenset[str], float], ...] = ()

    def estimated_matches(self, flt: Filter) -> float:
        if flt.memory_type is not None or flt.metadata or flt.created_after or flt.created_before:
            return 0.0
        tags = len(flt.tags_any) + len(flt.tags_all)
        if tags == 0:
            share = 1.0 if flt.namespace is None else self.namespaces.get(flt.namespace, 0.0)
        elif tags == 1 and flt.namespace is None:
            share = self.tag_share(flt)
        else:
            share = self.combined_share(flt)
        return self.rows * share

    def combined_share(self, flt: Filter) -> float:
        """The share of the sampled combinations ``flt``'s namespace and tags keep."""
        wanted, needed = set(flt.tags_any), set(flt.tags_all)
        return sum(
            share
            for namespace, tags, share in self.combinations
            if flt.namespace in (None, namespace)
            and (not wanted or not wanted.isdisjoint(tags))
            and needed <= tags
        )

    def tag_share(self, flt: Filter) -> float:
        share = 1.0
        if flt.tags_any:
            share *= min(1.0, sum(self.tags.get(tag, 0.0) for tag in flt.tags_any))
        if flt.tags_all:
            share *= min(self.tags.get(tag, 0.0) for tag in flt.tags_all)
        return share


class FilterStatistics:
    """Estimates from ``pg_stats``, refreshed at most every ``REFRESH_S``; each read
    from one snapshot, though another thread may refresh it meanwhile."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._shares = Shares()
        self._read_at = -REFRESH_S

    def all_common(self, tags: Sequence[str]) -> bool:
        """Whether every tag given is common (none given: False)."""
        if not tags:
            return False
        shares = self._current().tags
        return all(shares.get(tag, 0.0) >= COMMON_SHARE for tag in tags)

    def namespace_share(self, namespace: str) -> float | None:
        """The sampled share of memories in ``namespace``; None for one the statistics
        do not list (a small one, or one not sampled yet)."""
        return self._current().namespaces.get(namespace)

    def namespace_rows(self) -> tuple[dict[str, float], float]:
        """Roughly how many memories each namespace the statistics list holds, and the
        store."""
        shares = self._current()
        return {ns: shares.rows * share for ns, share in shares.namespaces.items()}, shares.rows

    def estimated_matches(self, flt: Filter) -> float:
        """A rough count of the memories ``flt`` matches, for namespace and tag
        filters whose values (or combinations) the statistics hold; 0 for any other
        (unknown)."""
        return self._current().estimated_matches(flt)

    def tag_share(self, flt: Filter) -> float:
        """The share of memories ``flt``'s tag conditions keep, roughly (1 without any;
        0 for tags the statistics do not hold, the rare ones)."""
        return self._current().tag_share(flt)

    def _current(self) -> Shares:
        with self._lock:
            if time.monotonic() - self._read_at >= REFRESH_S:
                with self._db.cursor() as cur:
                    cur.execute(SHARES)
                    found = cur.fetchall()
                    cur.execute(COMBINATIONS)
                    combined = cur.fetchall()
                self._shares = Shares(
                    max((float(r.rows) for r in found), default=0.0),
                    {r.value: r.share for r in found if r.column_name == "namespace"},
                    {r.value: r.share for r in found if r.column_name == "tags"},
                    tuple((r.namespace, frozenset(r.tags), r.share) for r in combined),
                )
                self._read_at = time.monotonic()
            return self._shares
