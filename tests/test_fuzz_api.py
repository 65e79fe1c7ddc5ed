"""A bounded property-based fuzz of the HTTP API from its own OpenAPI schema: no 5xx.

schemathesis generates requests for every operation the app describes (valid
ones and ones that break the schema: wrong types, missing fields, odd strings)
and sends them to the real app served by uvicorn on 127.0.0.1 (so Host and
client are loopback, as for a local user), on a real SQLite store with the real
model. Any answer of 500 or more fails. Up to
EXAMPLES_PER_OPERATION requests per operation, a few thousand in all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from memvault.config import Settings
from memvault.http.app import create_app
from memvault.vault import Vault

from .conftest import MODEL_CACHE
from .mcp_helpers import free_port

EXAMPLES_PER_OPERATION = 120


@pytest.fixture(scope="module")
def fuzzed_vault(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[Vault]:
    data = tmp_path_factory.mktemp("fuzz")
    env = {"MEMVAULT_DATA_DIR": str(data), "MEMVAULT_MODEL_CACHE_DIR": str(MODEL_CACHE)}
    with Vault.open(
        f"sqlite://{data / 'fuzz.db'}", settings=Settings.from_env(env), embedder=embedder
    ) as vault:
        # Something to find, list, merge and archive, in the default namespace and another.
        vault.store_many(
            [
                {
                    "content": f"note {i} about the weekly report",
                    "tags": ["work"],
                    "created_at": f"2024-0{1 + i % 9}-01T00:00:00Z",
                }
                for i in range(20)
            ]
        )
        vault.store("a memory elsewhere", namespace="other")
        yield vault


@pytest.fixture(scope="module")
def api_schema(fuzzed_vault: Vault) -> Iterator[schemathesis.schemas.BaseSchema]:
    app = create_app(fuzzed_vault)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="fuzzed-server", daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield schemathesis.openapi.from_url(f"http://127.0.0.1:{server.config.port}/openapi.json")
    finally:
        _wait_for_jobs(app)
        server.should_exit = True
        thread.join()


def _wait_for_jobs(app) -> None:
    """Maintenance jobs run in the server's thread: let them end before the store closes."""
    jobs = getattr(app.state, "maintenance_jobs", None)
    for _ in range(600):
        if jobs is None or all(j.status not in ("queued", "running") for j in jobs.list()):
            return
        time.sleep(0.1)


def test_no_request_gets_a_server_error(api_schema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15  # every route of the app, none listed by hand
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=cases)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_server_error(case) -> None:
            response = case.call()
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}\n"
                f"query={case.query!r} body={str(case.body)[:500]!r}\n{response.text[:1000]}"
            )

        no_server_error()
