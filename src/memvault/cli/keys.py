"""``memvault keys create|list|revoke``: the API keys every server of this store accepts.

Keys live in the store (hashed), so this command, run anywhere the store can
be opened, changes what every running server accepts within seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from .render import key_value_table
from .support import JsonOption, StoreOption, emit, open_vault

app = typer.Typer(
    name="keys",
    no_args_is_help=True,
    help="Create, list and revoke the API keys the HTTP server requires.",
)


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="What the key is for (shown in lists).")],
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            help="read (search and read), write (also store, update, delete) or "
            "admin (also upkeep and keys).",
        ),
    ],
    namespace: Annotated[
        list[str] | None,
        typer.Option(
            "--namespace",
            "-n",
            show_default=False,
            help="Bind the key to this namespace; repeat for several. Default: every namespace.",
        ),
    ] = None,
    expires: Annotated[
        int | None,
        typer.Option(
            "--expires",
            metavar="DAYS",
            show_default=False,
            help="Valid for this many days. Default: until revoked.",
        ),
    ] = None,
    store: StoreOption = None,
    json_: JsonOption = False,
) -> None:
    """Create a key and print it: this is the only time it is shown.

    Clients send it as [bold]Authorization: Bearer KEY[/].

    [dim]memvault keys create --name laptop --scope write --namespace alice[/]
    """
    with open_vault(store, create="on_write") as vault:
        key, record = vault.keys.create(name, scope, namespace, expires)
    data = {"key": key, **record.public(datetime.now(UTC))}
    emit(
        data,
        json_,
        lambda d: key_value_table(
            [(field, d[field]) for field in ("id", "name", "scope", "namespaces", "expires_at")]
            + [("key", d["key"]), ("", "Shown once: keep it now; the store keeps only its hash.")]
        ),
    )


@app.command("list")
def list_keys(store: StoreOption = None, json_: JsonOption = False) -> None:
    """Every key (never the key itself): id, name, scope, namespaces, expiry, status."""
    now = datetime.now(UTC)
    with open_vault(store) as vault:
        keys = [r.public(now) for r in vault.keys.records()]
    columns = ("id", "name", "scope", "namespaces", "created_at", "expires_at", "status")
    emit(
        {"keys": keys},
        json_,
        lambda d: key_value_table(
            (tuple(_cell(k[c]) for c in columns) for k in d["keys"]), headers=columns
        ),
    )


def _cell(value: object) -> str:
    if isinstance(value, list):
        return ",".join(value)
    return "" if value is None else str(value).replace("+00:00", "Z")


@app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (keys list).")],
    store: StoreOption = None,
    json_: JsonOption = False,
) -> None:
    """Revoke a key: every server refuses it within seconds. It stays listed as revoked."""
    with open_vault(store) as vault:
        record = vault.keys.revoke(key_id)
    emit(record.public(datetime.now(UTC)), json_, lambda d: f"Revoked key {d['id']} ({d['name']}).")
