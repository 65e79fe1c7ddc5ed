"""The HTTP API: each endpoint is one Vault call, its body a checked request, its reply JSON.

``create_app(vault, settings)`` builds the FastAPI app; ``memvault serve`` runs
it with uvicorn, and other interfaces may mount more on it (``app.mount``).
Errors always have the shape ``{"error": {"code", "message", "field"}}``:
422 bad input (400 when the body is not JSON at all), 404 not found, 409
conflict or incompatible embedding, 413 body too large (over 32 MB, or 8 times
the content limit if that is more), 421 a Host not served here and 403 a
foreign Origin (``middleware.HostCheck``, on every route), 401 no valid API key
and 403 one that may not do this (``auth``), 503 store unavailable.
Endpoints are plain ``def`` functions, so FastAPI runs them in its thread pool
and the model and the store never block the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import Lifespan

from .. import __version__
from ..access.principal import visible_report
from ..config import Settings
from ..errors import (
    InvalidInput,
)
from ..inputs import parse_json_object
from ..metrics import CONTENT_TYPE, Metrics
from ..vault import Vault
from .auth import Authenticate, Reader, StoreReader, Writer
from .errors import add_error_handlers
from .maintenance import router as maintenance_router
from .middleware import BodyLimit, HostCheck, RequestTimer
from .schemas import (
    BatchIn,
    MemoryPatch,
    SearchIn,
    StoreIn,
    TagSearchIn,
    TimeSearchIn,
    filter_dict,
    namespace_of,
)

MIN_BODY_LIMIT = 32_000_000


def _vault(request: Request) -> Vault:
    return request.app.state.vault


def _query_names(route: BaseRoute) -> frozenset[str]:
    """Every query parameter a route declares, its dependencies' included."""
    names: set[str] = set()
    pending = [route.dependant]  # type: ignore[attr-defined]
    while pending:
        dependant = pending.pop()
        names.update(param.alias for param in dependant.query_params)
        pending.extend(dependant.dependencies)
    return frozenset(names)


def refuse_unknown_query(request: Request) -> None:
    """A misspelt query parameter (``?namespce=``) is an error, not silently ignored."""
    route = request.scope.get("route")
    if route is None:
        return
    for name in request.query_params:
        if name not in _query_names(route):
            raise InvalidInput(f"unknown query parameter {name!r}", field=name)


VaultDep = Annotated[Vault, Depends(_vault)]
NamespaceQuery = Annotated[
    str | None, Query(description="Namespace (tenant); default: the server's namespace.")
]
router = APIRouter(prefix="/api/v1", dependencies=[Depends(refuse_unknown_query)])


# -- memories ------------------------------------------------------------------
@router.post(
    "/memories",
    status_code=201,
    tags=["memories"],
    responses={200: {"description": "Already stored: the existing memory."}},
)
def store_memory(
    body: StoreIn, vault: VaultDep, access: Writer, namespace: NamespaceQuery = None
) -> JSONResponse:
    """Store one memory (201); the same content again in the namespace is not stored twice (200).

    The answer comes once the content is embedded: about 1 KB in tens of
    milliseconds, the most a memory may hold (MEMVAULT_MAX_CHUNKS chunks of
    about 1 KB, 256 by default) in 10-20 s on 2 cores. Over that: 422."""
    item = body.model_dump(exclude={"namespace"})
    ns = access.namespace(namespace_of(body.namespace, namespace))
    result = vault.store(**item, namespace=ns)
    return JSONResponse(
        {"created": result.created, "memory": result.memory.to_dict()},
        status_code=201 if result.created else 200,
    )


@router.post("/memories/batch", tags=["memories"])
def store_batch(
    body: BatchIn, vault: VaultDep, access: Writer, namespace: NamespaceQuery = None
) -> dict[str, Any]:
    """Store many memories: all are checked first, then embedded in batches; all or nothing
    per batch of 256."""
    results = vault.store_many(
        [item.model_dump() for item in body.items],
        namespace=access.namespace(namespace_of(body.namespace, namespace)),
    )
    return {
        "created": sum(r.created for r in results),
        "results": [{"created": r.created, "memory": r.memory.to_dict()} for r in results],
    }


