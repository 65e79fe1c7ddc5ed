"""Upkeep commands: ``dedup``, ``undo``, ``operations``, ``archive``, ``unarchive``,
``summarize``, ``optimize``.

Each is one call of ``maintenance.actions``; destructive ones log what they do
in the store (``memvault operations``) so that ``memvault undo`` can reverse
it, and a rerun after an interruption finishes the job. Progress goes to
stderr; results to stdout as tables, or JSON with ``--json``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..maintenance import actions
from ..maintenance.duplicates import DEFAULT_THRESHOLD
from ..maintenance.merge import RULES
from ..maintenance.summarize import DEFAULT_SIMILARITY, MAX_GROUP, MIN_GROUP
from .support import (
    FilterOption,
    JsonOption,
    NamespaceOption,
    StoreOption,
    TagOption,
    TypeOption,
    emit,
    err_console,
    filter_from_options,
    open_vault,
)

app = typer.Typer()

OlderThanOption = Annotated[
    str | None,
    typer.Option(
        "--older-than",
        metavar="AGE",
        show_default=False,
        help="Only memories created before this age ago (90d, 12w, 6mo, 1y, 36h) or date.",
    ),
]
PREVIEW = 60


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress callback drawing one bar per stage on stderr (nothing when not a tty)."""
    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def _operation_line(op: dict[str, Any]) -> str:
    result = ", ".join(f"{k} {v}" for k, v in op["result"].items() if not isinstance(v, list))
    return (
        f"{op['status']} {op['kind']} operation {op['id']}"
        + (f" ({result})" if result else "")
        + (f"\n  before-images: {op['backup']}" if op.get("backup") else "")
        + (f"\n  undo with: memvault undo {op['id']}" if op["status"] == "applied" else "")
    )


def _plan_view(data: dict[str, Any]) -> Any:
    if "resumed" in data:
        return Text(
            "Finished an interrupted run:\n"
            + "\n".join(_operation_line(op) for op in data["resumed"])
        )
    plan = data["plan"]
    table = Table(
        title=f"{plan['clusters']} clusters, {plan['redundant']} of "
        f"{plan['scanned']} memories redundant "
        f"(threshold {plan['threshold']}, keep {plan['keep']})"
    )
    for column in ("cluster", "kind", "sim", "keeps", "merges", "tags after"):
        table.add_column(column, overflow="fold")
    for cluster in plan["plan"]:
        table.add_row(
            cluster["id"],
            cluster["kind"],
            f"{cluster['min_similarity']:.3f}",
            _short(cluster["survivor"]["content"]),
            "\n".join(_short(d["memory"]["content"]) for d in cluster["duplicates"]),
            ", ".join(cluster["merged"]["tags"]),
        )
    dropped = (
        [
            Text(
                "Dropped an interrupted run that had changed nothing: "
                + ", ".join(op["id"] for op in data.get("abandoned", []))
            )
        ]
        if data.get("abandoned")
        else []
    )
    if "operation" in data:
        return Group(*dropped, table, Text(_operation_line(data["operation"])))
    hint = "Dry run: nothing changed. Apply with --apply (or --apply --clusters ID ...)."
    return Group(*dropped, table, Text(hint if plan["clusters"] else "No duplicates found."))


