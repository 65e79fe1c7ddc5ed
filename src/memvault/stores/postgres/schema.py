"""The SQL the PostgreSQL store's modules share: the names and shape of the word and
vector indexes, a filter as a WHERE clause, page cursors, and rows read back as
Memory objects. The migrations that make the tables are in ``migrations``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, overload

from psycopg import sql
from psycopg.types.json import Jsonb

from ...errors import InvalidInput
from ...model import Filter, Memory
from ..base import parse_page_cursor
from .rows import Cursor

# The text search configuration the first migrations made words with. Since
# migration 7 the writes make them from every store's tokenizer (``lexemes``).
TEXT_CONFIG = "memvault_english"
# tsvector holds at most 1 MB of lexemes and positions; 200,000 characters of
# any text stays under it. Words past that point are found by meaning only.
INDEXED_CHARS = 200_000


def words_sql(text: str) -> str:
    """SQL turning the text expression ``text`` into the words the index holds."""
    return f"regexp_replace({text}, '[^[:alnum:]]+', ' ', 'g')"


# The words are found through ``memvault_postings`` since migration 9, not a GIN index.
GIN_INDEXES = ("memvault_memories_tags", "memvault_memories_metadata")

# A waiting row's vector is kept in the row (migration 13), so PostgreSQL moves its
# words and content out to the TOAST table instead, where the word ranking would
# read the words for ever after (an unchanged value keeps its place). Moving the
# vector writes both anew, so that the moved row is laid out as one indexed at
# once: the vector in the TOAST table, the words (compressed if need be) in the row.
MOVE_WAITING = (
    "embedding = m.fresh_embedding, fresh_embedding = NULL, "
    "words = m.words || ''::tsvector, content = m.content || ''"
)

VECTOR_INDEX = "memvault_memories_embedding"
HNSW_MAX_DIMENSIONS = 2000
# Whether the store's graph is there and usable: a concurrent build that was
# cancelled or failed leaves an index the planner never uses.
VECTOR_INDEX_VALID = (
    "coalesce((SELECT indisvalid FROM pg_index "
    f"WHERE indexrelid = to_regclass('{VECTOR_INDEX}')), false)"
)


def vector_column_sql(dimension: int, m: int, ef_construction: int) -> list[str]:
    """Type the vector column and index it, once the store's dimension is known."""
    return [
        f"ALTER TABLE memvault_memories ALTER COLUMN embedding TYPE vector({int(dimension)})",
        vector_index_sql(VECTOR_INDEX, m, ef_construction),
    ]


def hnsw_graph_bytes(dimension: int, m: int) -> int:
    """Memory pgvector's in-memory HNSW build takes per vector, with a quarter to spare.

    Measured with pgvector 0.8 (where its "graph no longer fits" notice comes):
    about 4 bytes a dimension plus 32 bytes per unit of m plus 200 (2,250 bytes
    for 384 dimensions at m = 16).
    """
    return int((4 * dimension + 32 * m + 256) * 1.25)


def build_memory_sql(rows: int, dimension: int, m: int, *, session: bool) -> str:
    """A statement raising ``maintenance_work_mem`` (never lowering it) to what the
    graph of ``rows`` vectors takes, for the session or else for the transaction."""
    memory_kb = rows * hnsw_graph_bytes(dimension, m) // 1024 + 1
    return (
        f"SELECT set_config('maintenance_work_mem', greatest({memory_kb}, "
        "pg_size_bytes(current_setting('maintenance_work_mem')) / 1024)::text || 'kB', "
        f"{'false' if session else 'true'})"
    )


def vector_index_sql(
    name: str, m: int, ef_construction: int, *, concurrently: bool = False, where: str = ""
) -> str:
    """CREATE INDEX for the vectors; with ``where`` (SQL), of only the rows it holds for."""
    how = "CONCURRENTLY " if concurrently else ""
    return (
        f"CREATE INDEX {how}{name} ON memvault_memories USING hnsw "
        f"(embedding vector_cosine_ops) WITH (m = {int(m)}, "
        f"ef_construction = {int(ef_construction)})" + (f" WHERE {where}" if where else "")
    )


MEMORY_COLUMNS = (
    "m.rowid, m.id, m.namespace, m.content, m.content_hash, m.tags, m.memory_type, m.metadata, "
    "m.importance, m.created_at, m.updated_at, m.last_accessed_at, m.expires_at, "
    "m.parent_id, m.chunk_index"
)


