"""Consolidation: merge each duplicate cluster into its survivor, logged and undoable.

For every selected cluster of a ``DuplicatePlan`` the members are read again
(the plan may be minutes old), their before-images (with chunks and vectors)
are logged and written to a backup dump, and only then is anything changed:
the survivor takes the merged tags, metadata and importance, and the others
are deleted. Each step is idempotent and changes the survivor before removing
anything, so a crash at any point loses nothing and ``resume`` finishes the
job. Undo (``oplog.undo``) puts every before-image back, and refuses while a
survivor carries changes made after the merge.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

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
from .oplog import Lifecycle, Operation, OperationLog, Progress, register

KIND = "dedup"


def consolidate(
    store: Store, plan: DuplicatePlan, *, backup_dir: Path, progress: Progress | None = None
) -> Operation:
    """Apply ``plan``: log and back up, then merge cluster by cluster."""
    log = OperationLog(store)
    op = log.begin(
        KIND,
        plan.namespace,
        {"threshold": plan.threshold, "keep": plan.keep, "clusters": [c.id for c in plan.clusters]},
        backup=lambda op_id: backup_dir / f"{op_id}.jsonl.gz",
    )
    images: list[Memory] = []

    def steps() -> Iterator[dict[str, Any]]:
        for done, cluster in enumerate(plan.clusters, start=1):
            step = _step(
                store, [m.id for m in cluster.members], plan.chunks, cluster.id, op.id, images
            )
            if step is not None:
                yield step
            if progress is not None:
                progress("prepare", done, len(plan.clusters))

    def backed_up() -> Iterator[Memory]:
        for done, image in enumerate(images, start=1):
            yield image
            if progress is not None:
                progress("backup", done, len(images))

    count = log.log_steps(op, steps())
    write_backup(store, backed_up(), Path(op.backup or ""))
    # Pending only now: from here on the operation can always be finished or undone.
    op = log.set(op, status="pending", steps=count)
    return _run(log, op, progress)


def _reverse(log: OperationLog, op: Operation, progress: Progress | None) -> dict[str, Any]:
    """Put back every memory the consolidation changed or removed, exactly as it was."""
    for done, step in enumerate(log.steps(op), start=1):
        put_back(log.store, from_records(step["before"]))
        if progress is not None:
            progress("undo", done, op.steps)
    return {}


def _step(
    store: Store,
    member_ids: Sequence[str],
    chunks: Mapping[str, Sequence[str]],
    cluster_id: str,
    op_id: str,
    images: list[Memory],
) -> dict[str, Any] | None:
    """The logged form of merging one cluster, from the members as they are now."""
    current = {m.id: m for m in store.get_many(member_ids)}
    ranked = [current[i] for i in member_ids if i in current]
    if len(ranked) < 2:
        return None  # the cluster fell apart since the analysis
    before = before_images(store, [m.id for m in ranked], chunks)
    images.extend(before)
    return {
        "cluster": cluster_id,
        "survivor": ranked[0].id,
        "remove": [m.id for m in ranked[1:]],
        "changes": changes_to_dict(merged_changes(ranked, op_id)),
        "before": to_records(before),
    }


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


def _changed_survivors(log: OperationLog, op: Operation) -> list[str]:
    changed = []
    for step in log.steps(op):
        found = log.store.get_many([step["survivor"]])
        if found and not _has(found[0], changes_from_dict(step["changes"])):
            changed.append(found[0].id)
    return changed


def _has(memory: Memory, changes: MemoryChanges) -> bool:
    return (
        memory.tags == changes.tags
        and memory.metadata == changes.metadata
        and memory.importance == changes.importance
    )


register(KIND, Lifecycle(finish=_run, reverse=_reverse, conflicts=_changed_survivors))
