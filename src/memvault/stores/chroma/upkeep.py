"""The Chroma store's journal and optimize.

Journal records live in a sidecar collection, ``<collection>__journal``: one
record per (kind, key), the JSON value as its document, a one-dimensional
placeholder vector (Chroma wants one; nothing ever searches it). They stay out
of the memories' collection, so no read, count or export of memories meets
them. Listing reads the ids of a kind, sorts them, and fetches documents a
page at a time.

Chroma offers no compaction call. For an embedded store, optimize runs VACUUM
and ANALYZE on the ``chroma.sqlite3`` file it keeps its records in (SQLite's
locking makes that safe beside the open client); HNSW files are Chroma's own.
A server (``chroma run``) maintains itself, so a client has nothing to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import apsw

from .client import PLACEHOLDER_VECTOR, chroma_errors, side_collection

JOURNAL_SUFFIX = "__journal"
PAGE = 200
_SEPARATOR = "\x1f"


class ChromaJournal:
    def __init__(self, client: Any, collection: str, url: str) -> None:
        self.url = url
        self._col = side_collection(client, collection, JOURNAL_SUFFIX, url)

    def put(self, kind: str, key: str, value: dict[str, Any]) -> None:
        with chroma_errors(self.url):
            self._col.upsert(
                ids=[kind + _SEPARATOR + key],
                embeddings=[PLACEHOLDER_VECTOR],
                documents=[json.dumps(value, ensure_ascii=False)],
                metadatas=[{"kind": kind}],
            )

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with chroma_errors(self.url):
            found = self._col.get(ids=[kind + _SEPARATOR + key], include=["documents"])
        return json.loads(found["documents"][0]) if found["ids"] else None

    def list(self, kind: str, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
        with chroma_errors(self.url):
            ids = self._col.get(where={"kind": kind}, include=[])["ids"]
        start = kind + _SEPARATOR + prefix
        wanted = sorted(i for i in ids if i.startswith(start))
        for first in range(0, len(wanted), PAGE):
            page = wanted[first : first + PAGE]
            with chroma_errors(self.url):
                found = self._col.get(ids=page, include=["documents"])
            documents = dict(zip(found["ids"], found["documents"], strict=True))
            for record_id in page:
                if record_id in documents:
                    yield record_id.split(_SEPARATOR, 1)[1], json.loads(documents[record_id])

    def delete(self, kind: str, keys: Sequence[str]) -> None:
        for first in range(0, len(keys), PAGE):
            with chroma_errors(self.url):
                self._col.delete(ids=[kind + _SEPARATOR + k for k in keys[first : first + PAGE]])


def optimize(path: Path | None) -> list[str]:
    """VACUUM and ANALYZE an embedded store's SQLite file; nothing for a server."""
    if path is None:
        return ["chroma server: it compacts its own storage; nothing to do from a client"]
    database = path / "chroma.sqlite3"
    conn = apsw.Connection(str(database))
    try:
        conn.setbusytimeout(60_000)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("ANALYZE")
        conn.execute("VACUUM")
    finally:
        conn.close()
    return [
        "chroma.sqlite3: refreshed planner statistics (ANALYZE)",
        "chroma.sqlite3: rewrote the file (VACUUM)",
    ]
