"""A copy of a Chroma collection another tool wrote, kept before memvault takes it over.

A memvault dump holds memories, and not every record of another tool's
collection is one (a record with no document, say). So the backup taken
before ``migrate --replace`` empties such a collection is a verbatim copy:
gzip JSON Lines like a dump, the header line::

    {"format": "chroma-collection-copy", "version": 1, "count": 302,
     "collection": "memory_collection", "metadata": {...}, "hnsw": {...},
     "source": "chroma:///...", "created": "..."}

then one record per line: ``id``, ``document``, ``metadata`` as Chroma held
them and ``vector`` (base64 of little-endian float32, as in a dump).
``memvault restore COPY --replace`` with the collection's URL puts it back
exactly: the collection is as the other tool left it, memvault's records gone.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import Conflict, InvalidInput
from ..model import utcnow
from ..stores import open_store
from ..stores.chroma import ChromaTarget, parse_chroma_url, verbatim
from .backup import backup_path, backup_to_dump
from .dump import GZIP_MAGIC, open_lines, parse_line, write_lines
from .peers import chroma_layout
from .progress import NULL_PROGRESS, Progress
from .records import decode_vector, encode_vector
from .report import MigrationReport
from .source import CHROMA_SCHEMES

FORMAT = "chroma-collection-copy"
VERSION = 1
COPY_SUFFIX = ".chroma.jsonl.gz"


def copy_collection(
    target: ChromaTarget, settings: Settings, progress: Progress = NULL_PROGRESS
) -> tuple[Path, int]:
    """Copy every record of the collection into the backups directory; the file and count."""
    path = backup_path(target.url, settings, COPY_SUFFIX)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "collection": target.collection,
        **verbatim.describe(target),
        "source": target.url,
        "created": utcnow().isoformat(),
    }
    progress.start(f"Backing up {target.collection} to {path.name}", None)

    def lines() -> Iterator[dict[str, Any]]:
        for record in verbatim.read_records(target):
            vector = encode_vector(record.pop("embedding"))
            yield {**record, "vector": vector}
            progress.advance(1)

    try:
        count = write_lines(path, lines(), lambda n: {**header, "count": n})
    finally:
        progress.finish()
    return path, count


def is_collection_copy(path: str | Path) -> bool:
    """Whether a file is such a copy (its header names the format)."""
    path = Path(path)
    try:
        with open(path, "rb") as probe:
            if probe.read(2) != GZIP_MAGIC and path.suffix.lower() not in (".json", ".jsonl"):
                return False
    except OSError:
        return False  # the restore of a dump names what is wrong with the file
    stream, first = open_lines(path)
    stream.close()
    return isinstance(first, dict) and first.get("format") == FORMAT


def restore_collection(
    path: str | Path,
    url: str,
    *,
    replace: bool,
    settings: Settings,
    progress: Progress = NULL_PROGRESS,
) -> MigrationReport:
    """Put a collection copy back into the Chroma collection ``url`` names, exactly.

    A collection that holds records is replaced only with ``replace``, after a
    backup: a dump of its memories if memvault wrote it, else a copy like this one.
    """
    if url.split("://", 1)[0].lower() not in CHROMA_SCHEMES:
        raise InvalidInput(
            f"{path} is a copy of a Chroma collection; restore it into a chroma:// URL",
            field="target_url",
        )
    started = time.perf_counter()
    target = parse_chroma_url(url)
    header = _header(path)
    # The whole file is read once, and found sound, before anything changes.
    report = MigrationReport(
        source=str(path), target=url, source_count=sum(1 for _ in _records(path, header))
    )
    layout = chroma_layout(target)
    if layout is not None:
        held = verbatim.count(target)
        if held and not replace:
            raise Conflict(
                f"{url} holds {held} records; restore writes only into an empty "
                f"collection. Pass --replace to replace them (a backup is taken first)",
                field="target_url",
            )
        if held and layout == "memvault":
            store = open_store(url, settings, create=False)
            try:
                report.backup = str(backup_to_dump(store, settings, progress))
            finally:
                store.close()
        elif held:
            report.backup = str(copy_collection(target, settings, progress)[0])
    report.removed, report.moved = verbatim.write_collection(
        target, {"metadata": header["metadata"], "hnsw": header["hnsw"]}, _records(path, header)
    )
    report.elapsed = time.perf_counter() - started
    return report


def _header(path: str | Path) -> dict[str, Any]:
    stream, first = open_lines(path)
    stream.close()
    if not (isinstance(first, dict) and first.get("format") == FORMAT):
        raise InvalidInput(f"{path}: not a copy of a Chroma collection", field="dump")
    if first.get("version") != VERSION or not all(
        isinstance(first.get(k), dict) for k in ("metadata", "hnsw")
    ):
        raise InvalidInput(
            f"{path}: copy format version {first.get('version')!r} is not supported", field="dump"
        )
    return first


def _records(path: str | Path, header: dict[str, Any]) -> Iterator[dict[str, Any]]:
    stream, _ = open_lines(path)
    count = 0
    with contextlib.closing(stream):
        for line_no, raw in enumerate(stream, start=2):
            if not raw.strip():
                continue
            record = parse_line(raw, f"{path}:{line_no}")
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                raise InvalidInput(f"{path}:{line_no}: a record needs an id", field="dump")
            try:
                vector = decode_vector(record["vector"], None)
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidInput(
                    f"{path}:{line_no}: vector is not valid: {exc}", field="vector"
                ) from None
            count += 1
            yield {
                "id": record["id"],
                "document": record.get("document"),
                "metadata": record.get("metadata"),
                "embedding": vector,
            }
    if count != header.get("count"):
        raise InvalidInput(
            f"{path}: header says {header.get('count')} records, the file holds {count}: "
            f"the copy is incomplete",
            field="dump.count",
        )
