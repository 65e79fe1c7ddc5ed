"""Consolidation: merge each duplicate cluster into its survivor, logged and undoable.

For every selected cluster of a ``DuplicatePlan`` the members are read again
(the plan may be minutes old), their before-images (with chunks and vectors)
are logged and written to a backup dump, and only then is anything changed:
the survivor takes the merged tags, metadata and importance, and the others
are deleted. Each step is idempotent and changes the survivor before removing
anything, so a crash at any point loses nothing and ``resume`` finishes the
job. ``undo`` puts every before-image back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import Conflict
from ..model import Memory, MemoryChanges
from ..stores import Store
from .duplicates import DuplicatePlan
from .images import (
    before_images,
    changes_from_dict,
    changes_to_dict,
    from_records,
    put_back,
    to_records,
    write_backup,
)
from .merge import merged_changes
from .oplog import Operation, OperationLog, Progress

KIND = "dedup"


def consolidate(store: Store, plan: DuplicatePlan, *, backup_dir: Path,
                progress: Progress | None = None) -> Operation:
    """Apply ``plan``: log and back up, then merge cluster by cluster."""
    log = OperationLog(store)
    op = log.begin(KIND, plan.namespace, {"threshold": plan.threshold, "keep": plan.keep,
                                          "clusters": [c.id for c in plan.clusters]})
    images: list[Memory] = []

    def steps() -> Iterator[dict[str, Any]]:
        for cluster in plan.clusters:
            step = _step(store, [m.id for m in cluster.members], plan.chunks, cluster.id,
                         op.id, images)
            if step is not None:
                yield step

    count = log.log_steps(op, steps())
    backup = write_backup(store, images, backup_dir / f"{op.id}.jsonl.gz")
    # Pending only now: from here on the operation can always be finished or undone.
    op = log.set(op, status="pending", steps=count, backup=str(backup))
    return _run(log, op, progress)


def resume_one(store: Store, op: Operation, progress: Progress | None = None) -> Operation:
    """Finish an interrupted consolidation (or its undo), or drop one that changed nothing."""
    log = OperationLog(store)
    if op.status == "preparing":
        return log.abandon(op)
    if op.status == "pending":
        return _run(log, op, progress)
    return undo(store, op.id, force=True, progress=progress)


def undo(store: Store, op_id: str, *, force: bool = False,
         progress: Progress | None = None) -> Operation:
    """Put back every memory the consolidation changed or removed, exactly as it was.

    Refuses (Conflict) when a survivor was changed after the merge, since undo
    would discard that change; ``force`` undoes anyway.
    """
    log = OperationLog(store)
    op = log.get(op_id)
    if op.status in ("undone", "abandoned"):
        return op
    if op.status == "preparing":
        return log.abandon(op)
    if op.status != "undoing" and not force:
        changed = _changed_survivors(store, log, op)
        if changed:
            raise Conflict(f"{len(changed)} merged memories changed after operation {op.id} "
                           f"(first: {changed[0]}); undo would discard those changes. "
                           "Use force to undo anyway", field="operation_id")
    op = log.set(op, status="undoing")
    for done, step in enumerate(log.steps(op), start=1):
        put_back(store, from_records(step["before"]))
        if progress is not None:
            progress("undo", done, op.steps)
    return log.set(op, status="undone")


def _step(store: Store, member_ids: Sequence[str], chunks: Mapping[str, Sequence[str]],
          cluster_id: str, op_id: str, images: list[Memory]) -> dict[str, Any] | None:
    """The logged form of merging one cluster, from the members as they are now."""
    current = {m.id: m for m in store.get_many(member_ids)}
    ranked = [current[i] for i in member_ids if i in current]
    if len(ranked) < 2:
        return None  # the cluster fell apart since the analysis
    before = before_images(store, [m.id for m in ranked], chunks)
    images.extend(before)
    return {"cluster": cluster_id, "survivor": ranked[0].id,
            "remove": [m.id for m in ranked[1:]],
            "changes": changes_to_dict(merged_changes(ranked, op_id)),
            "before": to_records(before)}


def _run(log: OperationLog, op: Operation, progress: Progress | None) -> Operation:
    merged = removed = 0
    for done, step in enumerate(log.steps(op), start=1):
        if log.store.get_many([step["survivor"]]):
            # Merge first, delete second: a crash in between leaves duplicates, not loss.
            log.store.update(step["survivor"], changes_from_dict(step["changes"]))
            log.store.delete(step["remove"])
            merged += 1
            removed += len(step["remove"])
        if progress is not None:
            progress("merge", done, op.steps)
    return log.set(op, status="applied", result={"clusters": merged, "removed": removed})


def _changed_survivors(store: Store, log: OperationLog, op: Operation) -> list[str]:
    changed = []
    for step in log.steps(op):
        found = store.get_many([step["survivor"]])
        if found and not _has(found[0], changes_from_dict(step["changes"])):
            changed.append(found[0].id)
    return changed


def _has(memory: Memory, changes: MemoryChanges) -> bool:
    return (memory.tags == changes.tags and memory.metadata == changes.metadata
            and memory.importance == changes.importance)