@router.get("/memories", tags=["memories"])
def list_memories(
    vault: VaultDep,
    access: Reader,
    namespace: NamespaceQuery = None,
    limit: Annotated[int, Query(description="Page size, 1 to 1000.")] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the last page.")] = None,
    oldest_first: bool = False,
    tags_any: Annotated[list[str] | None, Query(description="Repeat for several.")] = None,
    tags_all: Annotated[list[str] | None, Query(description="Repeat for several.")] = None,
    memory_type: str | None = None,
    created_after: Annotated[str | None, Query(description="ISO 8601.")] = None,
    created_before: Annotated[str | None, Query(description="ISO 8601.")] = None,
    metadata: Annotated[
        str | None,
        Query(description='A JSON object of metadata values to match, e.g. {"project":"x"}.'),
    ] = None,
    include_expired: bool = False,
) -> dict[str, Any]:
    """List memories newest first (or oldest first), a page at a time."""
    flt = {
        "tags_any": tags_any,
        "tags_all": tags_all,
        "memory_type": memory_type,
        "created_after": created_after,
        "created_before": created_before,
        "metadata": parse_json_object(metadata, "metadata"),
        "include_expired": include_expired,
    }
    page = vault.list(
        namespace=access.namespace(namespace),
        limit=limit,
        cursor=cursor,
        oldest_first=oldest_first,
        filter={k: v for k, v in flt.items() if v is not None},
    )
    return page.to_dict()


@router.get("/memories/{ref}", tags=["memories"])
def get_memory(
    ref: str, vault: VaultDep, access: Reader, namespace: NamespaceQuery = None
) -> dict[str, Any]:
    """One memory by id or content hash."""
    return vault.get(ref, namespace=access.namespace(namespace)).to_dict()


@router.patch("/memories/{ref}", tags=["memories"])
def update_memory(
    ref: str, body: MemoryPatch, vault: VaultDep, access: Writer, namespace: NamespaceQuery = None
) -> dict[str, Any]:
    """Change tags, metadata, importance, memory_type or expires_at; returns the memory."""
    changes = body.model_dump(exclude_unset=True)
    return vault.update(ref, namespace=access.namespace(namespace), **changes).to_dict()


@router.delete("/memories/{ref}", tags=["memories"])
def delete_memory(
    ref: str, vault: VaultDep, access: Writer, namespace: NamespaceQuery = None
) -> dict[str, Any]:
    """Delete one memory by id or content hash; returns what was deleted."""
    return {"deleted": vault.delete(ref, namespace=access.namespace(namespace)).to_dict()}


# -- search --------------------------------------------------------------------
@router.post("/search", tags=["search"])
def search(
    body: SearchIn, vault: VaultDep, access: Reader, namespace: NamespaceQuery = None
) -> dict[str, Any]:
    """Hybrid search (meaning + words, fused, blended with recency and importance)."""
    ns = access.namespace(namespace_of(body.namespace, namespace))
    hits = vault.search(
        body.query,
        k=body.k,
        namespace=ns,
        filter=filter_dict(body.filter),
        recency=body.recency,
        half_life_days=body.half_life_days,
    )
    return {"hits": [h.to_dict() for h in hits]}


@router.post("/search/tags", tags=["search"])
def search_by_tag(
    body: TagSearchIn, vault: VaultDep, access: Reader, namespace: NamespaceQuery = None
) -> dict[str, Any]:
    """Memories carrying any (or all) of the tags, newest first, a page at a time."""
    page = vault.search_by_tag(
        body.tags,
        match=body.match,
        namespace=access.namespace(namespace_of(body.namespace, namespace)),
        filter=filter_dict(body.filter),
        limit=body.limit,
        cursor=body.cursor,
    )
    return page.to_dict()


