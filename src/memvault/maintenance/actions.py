"""Upkeep as the interfaces run it: one function per command, JSON-ready results.

The CLI, the HTTP jobs and the MCP tools call these, so ``memvault dedup
--apply``, ``POST /api/v1/maintenance/dedup`` and ``memory_consolidate`` do
the same thing in the same order: finish an interrupted operation of the same
kind first (a rerun finishes the job), then plan, then apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from .duplicates import DEFAULT_THRESHOLD, DuplicatePlan
from .oplog import Progress
from .summarize import DEFAULT_SIMILARITY, MAX_GROUP, MIN_GROUP
from .upkeep import Upkeep

Age = str | timedelta | datetime | None
# A dry-run archive lists this many of the memories it would move, each
# with this many characters of its content.
DRY_RUN_LISTED = 100
PREVIEW = 200


def dedup(
    upkeep: Upkeep,
    *,
    namespace: str | None = None,
    filter: Mapping[str, Any] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    keep: str = "newest",
    method: str = "auto",
    apply: bool = False,
    clusters: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The duplicate plan; with ``apply``, also the consolidation that carried it out.

    An interrupted consolidation that had begun merging is finished instead
    (its plan was the one asked for); one that had not is abandoned (listed
    under ``abandoned``) and this run plans and applies afresh.
    """
    resumed = upkeep.resume(kind="dedup", progress=progress) if apply else []
    if any(op.status != "abandoned" for op in resumed):
        return {"resumed": [op.to_dict() for op in resumed]}
    plan = upkeep.find_duplicates(
        namespace=namespace,
        filter=filter,
        threshold=threshold,
        keep=keep,
        method=method,
        progress=progress,
    )
    plan = plan.select(list(clusters) if clusters else None)
    out: dict[str, Any] = {"plan": plan.to_dict(), "applied": False}
    if resumed:
        out["abandoned"] = [op.to_dict() for op in resumed]
    if apply and plan.clusters:
        out["operation"] = upkeep.consolidate(plan, progress=progress).to_dict()
        out["applied"] = True
    return out


def consolidate(
    upkeep: Upkeep, plan: DuplicatePlan, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Merge a plan made earlier (e.g. as a person chose, ``selection.choose``), after
    finishing an interrupted dedup, as ``dedup`` with ``apply`` does."""
    resumed = upkeep.resume(kind="dedup", progress=progress)
    op = upkeep.consolidate(plan, progress=progress) if plan.clusters else None
    return {"resumed": [o.to_dict() for o in resumed], "operation": op.to_dict() if op else None}


def archive(
    upkeep: Upkeep,
    *,
    older_than: Age = None,
    namespace: str | None = None,
    filter: Mapping[str, Any] | None = None,
    path: str | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Archive what matches (or, dry, count it and list the first ``DRY_RUN_LISTED``);
    finishes an interrupted archive first."""
    criteria = upkeep.archive_selection(filter, namespace, older_than)
    if dry_run:
        matching = criteria.with_changes(include_expired=True)
        first = next(
            upkeep.store.scan(matching, batch_size=DRY_RUN_LISTED, with_embedding=False), ([], "")
        )[0]
        return {
            "dry_run": True,
            "matched": upkeep.store.count(matching),
            "created_before": criteria.created_before.isoformat()
            if criteria.created_before
            else None,
            "would_archive": [
                {
                    "id": m.id,
                    "namespace": m.namespace,
                    "created_at": m.created_at.isoformat(),
                    "tags": list(m.tags),
                    "content": m.content[:PREVIEW],
                }
                for m in first
            ],
        }
    resumed = upkeep.resume(kind="archive", progress=progress)
    op = upkeep.archive(
        older_than=older_than, namespace=namespace, filter=filter, path=path, progress=progress
    )
    return {
        "dry_run": False,
        "resumed": [o.to_dict() for o in resumed],
        "operation": op.to_dict() if op else None,
    }


def summarize(
    upkeep: Upkeep,
    *,
    older_than: Age = None,
    namespace: str | None = None,
    filter: Mapping[str, Any] | None = None,
    similarity: float = DEFAULT_SIMILARITY,
    min_group: int = MIN_GROUP,
    max_group: int = MAX_GROUP,
    archive_originals: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    resumed = [] if dry_run else upkeep.resume(kind="summarize", progress=progress)
    items, op = upkeep.summarize(
        older_than=older_than,
        namespace=namespace,
        filter=filter,
        similarity=similarity,
        min_group=min_group,
        max_group=max_group,
        archive_originals=archive_originals,
        dry_run=dry_run,
        progress=progress,
    )
    return {
        "dry_run": dry_run,
        "resumed": [o.to_dict() for o in resumed],
        "summaries": [{**item, "created_at": item["created_at"].isoformat()} for item in items],
        "operation": op.to_dict() if op else None,
    }


def optimize(upkeep: Upkeep, *, progress: Progress | None = None) -> dict[str, Any]:
    resumed = upkeep.resume(kind="expire", progress=progress)
    report = upkeep.optimize(progress=progress).to_dict()
    return {**report, "resumed": [o.to_dict() for o in resumed]}


def undo(
    upkeep: Upkeep, operation_id: str, *, force: bool = False, progress: Progress | None = None
) -> dict[str, Any]:
    return upkeep.undo(operation_id, force=force, progress=progress).to_dict()


def operations(upkeep: Upkeep, *, namespace: str | None = None) -> dict[str, Any]:
    return {"operations": [op.to_dict() for op in upkeep.operations(namespace=namespace)]}
