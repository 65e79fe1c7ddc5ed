"""Upkeep through the CLI (a real process) and the HTTP API (jobs), on a SQLite file."""

from __future__ import annotations

import json

import pytest

from memvault.vault import Vault

from .conftest import run_cli
from .http_helpers import finished, http_client
from .upkeep import SEED, seed, snapshot

API = "/api/v1/maintenance"


@pytest.fixture
def seeded(vault: Vault) -> Vault:
    seed(vault)
    return vault


def cli_json(args: list[str], tmp_path, vault: Vault) -> dict:
    result = run_cli([*args, "--store", vault.store_backend.url, "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_cli_dedup_dry_run_apply_operations_and_undo(seeded, tmp_path):
    before = snapshot(seeded.store_backend)
    dry = cli_json(["dedup"], tmp_path, seeded)
    assert dry["applied"] is False and dry["plan"]["clusters"] == 5
    assert snapshot(seeded.store_backend) == before
    chosen = dry["plan"]["plan"][0]
    applied = cli_json(["dedup", "--apply", "--clusters", chosen["id"]], tmp_path, seeded)
    assert applied["applied"] is True and applied["operation"]["result"]["clusters"] == 1
    op_id = applied["operation"]["id"]
    listed = cli_json(["operations"], tmp_path, seeded)["operations"]
    assert [o["id"] for o in listed] == [op_id]
    assert cli_json(["undo", op_id], tmp_path, seeded)["status"] == "undone"
    assert snapshot(seeded.store_backend) == before
    table = run_cli(["dedup", "--store", seeded.store_backend.url], tmp_path)
    assert "Dry run" in table.stdout and chosen["id"] in table.stdout


def test_cli_refuses_bad_input_with_exit_2_and_unknown_operations_with_3(seeded, tmp_path):
    bad = run_cli(
        ["dedup", "--threshold", "1.5", "--store", seeded.store_backend.url, "--json"], tmp_path
    )
    assert bad.returncode == 2 and json.loads(bad.stderr)["error"]["field"] == "threshold"
    missing = run_cli(["undo", "nope", "--store", seeded.store_backend.url], tmp_path)
    assert missing.returncode == 3 and "operation_id" in missing.stderr
    whole = run_cli(["archive", "--store", seeded.store_backend.url], tmp_path)
    assert whole.returncode == 2 and "older_than" in whole.stderr


def test_cli_archive_unarchive_optimize_and_detailed_stats(seeded, tmp_path):
    before = snapshot(seeded.store_backend)
    dry = cli_json(["archive", "--older-than", "2024-01-08", "--dry-run"], tmp_path, seeded)
    assert dry["matched"] == 7 and snapshot(seeded.store_backend) == before
    listed = {m["id"] for m in dry["would_archive"]}
    assert listed == {
        m.id for m in seeded.list(limit=100).memories if m.created_at.isoformat() < "2024-01-08"
    }
    human = run_cli(
        ["archive", "--older-than", "2024-01-08", "--dry-run", "--store", seeded.store_backend.url],
        tmp_path,
        COLUMNS="250",
    )
    assert "7 memories would be archived" in human.stdout
    assert next(iter(listed)) in human.stdout
    done = cli_json(
        ["archive", "--older-than", "2024-01-08", "--to", str(tmp_path / "old.jsonl.gz")],
        tmp_path,
        seeded,
    )
    assert done["operation"]["result"]["archived"] == 7
    restored = cli_json(["unarchive", str(tmp_path / "old.jsonl.gz")], tmp_path, seeded)
    assert restored == {"restored": 7, "skipped": 0}
    assert snapshot(seeded.store_backend) == before
    optimized = cli_json(["optimize"], tmp_path, seeded)
    assert optimized["before_bytes"] > 0 and optimized["steps"]
    stats = cli_json(["stats", "--detail"], tmp_path, seeded)
    assert stats["total"] == len(SEED)
    assert stats["detail"]["duplicates"]["redundant"] == 6
    assert sum(stats["detail"]["by_weekday"].values()) == len(SEED)


def test_http_jobs_plan_apply_and_undo(seeded, tmp_path):
    client = http_client(seeded)
    before = snapshot(seeded.store_backend)
    started = client.post(f"{API}/dedup", json={"threshold": 0.95})
    assert started.status_code == 202 and started.headers["Location"].endswith(started.json()["id"])
    plan = finished(client, started.json())
    assert plan["status"] == "done" and plan["result"]["plan"]["clusters"] == 5
    assert plan["progress"]["stage"] == "plan"
    applied = finished(client, client.post(f"{API}/dedup", json={"apply": True}).json())
    op_id = applied["result"]["operation"]["id"]
    assert seeded.count() == len(SEED) - 6
    assert client.get(f"{API}/operations").json()["operations"][0]["id"] == op_id
    undone = finished(client, client.post(f"{API}/undo", json={"operation_id": op_id}).json())
    assert undone["result"]["status"] == "undone"
    assert snapshot(seeded.store_backend) == before
    stats = client.get("/api/v1/stats", params={"detail": "true"}).json()
    assert stats["detail"]["duplicates"]["redundant"] == 6
    assert [j["kind"] for j in client.get(f"{API}/jobs").json()["jobs"]] == [
        "dedup",
        "dedup",
        "undo",
    ]


def test_http_refuses_bad_bodies_up_front_and_reports_failed_jobs(seeded):
    client = http_client(seeded)
    for path, body, field in [
        ("dedup", {"threshold": 2}, "threshold"),
        ("dedup", {"keep": "oldest"}, "keep"),
        ("dedup", {"bogus": 1}, "bogus"),
        ("archive", {"older_than": "soon"}, "older_than"),
        ("archive", {}, "older_than"),
        ("archive", {"older_than": "1d", "dry_run": 0}, "dry_run"),
        ("archive", {"older_than": "0001-01-01"}, "older_than"),
        ("dedup", {"apply": 1}, "apply"),
        ("summarize", {"min_group": 1}, "min_group"),
        ("summarize", {"older_than": 30}, "older_than"),
        ("undo", {"operation_id": 5}, "operation_id"),
        ("summarize", {"similarity": 0}, "similarity"),
        ("undo", {}, "operation_id"),
    ]:
        response = client.post(f"{API}/{path}", json=body)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["field"] == field
    failed = finished(client, client.post(f"{API}/undo", json={"operation_id": "x"}).json())
    assert failed["status"] == "failed" and failed["error"]["code"] == "not_found"
    misspelt = client.get(f"{API}/operations", params={"namespce": "x"})
    assert misspelt.status_code == 422 and misspelt.json()["error"]["field"] == "namespce"
    assert client.get(f"{API}/jobs/job-nope").status_code == 404
    archived = finished(
        client, client.post(f"{API}/archive", json={"older_than": "2024-01-08"}).json()
    )
    assert archived["result"]["operation"]["result"]["archived"] == 7
