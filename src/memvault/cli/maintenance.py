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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
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
from .upkeep_views import (
    archive_view,
    operation_line,
    operations_view,
    optimize_view,
    plan_view,
    summaries_view,
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
    emit(data, json_, plan_view)


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
    emit(data, json_, lambda op: Text(operation_line(op)))


@app.command()
def operations(
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """List the maintenance operations logged in the store (dedup, archive, ...)."""
    with open_vault(store, namespace) as vault:
        emit(actions.operations(vault.upkeep, namespace=namespace), json_, operations_view)


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
    emit(data, json_, archive_view)


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
    emit(data, json_, summaries_view)


@app.command()
def optimize(
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Remove expired memories (into an archive), then compact and re-index the store."""
    with open_vault(store, namespace) as vault, progress_bar() as progress:
        data = actions.optimize(vault.upkeep, progress=progress)
    emit(data, json_, optimize_view)
