"""Every route of the app x every kind of caller: the status each gets.

The routes come from the app itself (``app.routes``), so a route added
without an entry below fails ``test_every_route_has_an_expectation``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.routing import Mount

from memvault.access.keys import KeyRing
from memvault.access.principal import SCOPES
from memvault.web.render import PageRoute

from .http_helpers import API, http_client
from .key_helpers import bearer, expired_key
from .test_http_hosts import INIT, MCP_HEADERS

NS = "alice"
MAINT = f"{API}/maintenance"


@dataclass(frozen=True)
class Case:
    needs: str | None  # the scope the route needs; None: served to anyone (holds no data)
    spans: str  # "namespace": works in one; "store": every namespace; "none": no memories
    ok: int  # the status of a request that is allowed
    request: Callable[[Any], tuple[str, Any]]  # (url, JSON body) from the fixture's world


def _memory_url(world: Any) -> tuple[str, Any]:
    return f"{API}/memories/{world.fresh()}?namespace={NS}", None


ROUTES: dict[tuple[str, str], Case] = {
    ("POST", "/mcp"): Case("read", "none", 200, lambda w: ("/mcp", INIT)),
    ("GET", "/openapi.json"): Case("read", "none", 200, lambda w: ("/openapi.json", None)),
    # The pages of the API docs and the dashboard's assets: no data, no key needed.
    ("GET", "/docs"): Case(None, "none", 200, lambda w: ("/docs", None)),
    ("GET", "/redoc"): Case(None, "none", 200, lambda w: ("/redoc", None)),
    ("GET", "/static"): Case(None, "none", 200, lambda w: ("/static/app.css", None)),
    ("GET", "/metrics"): Case("read", "store", 200, lambda w: ("/metrics", None)),
    ("POST", f"{API}/memories"): Case(
        "write",
        "namespace",
        201,
        lambda w: (f"{API}/memories", {"content": f"new {uuid.uuid4()}", "namespace": NS}),
    ),
    ("POST", f"{API}/memories/batch"): Case(
        "write",
        "namespace",
        200,
        lambda w: (
            f"{API}/memories/batch",
            {"items": [{"content": f"b {uuid.uuid4()}"}], "namespace": NS},
        ),
    ),
    ("GET", f"{API}/memories"): Case(
        "read", "namespace", 200, lambda w: (f"{API}/memories?namespace={NS}", None)
    ),
    ("GET", f"{API}/memories/{{ref}}"): Case(
        "read", "namespace", 200, lambda w: (f"{API}/memories/{w.kept}?namespace={NS}", None)
    ),
    ("PATCH", f"{API}/memories/{{ref}}"): Case(
        "write",
        "namespace",
        200,
        lambda w: (f"{API}/memories/{w.kept}?namespace={NS}", {"importance": 0.7}),
    ),
    ("DELETE", f"{API}/memories/{{ref}}"): Case("write", "namespace", 200, _memory_url),
    ("POST", f"{API}/search"): Case(
        "read", "namespace", 200, lambda w: (f"{API}/search", {"query": "garden", "namespace": NS})
    ),
    ("POST", f"{API}/search/tags"): Case(
        "read",
        "namespace",
        200,
        lambda w: (f"{API}/search/tags", {"tags": ["home"], "namespace": NS}),
    ),
    ("POST", f"{API}/search/time"): Case(
        "read",
        "namespace",
        200,
        lambda w: (f"{API}/search/time", {"when": "last week", "namespace": NS}),
    ),
    ("GET", f"{API}/stats"): Case(
        "read", "namespace", 200, lambda w: (f"{API}/stats?namespace={NS}", None)
    ),
    ("GET", f"{API}/health"): Case("read", "none", 200, lambda w: (f"{API}/health", None)),
    ("POST", f"{MAINT}/dedup"): Case(
        "admin", "namespace", 202, lambda w: (f"{MAINT}/dedup", {"namespace": NS})
    ),
    ("POST", f"{MAINT}/archive"): Case(
        "admin",
        "namespace",
        202,
        lambda w: (f"{MAINT}/archive", {"namespace": NS, "older_than": "30d", "dry_run": True}),
    ),
    ("POST", f"{MAINT}/summarize"): Case(
        "admin",
        "namespace",
        202,
        lambda w: (f"{MAINT}/summarize", {"namespace": NS, "dry_run": True}),
    ),
    ("POST", f"{MAINT}/optimize"): Case(
        "admin", "store", 202, lambda w: (f"{MAINT}/optimize", None)
    ),
    ("POST", f"{MAINT}/undo"): Case(
        "admin", "store", 202, lambda w: (f"{MAINT}/undo", {"operation_id": "no-such-operation"})
    ),
    ("GET", f"{MAINT}/jobs/{{job_id}}"): Case(
        "admin", "store", 200, lambda w: (f"{MAINT}/jobs/{w.job}", None)
    ),
    ("GET", f"{MAINT}/jobs"): Case("admin", "store", 200, lambda w: (f"{MAINT}/jobs", None)),
    ("GET", f"{MAINT}/operations"): Case(
        "admin", "namespace", 200, lambda w: (f"{MAINT}/operations?namespace={NS}", None)
    ),
}
SIGNING = {("GET", "/signin"), ("POST", "/signin"), ("POST", "/signout")}
CALLERS = [
    "no key",
    "wrong key",
    "expired key",
    "revoked key",
    "read",
    "write",
    "admin",
    "other namespace",
]


def expected(case: Case, method: str, caller: str) -> int:
    if case.needs is None:
        return case.ok
    if caller in ("no key", "wrong key", "expired key", "revoked key"):
        return 401
    if caller == "other namespace":  # an admin key bound to bob
        if case.spans == "store":
            return 403
        if case.spans == "namespace":  # alice: not there for a read, forbidden for a write
            return 404 if case.needs == "read" or method == "GET" else 403
        return case.ok
    return case.ok if SCOPES.index(caller) >= SCOPES.index(case.needs) else 403


def app_routes(app: Any) -> dict[tuple[str, str], Any]:
    """(method, path) of every route the app serves (included routers' too): its route.

    A route for every method (``/mcp``) is listed as POST, a mount as GET."""
    out = {}
    for route in app.routes:
        inner = (
            route.effective_route_contexts()
            if hasattr(route, "effective_route_contexts")
            else [route]
        )
        for r in inner:
            methods = getattr(r, "methods", None)
            methods = (
                methods - {"HEAD"}
                if methods is not None
                else {"GET" if isinstance(r, Mount) else "POST"}
            )
            out.update({(method, r.path): getattr(r, "original_route", r) for method in methods})
    return out


def declares_need(route: Any) -> bool:
    """Whether a dashboard page asks the dashboard's ``need`` for a scope."""
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if getattr(dependant.call, "__qualname__", "").startswith("need."):
            return True
        pending.extend(dependant.dependencies)
    return False


class World:
    """The store the matrix runs on: memories in alice, and a job to look at."""

    def __init__(self, vault: Any, keys: dict[str, str | None]) -> None:
        self.vault = vault
        self.keys = keys
        self.kept = vault.store(
            "The garden needs water on Sundays", tags=["home"], namespace=NS
        ).memory.id
        self.job = ""

    def fresh(self) -> str:
        return self.vault.store(f"to delete {uuid.uuid4()}", namespace=NS).memory.id


@pytest.fixture(scope="module")
def world(tmp_path_factory, embedder):
    from memvault.config import Settings
    from memvault.vault import Vault

    from .conftest import MODEL_CACHE

    path = tmp_path_factory.mktemp("matrix")
    settings = Settings.from_env(
        {"MEMVAULT_DATA_DIR": str(path / "data"), "MEMVAULT_MODEL_CACHE_DIR": str(MODEL_CACHE)}
    )
    with Vault.open(f"sqlite://{path / 'vault.db'}", settings=settings, embedder=embedder) as vault:
        ring = KeyRing(vault.store_backend)
        keys: dict[str, str | None] = {scope: ring.create(scope, scope)[0] for scope in SCOPES}
        revoked, record = ring.create("gone", "admin")
        ring.revoke(record.id)
        keys.update(
            {
                "no key": None,
                "wrong key": keys["admin"][:-4] + "AAAA",
                "expired key": expired_key(vault.store_backend),
                "revoked key": revoked,
                "other namespace": ring.create("bob", "admin", ["bob"])[0],
            }
        )
        world = World(vault, keys)
        with http_client(vault) as client:
            world.client = client
            world.job = client.post(f"{MAINT}/optimize", headers=bearer(keys["admin"])).json()["id"]
            yield world


def test_every_route_has_an_expectation(world):
    """API routes are in ROUTES; dashboard pages (whose answers are pages, tested with the
    dashboard) each ask for a scope, but for signing in and out."""
    routes = app_routes(world.client.app)
    pages = {k: r for k, r in routes.items() if isinstance(r, PageRoute)}
    assert set(routes) - set(pages) == set(ROUTES)
    assert {k for k, r in pages.items() if not declares_need(r)} == SIGNING


def test_a_dashboard_page_without_a_key_asks_for_one(world):
    for key in (None, world.keys["wrong key"], world.keys["revoked key"]):
        page = world.client.get("/", headers=bearer(key) if key else {}, follow_redirects=False)
        assert (page.status_code, page.headers["location"]) == (303, "/signin?next=%2F")
    assert world.client.get("/", headers=bearer(world.keys["read"])).status_code == 200


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_answers_each_caller(world, route, caller):
    case = ROUTES[route]
    url, body = case.request(world)
    key = world.keys[caller]
    headers = {**MCP_HEADERS, **(bearer(key) if key else {})}
    response = world.client.request(route[0], url, json=body, headers=headers)
    want = expected(case, route[0], caller)
    assert response.status_code == want, response.text[:300]
    if want >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"]
    if want == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
