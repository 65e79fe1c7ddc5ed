"""Archive: move memories out of the store into a dump file, and bring them back.

An archive is a memvault dump (``transfer.dump``): gzip JSON Lines with a
header, every field and every vector, chunks included, so a restore needs no
re-embedding and gives back exactly what left. The order is crash-safe: the
file is written completely (the dump writer renames it into place only when
whole) and logged before the first delete, and the deletes are idempotent, so
an interrupted archive is finished by ``oplog.resume``; undo restores the file.

Expired memories (``expires_at`` passed) are archived like any other when the
filter matches them; ``purge_expired`` archives exactly those, for optimize.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..model import EmbeddingSpec, Filter, Memory, utcnow
from ..stores import Store
from ..transfer.dump import read_dump
from .images import write_backup
from .oplog import Lifecycle, Operation, OperationLog, Progress, register

KIND = "archive"
BATCH = 500


def filter_params(flt: Filter) -> dict[str, Any]:
    """A filter as the JSON the operation log keeps, for people reading it later."""
    out: dict[str, Any] = {"namespace": flt.namespace}
    for name in ("tags_any", "tags_all", "memory_type", "metadata"):
        if getattr(flt, name):
            out[name] = list(getattr(flt, name)) if name.startswith("tags") else getattr(flt, name)
    for name in ("created_after", "created_before"):
        if getattr(flt, name) is not None:
            out[name] = getattr(flt, name).isoformat()
    return out


def archive(
    store: Store,
    flt: Filter,
    path: Path,
    *,
    kind: str = KIND,
    only: Callable[[Memory], bool] | None = None,
    total: int | None = None,
    progress: Progress | None = None,
) -> Operation | None:
    """Write the memories ``flt`` matches (and ``only`` accepts) to ``path``, then delete them.

    Expired memories that match are included. Returns the logged operation
    (``result["archived"]`` counts top-level memories), or None when nothing
    matched. ``total``, when the caller knows it, is shown as progress.
    """
    if path.exists():
        raise InvalidInput(f"{path} already exists; archives are never overwritten", field="path")
    selected = flt.with_changes(include_chunks=True, include_expired=True)
    total = store.count(flt.with_changes(include_expired=True)) if total is None else total
    if total == 0:
        return None
    log = OperationLog(store)
    op = log.begin(
        kind,
        flt.namespace,
        {"filter": filter_params(flt), "path": str(path)},
        backup=lambda _: path,
    )
    seen = 0

    def memories() -> Iterator[Memory]:
        nonlocal seen
        for batch, _ in store.scan(selected, batch_size=BATCH, with_embedding=True):
            for memory in batch:
                if only is None or only(memory):
                    seen += memory.parent_id is None
                    yield memory
            if progress is not None:
                progress("write", seen, total)

    write_backup(store, memories(), path)
    op = log.set(op, status="pending")
    return _delete_archived(log, op, progress)


def _reverse(log: OperationLog, op: Operation, progress: Progress | None) -> dict[str, Any]:
    return {"restored": restore_archive(log.store, Path(op.backup or ""), progress=progress)}


def restore_archive(
    store: Store, path: Path, *, progress: Progress | None = None
) -> dict[str, int]:
    """Add an archive's memories back (ids, timestamps, vectors as they were).

    Memories whose content is in their namespace again are skipped, so a
    restore can be repeated. A parent and its chunks always go in one batch.
    """
    header, memories = read_dump(path)
    if header.model is None or header.dimension is None:
        raise InvalidInput(f"{path} holds no vectors; archives always do", field="path")
    store.bind_embedding(EmbeddingSpec(header.model, header.dimension))
    restored = skipped = 0
    batch: list[Memory] = []

    def flush() -> None:
        nonlocal restored, skipped
        for memory, created in store.add(batch):
            if memory.parent_id is None:
                restored += created
                skipped += not created
        batch.clear()
        if progress is not None:
            progress("restore", restored + skipped, header.count)

    for memory in memories:
        if memory.parent_id is None and len(batch) >= BATCH:
            flush()
        batch.append(memory)
    flush()
    return {"restored": restored, "skipped": skipped}


def _delete_archived(log: OperationLog, op: Operation, progress: Progress | None) -> Operation:
    """Delete what the archive file holds, batch by batch; rerunning is harmless."""
    _, memories = read_dump(Path(op.backup or ""))
    archived = 0
    ids: list[str] = []
    for memory in memories:
        if memory.parent_id is None:
            ids.append(memory.id)
        if len(ids) >= BATCH:
            log.store.delete(ids)
            archived += len(ids)
            ids = []
            if progress is not None:
                progress("delete", archived, None)
    log.store.delete(ids)
    archived += len(ids)
    return log.set(op, status="applied", result={"archived": archived, "at": utcnow().isoformat()})


LIFECYCLE = Lifecycle(finish=_delete_archived, reverse=_reverse)
register(KIND, LIFECYCLE)
