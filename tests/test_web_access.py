"""Who may use the dashboard: sign-in with a key, scopes, namespaces, form tokens."""

from __future__ import annotations

import pytest

from memvault.access.keys import KeyRing
from memvault.vault import Vault

from .key_helpers import expired_key
from .web_helpers import post, sign_in, token, web_client


@pytest.fixture
def keys(vault: Vault) -> dict[str, str]:
    ring = KeyRing(vault.store_backend)
    return {
        "reader": ring.create("reader", "read")[0],
        "writer": ring.create("writer", "write")[0],
        "team-a": ring.create("team a", "write", ["team-a"])[0],
    }


def test_with_keys_a_page_asks_for_a_sign_in(vault: Vault, keys):
    client = web_client(vault)
    first = client.get("/memories/x")
    assert first.status_code == 303
    assert first.headers["location"] == "/signin?next=%2Fmemories%2Fx"
    for wrong in ("not-a-key", expired_key(vault.store_backend)):
        refused = sign_in(client, wrong)
        assert refused.status_code == 401 and "API key is" in refused.text
        assert "memvault_key" not in client.cookies
    done = sign_in(client, keys["reader"])
    assert done.status_code == 303
    cookie = done.headers["set-cookie"]
    assert f"memvault_key={keys['reader']}" in cookie and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert client.get("/").status_code == 200
    KeyRing(vault.store_backend).revoke(keys["reader"].split("_")[1])
    client.app.state.key_ring = KeyRing(vault.store_backend)  # no wait for the 2 s refresh
    assert client.get("/").status_code == 303  # a revoked key signs the browser out


def test_reads_need_read_and_edits_need_write(vault: Vault, keys):
    memory = vault.store("Bob likes green tea", tags=["drinks"]).memory
    reader = web_client(vault)
    sign_in(reader, keys["reader"])
    page = reader.get(f"/memories/{memory.id}")
    assert page.status_code == 200 and "Save changes" not in page.text
    refused = post(
        reader,
        f"/memories/{memory.id}/edit",
        {"tags": "x", "memory_type": "note", "importance": "0.5"},
    )
    assert refused.status_code == 403 and "the write scope" in refused.text
    assert vault.get(memory.id).tags == ("drinks",)
    writer = web_client(vault)
    sign_in(writer, keys["writer"])
    assert (
        post(
            writer,
            f"/memories/{memory.id}/edit",
            {"tags": "x", "memory_type": "note", "importance": "0.5"},
        ).status_code
        == 303
    )
    assert vault.get(memory.id).tags == ("x",)


def test_the_defragmenter_needs_admin(vault: Vault, keys):
    writer = web_client(vault)
    sign_in(writer, keys["writer"])
    assert writer.get("/defrag").status_code == 403
    assert writer.get("/operations").status_code == 403


def test_a_namespace_bound_key_sees_only_its_namespaces(vault: Vault, keys):
    vault.store("team a plans the offsite", namespace="team-a")
    vault.store("the default namespace note")
    client = web_client(vault)
    sign_in(client, keys["team-a"])
    own = client.get("/")
    assert "team a plans the offsite" in own.text and "default namespace note" not in own.text
    assert ">default (" not in own.text  # not even offered in the namespace list
    assert client.get("/", params={"ns": "default"}).status_code == 404


def test_a_form_without_its_token_changes_nothing(vault: Vault):
    memory = vault.store("Carol's birthday is in May", tags=["people"]).memory
    client = web_client(vault)
    token(client, f"/memories/{memory.id}")  # the session exists; the token is left out below
    for data in ({}, {"csrf": "0" * 64}):
        answer = client.post(f"/memories/{memory.id}/delete", data=data)
        assert answer.status_code == 403 and "security token" in answer.text
    assert vault.count() == 1


def test_without_keys_it_opens_on_loopback_only(vault: Vault):
    assert web_client(vault).get("/").status_code == 200
    remote = web_client(vault, client_host="192.0.2.7").get("/")
    assert remote.status_code == 403 and "only on this machine" in remote.text
