"""The dashboard in a real browser (Debian's chromium, driven by Playwright) against a real
``memvault serve``: search, edit a tag, review and merge duplicates, check, undo, check.

Screenshots of every page visited are saved under the test's temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .mcp_helpers import free_port, memvault_serve
from .upkeep import BASE, SEED

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT = 120_000  # ms: an analysis or a merge on a cold server


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A running server on a free port over a real SQLite store, seeded; (url, name -> id)."""
    port = free_port()
    with memvault_serve(tmp_path, tmp_path / "served.db", port):
        url = f"http://127.0.0.1:{port}"
        items = [
            {
                "content": content,
                "tags": [name, "seed"],
                "metadata": {"name": name},
                "importance": round(0.1 + 0.04 * i, 2),
                "created_at": (BASE + timedelta(days=i)).isoformat(),
            }
            for i, (name, content) in enumerate(SEED.items())
        ]
        reply = httpx.post(f"{url}/api/v1/memories/batch", json={"items": items}, timeout=120)
        assert reply.status_code == 200, reply.text
        ids = {
            name: r["memory"]["id"] for name, r in zip(SEED, reply.json()["results"], strict=True)
        }
        yield url, ids


def memory(url: str, memory_id: str) -> dict | None:
    reply = httpx.get(f"{url}/api/v1/memories/{memory_id}", timeout=30)
    return reply.json() if reply.status_code == 200 else None


def shot(page: Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / "screenshots" / f"{name}.png"), full_page=True)


def test_search_edit_merge_with_a_choice_and_undo(browser: Browser, served, tmp_path: Path):
    url, ids = served
    page = browser.new_page(base_url=url)
    page.set_default_timeout(WAIT)
    expect.set_options(timeout=WAIT)
    page.goto("/")
    expect(page.get_by_role("heading", name="Memories")).to_be_visible()
    shot(page, tmp_path, "browse")

    # Find one memory through the search box and open it.
    page.get_by_label("Search").fill("which programming language does Bob like")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_label("Why it ranked").first).to_contain_text("meaning")
    shot(page, tmp_path, "search")
    page.get_by_role("link", name="Bob's favourite programming language is Rust.").click()
    expect(page.get_by_role("heading", name="Memory", exact=True)).to_be_visible()

    # Edit its tags.
    page.get_by_role("textbox", name="Tags").fill("rust, seed, languages")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    shot(page, tmp_path, "memory")
    assert memory(url, ids["rust"])["tags"] == ["languages", "rust", "seed"]

    # Analyse; the first cluster is the three wordings of Alice's preference.
    page.get_by_role("link", name="Defragmenter").click()
    page.get_by_label("Similarity threshold").fill("0.95")
    shot(page, tmp_path, "defragmenter")
    page.get_by_role("button", name="Start analysis").click()
    expect(page.get_by_text("memories scanned")).to_be_visible()
    shot(page, tmp_path, "analysis")
    page.get_by_role("link", name="Review the first cluster").click()
    expect(page.get_by_role("heading", name="Cluster 1 of 5")).to_be_visible()
    # The rule proposes the newest wording; keep the first one instead, and leave the
    # proposed survivor out of the merge.
    page.locator(f'input[name="survivor"][value="{ids["tabs"]}"]').check()
    page.locator(f'input[name="include"][value="{ids["tabs_reordered"]}"]').uncheck()
    shot(page, tmp_path, "cluster")
    page.get_by_role("button", name="Merge as selected").click()
    expect(page.get_by_role("heading", name="Cluster 2 of 5")).to_be_visible()
    page.get_by_role("link", name="All clusters of this analysis").click()
    page.get_by_role("button", name="Back up, then merge the 1 chosen clusters").click()
    expect(page.get_by_text("Done.")).to_be_visible()
    shot(page, tmp_path, "merged")

    survivor = memory(url, ids["tabs"])
    assert survivor["content"] == SEED["tabs"]
    assert survivor["tags"] == ["seed", "tabs", "tabs_case"]
    assert survivor["metadata"]["merged_from"] == [ids["tabs_case"]]
    assert memory(url, ids["tabs_case"]) is None
    assert memory(url, ids["tabs_reordered"])["tags"] == ["seed", "tabs_reordered"]
    assert memory(url, ids["rust_us"]) is not None  # its cluster was not chosen

    # Undo it from the operation log.
    page.get_by_role("link", name="Operation log (undo)").click()
    shot(page, tmp_path, "operations")
    page.get_by_role("button", name="Undo operation").click()
    expect(page.get_by_text("Done.")).to_be_visible()
    shot(page, tmp_path, "undone")
    assert memory(url, ids["tabs"])["tags"] == ["seed", "tabs"]
    assert memory(url, ids["tabs_case"])["content"] == SEED["tabs_case"]
    assert memory(url, ids["tabs_reordered"]) is not None

    for name in ("upkeep", "analytics", "health"):
        page.get_by_role("link", name=name.capitalize(), exact=True).click()
        expect(page.locator("h1")).to_contain_text(name.capitalize())
        shot(page, tmp_path, name)

    # A phone's width (also what 400 % zoom leaves of a laptop's): nothing scrolls sideways.
    phone = browser.new_page(base_url=url, viewport={"width": 320, "height": 640})
    for name, path in (
        ("browse", "/"),
        ("search", "/?q=tabs"),
        ("memory", f"/memories/{ids['long']}"),
        ("defragmenter", "/defrag"),
        ("upkeep", "/upkeep"),
        ("analytics", "/analytics"),
        ("health", "/health"),
        ("operations", "/operations"),
    ):
        phone.goto(path)
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        shot(phone, tmp_path, f"phone-{name}")
