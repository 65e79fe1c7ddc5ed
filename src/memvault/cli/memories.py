"""``memvault store | search | tags | recall | get | list | update | delete``: the memory commands.

Registered by ``cli/app.py``: its commands join ``memvault``'s top level.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import InvalidInput
from ..inputs import parse_json_object
from .progress import EmbeddingBar
from .render import hits_view, memory_view, page_view, recall_view, stored_view, tags_view
from .support import (
    FilterOption,
    JsonOption,
    NamespaceOption,
    StoreOption,
    TagOption,
    TypeOption,
    emit,
    filter_from_options,
    open_vault,
    read_content,
)

app = typer.Typer()

KOption = Annotated[int, typer.Option("-k", "--limit", help="How many results, 1 to 1000.")]
CursorOption = Annotated[
    str | None,
    typer.Option(
        "--cursor", show_default=False, help="Continue a listing where the last page ended."
    ),
]
MetadataOption = Annotated[
    str | None,
    typer.Option(
        "--metadata",
        "-m",
        metavar="JSON",
        show_default=False,
        help='Metadata as a JSON object, e.g. \'{"project": "memvault"}\'.',
    ),
]
ImportanceOption = Annotated[
    float | None,
    typer.Option(
        "--importance", show_default=False, help="How much it matters, 0 to 1 (default 0.5)."
    ),
]
ExpiresOption = Annotated[
    str | None,
    typer.Option(
        "--expires-at",
        metavar="TIMESTAMP",
        show_default=False,
        help="ISO 8601 time after which the memory is hidden.",
    ),
]


@app.command()
def store(
    content: Annotated[
        str,
        typer.Argument(
            metavar="CONTENT", help="The text to remember, or - to read it from stdin (UTF-8)."
        ),
    ],
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", show_default=False, help="A tag; repeat for several."),
    ] = None,
    memory_type: Annotated[
        str | None,
        typer.Option(
            "--type", show_default=False, help="A label: note, decision, fact, ... (default note)."
        ),
    ] = None,
    metadata: MetadataOption = None,
    importance: ImportanceOption = None,
    created_at: Annotated[
        str | None,
        typer.Option(
            "--created-at",
            metavar="TIMESTAMP",
            show_default=False,
            help="ISO 8601 creation time, to keep the original time of an imported memory.",
        ),
    ] = None,
    expires_at: ExpiresOption = None,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Remember a piece of text.

    The same content stored twice in a namespace is kept once; the second store
    says so and changes nothing.

    [dim]memvault store "Alice prefers tabs over spaces" -t prefs -n alice[/]
    [dim]git log -1 --format=%B | memvault store - --type decision[/]
    """
    with open_vault(store, namespace, create="on_write") as vault, EmbeddingBar() as bar:
        text = read_content(content, vault.settings.max_content_bytes)
        result = vault.store(
            text,
            tags=tag,
            memory_type=memory_type,
            metadata=parse_json_object(metadata, "metadata"),
            importance=importance,
            created_at=created_at,
            expires_at=expires_at,
            embedding_progress=None if json_ else bar,
        )
    emit({"created": result.created, "memory": result.memory.to_dict()}, json_, stored_view)


@app.command()
def search(
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help="What to look for, in plain words.")
    ],
    k: KOption = 10,
    recency: Annotated[
        float | None,
        typer.Option(
            "--recency",
            show_default=False,
            help="How much newer memories rank higher, 0 to 10 (default 0): a score is multiplied "
            "by 1 + RECENCY x 0.5^(age / half-life).",
        ),
    ] = None,
    half_life: Annotated[
        float | None,
        typer.Option(
            "--half-life",
            metavar="DAYS",
            show_default=False,
            help="With --recency: the age at which its bonus halves (default 30 days).",
        ),
    ] = None,
    tag: TagOption = None,
    memory_type: TypeOption = None,
    filter_json: FilterOption = None,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Find memories by meaning and by words, best first.

    Hybrid search: the nearest memories by meaning and the best full-text
    matches are fused, then blended with recency and importance. Quotes, *,
    hyphens and parentheses are searched literally. --json shows each score's parts.

    [dim]memvault search "how does Alice indent code?" -n alice -k 5[/]
    """
    with open_vault(store, namespace) as vault:
        hits = vault.search(
            query,
            k=k,
            filter=filter_from_options(tag, memory_type, filter_json),
            recency=recency,
            half_life_days=half_life,
        )
    emit({"hits": [h.to_dict() for h in hits]}, json_, hits_view)


@app.command()
def tags(
    tag: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TAG",
            show_default=False,
            help="Tags to look for; none lists the most used tags.",
        ),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Only memories carrying all the tags (default: any).")
    ] = False,
    limit: KOption = 50,
    cursor: CursorOption = None,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """List memories by tag, newest first; with no tag, the most used tags and counts.

    [dim]memvault tags prefs work --all[/]
    """
    with open_vault(store, namespace) as vault:
        if not tag:
            stats = vault.stats(namespace=vault.settings.namespace)
            emit({"tags": stats["top_tags"]}, json_, tags_view)
            return
        page = vault.search_by_tag(tag, match="all" if all_ else "any", limit=limit, cursor=cursor)
    emit(page.to_dict(), json_, page_view)


@app.command()
def recall(
    when: Annotated[
        str,
        typer.Argument(
            metavar="WHEN",
            help='A time: "yesterday", "last week", "3 days ago", "in March 2025", '
            '"between 2025-01-01 and 2025-02-01".',
        ),
    ],
    query: Annotated[
        str | None,
        typer.Option(
            "--query",
            "-q",
            show_default=False,
            help="Rank what was stored then by this; without it, newest first.",
        ),
    ] = None,
    k: KOption = 10,
    tag: TagOption = None,
    memory_type: TypeOption = None,
    filter_json: FilterOption = None,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Recall memories from a time, optionally ranked by a query; prints the window used.

    [dim]memvault recall "last week" -q "deployment decisions"[/]
    """
    with open_vault(store, namespace) as vault:
        found = vault.recall(
            when, query=query, k=k, filter=filter_from_options(tag, memory_type, filter_json)
        )
    emit(found.to_dict(), json_, recall_view)


