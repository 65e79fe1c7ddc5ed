"""Helpers for the HTTP API tests: a TestClient over a vault, and the error shape."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from memvault.http.app import create_app
from memvault.vault import Vault

API = "/api/v1"
JSON = {"content-type": "application/json"}


def http_client(vault: Vault) -> TestClient:
    """The app over ``vault``, without a socket; server errors come back as responses."""
    return TestClient(create_app(vault), raise_server_exceptions=False)


def total(vault: Vault, namespace: str = "default") -> int:
    return vault.count(namespace=namespace)


def assert_error(response: httpx.Response, status: int, field: str | None,
                 code: str = "invalid_input") -> dict:
    """Assert the status and memvault's error shape; the error object."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error
    assert error["message"]
    return error
