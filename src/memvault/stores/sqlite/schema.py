"""The SQLite store's schema, its ordered migrations, and the SQL its queries share:
a filter as a WHERE clause, a lookup by id or hash, and a row as a Memory."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from ...model import Filter, Memory, from_micros, to_micros
from ..base import looks_like_hash
from .precision import EARLIER, FLOAT16
from .precision import META_KEY as PRECISION_KEY
from .rows import Row, scalar

# The word index over top-level memories' content, kept in step by triggers. Its
# tokenizer is every store's (``stores.tokens``).
# Migration 1 created it; migration 5 put it back after migration 4 had added
# the namespace to it.
WORD_INDEX = """
    CREATE VIRTUAL TABLE memories_fts USING fts5(
        content, content='memories', content_rowid='rowid',
        tokenize='porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories WHEN new.parent_id IS NULL
    BEGIN
        INSERT INTO memories_fts(rowid, content) VALUES (new.rowid, new.content);
    END;
    CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories WHEN old.parent_id IS NULL
    BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, content)
        VALUES ('delete', old.rowid, old.content);
    END;
"""


def _plain_vectors(cur: Any) -> None:
    """Vectors move from sqlite-vec's vec0 table into an ordinary table of BLOBs.

    vec0 kept each namespace (its partition key) in chunks of 1,024 slots
    allocated whole: 1.6 MB of file per namespace holding a single 384-d
    vector, never given back. Searches rank vectors in process (``vectors``),
    so the file only needs to keep them: one row per vector, as many bytes as
    it holds. Stores written before this move their vectors, bytes unchanged,
    in this migration's transaction: all of them or, if interrupted, none,
    and the next open starts again. (vec0 exists only once a model was bound.)
    """
    cur.execute(
        "CREATE TABLE memory_vectors_plain (rowid INTEGER PRIMARY KEY, embedding BLOB NOT NULL)"
    )
    if cur.execute("SELECT 1 FROM sqlite_master WHERE name = 'memory_vectors'").fetchall():
        cur.execute(
            "INSERT INTO memory_vectors_plain(rowid, embedding) "
            "SELECT rowid, embedding FROM memory_vectors"
        )
        moved = scalar(cur.execute("SELECT count(*) FROM memory_vectors_plain"))
        held = scalar(cur.execute("SELECT count(*) FROM memory_vectors"))
        if moved != held:  # rolls the whole migration back: the old table stays
            raise RuntimeError(f"moved {moved} of {held} vectors out of vec0")
        cur.execute("DROP TABLE memory_vectors")
    cur.execute("ALTER TABLE memory_vectors_plain RENAME TO memory_vectors")


def _half_vectors(cur: Any) -> None:
    """Vectors stored as float32 become float16, rewritten in place.

    float32 in the file cost twice the bytes (154 MB at 100k vectors) for
    precision no ranking used: search rescored from float16 copies already.
    In the migrations' one transaction: all of them or, if interrupted, none.
    The pages freed are reused by new rows; ``optimize`` (VACUUM) gives them back.
    """
    last = 0
    while rows := cur.execute(
        "SELECT rowid, embedding FROM memory_vectors WHERE rowid > ? ORDER BY rowid LIMIT 4096",
        (last,),
    ).fetchall():
        cur.executemany(
            "UPDATE memory_vectors SET embedding = ? WHERE rowid = ?",
            [(FLOAT16.blob(np.frombuffer(blob, dtype=np.float32)), rowid) for rowid, blob in rows],
        )
        last = rows[-1][0]


# Each entry upgrades the schema by one version (SQL, or a function given the
# transaction's cursor); applied in order, each in its own transaction, and
# recorded in schema_migrations. Never edit a released entry: append a new one.
MIGRATIONS: list[str | Callable[[Any], None]] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    -- AUTOINCREMENT: rowids are never reused, which the in-process vector
    -- index relies on to tell new rows from replaced ones.
    CREATE TABLE memories (
        rowid INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        namespace TEXT NOT NULL,
        content TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        memory_type TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        importance REAL NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_accessed_at INTEGER,
        expires_at INTEGER,
        parent_id TEXT,
        chunk_index INTEGER
    );
    -- Uniqueness holds among top-level memories; chunks repeat their parent's identity.
    CREATE UNIQUE INDEX memories_namespace_hash ON memories(namespace, content_hash)
        WHERE parent_id IS NULL;
    CREATE INDEX memories_namespace_created ON memories(namespace, created_at);
    CREATE INDEX memories_parent ON memories(parent_id) WHERE parent_id IS NOT NULL;
    CREATE INDEX memories_expires ON memories(expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE memory_tags (
        tag TEXT NOT NULL,
        memory_rowid INTEGER NOT NULL,
        PRIMARY KEY (tag, memory_rowid)
    ) WITHOUT ROWID;
    CREATE INDEX memory_tags_memory ON memory_tags(memory_rowid);
    -- Words: only top-level memories are indexed, since a parent holds all of
    -- its chunks' text. Porter stemming so "running" finds "runs".
    """
    + WORD_INDEX
    + """
    """,
    # The journal: keyed JSON records for upkeep (operation log, checkpoints).
    """
    CREATE TABLE journal (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (kind, key)
    );
    """,
    # Store notes ('note:<key>' rows of meta; memvault only ever kept migration
    # checkpoints there) become journal records of kind 'checkpoint'. A note that
    # is not a JSON object was not written by memvault and is left alone.
    """
    INSERT OR IGNORE INTO journal(kind, key, value, updated_at)
        SELECT 'checkpoint', substr(key, 6), value, CAST(unixepoch('subsec') * 1000000 AS INTEGER)
        FROM meta
        WHERE substr(key, 1, 5) = 'note:' AND json_valid(value) AND json_type(value) = 'object';
    DELETE FROM meta
        WHERE substr(key, 1, 5) = 'note:' AND json_valid(value) AND json_type(value) = 'object';
    """,
    # The namespace joins the word index. FTS5 ranks every row that holds a
    # query word before any WHERE applies, so in a file shared by many
    # namespaces each search paid for all of them; naming the namespace inside
    # the match kept the ranking work to its rows (until the next migration).
    """
    DROP TRIGGER memories_fts_insert;
    DROP TRIGGER memories_fts_delete;
    DROP TABLE memories_fts;
    CREATE VIRTUAL TABLE memories_fts USING fts5(
        content, namespace, content='memories', content_rowid='rowid',
        tokenize='porter unicode61 remove_diacritics 2'
    );
    INSERT INTO memories_fts(rowid, content, namespace)
        SELECT rowid, content, namespace FROM memories WHERE parent_id IS NULL;
    CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories WHEN new.parent_id IS NULL
    BEGIN
        INSERT INTO memories_fts(rowid, content, namespace)
        VALUES (new.rowid, new.content, new.namespace);
    END;
    CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories WHEN old.parent_id IS NULL
    BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, content, namespace)
        VALUES ('delete', old.rowid, old.content, old.namespace);
    END;
    """,
    # The namespace leaves the word index again: BM25 is now ranked in process
    # from the postings (``words``), which scopes by namespace itself,
    # and a document's length is its content alone.
    """
    DROP TRIGGER memories_fts_insert;
    DROP TRIGGER memories_fts_delete;
    DROP TABLE memories_fts;
    """
    + WORD_INDEX
    + """
    INSERT INTO memories_fts(rowid, content)
        SELECT rowid, content FROM memories WHERE parent_id IS NULL;
    """,
    _plain_vectors,
    _half_vectors,
    # The vectors' precision becomes a store's choice (``precision``): a store made
    # before holds float16 and says so. A store made now has no store_id yet (it is
    # written after the migrations) and records the precision chosen for it instead.
    f"""
    INSERT OR IGNORE INTO meta(key, value) SELECT '{PRECISION_KEY}', '{EARLIER}'
        WHERE EXISTS (SELECT 1 FROM meta WHERE key = 'store_id');
    """,
    # The namespace joins the tags (a memory's never changes), keyed after the
    # tag, so a filter of a namespace and a tag reads only that namespace's
    # tagged rows: a tag common to every namespace was read whole before (at
    # 1,000,000 memories in ten namespaces, 250,000 rowids to keep 25,000,
    # about 100 ms per side of a search). The tag still leads the key for a
    # filter of tags alone. About 2 s at 1,000,000 memories.
    """
    CREATE TABLE memory_tags_keyed (
        tag TEXT NOT NULL,
        namespace TEXT NOT NULL,
        memory_rowid INTEGER NOT NULL,
        PRIMARY KEY (tag, namespace, memory_rowid)
    ) WITHOUT ROWID;
    INSERT INTO memory_tags_keyed(tag, namespace, memory_rowid)
        SELECT t.tag, m.namespace, t.memory_rowid
        FROM memory_tags t JOIN memories m ON m.rowid = t.memory_rowid;
    DROP TABLE memory_tags;
    ALTER TABLE memory_tags_keyed RENAME TO memory_tags;
    CREATE INDEX memory_tags_memory ON memory_tags(memory_rowid);
    """,
]

