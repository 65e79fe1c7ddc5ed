"""Upkeep over HTTP, under ``/api/v1/maintenance``: long operations run as jobs.

``POST /api/v1/maintenance/{dedup,archive,summarize,optimize,undo}`` checks
the body, queues a job and answers 202 with it; ``GET .../jobs/{id}`` reports
its progress (stage, done, total) and then its result or error, the same JSON
the CLI prints with ``--json``. Jobs run one at a time (see
``maintenance.jobs``) in the server process. ``GET .../operations`` lists the
operation log. Archive paths are chosen by the server (its data directory),
never by a client. Every route needs an admin key; optimize, undo and the
jobs span the whole store, so they need one bound to no namespace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..maintenance import actions
from ..maintenance.duplicates import DEFAULT_THRESHOLD, check_method, check_threshold
from ..maintenance.jobs import JobRunner, shared_runner
from ..maintenance.merge import check_rule
from ..maintenance.summarize import DEFAULT_SIMILARITY, MAX_GROUP, MIN_GROUP, check_groups
from ..vault import Vault
from .auth import Access, Admin, StoreAdmin
from .schemas import namespace_of


class _Body(BaseModel):
    """Strict like every body of the API: no type coercion ("dry_run": 0 is refused)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    namespace: str | None = None


class _Selection(_Body):
    filter: dict[str, Any] | None = None
    older_than: str | None = Field(None, description="An age (90d, 12w, 6mo, 1y) or a date.")


class DedupIn(_Body):
    filter: dict[str, Any] | None = None
    threshold: float = DEFAULT_THRESHOLD
    keep: str = "newest"
    method: str = "auto"
    apply: bool = Field(False, description="Merge the clusters; false only plans (dry run).")
    clusters: list[str] | None = Field(None, description="With apply: only these clusters.")


class ArchiveIn(_Selection):
    dry_run: bool = False


class SummarizeIn(_Selection):
    older_than: str | None = "30d"
    similarity: float = DEFAULT_SIMILARITY
    min_group: int = MIN_GROUP
    max_group: int = MAX_GROUP
    archive_originals: bool = False
    dry_run: bool = False


class UndoIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    operation_id: str
    force: bool = False


def _vault(request: Request) -> Vault:
    return request.app.state.vault


def _jobs(request: Request) -> JobRunner:
    # Created on first use, so mounting the router is the only setup it needs.
    return shared_runner(request.app.state)


VaultDep = Annotated[Vault, Depends(_vault)]
JobsDep = Annotated[JobRunner, Depends(_jobs)]
NamespaceQuery = Annotated[
    str | None, Query(description="Namespace, as in the body (give it in one place).")
]
router = APIRouter(prefix="/api/v1/maintenance", tags=["maintenance"])


def _params(body: _Body, access: Access, namespace: str | None) -> dict[str, Any]:
    """The body as a job's parameters, in the namespace the key may work in (named in
    the body or, as GETs take it, in the query)."""
    return {
        **body.model_dump(),
        "namespace": access.namespace(namespace_of(body.namespace, namespace)),
    }


def _start(
    jobs: JobRunner,
    kind: str,
    action: Callable[..., dict[str, Any]],
    vault: Vault,
    params: dict[str, Any],
) -> JSONResponse:
    """Queue ``action(vault.upkeep, **params)`` as a job; 202 with the job and where to poll it."""
    upkeep = vault.upkeep
    job = jobs.submit(kind, params, lambda progress: action(upkeep, progress=progress, **params))
    return JSONResponse(
        job.to_dict(), status_code=202, headers={"Location": f"/api/v1/maintenance/jobs/{job.id}"}
    )


@router.post("/dedup", status_code=202)
def dedup(
    body: DedupIn, vault: VaultDep, jobs: JobsDep, access: Admin, namespace: NamespaceQuery = None
) -> JSONResponse:
    """Plan (and with apply, carry out) the merge of duplicate memories, as a job."""
    # Bad input is refused now (422), not reported later as a failed job.
    check_threshold(body.threshold)
    check_rule(body.keep)
    check_method(body.method)
    params = _params(body, access, namespace)
    vault.upkeep.selection(body.filter, params["namespace"], None)
    return _start(jobs, "dedup", actions.dedup, vault, params)


@router.post("/archive", status_code=202)
def archive(
    body: ArchiveIn, vault: VaultDep, jobs: JobsDep, access: Admin, namespace: NamespaceQuery = None
) -> JSONResponse:
    """Move matching memories to an archive file in the server's data directory, as a job."""
    params = _params(body, access, namespace)
    vault.upkeep.archive_selection(body.filter, params["namespace"], body.older_than)
    return _start(jobs, "archive", actions.archive, vault, params)


@router.post("/summarize", status_code=202)
def summarize(
    body: SummarizeIn,
    vault: VaultDep,
    jobs: JobsDep,
    access: Admin,
    namespace: NamespaceQuery = None,
) -> JSONResponse:
    """Store one summary per group of related old memories, as a job."""
    params = _params(body, access, namespace)
    vault.upkeep.selection(body.filter, params["namespace"], body.older_than)
    check_threshold(body.similarity, "similarity")
    check_groups(body.min_group, body.max_group)
    return _start(jobs, "summarize", actions.summarize, vault, params)


@router.post("/optimize", status_code=202)
def optimize(vault: VaultDep, jobs: JobsDep, _: StoreAdmin) -> JSONResponse:
    """Remove expired memories (archived), compact and re-index the store, as a job."""
    return _start(jobs, "optimize", actions.optimize, vault, {})


@router.post("/undo", status_code=202)
def undo(body: UndoIn, vault: VaultDep, jobs: JobsDep, _: StoreAdmin) -> JSONResponse:
    """Reverse a logged operation, as a job."""
    return _start(jobs, "undo", actions.undo, vault, body.model_dump())


@router.get("/jobs/{job_id}")
def job(job_id: str, jobs: JobsDep, _: StoreAdmin) -> dict[str, Any]:
    """A job's status, progress, and once finished its result or error."""
    return jobs.get(job_id).to_dict()


@router.get("/jobs")
def list_jobs(jobs: JobsDep, _: StoreAdmin) -> dict[str, Any]:
    """The jobs this server process has run or is running, oldest first."""
    return {"jobs": [j.to_dict() for j in jobs.list()]}


@router.get("/operations")
def operations(
    vault: VaultDep,
    access: Admin,
    namespace: Annotated[
        str | None,
        Query(
            description="One namespace; default: every operation (a key bound to namespaces: "
            "its own)."
        ),
    ] = None,
) -> dict[str, Any]:
    """The maintenance operations logged in the store, oldest first."""
    return actions.operations(vault.upkeep, namespace=access.namespace_or_all(namespace))
