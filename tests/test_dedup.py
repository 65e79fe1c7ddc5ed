"""Duplicate analysis and consolidation on every store, with the real model."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from memvault.errors import Conflict, InvalidInput, NotFound
from memvault.maintenance import OperationLog
from memvault.maintenance.duplicates import fact_words, text_key
from memvault.maintenance.merge import MERGE_OPERATION, MERGED_FROM
from memvault.vault import Vault

from .conftest import cli_env, run_cli
from .upkeep import CLUSTERS, EXACT, SEED, seed, snapshot


@pytest.fixture
def upkeep_vault(store, embedder, settings):
    vault = Vault(store, embedder, settings)
    return vault, seed(vault)


def clusters_by_name(plan, ids):
    name_of = {v: k for k, v in ids.items()}
    return [{name_of[m.id] for m in c.members} for c in plan.clusters]


@pytest.mark.parametrize("method", ["exact", "ivf"])
def test_the_plan_finds_exactly_the_seeded_clusters(upkeep_vault, method):
    vault, ids = upkeep_vault
    plan = vault.upkeep.find_duplicates(method=method)
    found = clusters_by_name(plan, ids)
    assert sorted(map(sorted, found)) == sorted(map(sorted, CLUSTERS))
    assert plan.scanned == len(SEED)
    assert plan.redundant == sum(len(c) - 1 for c in CLUSTERS)
    kinds = {frozenset(names): c.kind for names, c in zip(found, plan.clusters, strict=True)}
    assert {k for k, kind in kinds.items() if kind == "exact"} == set(map(frozenset, EXACT))
    # Chained members (A~B, B~C) may sit a little under the threshold from the survivor.
    assert all(0.9 < c.min_similarity <= 1.0 for c in plan.clusters)


def test_the_survivor_follows_the_rule_and_the_merge_unions_fields(upkeep_vault):
    vault, ids = upkeep_vault
    by_rule = {}
    for rule in ("newest", "important", "longest"):
        plan = vault.upkeep.find_duplicates(keep=rule)
        tabs = next(
            c
            for c in plan.clusters
            if c.survivor.id in {ids["tabs"], ids["tabs_case"], ids["tabs_reordered"]}
        )
        by_rule[rule] = tabs
    # Seeded a day apart with rising importance: the last is newest and most important.
    assert by_rule["newest"].survivor.id == ids["tabs_reordered"]
    assert by_rule["important"].survivor.id == ids["tabs_reordered"]
    assert by_rule["longest"].survivor.id == ids["tabs"]
    merged = by_rule["newest"].changes
    assert set(merged.tags) == {"tabs", "tabs_case", "tabs_reordered", "seed"}
    assert merged.metadata["name"] == "tabs_reordered"
    assert merged.metadata[MERGED_FROM] == [ids["tabs_case"], ids["tabs"]]
    assert merged.importance == max(c.importance for c in by_rule["newest"].members)


def test_apply_merges_removes_and_logs(upkeep_vault):
    vault, _ = upkeep_vault
    plan = vault.upkeep.find_duplicates()
    op = vault.upkeep.consolidate(plan)
    assert op.status == "applied" and op.kind == "dedup"
    assert op.result == {"clusters": 5, "removed": plan.redundant}
    assert vault.count() == len(SEED) - plan.redundant
    for cluster in plan.clusters:
        survivor = vault.get(cluster.survivor.id)
        assert set(survivor.tags) == set(cluster.changes.tags)
        assert survivor.metadata[MERGE_OPERATION] == op.id
        assert sorted(survivor.metadata[MERGED_FROM]) == sorted(
            d.memory.id for d in cluster.duplicates
        )
        for duplicate in cluster.duplicates:
            with pytest.raises(NotFound):
                vault.get(duplicate.memory.id)
    assert vault.upkeep.find_duplicates().clusters == ()
    with gzip.open(op.backup, "rt") as backup:
        lines = [json.loads(line) for line in backup]
    backed_up = {r["id"] for r in lines[1:] if r["parent_id"] is None}
    assert backed_up == {m.id for c in plan.clusters for m in c.members}
    assert [o.id for o in OperationLog(vault.store_backend).list()] == [op.id]


def test_apply_then_undo_gives_back_an_identical_store(upkeep_vault):
    vault, _ = upkeep_vault
    before = snapshot(vault.store_backend)
    op = vault.upkeep.consolidate(vault.upkeep.find_duplicates())
    assert snapshot(vault.store_backend) != before
    undone = vault.upkeep.undo(op.id)
    assert undone.status == "undone"
    assert snapshot(vault.store_backend) == before
    # Undo is idempotent, and search works over the restored memories.
    vault.upkeep.undo(op.id)
    assert snapshot(vault.store_backend) == before
    assert vault.search("which editor does Dave use?", k=2)[0].memory.content.startswith("Dave")


def test_undo_refuses_to_discard_later_changes_unless_forced(upkeep_vault):
    vault, _ = upkeep_vault
    before = snapshot(vault.store_backend)
    plan = vault.upkeep.find_duplicates()
    op = vault.upkeep.consolidate(plan)
    vault.update(plan.clusters[0].survivor.id, tags=["edited"])
    with pytest.raises(Conflict) as refused:
        vault.upkeep.undo(op.id)
    assert refused.value.field == "operation_id"
    vault.upkeep.undo(op.id, force=True)
    assert snapshot(vault.store_backend) == before


def test_selected_clusters_only(upkeep_vault):
    vault, _ = upkeep_vault
    plan = vault.upkeep.find_duplicates()
    chosen = plan.clusters[1]
    op = vault.upkeep.consolidate(plan.select([chosen.id]))
    assert op.result["clusters"] == 1
    assert vault.count() == len(SEED) - len(chosen.duplicates)
    with pytest.raises(InvalidInput) as unknown:
        plan.select(["nope"])
    assert unknown.value.field == "clusters"


def test_bad_arguments_name_the_field(vault):
    for kwargs, field in [
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": "x"}, "threshold"),
        ({"keep": "oldest"}, "keep"),
        ({"method": "magic"}, "method"),
    ]:
        with pytest.raises(InvalidInput) as bad:
            vault.upkeep.find_duplicates(**kwargs)
        assert bad.value.field == field
    with pytest.raises(NotFound):
        vault.upkeep.undo("no-such-operation")


def test_fact_words_are_numbers_time_words_and_negation():
    assert fact_words("Bob didn't deploy on Monday at 5pm") == ("5", "monday", "not")
    assert fact_words("Bob never deployed on Monday at 5 pm.") == ("5", "monday", "not")
    assert fact_words("The limit is 1,000 requests per minute") == ("1,000",)
    assert fact_words("Alice prefers tabs") == ()


def test_text_key_folds_case_punctuation_and_width():
    assert (
        text_key("Alice  prefers tabs.") == text_key("alice prefers TABS!") == "alice prefers tabs"
    )
    assert text_key("Ｆｕｌｌ width") == "full width"
    assert text_key("...") == "..."
    assert text_key("costs $5") != text_key("costs 5")


APPLY_SLOWLY = """
import sys, time
from memvault.vault import Vault

