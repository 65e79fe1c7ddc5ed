"""The MCP upkeep tools: ``memory_duplicates`` (read-only) and ``memory_consolidate``.

``memory_consolidate`` plans unless told ``dry_run=false``; then it merges
the clusters (all, or those named) with a backup and an operation log, and
says how to undo. Both run ``maintenance.actions.dedup``, as ``memvault
dedup`` and ``POST /api/v1/maintenance/dedup`` do.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from ...maintenance import actions
from ...maintenance.duplicates import DEFAULT_THRESHOLD
from ..work import Outcome, Target
from .declare import DESTRUCTIVE, READ_ONLY, tool
from .results import MemoryOut, public

MAX_CLUSTERS = 100

Threshold = Annotated[
    float,
    Field(
        gt=0,
        le=1,
        description="Cosine similarity from which two memories count as near "
        "duplicates (default 0.95; 0.9 finds more, with more mistakes).",
    ),
]
Keep = Annotated[
    Literal["newest", "important", "longest"],
    Field(
        description="Which memory of a cluster survives: the newest, the most important, or "
        "the longest."
    ),
]
Limit = Annotated[
    int,
    Field(ge=1, le=MAX_CLUSTERS, description="How many clusters to show (1-100), largest first."),
]


class DuplicateOut(BaseModel):
    memory: MemoryOut
    similarity: float
    match: Literal["exact", "near"]


class ClusterOut(BaseModel):
    id: str
    kind: Literal["exact", "near"]
    size: int
    min_similarity: float
    survivor: MemoryOut
    duplicates: list[DuplicateOut]
    merged_tags: list[str]


class DuplicatesOut(BaseModel):
    namespace: str
    threshold: float
    keep: str
    scanned: int
    clusters: int
    redundant: int
    duplicate_ratio: float
    shown: list[ClusterOut]


class ConsolidateOut(DuplicatesOut):
    dry_run: bool
    operation: dict[str, Any] | None = None
    resumed: list[dict[str, Any]] = []


def _outcome(data: dict[str, Any], limit: int, *, dry_run: bool | None = None) -> Outcome:
    plan = data["plan"]
    shown = [
        {
            "id": c["id"],
            "kind": c["kind"],
            "size": c["size"],
            "min_similarity": c["min_similarity"],
            "survivor": public(c["survivor"]),
            "duplicates": [{**d, "memory": public(d["memory"])} for d in c["duplicates"]],
            "merged_tags": c["merged"]["tags"],
        }
        for c in plan["plan"][:limit]
    ]
    out: dict[str, Any] = {
        key: plan[key]
        for key in (
            "namespace",
            "threshold",
            "keep",
            "scanned",
            "clusters",
            "redundant",
            "duplicate_ratio",
        )
    }
    out["shown"] = shown
    lines = [
        f"{plan['clusters']} clusters of duplicates, {plan['redundant']} of "
        f"{plan['scanned']} memories redundant (threshold {plan['threshold']})."
    ]
    for i, c in enumerate(shown, start=1):
        merges = "; ".join(repr(d["memory"]["content"][:80]) for d in c["duplicates"])
        lines.append(
            f"{i}. cluster {c['id']} ({c['kind']}, min similarity "
            f"{c['min_similarity']}): keeps {c['survivor']['content'][:80]!r}, "
            f"merges {merges}"
        )
    if dry_run is not None:
        out["dry_run"] = dry_run
        out["operation"] = data.get("operation")
        if out["operation"]:
            op = out["operation"]
            lines.append(
                f"Merged {op['result']['clusters']} clusters, removed "
                f"{op['result']['removed']} memories (operation {op['id']}; undo with "
                f"memvault undo {op['id']})."
            )
        elif dry_run and plan["clusters"]:
            lines.append(
                "Dry run: nothing changed. Call again with dry_run=false (and "
                "clusters=[ids] to pick) to merge."
            )
    return Outcome(out, "\n".join(lines))


@tool("Find duplicate memories", READ_ONLY, "read", DuplicatesOut)
def memory_duplicates(
    at: Target,
    threshold: Threshold = DEFAULT_THRESHOLD,
    keep: Keep = "newest",
    limit: Limit = 20,
) -> Outcome:
    """Find memories that say the same thing: exact (same text up to case and punctuation)
    and near duplicates (similar meaning, same numbers and dates). Read-only: shows the
    clusters, which memory would survive and the tags it would gather.
    """
    data = actions.dedup(at.vault.upkeep, namespace=at.namespace, threshold=threshold, keep=keep)
    return _outcome(data, limit)


# Merging is upkeep: admin. Idempotent: a second identical call finds nothing to merge.
@tool("Merge duplicate memories", DESTRUCTIVE, "admin", ConsolidateOut)
def memory_consolidate(
    at: Target,
    dry_run: Annotated[
        bool, Field(description="true (default): only show the plan; false: merge.")
    ] = True,
    clusters: Annotated[
        list[str] | None,
        Field(description="Only these cluster ids (from memory_duplicates); default all."),
    ] = None,
    threshold: Threshold = DEFAULT_THRESHOLD,
    keep: Keep = "newest",
    limit: Limit = 20,
) -> Outcome:
    """Merge duplicate memories: each cluster's survivor takes all tags, the merged
    metadata and the ids it absorbed; the others are removed. A backup and an undo log
    are written first (undo with `memvault undo OPERATION_ID`). Dry run by default.
    """
    data = actions.dedup(
        at.vault.upkeep,
        namespace=at.namespace,
        threshold=threshold,
        keep=keep,
        apply=not dry_run,
        clusters=clusters,
    )
    if "resumed" in data:
        ops = data["resumed"]
        return Outcome(
            {
                "namespace": at.namespace,
                "threshold": threshold,
                "keep": keep,
                "scanned": 0,
                "clusters": 0,
                "redundant": 0,
                "duplicate_ratio": 0.0,
                "shown": [],
                "dry_run": False,
                "resumed": ops,
            },
            "Finished an interrupted consolidation first: "
            + ", ".join(f"{op['id']} ({op['status']})" for op in ops)
            + ". Call again to look for more duplicates.",
        )
    return _outcome(data, limit, dry_run=dry_run)
