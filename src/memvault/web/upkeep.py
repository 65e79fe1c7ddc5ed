"""Upkeep: archive with a preview, the archives and restoring them, backups, optimize.

Each action is the call ``memvault archive`` / ``unarchive`` / ``backup`` /
``optimize`` makes, run as a job on the server's one upkeep queue (see
``operations`` for the job pages and the operation log). Archives and backups
are files in the server's data directory; the dashboard names them by file
name only and never takes a path from a browser.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from ..access.principal import Principal
from ..errors import InvalidInput, NotFound
from ..maintenance import actions
from ..maintenance.oplog import Progress
from ..transfer import backup as backups
from .deps import VaultDep, chosen_namespace, namespace_counts, scope_filter, text
from .operations import start_job
from .render import PageRoute, page
from .session import checked_form, need

PREVIEW = 20
DUMP = ".jsonl.gz"

router = APIRouter(route_class=PageRoute, include_in_schema=False, prefix="/upkeep")
Form = Annotated[FormData, Depends(checked_form)]
Admin = Annotated[Principal, need("admin")]


def _files(directory: Path) -> list[dict[str, Any]]:
    """The dump files of a directory, newest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        if path.name.endswith(DUMP) and path.is_file():
            stat = path.stat()
            found.append(
                {
                    "name": path.name,
                    "bytes": stat.st_size,
                    "at": datetime.fromtimestamp(stat.st_mtime, UTC),
                }
            )
    return sorted(found, key=lambda f: f["at"], reverse=True)


@router.get("")
def upkeep(request: Request, vault: VaultDep, principal: Admin) -> Response:
    data_dir = vault.settings.data_dir
    return page(
        request,
        "upkeep.html",
        namespaces=namespace_counts(request, vault, principal),
        ns=chosen_namespace(vault, principal, None),
        archives=_files(data_dir / "archives"),
        backups=_files(backups.backups_dir(vault.settings)),
    )


def _selection(form: dict[str, str]) -> dict[str, Any]:
    return scope_filter(form.get("tags", ""), form.get("type", ""), "", "")


@router.get("/archive")
def archive_preview(
    request: Request,
    vault: VaultDep,
    principal: Admin,
    ns: str = "",
    older_than: str = "",
    tags: str = "",
    type: str = "",
) -> Response:
    """What an archive would move: how many, and the newest of them."""
    namespace = chosen_namespace(vault, principal, ns)
    form = {"ns": namespace, "older_than": older_than, "tags": tags, "type": type}
    counted = actions.archive(
        vault.upkeep,
        older_than=older_than or None,
        namespace=namespace,
        filter=_selection(form),
        dry_run=True,
    )
    criteria = vault.upkeep.selection(_selection(form), namespace, older_than or None)
    sample = vault.list(
        namespace=namespace, filter=criteria.with_changes(include_expired=True), limit=PREVIEW
    ).memories
    return page(
        request,
        "archive.html",
        form=form,
        matched=counted["matched"],
        before=counted["created_before"],
        sample=sample,
    )


@router.post("/archive")
def archive(request: Request, vault: VaultDep, principal: Admin, form: Form) -> Response:
    namespace = chosen_namespace(vault, principal, text(form, "ns"))
    fields = {name: text(form, name) for name in ("older_than", "tags", "type")}
    params: dict[str, Any] = {
        "older_than": fields["older_than"] or None,
        "namespace": namespace,
        "filter": _selection(fields),
    }
    # Refused now, not reported later as a failed job.
    if vault.upkeep.selection(params["filter"], namespace, params["older_than"]).is_namespace_only:
        raise InvalidInput(
            "give an age, tags or a type: a whole namespace is never archived by accident",
            field="older_than",
        )
    return start_job(
        request,
        "archive",
        params,
        lambda progress: actions.archive(vault.upkeep, progress=progress, **params),
    )


def _named(directory: Path, name: str) -> Path:
    """A dump file of ``directory`` by its name; nothing outside it can be named."""
    path = directory / name
    if Path(name).name != name or not name.endswith(DUMP) or not path.is_file():
        raise NotFound(f"no file {name!r} here", field="name")
    return path


@router.post("/archives/restore")
def restore_archive(request: Request, vault: VaultDep, principal: Admin, form: Form) -> Response:
    principal.require("admin", whole_store=True)
    path = _named(vault.settings.data_dir / "archives", text(form, "name"))
    return start_job(
        request,
        "unarchive",
        {"name": path.name},
        lambda progress: vault.upkeep.restore_archive(path, progress=progress),
    )


class _JobProgress:
    """The transfer layer's progress protocol, reported as a job's (stage, done, total)."""

    def __init__(self, report: Progress) -> None:
        self.report = report
        self.stage, self.done = "", 0
        self.total: int | None = None

    def start(self, label: str, total: int | None) -> None:
        self.stage, self.done, self.total = label, 0, total
        self.report(label, 0, total)

    def advance(self, n: int) -> None:
        self.done += n
        self.report(self.stage, self.done, self.total)

    def finish(self) -> None:
        pass


@router.post("/backup")
def backup(request: Request, vault: VaultDep, principal: Admin, form: Form) -> Response:
    principal.require("admin", whole_store=True)

    def work(progress: Progress) -> dict[str, Any]:
        done = vault.backup(progress=_JobProgress(progress))
        return {
            "backup": {
                "file": done.dump.name,
                "count": done.count,
                "removed": [p.name for p in done.removed],
            }
        }

    return start_job(request, "backup", {}, work)


@router.post("/optimize")
def optimize(request: Request, vault: VaultDep, principal: Admin, form: Form) -> Response:
    principal.require("admin", whole_store=True)
    return start_job(
        request, "optimize", {}, lambda progress: actions.optimize(vault.upkeep, progress=progress)
    )