@app.command()
def get(
    ref: Annotated[str, typer.Argument(metavar="ID", help="The memory's id or content hash.")],
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Show one memory, every field, by id or content hash."""
    with open_vault(store, namespace) as vault:
        memory = vault.get(ref)
    emit(memory.to_dict(), json_, memory_view)


@app.command("list")
def list_(
    limit: KOption = 50,
    cursor: CursorOption = None,
    oldest_first: Annotated[
        bool, typer.Option("--oldest-first", help="Oldest first instead of newest first.")
    ] = False,
    tag: TagOption = None,
    memory_type: TypeOption = None,
    filter_json: FilterOption = None,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """List memories a page at a time, newest first.

    Pass the printed cursor to --cursor for the next page; it stays valid
    while memories are added.

    [dim]memvault list --limit 20 --type decision[/]
    """
    with open_vault(store, namespace) as vault:
        page = vault.list(
            filter=filter_from_options(tag, memory_type, filter_json),
            limit=limit,
            cursor=cursor,
            oldest_first=oldest_first,
        )
    emit(page.to_dict(), json_, page_view)


@app.command()
def update(
    ref: Annotated[str, typer.Argument(metavar="ID", help="The memory's id or content hash.")],
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            "-t",
            show_default=False,
            help="The new tags (they replace the old ones); repeat for several.",
        ),
    ] = None,
    clear_tags: Annotated[bool, typer.Option("--clear-tags", help="Remove every tag.")] = False,
    memory_type: Annotated[
        str | None, typer.Option("--type", show_default=False, help="The new memory_type.")
    ] = None,
    metadata: MetadataOption = None,
    importance: ImportanceOption = None,
    expires_at: ExpiresOption = None,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Change a memory's tags, type, metadata, importance or expiry (not its content).

    [dim]memvault update 3f2c... -t prefs -t editor --importance 0.9[/]
    """
    with open_vault(store, namespace) as vault:
        memory = vault.update(
            ref,
            tags=[] if clear_tags else tag,
            memory_type=memory_type,
            metadata=parse_json_object(metadata, "metadata"),
            importance=importance,
            expires_at=expires_at,
        )
    emit(memory.to_dict(), json_, memory_view)


@app.command()
def delete(
    ref: Annotated[
        str | None,
        typer.Argument(
            metavar="ID",
            show_default=False,
            help="The memory's id or content hash; omit it to delete by filter.",
        ),
    ] = None,
    tag: TagOption = None,
    memory_type: TypeOption = None,
    filter_json: FilterOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With a filter: only count what would be deleted.")
    ] = False,
    store: StoreOption = None,
    namespace: NamespaceOption = None,
    json_: JsonOption = False,
) -> None:
    """Delete one memory by id or hash, or every memory matching a filter.

    [dim]memvault delete 3f2c...[/]
    [dim]memvault delete --tag scratch --dry-run[/]
    """
    flt = filter_from_options(tag, memory_type, filter_json)
    with open_vault(store, namespace) as vault:
        if ref is not None:
            if flt or dry_run:
                raise InvalidInput("give an ID or a filter, not both", field="id")
            gone = vault.delete(ref)
            emit(
                {"deleted": 1, "memory": gone.to_dict()},
                json_,
                lambda d: f"Deleted {d['memory']['id']}",
            )
            return
        if not flt:
            raise InvalidInput(
                "give an ID, or --tag/--type/--filter to delete by filter", field="id"
            )
        count = vault.delete_where(flt, dry_run=dry_run)
    emit(
        {"deleted": 0 if dry_run else count, "matched": count, "dry_run": dry_run},
        json_,
        lambda d: f"{'Would delete' if dry_run else 'Deleted'} {d['matched']} memories",
    )
