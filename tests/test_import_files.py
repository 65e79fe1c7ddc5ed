"""Importing notes, JSON Lines of memories and an MCP memory graph, as migrations."""

from __future__ import annotations

import json

import pytest

from memvault.errors import InvalidInput
from memvault.model import Filter
from memvault.stores import open_store
from memvault.transfer.migrate import migrate
from memvault.transfer.sources import open_source
from memvault.vault import Vault

from .conftest import run_cli
from .test_resume import kill_after_a_checkpoint

ALL = Filter(namespace=None, include_chunks=False, include_expired=True)
TRIP = """# Trip to Lisbon
We fly on May 3 and come back on May 10.

## Hotel
The hotel is on the river, booked under Dana's name.

```sh
# a comment in code, not a heading
```

## Budget
"""


@pytest.fixture
def notes(tmp_path):
    folder = tmp_path / "notes"
    (folder / "work").mkdir(parents=True)
    (folder / "trip.md").write_text(TRIP, encoding="utf-8")
    (folder / "work" / "standup.txt").write_text(
        "Standup moves to 9:30 on Mondays.\n", encoding="utf-8"
    )
    (folder / "empty.md").write_text("\n", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("caf\xe9 notes".encode("latin-1"))
    (folder / ".obsidian").mkdir()
    (folder / ".obsidian" / "app.md").write_text("settings, not a note", encoding="utf-8")
    (folder / "picture.png").write_bytes(b"\x89PNG")
    return folder


def contents(url, namespace=None):
    store = open_store(url)
    try:
        found = [
            m
            for batch, _ in store.scan(
                ALL.with_changes(namespace=namespace), batch_size=100, with_embedding=False
            )
            for m in batch
        ]
    finally:
        store.close()
    return {m.content: m for m in found}


def test_a_folder_of_notes_one_memory_per_file_then_per_section(
    notes, tmp_path, settings, embedder
):
    target = f"sqlite://{tmp_path / 'm.db'}"
    report = migrate(
        open_source(str(notes), settings), target, settings=settings, embedder=embedder
    )
    assert (report.moved, report.failed, report.verification.ok) == (2, 1, True)
    assert report.failures[0][0] == "latin1.txt" and "UTF-8" in report.failures[0][1]
    by_file = {m.metadata["path"]: m for m in contents(target).values()}
    assert set(by_file) == {"trip.md", "work/standup.txt"}
    assert by_file["trip.md"].content.strip() == TRIP.strip()
    assert {m.namespace for m in by_file.values()} == {"default"}

    sections = f"sqlite://{tmp_path / 's.db'}"
    split = migrate(
        open_source(str(notes), settings, split="headings"),
        sections,
        settings=settings,
        embedder=embedder,
    )
    # A heading with nothing under it ("## Budget") is no memory.
    assert split.moved == 3 and split.verification.ok
    by_section = {m.metadata.get("section"): m for m in contents(sections).values()}
    assert set(by_section) == {"Trip to Lisbon", "Hotel", None}
    assert by_section["Hotel"].content.startswith("## Hotel\nThe hotel is on the river")
    assert "# a comment in code" in by_section["Hotel"].content
    assert by_section["Hotel"].metadata["path"] == "trip.md"

    again = migrate(
        open_source(str(notes), settings, split="headings"),
        sections,
        settings=settings,
        embedder=embedder,
    )
    assert (again.moved, again.skipped, again.verification.ok) == (0, 3, True)
    with Vault.open(sections, settings=settings, embedder=embedder) as vault:
        assert (
            vault.search("which hotel did we book?", k=1)[0].memory.metadata["section"] == "Hotel"
        )
    with pytest.raises(InvalidInput) as err:
        open_source(str(notes), settings, split="paragraphs")
    assert err.value.field == "split"


def test_json_lines_of_memories_and_the_mcp_memory_graph(tmp_path, settings, embedder):
    lines = tmp_path / "memories.jsonl"
    lines.write_text(
        "\n".join(
            [
                json.dumps({"content": "Alice prefers tabs", "tags": ["prefs"], "importance": 0.9}),
                json.dumps(
                    {
                        "content": "Deploys happen on Fridays",
                        "namespace": "ops",
                        "created_at": "2024-05-01T10:00:00Z",
                    }
                ),
                "{broken",
                json.dumps({"content": "", "tags": ["empty"]}),
                json.dumps({"content": "nowhere", "namespace": 7}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    target = f"sqlite://{tmp_path / 'j.db'}"
    report = migrate(
        open_source(str(lines), settings), target, settings=settings, embedder=embedder
    )
    assert (report.moved, report.failed, report.verification.ok) == (2, 3, True)
    assert [where for where, _ in report.failures] == ["line 3", "line 4", "line 5"]
    stored = contents(target)
    assert stored["Alice prefers tabs"].tags == ("prefs",)
    assert stored["Alice prefers tabs"].importance == 0.9
    assert stored["Deploys happen on Fridays"].namespace == "ops"
    assert stored["Deploys happen on Fridays"].created_at.year == 2024

    graph = tmp_path / "memory.json"
    graph.write_text(
        "\n".join(
            json.dumps(record)
            for record in [
                {
                    "type": "entity",
                    "name": "Alice",
                    "entityType": "person",
                    "observations": ["Prefers tea to coffee", "Works at ACME since 2021"],
                },
                {
                    "type": "entity",
                    "name": "ACME",
                    "entityType": "organization",
                    "observations": [],
                },
                {"type": "relation", "from": "Alice", "to": "ACME", "relationType": "works_at"},
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    memories = f"sqlite://{tmp_path / 'g.db'}"
    report = migrate(
        open_source(str(graph), settings), memories, settings=settings, embedder=embedder
    )
    assert (report.moved, report.failed, report.verification.ok) == (3, 0, True)
    stored = contents(memories)
    tea = stored["Alice: Prefers tea to coffee"]
    assert (tea.memory_type, tea.tags, tea.metadata) == (
        "observation",
        ("person",),
        {"entity": "Alice", "entity_type": "person"},
    )
    works = stored["Alice works_at ACME"]
    assert works.memory_type == "relation"
    assert works.metadata == {"from": "Alice", "to": "ACME", "relation_type": "works_at"}

    unknown = tmp_path / "other.json"
    unknown.write_text('{"title": "not ours"}\n', encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        open_source(str(unknown), settings)
    assert err.value.field == "source_url"


def test_the_import_command_takes_a_folder_and_a_namespace(notes, tmp_path):
    target = f"sqlite://{tmp_path / 'cli.db'}"
    done = run_cli(
        ["import", str(notes), "--store", target, "-n", "journal", "--split", "headings", "--json"],
        tmp_path,
    )
    assert done.returncode == 1, done.stderr  # one note is not UTF-8: listed, the rest moved
    report = json.loads(done.stdout)
    assert report["moved"] == 3 and report["verification"]["ok"]
    assert {m.namespace for m in contents(target).values()} == {"journal"}


def test_a_killed_import_of_json_lines_is_finished_by_a_rerun(tmp_path, settings):
    lines = tmp_path / "many.jsonl"
    lines.write_text(
        "".join(
            json.dumps({"content": f"note {i} about topic {i % 17}", "tags": [f"t{i % 5}"]}) + "\n"
            for i in range(1500)
        ),
        encoding="utf-8",
    )
    target = tmp_path / "target.db"
    script = (
        "from memvault.transfer.migrate import migrate\n"
        f"migrate({str(lines)!r}, 'sqlite://{target}', batch_size=50, max_rate=100)\n"
    )
    kill_after_a_checkpoint(script, target, tmp_path)
    before = len(contents(f"sqlite://{target}"))
    assert 0 < before < 1500
    report = migrate(str(lines), f"sqlite://{target}", settings=settings, batch_size=50)
    assert report.resumed_from is not None and report.verification.ok, report.to_dict()
    assert report.moved == 1500 - before
    assert len(contents(f"sqlite://{target}")) == 1500


def test_an_import_of_which_nothing_can_be_stored_creates_no_store(tmp_path):
    lines = tmp_path / "empty.jsonl"
    lines.write_text('{"content": ""}\n{"content": "   "}\n')
    path = tmp_path / "new" / "memories.db"
    done = run_cli(["import", str(lines), "--store", f"sqlite://{path}", "--json"], tmp_path)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert (report["moved"], report["failed"]) == (0, 2)
    assert not (tmp_path / "new").exists()
