"""Helpers for the dashboard's in-process tests: a client, its form token, page parts."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from memvault.server import build_app
from memvault.vault import Vault


def web_client(vault: Vault, client_host: str = "127.0.0.1") -> TestClient:
    """The app over ``vault``, as a browser on ``client_host`` reaches it."""
    return TestClient(
        build_app(vault),
        base_url="http://127.0.0.1:8000",
        raise_server_exceptions=False,
        follow_redirects=False,
        client=(client_host, 50000),
    )


def token(client: TestClient, path: str = "/") -> str:
    """The form token on a page (visiting it also starts the session it belongs to)."""
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get(path).text)
    assert found, f"no form token on {path}"
    return found.group(1)


def post(client: TestClient, path: str, data: dict[str, str], page: str = "/") -> httpx.Response:
    """Post a form as the page's own form would, with its token."""
    return client.post(path, data={"csrf": token(client, page), **data})


def sign_in(client: TestClient, key: str) -> httpx.Response:
    return post(client, "/signin", {"key": key, "next": "/"}, page="/signin")
