"""The dashboard's upkeep, analytics and health pages, in process over a real SQLite vault."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest

from memvault.maintenance.jobs import shared_runner
from memvault.vault import Vault

from .web_helpers import post, sign_in, web_client


@pytest.fixture
def client(vault: Vault):
    return web_client(vault)


def finished(client, answer) -> dict:
    """The result of the job a form started (its page is where the answer redirects)."""
    assert answer.status_code == 303, answer.text
    job_id = answer.headers["location"].rsplit("/", 1)[-1]
    job = shared_runner(client.app.state).wait(job_id, 120)
    assert job.status == "done", job.error
    assert "Done." in client.get(answer.headers["location"]).text
    return job.result


def test_archive_preview_then_archive_and_restore(client, vault: Vault):
    for i in range(3):
        vault.store(f"old scratch note {i}", tags=["scratch"], created_at="2020-01-01T00:00:00Z")
    vault.store("a fresh note", tags=["scratch"])
    preview = client.get("/upkeep/archive", params={"older_than": "1y", "tags": "scratch"})
    assert "<strong>3</strong> memories of default would move" in preview.text
    assert "old scratch note 0" in preview.text and "a fresh note" not in preview.text
    assert vault.count() == 4  # a preview moves nothing
    done = finished(
        client,
        post(
            client,
            "/upkeep/archive",
            {"ns": "default", "older_than": "1y", "tags": "scratch", "type": ""},
            page="/upkeep",
        ),
    )
    assert done["operation"]["result"]["archived"] == 3
    assert vault.count() == 1
    upkeep = client.get("/upkeep").text
    name = re.search(r'name="name" value="([^"]+)"', upkeep).group(1)
    restored = finished(
        client, post(client, "/upkeep/archives/restore", {"name": name}, page="/upkeep")
    )
    assert restored == {"restored": 3, "skipped": 0}
    assert vault.count() == 4
    outside = post(client, "/upkeep/archives/restore", {"name": "../vault.db"}, page="/upkeep")
    assert outside.status_code == 404 and vault.count() == 4


def test_bad_archive_input_is_refused_naming_the_field(client, vault: Vault):
    vault.store("something")
    refused = post(client, "/upkeep/archive", {"older_than": "soon"}, page="/upkeep")
    assert refused.status_code == 422 and "older_than" in refused.text
    whole = post(client, "/upkeep/archive", {}, page="/upkeep")
    assert whole.status_code == 422  # never a whole namespace by accident
    assert vault.count() == 1


def test_backup_and_optimize_run_as_jobs(client, vault: Vault):
    vault.store("keep me safe", tags=["x"])
    done = finished(client, post(client, "/upkeep/backup", {}, page="/upkeep"))
    assert done["backup"]["count"] == 1
    assert done["backup"]["file"] in client.get("/upkeep").text
    report = finished(client, post(client, "/upkeep/optimize", {}, page="/upkeep"))
    assert report["steps"] and vault.count() == 1


def test_analytics_draws_the_store_and_this_servers_searches(client, vault: Vault):
    vault.store_many(
        [
            {"content": f"decision {i}", "memory_type": "decision", "tags": ["arch"]}
            for i in range(3)
        ]
    )
    vault.store("a plain note", tags=["misc"], namespace="other")
    client.get("/", params={"q": "decision"})
    client.get("/", params={"q": "decision"})  # the second reuses the query's vector
    html = client.get("/analytics").text
    while "Counting the memories" in html:  # the first visit counts in the background
        time.sleep(0.1)
        html = client.get("/analytics").text
    assert html.count("<svg") == 6
    assert "<title>decision: 3</title>" in html and "<title>arch: 3</title>" in html
    assert "<title>other: 1</title>" in html  # memories per namespace
    assert "2 searches since this server started" in html
    assert "Hit rate 50.0 %" in html


def test_health_redacts_passwords_and_shows_paths_to_admins_only(vault: Vault):
    vault.settings = dataclasses.replace(
        vault.settings, server_url="http://me:hunter2@peer.example:8000"
    )
    admin = web_client(vault).get("/health").text
    assert "hunter2" not in admin and "http://me:***@peer.example:8000" in admin
    assert vault.store_backend.url in admin
    # Through the vault's own ring, which every app over it shares: seen at once.
    reader_key = vault.keys.create("reader", "read")[0]
    reader = web_client(vault)
    sign_in(reader, reader_key)
    page = reader.get("/health").text
    assert "Store: <strong>ok</strong>" in page
    assert vault.store_backend.url not in page and "(shown to admins)" in page
    assert reader.get("/upkeep").status_code == 403
