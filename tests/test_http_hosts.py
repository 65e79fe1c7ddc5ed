"""DNS rebinding: every route, REST and ``/mcp`` alike, answers only to its own names and pages."""

from __future__ import annotations

import dataclasses
import json

import pytest

from memvault.config import Settings
from memvault.errors import InvalidInput
from memvault.http.middleware import host_name

from .conftest import run_cli
from .http_helpers import API, assert_error, http_client

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_HEADERS = {"accept": "application/json, text/event-stream"}
# (method, path, JSON body) of a read, a write, an upkeep job and MCP's handshake.
REQUESTS = [
    ("GET", f"{API}/memories", None),
    ("POST", f"{API}/memories", {"content": "planted by a web page"}),
    ("POST", f"{API}/maintenance/optimize", None),
    ("POST", "/mcp", INIT),
]


@pytest.fixture
def client(vault):
    with http_client(vault) as c:  # entered: /mcp's session manager runs
        yield c


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
def test_a_foreign_host_is_misdirected_and_changes_nothing(client, vault, method, path, body):
    for host in (
        "attacker.example",
        "attacker.example:8000",
        "127.0.0.1.attacker.example",
        "0.0.0.0:8000",
        "",
    ):
        response = client.request(method, path, json=body, headers={"host": host, **MCP_HEADERS})
        assert_error(response, 421, "Host", "misdirected_request")
    assert vault.count() == 0


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
def test_a_foreign_origin_is_forbidden_and_changes_nothing(client, vault, method, path, body):
    for origin in (
        "http://attacker.example",
        "http://localhost:8000",
        "http://127.0.0.1:9999",
        "null",
    ):
        response = client.request(
            method, path, json=body, headers={"origin": origin, **MCP_HEADERS}
        )
        assert_error(response, 403, "Origin", "forbidden_origin")
    assert vault.count() == 0


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost", "LOCALHOST:1", "[::1]:8000"])
def test_loopback_names_and_the_servers_own_pages_are_served(client, host):
    assert client.get(f"{API}/memories", headers={"host": host}).status_code == 200
    same_origin = client.post(
        f"{API}/memories",
        json={"content": "from my own page"},
        headers={"host": host, "origin": f"http://{host}"},
    )
    assert same_origin.status_code in (200, 201), same_origin.text
    handshake = client.post("/mcp", json=INIT, headers={"host": host, **MCP_HEADERS})
    assert handshake.status_code == 200, handshake.text


def test_configured_hosts_and_origins_are_served_and_get_cors(vault):
    settings = dataclasses.replace(
        vault.settings,
        allowed_hosts=("memvault.example.com",),
        cors_origins=("https://app.example.com",),
    )
    with http_client(vault, settings, base_url="http://memvault.example.com") as c:
        assert c.get(f"{API}/memories").status_code == 200
        preflight = c.options(
            f"{API}/memories",
            headers={
                "origin": "https://app.example.com",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
        stored = c.post(
            f"{API}/memories",
            json={"content": "from the app"},
            headers={"origin": "https://app.example.com"},
        )
        assert stored.status_code == 201
        assert stored.headers["access-control-allow-origin"] == "https://app.example.com"
        assert_error(
            c.post(
                f"{API}/memories",
                json={"content": "x"},
                headers={"origin": "https://evil.example.com"},
            ),
            403,
            "Origin",
            "forbidden_origin",
        )
        assert_error(
            c.get(f"{API}/memories", headers={"host": "other.example.com"}),
            421,
            "Host",
            "misdirected_request",
        )


def test_no_cors_unless_configured(client):
    preflight = client.options(
        f"{API}/memories",
        headers={"origin": "http://127.0.0.1:8000", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_host_name_takes_the_port_off():
    assert [host_name(h) for h in ("Localhost:80", "[::1]:8000", "[::1]", "a.b.", "::1")] == [
        "localhost",
        "[::1]",
        "[::1]",
        "a.b",
        "::1",
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MEMVAULT_ALLOWED_HOSTS", "*"),
        ("MEMVAULT_ALLOWED_HOSTS", "good.example, *.example.com"),
        ("MEMVAULT_ALLOWED_HOSTS", "http://x.example"),
        ("MEMVAULT_CORS_ORIGINS", "*"),
        ("MEMVAULT_CORS_ORIGINS", "app.example.com"),
        ("MEMVAULT_CORS_ORIGINS", "null"),
    ],
)
def test_no_wildcard_or_malformed_name_is_accepted(variable, value):
    with pytest.raises(InvalidInput, match=variable) as caught:
        Settings.from_env({variable: value})
    assert caught.value.field == variable.removeprefix("MEMVAULT_").lower()


def test_config_shows_the_allowed_hosts_and_origins(tmp_path):
    shown = run_cli(
        ["config", "--json"],
        tmp_path,
        MEMVAULT_ALLOWED_HOSTS="Memvault.Example.com, 10.0.0.5:8443, [fd00::1]",
        MEMVAULT_CORS_ORIGINS="https://app.example.com/",
    )
    rows = {row["name"]: row for row in json.loads(shown.stdout)["settings"]}
    assert rows["allowed_hosts"]["value"] == "memvault.example.com,10.0.0.5:8443,[fd00::1]"
    assert rows["allowed_hosts"]["source"] == "env MEMVAULT_ALLOWED_HOSTS"
    assert rows["cors_origins"]["value"] == "https://app.example.com"
