"""``memvault migrate | export | import | backup | restore``: moving memories, from the shell.

Each command is one call into ``memvault.transfer``; progress bars go to
stderr, the summary (or ``--json``) to stdout. Exit codes: 0 done and
verified, 1 done with failures or differences (listed on stderr), 2 bad
input, 3 not found, 4 a store failed after retries (run again to resume).

Registered by ``cli/app.py``: its commands join ``memvault``'s top level and
share ``cli.support``'s options, output and error handling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import InvalidInput, NotFound
from ..model import Filter
from ..stores import open_store
from ..transfer import backup as backups
from ..transfer.migrate import DEFAULT_BATCH, MigrationReport, migrate
from ..transfer.report import MAX_FAILURES_LISTED
from ..transfer.restore import restore
from ..transfer.sources import open_source
from ..transfer.switch import store_url_for
from .progress import RichProgress
from .render import terminal_safe
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
    load_settings,
)

app = typer.Typer()

BatchOption = Annotated[
    int,
    typer.Option("--batch-size", min=1, max=10_000, help="Memories per batch (one write each)."),
]
ReembedOption = Annotated[
    bool,
    typer.Option(
        "--reembed",
        help="Compute vectors with the local model instead of copying them (needed "
        "when the two sides use different models).",
    ),
]
OnlyNamespace = Annotated[
    str | None,
    typer.Option(
        "--namespace", "-n", show_default=False, help="Only this namespace (default: all of them)."
    ),
]
TargetArgument = Annotated[
    str | None,
    typer.Argument(
        help="Store URL (default: --store, else the configured store).", show_default=False
    ),
]
DumpArgument = Annotated[Path, typer.Argument(help="A memvault dump (.jsonl.gz, or plain .jsonl).")]


def scope(
    namespace: str | None,
    tags: list[str] | None = None,
    memory_type: str | None = None,
    filter_json: str | None = None,
) -> Filter:
    """Everything (chunks and expired memories too), narrowed by the options given."""
    flt = Filter.from_dict(filter_from_options(tags, memory_type, filter_json), namespace=namespace)
    return flt.with_changes(include_chunks=True, include_expired=True)


@app.command("migrate")
def migrate_command(
    source: Annotated[str, typer.Argument(help="Store URL, peer URL or dump file to read.")],
    target: Annotated[str, typer.Argument(help="Store URL to write into.")],
    batch_size: BatchOption = DEFAULT_BATCH,
    reembed: ReembedOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count; write nothing.")
    ] = False,
    backup: Annotated[bool, typer.Option("--backup", help="Dump the target first.")] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Make the target hold exactly the source's memories (backs it up "
            "first, removes what the source lacks).",
        ),
    ] = False,
    max_rate: Annotated[
        float | None,
        typer.Option(
            "--max-rate", show_default=False, help="At most this many memories per second."
        ),
    ] = None,
    namespace: OnlyNamespace = None,
    filter_json: FilterOption = None,
    json_: JsonOption = False,
) -> None:
    """Copy every memory from SOURCE into TARGET, resumably, and verify both sides.

    Sources: sqlite://, postgresql://, chroma://, chroma+http://, a dump file,
    a ChromaDB collection another tool wrote, an mcp-memory-service SQLite-vec
    file (mcp-memory-service+sqlite:///path, or a sqlite:// URL to one), a
    folder of .md/.txt notes, JSON Lines of memories, or an MCP memory graph
    (memory.json); see memvault import.
    An interrupted run continues where it stopped when run again.

    [dim]memvault migrate chroma:///old/chroma_db sqlite:///memories.db[/]
    """
    with RichProgress() as progress:
        report = migrate(
            source,
            target,
            flt=scope(namespace, filter_json=filter_json),
            batch_size=batch_size,
            reembed=reembed,
            dry_run=dry_run,
            backup=backup,
            replace=replace,
            max_rate=max_rate,
            settings=load_settings(),
            progress=progress,
        )
    finish(report, json_)


@app.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="A memvault dump (.jsonl.gz or .jsonl); JSON Lines of memories "
            '({"content": ..., "tags": [...]} per line); an MCP memory '
            "server's memory.json; or a folder (or file) of .md/.txt notes.",
        ),
    ],
    old_store: Annotated[str | None, typer.Argument(hidden=True)] = None,
    split: Annotated[
        str,
        typer.Option(
            "--split", help="Notes: one memory per file, or per Markdown section (headings)."
        ),
    ] = "file",
    batch_size: BatchOption = DEFAULT_BATCH,
    reembed: ReembedOption = False,
    store: StoreOption = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            show_default=False,
            help="A dump: only this namespace of it. Other files: the namespace their memories "
            "go into (default: MEMVAULT_NAMESPACE).",
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Add memories from a file or folder to a store (those already there are skipped).

    Resumable and verified like a migration. (Also still: FILE STORE.)

    [dim]memvault import ~/notes --split headings -n notes[/]
    """
    if not file.exists():
        raise NotFound(f"nothing at {file}", field="file")
    settings = load_settings(_one_store(store, old_store), namespace)
    with RichProgress() as progress:
        report = migrate(
            open_source(str(file), settings, split=split),
            store_url_for(settings.store_url, settings),
            flt=scope(namespace),
            batch_size=batch_size,
            reembed=reembed,
            settings=settings,
            progress=progress,
        )
    finish(report, json_)


@app.command("export")
def export_command(
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="Dump file to write: .jsonl.gz (gzip), or .jsonl/.json (plain "
            "JSON Lines). (Also still: STORE FILE.)",
        ),
    ],
    old_file: Annotated[Path | None, typer.Argument(hidden=True)] = None,
    store: StoreOption = None,
    namespace: OnlyNamespace = None,
    tag: TagOption = None,
    memory_type: TypeOption = None,
    filter_json: FilterOption = None,
    json_: JsonOption = False,
) -> None:
    """Write memories (with their vectors) to a dump file, filtered if asked.

    [dim]memvault export notes.jsonl.gz --store sqlite:///memories.db -n work[/]
    """
    # The file and --store, as import takes them; the older STORE FILE still works.
    path = Path(file) if old_file is None else old_file
    url = _one_store(store, file if old_file is not None else None)
    flt = scope(namespace, tag, memory_type, filter_json)
    source = open_source(url or load_settings().store_url, load_settings())
    try:
        with RichProgress() as progress:
            count = backups.export_dump(source, path, flt, progress)
    finally:
        source.close()
    emit(
        {"file": str(path), "count": count, "filter": backups.filter_to_dict(flt)},
        json_,
        lambda d: f"Exported {d['count']} memories to {d['file']}",
    )


