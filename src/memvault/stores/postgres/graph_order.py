"""The memories' table put back in the order the rows were written before the vector
graphs are built over it.

pgvector builds an HNSW graph by inserting the rows as the table lies on disk,
and the graph depends on that order: vectors alike among many unlike them,
inserted after those, are poorly linked from the rest of the graph (the
neighbours chosen for the earlier rows seldom take them in), so a search
coming from the graph's entry point misses some of them, whatever its
``ef_search``. Rows move as they are updated (a new row version goes where
there is room): the indexer moving each write's vector into the graph, a word
conversion, an edit. Measured on the benchmark's store of 1,000,000 (5,000
real sentences written first among random vectors): its first graph found
0.998 of the true ten nearest, the one ``optimize`` built after the word
conversion had moved those rows to the middle of the table 0.930 (0.932 at
``ef_search`` 200). So every build that can wait for it goes over the table
rewritten in ``rowid`` order (``CLUSTER``), the order of the writes, which is
the order incremental inserts and a first bulk load build the graph in; a
bulk load into a table already in that order skips the rewrite.
"""

from __future__ import annotations

from .rows import Cursor, one_value

# Rewrites the table in rowid order, compacted, and builds every index again
# over it (the graphs in place too); it takes the table's exclusive lock.
CLUSTER = "CLUSTER memvault_memories USING memvault_memories_pkey"

# Rows lying after a row written later than them; zero when the table is in
# write order. The dead versions an update leaves behind are not read.
BEHIND = """
SELECT count(*) FROM (
    SELECT rowid < max(rowid) OVER (ORDER BY ctid ROWS BETWEEN UNBOUNDED PRECEDING
                                    AND 1 PRECEDING) AS behind
    FROM memvault_memories) AS r
WHERE behind
"""


def rows_out_of_order(cur: Cursor) -> int:
    """How many rows lie in the table after a row written later (reads the whole table)."""
    cur.execute(BEHIND)
    return int(one_value(cur))
