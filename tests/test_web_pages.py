"""The dashboard in process: offline docs, browsing, search, one memory, edit and delete."""

from __future__ import annotations

import re

import pytest

from memvault.vault import Vault

from .web_helpers import post, web_client


@pytest.fixture
def client(vault: Vault):
    return web_client(vault)


def test_docs_and_redoc_load_nothing_from_another_host(client):
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, html
        for asset in assets:
            assert asset.startswith("/"), f"{path} loads {asset}"
            assert client.get(asset).status_code == 200, asset
        assert "fonts.googleapis" not in html and "cdn." not in html
    assert client.get("/openapi.json").json()["info"]["title"] == "memvault"


def test_browse_lists_newest_first_a_page_at_a_time(client, vault: Vault):
    for i in range(25):
        vault.store(f"note number {i}", created_at=f"2025-01-{i + 1:02d}T00:00:00Z")
    first = client.get("/").text
    assert first.index("note number 24") < first.index("note number 5")
    assert "note number 4<" not in first  # 20 a page: 24 down to 5
    older = re.search(r'href="(/\?[^"]*cursor=[^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(older).text
    assert "note number 4<" in second and "note number 0<" in second
    assert "note number 5<" not in second


def test_search_shows_score_parts_and_the_matching_part_of_a_long_memory(client, vault: Vault):
    filler = " ".join(f"Paragraph {i} is about gardening and tomatoes." for i in range(80))
    vault.store(filler + " The backup key lives in the blue safe.", tags=["long"])
    vault.store("Alice prefers tabs over spaces", tags=["prefs"])
    html = client.get("/", params={"q": "backup key blue safe"}).text
    assert "<mark>blue</mark>" in html and "<mark>safe</mark>" in html
    assert re.search(r"Matched in part \d+ of \d+", html)
    assert "meaning" in html and "words" in html and "fused" in html
    # Filters narrow the search: the long memory does not carry the tag asked for.
    narrowed = client.get("/", params={"q": "backup key blue safe", "tags": "prefs"}).text
    assert "gardening" not in narrowed and "tabs over spaces" in narrowed


def test_memory_page_edit_and_delete(client, vault: Vault):
    memory = vault.store("The staging database moved to host db2", tags=["ops"]).memory
    vault.store("The staging database lives on host db2 now", tags=["infra"])
    html = client.get(f"/memories/{memory.id}").text
    assert "The staging database moved to host db2" in html
    assert "Similar memories" in html and "lives on host db2" in html
    done = post(
        client,
        f"/memories/{memory.id}/edit",
        {"tags": "ops, databases", "memory_type": "fact", "importance": "0.8"},
        page=f"/memories/{memory.id}",
    )
    assert done.status_code == 303
    changed = vault.get(memory.id)
    assert (changed.tags, changed.memory_type, changed.importance) == (
        ("databases", "ops"),
        "fact",
        0.8,
    )
    bad = post(
        client,
        f"/memories/{memory.id}/edit",
        {"tags": "", "memory_type": "fact", "importance": "2"},
        page=f"/memories/{memory.id}",
    )
    assert bad.status_code == 422 and "importance" in bad.text
    assert vault.get(memory.id).importance == 0.8  # nothing changed
    confirm = client.get(f"/memories/{memory.id}/delete")
    assert "Delete this memory?" in confirm.text
    assert (
        post(
            client, f"/memories/{memory.id}/delete", {}, page=f"/memories/{memory.id}/delete"
        ).status_code
        == 303
    )
    assert vault.count() == 1
    assert client.get(f"/memories/{memory.id}").status_code == 404


def test_an_analysis_with_bad_input_is_refused_naming_the_field(client, vault: Vault):
    for field, value in (("threshold", "1.5"), ("keep", "loudest"), ("after", "someday")):
        form = {"ns": "default", "threshold": "0.95", "keep": "newest", field: value}
        refused = post(client, "/defrag", form, page="/defrag")
        assert refused.status_code == 422, refused.text
        assert field in refused.text or "created_after" in refused.text
    assert client.get("/defrag").text.count("/defrag/job-") == 0  # no analysis started
