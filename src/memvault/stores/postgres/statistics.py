"""Which tags are common, from the planner's statistics, so a word search can leave
their index aside.

A search for words under a tag filter is planned as a bitmap AND of the word
index and the tag index. For a tag on a large share of the store, building
the tag's bitmap is the cost: at 1,000,000 memories, a tag on a quarter of
them took 25-60 ms to list, against 1.5 ms to check the tag on the few
thousand memories holding the query's rarest word. The planner does not
price that bitmap well, so for common tags the word search writes the tag
condition in a form no index serves (``schema.filter_sql``). For a rare tag
the index stays the better way in, and is kept.

The frequencies are ``pg_stats``' most common elements of ``tags`` (what
ANALYZE, or autovacuum's, last sampled), read at most once a minute per
store: they change only when the table is analyzed again, and a search sends
no extra statement for them. (The frequencies array ends with three more
numbers than there are elements; their rows have no tag.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from .database import Database

# A tag held by at least this share of the memories is common.
COMMON_SHARE = 0.01
REFRESH_S = 60.0

COMMON_TAGS = """
SELECT coalesce(array_agg(e.tag), '{}') AS tags
FROM pg_stats s, unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs)
     AS e(tag, share)
WHERE s.schemaname = current_schema() AND s.tablename = 'memvault_memories'
  AND s.attname = 'tags' AND e.tag IS NOT NULL AND e.share >= %s
"""


class TagStatistics:
    """The common tags, refreshed from ``pg_stats`` at most every ``REFRESH_S``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._common: frozenset[str] = frozenset()
        self._read_at = -REFRESH_S

    def all_common(self, tags: Sequence[str]) -> bool:
        """Whether every tag given is common (none given: False)."""
        if not tags:
            return False
        with self._lock:
            if time.monotonic() - self._read_at >= REFRESH_S:
                with self._db.cursor() as cur:
                    cur.execute(COMMON_TAGS, (COMMON_SHARE,))
                    row = cur.fetchone()
                self._common = frozenset(row.tags if row else ())
                self._read_at = time.monotonic()
            return self._common.issuperset(tags)