def to_memory(row: Any, embedding: Any = None) -> Memory:
    """A Memory from a (named) row of MEMORY_COLUMNS."""
    return Memory(
        id=row.id,
        namespace=row.namespace,
        content=row.content,
        content_hash=row.content_hash,
        tags=tuple(row.tags),
        memory_type=row.memory_type,
        metadata=row.metadata,
        importance=row.importance,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        last_accessed_at=_utc(row.last_accessed_at),
        expires_at=_utc(row.expires_at),
        parent_id=row.parent_id,
        chunk_index=row.chunk_index,
        embedding=embedding,
    )


def select_rows(
    cur: Cursor, tail: str, params: Sequence[Any], *, with_embedding: bool = False
) -> list[tuple[int, Memory]]:
    """``(rowid, memory)`` for ``SELECT ... FROM memvault_memories m <tail>``."""
    # A vector not yet indexed is in fresh_embedding (``indexing``).
    extra = ", coalesce(m.embedding, m.fresh_embedding) AS embedding" if with_embedding else ""
    cur.execute(f"SELECT {MEMORY_COLUMNS}{extra} FROM memvault_memories m {tail}", params)
    return [
        (r.rowid, to_memory(r, r.embedding if with_embedding else None)) for r in cur.fetchall()
    ]


def select_memories(
    cur: Cursor, tail: str, params: Sequence[Any], *, with_embedding: bool = False
) -> list[Memory]:
    """The memories of ``SELECT ... FROM memvault_memories m <tail>``."""
    return [m for _, m in select_rows(cur, tail, params, with_embedding=with_embedding)]


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: None) -> None: ...
def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def page_cursor(created_at: datetime, memory_id: str) -> str:
    """``<created_at in µs since the epoch>:<id>``: the same cursor the SQLite store gives."""
    delta = created_at - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}:{memory_id}"


def page_cursor_time(cursor: str) -> tuple[datetime, str]:
    """A page cursor with its time as the timestamptz it compares with."""
    created, last_id = parse_page_cursor(cursor)
    seconds, micros = divmod(created, 1_000_000)
    try:
        return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros), last_id
    except (OverflowError, OSError, ValueError):
        raise InvalidInput("cursor is malformed", field="cursor") from None


def literal(value: Any) -> str:
    """``value`` as a SQL literal in a statement that takes ``%s`` parameters too."""
    return sql.quote(value).replace("%", "%%")


def filter_sql(flt: Filter, now: datetime, *, tags_by_index: bool = True) -> tuple[str, list[Any]]:
    """A WHERE clause over ``memvault_memories m`` that applies ``flt``; never empty.

    Each condition can use an index: tags and metadata go through GIN
    (``&&``, ``@>``), the rest through btrees. Without ``tags_by_index`` the
    tag conditions are checked on the rows found by the others (``IS TRUE``,
    the same truth for a column that is never NULL, is no operator an index
    serves): for tags too common for their index to narrow much
    (``statistics``).

    The filter's values are written into the clause as literals, the time of
    the search (for expiry) is its one parameter: a statement repeated with
    other parameters is planned once (``database``) and that plan still knows
    the namespace, which a namespace's own graph needs (``namespace_graphs``),
    and the selectivity of each other condition.
    """
    clauses: list[str] = []
    params: list[Any] = []
    if flt.namespace is not None:
        clauses.append(f"m.namespace = {literal(flt.namespace)}")
    if not flt.include_chunks:
        clauses.append("m.parent_id IS NULL")
    if not flt.include_expired:
        clauses.append("(m.expires_at IS NULL OR m.expires_at > %s)")
        params.append(now)
    if flt.memory_type is not None:
        clauses.append(f"m.memory_type = {literal(flt.memory_type)}")
    if flt.created_after is not None:
        clauses.append(f"m.created_at >= {literal(flt.created_after)}")
    if flt.created_before is not None:
        clauses.append(f"m.created_at < {literal(flt.created_before)}")
    by_index = "{}" if tags_by_index else "({}) IS TRUE"
    if flt.tags_any:
        clauses.append(by_index.format(f"m.tags && {literal(list(flt.tags_any))}::text[]"))
    if flt.tags_all:
        clauses.append(by_index.format(f"m.tags @> {literal(list(flt.tags_all))}::text[]"))
    if flt.metadata:
        # Containment of {key: scalar} is equality of that key's value (3 = 3.0,
        # and true is not 1), and the GIN index answers it.
        clauses.append(f"m.metadata @> {literal(Jsonb(flt.metadata))}")
    return (" AND ".join(clauses) or "TRUE"), params
