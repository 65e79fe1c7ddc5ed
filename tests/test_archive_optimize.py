"""Archive and restore, TTL removal, optimize and analytics on every store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from memvault.errors import InvalidInput
from memvault.maintenance.age import cutoff
from memvault.model import Filter
from memvault.transfer.dump import read_dump
from memvault.vault import Vault

from .upkeep import BASE, SEED, seed, snapshot


@pytest.fixture
def seeded(store, embedder, settings):
    vault = Vault(store, embedder, settings)
    return vault, seed(vault)


def test_archive_then_restore_gives_back_an_identical_store(seeded):
    vault, ids = seeded
    vault.store("recent and kept", namespace="default")
    before = snapshot(vault.store_backend)
    op = vault.upkeep.archive(older_than=datetime(2024, 1, 8, tzinfo=UTC))
    assert op.status == "applied" and op.result["archived"] == 7
    assert vault.count() == len(SEED) + 1 - 7
    header, memories = read_dump(op.backup)
    archived = list(memories)
    assert header.count == len(archived) and all(m.embedding is not None for m in archived)
    assert {m.id for m in archived if m.parent_id is None} == {ids[name] for name in list(SEED)[:7]}
    # Restore through undo, then again by file: the second adds nothing.
    assert vault.upkeep.undo(op.id).status == "undone"
    assert snapshot(vault.store_backend) == before
    assert vault.upkeep.restore_archive(op.backup) == {"restored": 0, "skipped": 7}
    assert snapshot(vault.store_backend) == before


def test_archive_keeps_chunks_with_their_memory(seeded):
    vault, ids = seeded
    before = snapshot(vault.store_backend)
    op = vault.upkeep.archive(filter={"tags_any": ["long"]})
    _, memories = read_dump(op.backup)
    archived = list(memories)
    assert archived[0].id == ids["long"] and len(archived) > 1
    assert all(m.parent_id == ids["long"] for m in archived[1:])
    everything = Filter(namespace=None, include_chunks=True, include_expired=True)
    assert vault.store_backend.count(everything) == len(before.records) - len(archived)
    vault.upkeep.restore_archive(op.backup)
    assert snapshot(vault.store_backend) == before


def test_archive_refuses_a_whole_namespace_and_an_existing_file(seeded, tmp_path):
    vault, _ = seeded
    with pytest.raises(InvalidInput) as whole:
        vault.upkeep.archive()
    assert whole.value.field == "older_than"
    with pytest.raises(InvalidInput) as bad_age:
        vault.upkeep.archive(older_than="ninety days")
    assert bad_age.value.field == "older_than"
    target = tmp_path / "taken.jsonl.gz"
    target.write_text("something")
    with pytest.raises(InvalidInput) as taken:
        vault.upkeep.archive(older_than="1d", path=target)
    assert taken.value.field == "path"
    assert vault.count() == len(SEED)
    assert vault.upkeep.archive(older_than=BASE - timedelta(days=1)) is None


def test_ages_are_parsed():
    now = datetime(2025, 6, 1, tzinfo=UTC)
    assert cutoff("90d", now) == now - timedelta(days=90)
    assert cutoff("2w", now) == now - timedelta(days=14)
    assert cutoff("6mo", now) == now - timedelta(days=180)
    assert cutoff("1y", now) == now - timedelta(days=365)
    assert cutoff("36h", now) == now - timedelta(hours=36)
    assert cutoff("2025-01-01", now) == datetime(2025, 1, 1, tzinfo=UTC)


def test_optimize_archives_expired_memories_and_reports_bytes(seeded):
    vault, _ = seeded
    soon = datetime.now(UTC) + timedelta(seconds=1)
    doomed = [vault.store(f"temporary note {i}", expires_at=soon).memory for i in range(3)]
    kept = vault.store("permanent note").memory
    while datetime.now(UTC) <= soon:
        pass
    report = vault.upkeep.optimize()
    assert report.expired_archived == 3 and report.steps
    # A store behind a server (chroma+http) cannot measure itself.
    sizes = (report.before_bytes, report.after_bytes)
    assert sizes == (None, None) or all(sizes)
    everything = Filter(namespace=None, include_expired=True)
    assert vault.store_backend.count(everything) == len(SEED) + 1
    _, memories = read_dump(report.expired_archive)
    assert sorted(m.id for m in memories) == sorted(m.id for m in doomed)
    assert vault.get(kept.id).content == "permanent note"
    assert vault.upkeep.optimize().expired_archived == 0


def test_detailed_stats_report_distributions_and_the_duplicate_ratio(seeded):
    vault, ids = seeded
    stats = vault.upkeep.detailed_stats()
    assert stats["total"] == len(SEED)
    assert stats["by_tag"]["seed"] == len(SEED)
    assert sum(stats["by_hour_utc"].values()) == len(SEED)
    assert sum(stats["by_weekday"].values()) == len(SEED)
    assert stats["growth"][-1]["total"] == len(SEED)
    assert stats["largest"][0]["id"] in {ids["long"], ids["long_case"]}
    assert stats["duplicates"]["redundant"] == 6
    assert stats["duplicates"]["ratio"] == pytest.approx(6 / len(SEED), abs=1e-4)
    quick = vault.upkeep.detailed_stats(duplicates=False, top=3)
    assert "duplicates" not in quick and len(quick["by_tag"]) == 3


def test_an_archive_interrupted_while_writing_changes_nothing_and_is_dropped(seeded, tmp_path):
    vault, _ = seeded
    before = snapshot(vault.store_backend)
    target = tmp_path / "archives" / "cut.jsonl.gz"

    def stop(stage, done, total):
        raise KeyboardInterrupt  # as if the process were stopped while writing the file

    with pytest.raises(KeyboardInterrupt):
        vault.upkeep.archive(older_than="2024-01-08", path=target, progress=stop)
    assert list(target.parent.iterdir()) == []  # no partial file left either
    assert snapshot(vault.store_backend) == before
    [op] = vault.upkeep.operations()
    assert op.status == "preparing"
    [dropped] = vault.upkeep.resume()
    assert dropped.id == op.id and dropped.status == "abandoned"
    assert snapshot(vault.store_backend) == before