with Vault.open(sys.argv[1]) as vault:
    def progress(stage, done, total):
        if stage == "merge":
            print(done, flush=True)
            time.sleep(0.5)  # room for the kill to land between steps
    vault.upkeep.consolidate(vault.upkeep.find_duplicates(), progress=progress)
"""


def test_kill_during_apply_then_rerun_finishes_consistently(upkeep_vault, tmp_path):
    vault, _ = upkeep_vault
    before = snapshot(vault.store_backend)
    plan = vault.upkeep.find_duplicates()
    url = vault.store_backend.url
    child = subprocess.Popen(
        [sys.executable, "-c", APPLY_SLOWLY, url],
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "1"
    assert child.stdout.readline().strip() == "2"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    [op] = vault.upkeep.operations()
    assert op.status == "pending"
    # Consistent meanwhile: nothing lost, every memory still readable.
    assert all(vault.store_backend.get_many([i]) for c in plan.clusters for i in [c.survivor.id])
    assert vault.count() > len(SEED) - plan.redundant
    [finished] = vault.upkeep.resume(kind="dedup")
    assert finished.id == op.id and finished.status == "applied"
    assert vault.count() == len(SEED) - plan.redundant
    assert vault.upkeep.find_duplicates().clusters == ()
    for cluster in plan.clusters:
        assert set(vault.get(cluster.survivor.id).tags) == set(cluster.changes.tags)
    assert vault.upkeep.resume() == []
    vault.upkeep.undo(op.id)
    assert snapshot(vault.store_backend) == before


STOP_AT = """
import sys, time
from memvault.vault import Vault

with Vault.open(sys.argv[1]) as vault:
    def progress(stage, done, total):
        if stage == sys.argv[2]:
            print(stage, flush=True)
            time.sleep(60)  # killed here, with the file half written
    if sys.argv[2] == "backup":
        vault.upkeep.consolidate(vault.upkeep.find_duplicates(), progress=progress)
    else:
        vault.upkeep.archive(older_than="1d", progress=progress)
"""


def _kill_while_preparing(url, stage, tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", STOP_AT, url, stage],
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == stage, child.stderr.read()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)


@pytest.mark.parametrize(
    "command, stage, folder",
    [
        (["dedup", "--apply"], "backup", "backups"),
        (["archive", "--older-than", "1d"], "write", "archives"),
    ],
)
def test_one_rerun_finishes_what_a_kill_while_preparing_interrupted(
    vault, tmp_path, command, stage, folder
):
    seed(vault)
    url = vault.store_backend.url
    _kill_while_preparing(url, stage, tmp_path)
    [killed] = vault.upkeep.operations()
    assert killed.status == "preparing"
    files = tmp_path / "data" / folder
    assert any(f.name.endswith(".tmp") for f in files.iterdir())  # what the kill left

    done = run_cli([*command, "--store", url], tmp_path)
    assert done.returncode == 0, done.stderr
    old, new = vault.upkeep.operations()
    assert (old.id, old.status, new.status) == (killed.id, "abandoned", "applied")
    assert [f.name for f in files.iterdir()] == [Path(new.backup).name]
    if stage == "backup":
        assert vault.upkeep.find_duplicates().clusters == ()
        assert vault.count() == len(SEED) - sum(len(c) - 1 for c in CLUSTERS)
        assert "interrupted run" in done.stdout
    else:
        assert vault.count() == 0
