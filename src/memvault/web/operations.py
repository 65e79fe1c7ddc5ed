"""Upkeep jobs and the operation log: a job's progress and result, and undo.

Every destructive operation the dashboard starts (a merge, an archive, an
optimize, an undo) runs as a job on the server's one upkeep queue; its page
shows progress (refreshing itself, with or without JavaScript) and then what
it did. The operation log is the store's (``memvault operations``); undo is
``Vault.undo`` through ``actions.undo``, as ``memvault undo`` does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from ..access.principal import Principal
from ..maintenance import actions
from ..maintenance.jobs import Job, Work, shared_runner
from .deps import VaultDep, text
from .render import PageRoute, page, see_other
from .session import checked_form, need

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Form = Annotated[FormData, Depends(checked_form)]
Admin = Annotated[Principal, need("admin")]


def start_job(request: Request, kind: str, params: dict[str, Any], work: Work) -> Response:
    """Queue ``work`` on the server's upkeep queue and go to its page."""
    return see_other(job_url(shared_runner(request.app.state).submit(kind, params, work)))


def job_url(job: Job) -> str:
    return f"/jobs/{job.id}"


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str, principal: Admin) -> Response:
    return page(request, "job.html", job=shared_runner(request.app.state).get(job_id))


@router.get("/operations")
def operations(request: Request, vault: VaultDep, principal: Admin) -> Response:
    namespace = principal.namespace_or_all(None, vault.settings.namespace)
    ops = actions.operations(vault.upkeep, namespace=namespace)["operations"]
    return page(request, "operations.html", operations=list(reversed(ops)))


@router.post("/operations/{operation_id}/undo")
def undo(
    request: Request, operation_id: str, vault: VaultDep, principal: Admin, form: Form
) -> Response:
    principal.require("admin", whole_store=True)
    force = text(form, "force") == "yes"
    return start_job(
        request,
        "undo",
        {"operation_id": operation_id, "force": force},
        lambda progress: actions.undo(vault.upkeep, operation_id, force=force, progress=progress),
    )
