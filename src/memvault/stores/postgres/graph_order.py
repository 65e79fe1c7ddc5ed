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

# Rows lying later in the table than their place in write order by more than a
# hundredth of the table (or 1,000 rows); zero when the table is in write order.
# Rows lying early do no harm, nor do rows displaced a little: a table filled
# while autovacuum ran has a row written later here and there, in the room a
# page had left (a migration of 100,000 memories leaves hundreds so), which
# shifts the rows after them by as many; a rewrite for those would cost a
# minute per 100,000 memories and change no graph. The dead versions an update
# leaves behind are not read.
LATE = """
SELECT count(*) FILTER (WHERE late > greatest(1000, rows / 100)) FROM (
    SELECT row_number() OVER (ORDER BY ctid) - row_number() OVER (ORDER BY rowid) AS late,
           count(*) OVER () AS rows
    FROM memvault_memories) AS r
"""


def rows_out_of_order(cur: Cursor) -> int:
    """How many rows lie far later in the table than the order they were written in
    would put them (reads the whole table)."""
    cur.execute(LATE)
    return int(one_value(cur))
