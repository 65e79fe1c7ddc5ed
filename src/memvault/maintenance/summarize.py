"""Progressive summarization: one ``summary`` memory per group of related old memories.

Related is cosine ≥ ``similarity`` (default 0.55: MiniLM scores sentences on
one topic about 0.45 to 0.7, unrelated ones below 0.3). Grouping is
star-shaped, not transitive, so a group cannot drift from topic to topic: the
memory with the most neighbours not yet grouped becomes a centre and takes
them, up to ``max_group``; a group needs ``min_group`` members. Summaries, and
memories a summary already covers, are left out: a rerun summarizes only what
is new.

Each summary keeps its provenance in metadata: ``summary_of`` (the source
ids), ``source_count``, ``first_created_at`` and ``last_created_at``, the
``summarizer`` and the ``summary_operation``. It is dated like its newest
source so time recall still finds it in the right period. The originals stay
unless ``archive_originals``, which moves them to an archive file.

Summaries are embedded before anything is written and logged with their
vectors, so finishing an interrupted run or undoing one needs no model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInput
from ..inputs import check_k
from ..model import Filter, Memory
from ..stores import Store
from .archiving import archive, filter_params
from .images import from_records, to_records
from .neighbours import similar_pairs
from .oplog import Lifecycle, Operation, OperationLog, Progress, register, undo
from .summarizers import Summarizer
from .vectors import VectorTable

KIND = "summarize"
SUMMARY_TYPE = "summary"
DEFAULT_SIMILARITY = 0.55
MIN_GROUP = 3
MAX_GROUP = 25

Prepare = Callable[[list[dict[str, Any]]], list[Memory]]
"""Turns summary items (as for ``Vault.store_many``) into memories with vectors,
each followed by its chunks."""


def check_groups(min_group: int, max_group: int) -> None:
    """A group is at least 2 memories and ``min_group`` at most ``max_group``."""
    if not 2 <= check_k(min_group, "min_group") <= check_k(max_group, "max_group"):
        raise InvalidInput("min_group must be at least 2 and at most max_group", field="min_group")


def group_related(
    table: VectorTable, similarity: float, min_group: int, max_group: int
) -> list[list[int]]:
    """Star groups of row indices (see the module docstring), oldest member first."""
    first, second, sims = similar_pairs(table.vectors, similarity)
    neighbours: list[list[tuple[float, int]]] = [[] for _ in table.ids]
    for i, j, s in zip(first.tolist(), second.tolist(), sims.tolist(), strict=True):
        neighbours[i].append((s, j))
        neighbours[j].append((s, i))
    taken = np.zeros(len(table.ids), dtype=bool)
    groups = []
    for centre in sorted(range(len(table.ids)), key=lambda i: (-len(neighbours[i]), i)):
        if taken[centre]:
            continue
        free = sorted((n for n in neighbours[centre] if not taken[n[1]]), reverse=True)
        members = [centre, *(j for _, j in free[: max_group - 1])]
        if len(members) < min_group:
            continue
        taken[members] = True
        groups.append(sorted(members, key=lambda i: (table.candidates[i].created_at, i)))
    return groups


def plan_summaries(
    store: Store,
    flt: Filter,
    summarizer: Summarizer,
    *,
    similarity: float = DEFAULT_SIMILARITY,
    min_group: int = MIN_GROUP,
    max_group: int = MAX_GROUP,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """The summary items a run would store (content, tags, metadata, ...), none written."""
    covered = _covered(store, flt.namespace)
    table = VectorTable.read(
        store,
        flt,
        progress=progress,
        keep=lambda m: m.memory_type != SUMMARY_TYPE and m.id not in covered,
    )
    groups = group_related(table, similarity, min_group, max_group)
    items = []
    for done, group in enumerate(groups, start=1):
        memories = store.get_many([table.ids[i] for i in group])
        if len(memories) >= min_group:
            items.append(_summary_item(memories, summarizer))
        if progress is not None:
            progress("summarize", done, len(groups))
    return items


def summarize(
    store: Store,
    flt: Filter,
    items: Sequence[dict[str, Any]],
    prepare: Prepare,
    *,
    archive_originals: bool = False,
    archive_dir: Path,
    progress: Progress | None = None,
) -> Operation | None:
    """Store the planned summaries (logged first), then archive the originals if asked."""
    if not items:
        return None
    log = OperationLog(store)
    op = log.begin(
        KIND,
        flt.namespace,
        {
            "filter": filter_params(flt),
            "groups": len(items),
            "archive_originals": archive_originals,
            "archive_dir": str(archive_dir),
        },
    )
    stamped = [
        {**item, "metadata": {**item["metadata"], "summary_operation": op.id}} for item in items
    ]
    memories = prepare(stamped)
    parents = [m for m in memories if m.parent_id is None]
    count = log.log_steps(
        op,
        (
            {
                "records": to_records(m for m in memories if (m.parent_id or m.id) == parent.id),
                "sources": item["metadata"]["summary_of"],
            }
            for parent, item in zip(parents, stamped, strict=True)
        ),
    )
    return _run(log, log.set(op, status="pending", steps=count), progress)


def _reverse(log: OperationLog, op: Operation, progress: Progress | None) -> dict[str, Any]:
    """Delete the summaries this run stored and bring back originals it archived."""
    if op.result.get("archive_operation"):
        undo(log.store, op.result["archive_operation"], progress=progress)
    ids = []
    for step in log.steps(op):
        summary = from_records(step["records"][:1])[0]
        found = log.store.get(summary.content_hash, summary.namespace)
        if found is not None and found.metadata.get("summary_operation") == op.id:
            ids.append(found.id)
    log.store.delete(ids)
    return {}


def _run(log: OperationLog, op: Operation, progress: Progress | None) -> Operation:
    summaries: list[str] = []
    sources: list[str] = []
    for done, step in enumerate(log.steps(op), start=1):
        # Adding is idempotent by content: a rerun finds the summary already there.
        stored = log.store.add(from_records(step["records"]))
        summary, _created = stored[0]  # the summary; its chunks, if any, follow it
        summaries.append(summary.id)
        sources += step["sources"]
        if progress is not None:
            progress("store", done, op.steps)
    result: dict[str, Any] = {"summaries": summaries, "sources": len(sources)}
    if op.params.get("archive_originals"):
        result["archive_operation"] = _archive_sources(log, op, set(sources), progress)
    return log.set(op, status="applied", result=result)


def _archive_sources(
    log: OperationLog, op: Operation, sources: set[str], progress: Progress | None
) -> str | None:
    path = Path(op.params["archive_dir"]) / f"{op.id}-originals.jsonl.gz"
    for earlier in log.list(kind="archive"):
        if earlier.params.get("path") == str(path):
            return earlier.id  # archived before an interruption; resume finished it
    archived = archive(
        log.store,
        Filter(namespace=op.namespace),
        path,
        total=len(sources),
        only=lambda m: (m.parent_id or m.id) in sources,
        progress=progress,
    )
    return archived.id if archived else None


def _covered(store: Store, namespace: str | None) -> set[str]:
    """Ids that existing summaries in the namespace already cover."""
    covered: set[str] = set()
    for batch, _ in store.scan(
        Filter(namespace=namespace, memory_type=SUMMARY_TYPE), batch_size=500, with_embedding=False
    ):
        for memory in batch:
            ids = memory.metadata.get("summary_of")
            if isinstance(ids, list):
                covered.update(i for i in ids if isinstance(i, str))
    return covered


def _summary_item(memories: Sequence[Memory], summarizer: Summarizer) -> dict[str, Any]:
    """A summary of ``memories`` (oldest first) with its provenance, ready to store."""
    tag_counts = Counter(tag for m in memories for tag in m.tags)
    shared = [tag for tag, n in tag_counts.items() if 2 * n >= len(memories)]
    metadata = {
        "summary_of": [m.id for m in memories],
        "source_count": len(memories),
        "first_created_at": memories[0].created_at.isoformat(),
        "last_created_at": memories[-1].created_at.isoformat(),
        "summarizer": summarizer.name,
    }
    return {
        "content": summarizer.summarize(memories),
        "memory_type": SUMMARY_TYPE,
        "tags": sorted({*shared, SUMMARY_TYPE}),
        "metadata": metadata,
        "importance": max(m.importance for m in memories),
        "created_at": memories[-1].created_at,
    }


register(KIND, Lifecycle(finish=_run, reverse=_reverse))