def _one_store(option: str | None, positional: str | None) -> str | None:
    """The store named by --store or, as older versions took it, by position."""
    if option is not None and positional is not None and option != positional:
        raise InvalidInput(
            f"two stores named: {positional!r} and --store {option!r}", field="store_url"
        )
    return option if option is not None else positional


@app.command("backup")
def backup_command(
    keep: Annotated[
        int, typer.Option("--keep", min=1, help="How many backups to keep.")
    ] = backups.DEFAULT_KEEP,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Write a timestamped dump of a store into <data dir>/backups (SQLite: also a file copy).

    Every namespace is backed up; the newest --keep backups of the store are kept.
    """
    settings = load_settings(store, namespace)
    target = open_store(store_url_for(settings.store_url, settings), settings, create=False)
    try:
        with RichProgress() as progress:
            result = backups.backup(target, settings, keep=keep, progress=progress)
    finally:
        target.close()
    emit(
        {
            "dump": str(result.dump),
            "count": result.count,
            "sqlite_copy": str(result.sqlite_copy) if result.sqlite_copy else None,
            "removed": [str(p) for p in result.removed],
        },
        json_,
        backup_line,
    )


def backup_line(data: dict[str, Any]) -> str:
    copy = f" and {data['sqlite_copy']}" if data["sqlite_copy"] else ""
    removed = f"; removed {len(data['removed'])} older backups" if data["removed"] else ""
    return f"Backed up {data['count']} memories to {data['dump']}{copy}{removed}"


@app.command("restore")
def restore_command(
    file: DumpArgument,
    target: TargetArgument = None,
    store: StoreOption = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Replace what the store holds (a backup is taken first)."),
    ] = False,
    batch_size: BatchOption = DEFAULT_BATCH,
    reembed: ReembedOption = False,
    json_: JsonOption = False,
) -> None:
    """Load a dump into a store; refuses a store that holds memories unless --replace."""
    settings = load_settings(_one_store(store, target))
    with RichProgress() as progress:
        report = restore(
            file,
            store_url_for(settings.store_url, settings),
            replace=replace,
            settings=settings,
            progress=progress,
            batch_size=batch_size,
            reembed=reembed,
        )
    finish(report, json_)


def finish(report: MigrationReport, as_json: bool) -> None:
    """Print the summary, then exit 1 if anything failed or differs (named on stderr)."""
    emit(report.to_dict() if as_json else report, as_json, summary)
    if not as_json:
        for line in report.verification.problems() if report.verification else []:
            err_console.print(f"[red]{escape(terminal_safe(line))}[/]", highlight=False)
        for ident, reason in report.failures:
            err_console.print(
                f"[red]failed: {escape(terminal_safe(f'{ident}: {reason}'))}[/]", highlight=False
            )
        for ident, reason in report.left_in_backup[:MAX_FAILURES_LISTED]:
            err_console.print(
                f"[yellow]in the backup only: {escape(terminal_safe(f'{ident}: {reason}'))}[/]",
                highlight=False,
            )
    if not report.ok:
        raise typer.Exit(1)


def summary(report: MigrationReport) -> Table:
    title = "Dry run: nothing written" if report.dry_run else "Migration"
    table = Table(title=f"{title}: {report.source} → {report.target}", show_header=False)
    rows = [
        ("in source", report.source_count),
        ("moved" if not report.dry_run else "would move", report.moved),
        ("skipped (already there)", report.skipped),
        ("chunks", report.chunks),
        ("re-embedded", report.reembedded),
        ("failed", report.failed),
        ("removed (replace)", report.removed),
        ("in the backup only (not memories)", len(report.left_in_backup)),
        ("vectors", report.vectors),
        ("resumed after", report.resumed_from or "-"),
        ("moved before resuming", report.moved_earlier),
        ("backup", report.backup or "-"),
        ("elapsed", f"{report.elapsed:.1f} s"),
        ("rate", f"{report.rate:.0f} memories/s"),
    ]
    if report.target_not_created:
        rows.append(("target", "not created: nothing was written"))
    if report.verification is not None:
        v = report.verification
        rows.append(
            (
                "verified",
                f"yes: same memories, digest {v.target_digest[:16]}"
                if v.ok
                else f"NO: {len(v.missing)} missing, {len(v.different)} different, "
                f"{len(v.extra)} extra",
            )
        )
    for name, value in rows:
        table.add_row(name, str(value))
    return table