@app.command()
def dedup(
    threshold: Annotated[
        float, typer.Option(help="Cosine similarity from which two memories are near duplicates.")
    ] = DEFAULT_THRESHOLD,
    keep: Annotated[
        str, typer.Option(help=f"Which member survives: {', '.join(RULES)}.")
    ] = "newest",
    apply: Annotated[
        bool, typer.Option("--apply", help="Merge the clusters (backup and undo log first).")
    ] = False,
    clusters: Annotated[
        list[str] | None,
        typer.Option(
            "--clusters",
            "-c",
            metavar="ID",
            show_default=False,
            help="With --apply: only these clusters (ids from the dry run); repeat.",
        ),
    ] = None,
    method: Annotated[str, typer.Option(help="Neighbour search: auto, exact or ivf.")] = "auto",
    tag: TagOption = None,
    memory_type: TypeOption = None,
    filter_json: FilterOption = None,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Find exact and near-duplicate memories and show the plan to merge them.

    Exact: the same text up to case, punctuation and spacing. Near: cosine
    similarity at or above --threshold and the same numbers, time words and
    negation. Clusters are transitive; the survivor takes the union of the
    tags, the merged metadata and the ids it absorbed (metadata merged_from).

    [dim]memvault dedup --threshold 0.93[/]
    [dim]memvault dedup --apply --clusters 3f2c9a01d4[/]
    """
    with open_vault(store, namespace) as vault, progress_bar() as progress:
        data = actions.dedup(
            vault.upkeep,
            filter=filter_from_options(tag, memory_type, filter_json),
            threshold=threshold,
            keep=keep,
            method=method,
            apply=apply,
            clusters=clusters,
            progress=progress,
        )
    emit(data, json_, _plan_view)


@app.command()
def undo(
    operation_id: Annotated[
        str, typer.Argument(metavar="OPERATION_ID", help="From memvault operations.")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Undo even if merged memories were changed since.")
    ] = False,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Reverse a logged operation: put back exactly the memories it changed or removed."""
    with open_vault(store, namespace) as vault, progress_bar() as progress:
        data = actions.undo(vault.upkeep, operation_id, force=force, progress=progress)
    emit(data, json_, lambda op: Text(_operation_line(op)))


def _operations_view(data: dict[str, Any]) -> Any:
    table = Table(title="Maintenance operations, oldest first")
    for column in ("id", "kind", "namespace", "status", "result"):
        table.add_column(column, overflow="fold")
    for op in data["operations"]:
        table.add_row(
            op["id"],
            op["kind"],
            op["namespace"] or "(all)",
            op["status"],
            ", ".join(f"{k} {v}" for k, v in op["result"].items() if not isinstance(v, list)),
        )
    return table


@app.command()
def operations(
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """List the maintenance operations logged in the store (dedup, archive, ...)."""
    with open_vault(store, namespace) as vault:
        emit(actions.operations(vault.upkeep, namespace=namespace), json_, _operations_view)


def _archive_view(data: dict[str, Any]) -> Any:
    if data["dry_run"]:
        table = Table(
            title=f"Dry run: {data['matched']} memories would be archived"
            + (
                f" (the first {len(data['would_archive'])} below)"
                if data["matched"] > len(data["would_archive"])
                else ""
            )
        )
        for column in ("id", "created", "namespace", "content"):
            table.add_column(column, overflow="fold")
        for m in data["would_archive"]:
            table.add_row(m["id"], m["created_at"][:19], m["namespace"], _short(m["content"]))
        return table
    lines = [_operation_line(op) for op in data["resumed"]]
    op = data["operation"]
    lines.append(
        f"Archived {op['result']['archived']} memories to {op['backup']}\n"
        f"  undo with: memvault undo {op['id']}"
        if op
        else "Nothing matched."
    )
    return Text("\n".join(lines))


@app.command()
def archive(
    older_than: OlderThanOption = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="FILE",
            show_default=False,
            help="Archive file (.jsonl.gz); default: a new file in the data directory.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count.")] = False,
    tag: TagOption = None,
    memory_type: TypeOption = None,
    filter_json: FilterOption = None,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Move old memories (with their vectors) out of the store into a gzip JSONL dump.

    Expired memories that match go too. Bring them back with memvault unarchive
    FILE or memvault undo OPERATION_ID.

    [dim]memvault archive --older-than 90d --tag scratch[/]
    """
    with open_vault(store, namespace) as vault, progress_bar() as progress:
        data = actions.archive(
            vault.upkeep,
            older_than=older_than,
            path=to,
            dry_run=dry_run,
            filter=filter_from_options(tag, memory_type, filter_json),
            progress=progress,
        )
    emit(data, json_, _archive_view)


@app.command()
def unarchive(
    archive_file: Annotated[str, typer.Argument(metavar="ARCHIVE", help="An archive file.")],
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Put an archive's memories back, ids, timestamps and vectors as they were.

    Memories whose content is in the store again are skipped, so it can be rerun.
    """
    with open_vault(store, namespace) as vault, progress_bar() as progress:
        data = vault.upkeep.restore_archive(archive_file, progress=progress)
    emit(
        data,
        json_,
        lambda d: Text(f"Restored {d['restored']} memories ({d['skipped']} already there)."),
    )


def _summaries_view(data: dict[str, Any]) -> Any:
    table = Table(
        title=f"{len(data['summaries'])} summaries"
        + (" (dry run: nothing stored)" if data["dry_run"] else "")
    )
    for column in ("sources", "from", "to", "summary"):
        table.add_column(column, overflow="fold")
    for item in data["summaries"]:
        meta = item["metadata"]
        table.add_row(
            str(meta["source_count"]),
            meta["first_created_at"][:10],
            meta["last_created_at"][:10],
            item["content"],
        )
    if data["operation"]:
        return Group(table, Text(_operation_line(data["operation"])))
    return table


@app.command()
def summarize(
    older_than: OlderThanOption = "30d",
    similarity: Annotated[
        float, typer.Option(help="Cosine similarity from which memories are related.")
    ] = DEFAULT_SIMILARITY,
    min_group: Annotated[int, typer.Option(help="Fewest memories a summary covers.")] = MIN_GROUP,
    max_group: Annotated[int, typer.Option(help="Most memories a summary covers.")] = MAX_GROUP,
    archive_originals: Annotated[
        bool,
        typer.Option("--archive-originals", help="Move the summarized memories to an archive."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the summaries without storing them.")
    ] = False,
    tag: TagOption = None,
    memory_type: TypeOption = None,
    filter_json: FilterOption = None,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Store one summary memory per group of related old memories.

    Offline and extractive by default (the most central sentences); set
    MEMVAULT_SUMMARY_URL and MEMVAULT_SUMMARY_MODEL for an OpenAI-compatible
    endpoint. Each summary's metadata lists its sources and their dates.
    """
    with open_vault(store, namespace) as vault, progress_bar() as progress:
        data = actions.summarize(
            vault.upkeep,
            older_than=older_than,
            similarity=similarity,
            min_group=min_group,
            max_group=max_group,
            archive_originals=archive_originals,
            dry_run=dry_run,
            filter=filter_from_options(tag, memory_type, filter_json),
            progress=progress,
        )
    emit(data, json_, _summaries_view)


def _optimize_view(data: dict[str, Any]) -> Any:
    def size(value: int | None) -> str:
        return "unknown" if value is None else f"{value:,} bytes"

    lines = [
        f"Before: {size(data['before_bytes'])}",
        f"After:  {size(data['after_bytes'])}",
        f"Expired memories archived: {data['expired_archived']}"
        + (f" ({data['expired_archive']})" if data["expired_archive"] else ""),
        *(f"  - {step}" for step in data["steps"]),
    ]
    return Text("\n".join(lines))


@app.command()
def optimize(
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Remove expired memories (into an archive), then compact and re-index the store."""
    with open_vault(store, namespace) as vault, progress_bar() as progress:
        data = actions.optimize(vault.upkeep, progress=progress)
    emit(data, json_, _optimize_view)


def detail_view(detail: dict[str, Any]) -> Any:
    """``memvault stats --detail``: the distributions as small tables, growth, largest."""
    parts: list[Any] = []
    for name, title in (
        ("by_tag", "tags"),
        ("by_importance", "importance"),
        ("by_hour_utc", "hour (UTC)"),
        ("by_weekday", "weekday"),
    ):
        table = Table(title=title, box=None, show_header=False)
        table.add_column(overflow="fold")
        table.add_column(justify="right")
        for key, count in detail[name].items():
            table.add_row(str(key), str(count))
        parts.append(table)
    growth = Table(title="growth", box=None)
    for column in ("month", "added", "total"):
        growth.add_column(column, justify="right")
    for row in detail["growth"]:
        growth.add_row(row["month"], str(row["added"]), str(row["total"]))
    largest = Table(title="largest", box=None)
    for column in ("bytes", "id", "begins"):
        largest.add_column(column, overflow="fold")
    for row in detail["largest"]:
        largest.add_row(f"{row['bytes']:,}", row["id"], _short(row["preview"]))
    parts += [growth, largest]
    duplicates = detail.get("duplicates")
    if duplicates:
        parts.append(
            Text(
                f"Duplicates (threshold {duplicates['threshold']}): "
                f"{duplicates['redundant']} redundant memories in "
                f"{duplicates['clusters']} clusters, ratio {duplicates['ratio']:.2%}"
            )
        )
    return Group(*parts)