DEFAULT_PRAGMAS: dict[str, str] = {
    # A 1.5 KB vector row fits twice in a 4 KB page (a quarter of it unused),
    # five times in 8 KB. Takes effect only in a new file, so it comes first.
    "page_size": "8192",
    "journal_mode": "WAL",
    "synchronous": "NORMAL",
    "foreign_keys": "ON",
    "temp_store": "MEMORY",
    "cache_size": "-65536",
    # No memory map: searches run on in-process copies of the vectors and words
    # and read only their hits from the file, so mapping it would hold a second
    # copy of every vector in the process (240 MB at 100k memories).
    "mmap_size": "0",
}


# Statements take at most this many ids, well under SQLite's variable limit.
ID_BATCH = 500

MEMORY_COLUMNS = (
    "m.rowid, m.id, m.namespace, m.content, m.content_hash, m.tags, m.memory_type, m.metadata, "
    "m.importance, m.created_at, m.updated_at, m.last_accessed_at, m.expires_at, "
    "m.parent_id, m.chunk_index"
)


def to_memory(row: Row) -> Memory:
    """A row selected as ``MEMORY_COLUMNS``, as a Memory."""
    # A search turns ~100 rows into memories, so the common cases are cheap:
    # no JSON parser for empty metadata, tag lists parsed once, and an
    # unchanged memory's updated_at shares its created_at.
    created = from_micros(row.created_at)
    return Memory(
        id=row.id,
        namespace=row.namespace,
        content=row.content,
        content_hash=row.content_hash,
        tags=parse_tags(row.tags),
        memory_type=row.memory_type,
        metadata=json.loads(row.metadata) if row.metadata != "{}" else {},
        importance=row.importance,
        created_at=created,
        updated_at=created if row.updated_at == row.created_at else from_micros(row.updated_at),
        last_accessed_at=from_micros(row.last_accessed_at),
        expires_at=from_micros(row.expires_at),
        parent_id=row.parent_id,
        chunk_index=row.chunk_index,
    )


