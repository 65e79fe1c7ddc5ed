"""Helpers for the HTTP API tests: a TestClient over a vault, and the error shape."""

from __future__ import annotations

import time
from typing import Any

import httpx
from fastapi.testclient import TestClient

from memvault.config import Settings
from memvault.server import build_app
from memvault.vault import Vault

API = "/api/v1"
JSON = {"content-type": "application/json"}
# What a client on this machine sends: a loopback Host, from a loopback address.
LOCAL = {"base_url": "http://127.0.0.1:8000", "client": ("127.0.0.1", 50000)}


def http_client(vault: Vault, settings: Settings | None = None, **options: Any) -> TestClient:
    """The app over ``vault``, without a socket; server errors come back as responses."""
    return TestClient(
        build_app(vault, settings), raise_server_exceptions=False, **{**LOCAL, **options}
    )


def total(vault: Vault, namespace: str = "default") -> int:
    return vault.count(namespace=namespace)


def assert_error(
    response: httpx.Response, status: int, field: str | None, code: str = "invalid_input"
) -> dict:
    """Assert the status and memvault's error shape; the error object."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error
    assert error["message"]
    return error


def finished(client: TestClient, job: dict) -> dict:
    """A maintenance job's state once it has ended (done or failed)."""
    for _ in range(600):
        state = client.get(f"{API}/maintenance/jobs/{job['id']}").json()
        if state["status"] not in ("queued", "running"):
            return state
        time.sleep(0.1)
    raise AssertionError(f"job {job['id']} did not finish")
