"""The transfer commands end to end, as a user runs them: exit codes, summaries, JSON."""

from __future__ import annotations

import json
import subprocess

from memvault.model import Filter, Memory
from memvault.stores import open_store

from .conftest import run_cli
from .transfer_data import fill, sample, unit


def run(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(list(args), tmp_path)


def test_migrate_export_import_backup_restore(tmp_path):
    source = f"sqlite://{tmp_path / 'a.db'}"
    store = open_store(source)
    fill(store, sample(20))
    store.close()
    chroma = f"chroma://{tmp_path / 'c'}?collection=mem"

    done = run(tmp_path, "migrate", source, chroma, "--batch-size", "7", "--backup")
    assert done.returncode == 0, done.stderr
    assert "moved" in done.stdout and "verified" in done.stdout and "yes" in done.stdout
    again = json.loads(run(tmp_path, "migrate", source, chroma, "--json").stdout)
    assert (again["moved"], again["skipped"], again["ok"]) == (0, 20, True)

    dump = tmp_path / "alice.jsonl.gz"
    exported = run(tmp_path, "export", chroma, str(dump), "-n", "alice", "--json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["filter"] == {"namespace": "alice"}
    imported = json.loads(
        run(tmp_path, "import", str(dump), f"sqlite://{tmp_path / 'b.db'}", "--json").stdout
    )
    assert imported["moved"] == 7 and imported["ok"]

    backed = json.loads(run(tmp_path, "backup", "--store", source, "--keep", "1", "--json").stdout)
    assert backed["count"] == 34 and backed["sqlite_copy"].endswith(".db")

    refused = run(tmp_path, "restore", str(dump), source)
    assert refused.returncode == 1 and "--replace" in refused.stderr
    replaced = json.loads(run(tmp_path, "restore", str(dump), source, "--replace", "--json").stdout)
    assert replaced["ok"] and replaced["removed"] == 13 and replaced["backup"]
    after = open_store(source)
    assert after.count(Filter(namespace=None)) == 7
    after.close()


def test_export_and_import_take_the_file_then_store_and_namespace(tmp_path):
    source, target = f"sqlite://{tmp_path / 'a.db'}", f"sqlite://{tmp_path / 'b.db'}"
    store = open_store(source)
    fill(store, sample(20))
    store.close()
    whole = tmp_path / "all.jsonl"
    exported = run(tmp_path, "export", str(whole), "--store", source, "--json")
    assert exported.returncode == 0, exported.stderr
    lines = whole.read_text(encoding="utf-8").splitlines()  # plain JSON Lines, not gzip
    assert json.loads(lines[0])["format"] == "memvault-dump" and len(lines) == 1 + 34
    imported = run(tmp_path, "import", str(whole), "--store", target, "-n", "alice", "--json")
    assert imported.returncode == 0, imported.stderr
    assert (json.loads(imported.stdout)["moved"], json.loads(imported.stdout)["ok"]) == (7, True)
    after = open_store(target)
    assert set(after.stats(None).namespaces) == {"alice"}
    after.close()
    as_json = tmp_path / "alice.json"
    assert run(tmp_path, "export", str(as_json), "-s", target).returncode == 0
    assert json.loads(as_json.read_text(encoding="utf-8").splitlines()[0])["count"] == 7 * 3


def test_differences_exit_1_and_are_named(tmp_path):
    source, target = f"sqlite://{tmp_path / 'a.db'}", f"sqlite://{tmp_path / 'b.db'}"
    memories = [m for m in sample(3) if m.parent_id is None]
    src, dst = open_store(source), open_store(target)
    fill(src, memories)
    fill(dst, [memories[0].with_changes(id="mine", tags=("other",))])
    src.close()
    dst.close()
    result = run(tmp_path, "migrate", source, target)
    assert result.returncode == 1
    assert "differs in target: mine" in result.stderr


def test_bad_input_and_missing_things_have_their_exit_codes(tmp_path):
    missing = run(
        tmp_path, "migrate", f"sqlite://{tmp_path / 'none.db'}", f"sqlite://{tmp_path / 'b.db'}"
    )
    assert missing.returncode == 3 and "no SQLite file" in missing.stderr
    bad = run(
        tmp_path, "migrate", f"sqlite://{tmp_path / 'x.db'}", f"chroma://{tmp_path}?collection=xyz"
    )
    assert bad.returncode == 3
    store = open_store(f"sqlite://{tmp_path / 'x.db'}")
    fill(store, [Memory(content="one", embedding=unit(1))])
    store.close()
    wrong = run(
        tmp_path,
        "migrate",
        f"sqlite://{tmp_path / 'x.db'}",
        f"chroma://{tmp_path}?collection=xyz&hnsw_m=lots",
    )
    assert wrong.returncode == 2 and "hnsw_m" in wrong.stderr
    bad_filter = run(
        tmp_path,
        "export",
        f"sqlite://{tmp_path / 'x.db'}",
        str(tmp_path / "o.jsonl.gz"),
        "--filter",
        '{"colour": "red"}',
    )
    assert bad_filter.returncode == 2 and "colour" in bad_filter.stderr