@router.post("/search/time", tags=["search"])
def search_by_time(
    body: TimeSearchIn, vault: VaultDep, access: Reader, namespace: NamespaceQuery = None
) -> dict[str, Any]:
    """Memories from a time phrase or a start/end range, optionally ranked by a query."""
    if (body.when is None) == (body.start is None and body.end is None):
        raise InvalidInput("give either when, or start and end", field="when")
    when: str | tuple[Any, Any]
    if body.when is not None:
        when = body.when
    elif body.start is not None and body.end is not None:
        when = (body.start, body.end)
    else:
        raise InvalidInput("give both start and end", field="end" if body.end is None else "start")
    return vault.recall(
        when,
        query=body.query,
        k=body.k,
        namespace=access.namespace(namespace_of(body.namespace, namespace)),
        filter=filter_dict(body.filter),
    ).to_dict()


# -- about the service ---------------------------------------------------------
@router.get("/stats", tags=["service"])
def stats(
    vault: VaultDep,
    access: Reader,
    namespace: Annotated[
        str | None, Query(description="One namespace; default: all of them.")
    ] = None,
    detail: Annotated[
        bool,
        Query(
            description="Add distributions, growth, largest memories and the duplicate "
            "ratio (reads every vector: slower)."
        ),
    ] = False,
) -> dict[str, Any]:
    """Totals, counts by type, namespace and month, top tags, store size and model (the
    store's URL for admin keys, else its kind).

    Without a namespace: all of them, or for a key bound to namespaces, its own."""
    namespace = access.namespace_or_all(namespace)
    out = visible_report(vault.stats(namespace=namespace), access.principal)
    if detail:
        out["detail"] = vault.upkeep.detailed_stats(namespace=namespace)
    return out


@router.get("/health", tags=["service"])
def health(vault: VaultDep, access: Reader) -> dict[str, Any]:
    """Liveness: the store answers. Includes the store's identity, so a client can tell
    whether this server works on the same store it would open itself; its URL and file
    path only for an admin key."""
    return visible_report({**vault.health(), "version": __version__}, access.principal)


def metrics_endpoint(request: Request, _: StoreReader) -> Response:
    """Prometheus metrics: totals over every namespace, so for keys bound to none."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)


# -- the app -------------------------------------------------------------------
def _add_observer(vault: Vault, observer: Callable[[str, float], None]) -> None:
    """Install ``observer`` on the vault, keeping any observer already there."""
    previous = vault.observer
    if previous is None:
        vault.observer = observer
        return

    def both(name: str, seconds: float) -> None:
        previous(name, seconds)
        observer(name, seconds)

    vault.observer = both


def create_app(
    vault: Vault, settings: Settings | None = None, *, lifespan: Lifespan[FastAPI] | None = None
) -> FastAPI:
    """The HTTP API over ``vault``; its metrics are fed by the vault's observer hook.

    ``lifespan`` runs around the server's life (e.g. to close the vault, or to
    run the session manager of an app mounted under it).
    """
    settings = settings or vault.settings
    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,  # the dashboard serves them offline
        title="memvault",
        version=__version__,
        description="Persistent, searchable long-term memory for AI assistants and agents. "
        'Errors are `{"error": {"code", "message", "field"}}`.',
    )
    metrics = Metrics(vault)
    _add_observer(vault, metrics.observe_operation)
    app.state.vault = vault
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.key_ring = vault.keys
    app.include_router(router)
    app.include_router(maintenance_router, dependencies=[Depends(refuse_unknown_query)])
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    add_error_handlers(app)
    # Added innermost first. Room for the largest content JSON-escaped, or a batch
    # of ordinary ones.
    app.add_middleware(BodyLimit, limit=max(MIN_BODY_LIMIT, 8 * settings.max_content_bytes))
    app.add_middleware(Authenticate)  # inside CORS: a browser's preflight carries no key
    if settings.cors_origins:  # browsers on other origins only when configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["Location", "Mcp-Session-Id", "WWW-Authenticate"],
        )
    app.add_middleware(
        HostCheck, allowed_hosts=settings.allowed_hosts, allowed_origins=settings.cors_origins
    )
    app.add_middleware(RequestTimer, metrics=metrics)  # outermost: times refusals too
    return app