@functools.lru_cache(maxsize=4096)
def parse_tags(text: str) -> tuple[str, ...]:
    """A stored JSON tag list as a tuple (immutable, so parses can be shared)."""
    return tuple(json.loads(text))


def lookup_sql(ref: str, namespace: str | None, now_us: int) -> tuple[str, list[Any]]:
    """The live memory ``ref`` names: an id, or a content hash (top-level memories only)."""
    by = "content_hash" if looks_like_hash(ref) else "id"
    sql = f"SELECT {MEMORY_COLUMNS} FROM memories m WHERE m.{by} = ?"
    params: list[Any] = [ref]
    if by == "content_hash":
        sql += " AND m.parent_id IS NULL"
    if namespace is not None:
        sql += " AND m.namespace = ?"
        params.append(namespace)
    sql += " AND (m.expires_at IS NULL OR m.expires_at > ?) LIMIT 1"
    params.append(now_us)
    return sql, params


def filter_sql(flt: Filter, now_us: int) -> tuple[str, list[Any]]:
    """A WHERE clause over ``memories m`` that applies ``flt``; never empty."""
    clauses: list[str] = []
    params: list[Any] = []
    if flt.namespace is not None:
        clauses.append("m.namespace = ?")
        params.append(flt.namespace)
    if not flt.include_chunks:
        clauses.append("m.parent_id IS NULL")
    if not flt.include_expired:
        clauses.append("(m.expires_at IS NULL OR m.expires_at > ?)")
        params.append(now_us)
    if flt.memory_type is not None:
        clauses.append("m.memory_type = ?")
        params.append(flt.memory_type)
    if flt.created_after is not None:
        clauses.append("m.created_at >= ?")
        params.append(to_micros(flt.created_after))
    if flt.created_before is not None:
        clauses.append("m.created_at < ?")
        params.append(to_micros(flt.created_before))
    tags, tag_params = tag_sql(flt)
    if tags:
        clauses.append(f"m.rowid IN ({tags})")
        params.extend(tag_params)
    for key, value in sorted(flt.metadata.items()):
        # json_extract turns JSON true/false into 1/0, so compare booleans as ints.
        clauses.append("json_extract(m.metadata, ?) = ?")
        params.append(_json_path(key))
        params.append(int(value) if isinstance(value, bool) else value)
    return (" AND ".join(clauses) or "1"), params


def tag_sql(flt: Filter) -> tuple[str, list[Any]]:
    """A SELECT of the rowids carrying the filter's tags ("" if it names none),
    in the filter's namespace if it names one.

    It reads only ``memory_tags``' primary key (tag, namespace, rowid), never
    the memories' rows, and of a namespace only that namespace's part.
    """
    selects: list[str] = []
    params: list[Any] = []
    within = " AND namespace = ?" if flt.namespace is not None else ""
    for tags, grouped in (
        (flt.tags_any, ""),
        (flt.tags_all, f" GROUP BY memory_rowid HAVING count(*) = {len(flt.tags_all)}"),
    ):
        if tags:
            marks = ",".join("?" * len(tags))
            selects.append(
                f"SELECT memory_rowid FROM memory_tags WHERE tag IN ({marks}){within}{grouped}"
            )
            params.extend(tags)
            if within:
                params.append(flt.namespace)
    return " INTERSECT ".join(selects), params


def _json_path(key: str) -> str:
    return '$."' + key.replace('"', '\\"') + '"'
