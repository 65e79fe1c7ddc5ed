"""The ``memvault`` command line end to end: real subprocesses over a real SQLite file.

Commands that embed text load the model (~10 s), so only a few tests store or
search through the CLI; the others run over memories written in-process with
the session's model, and use commands that never load it. The table of bad
arguments runs in-process (typer's CliRunner: the same entry point, parsing
and exit codes, without a process start per row).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from memvault.cli.app import app
from memvault.config import Settings
from memvault.model import Memory, content_hash
from memvault.vault import Vault

from .conftest import cli_env, run_cli

SEEDED = [
    {"content": "Alice prefers tabs over spaces", "tags": ["prefs", "alice"]},
    {
        "content": "The deploy of release 2.0 is planned for Friday",
        "tags": ["release"],
        "memory_type": "decision",
    },
    {
        "content": "Bob's favourite editor is Helix",
        "tags": ["prefs", "bob"],
        "metadata": {"project": "tools"},
    },
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """A closed SQLite file holding the SEEDED memories, written once per module."""
    path = tmp_path_factory.mktemp("seeded") / "cli.db"
    settings = Settings.from_env({"MEMVAULT_DATA_DIR": str(path.parent)})
    with Vault.open(f"sqlite://{path}", settings=settings, embedder=embedder) as vault:
        vault.store_many(SEEDED)
    return path


@pytest.fixture
def url(tmp_path: Path, seeded: Path) -> str:
    """A fresh copy of the seeded store for one test."""
    shutil.copy(seeded, tmp_path / "cli.db")
    return f"sqlite://{tmp_path / 'cli.db'}"


def count(url: str, embedder, settings, namespace: str = "default") -> int:
    with Vault.open(url, settings=settings, embedder=embedder) as vault:
        return vault.count(namespace=namespace)


def cli(
    args: list[str], tmp_path: Path, url: str, input: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return run_cli([*args, "--store", url], tmp_path, input=input, **env)


def cli_bytes(
    args: list[str | bytes], tmp_path: Path, url: str, input: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """Like ``cli`` but with raw bytes on stdin and in arguments (for non-UTF-8 input)."""
    return subprocess.run(
        [sys.executable, "-m", "memvault", *args, "--store", url, "--json"],
        capture_output=True,
        input=input,
        env=cli_env(tmp_path),
        timeout=300,
    )


def error_of(result: subprocess.CompletedProcess | Result) -> dict:
    """The JSON error a --json command wrote to stderr."""
    stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    return json.loads(stderr.strip().splitlines()[-1])["error"]


def test_store_from_argument_then_again_is_a_duplicate(tmp_path, url, embedder, settings):
    first = cli(
        [
            "store",
            "Carol takes her coffee black",
            "-t",
            "prefs",
            "--type",
            "fact",
            "-m",
            '{"source": "chat"}',
            "--importance",
            "0.8",
            "--json",
        ],
        tmp_path,
        url,
    )
    assert first.returncode == 0, first.stderr
    stored = json.loads(first.stdout)
    assert stored["created"] is True
    memory = stored["memory"]
    assert (memory["tags"], memory["memory_type"], memory["metadata"], memory["importance"]) == (
        ["prefs"],
        "fact",
        {"source": "chat"},
        0.8,
    )

    again = cli(["store", "  Carol takes her   coffee black  "], tmp_path, url)
    assert again.returncode == 0, again.stderr
    assert f"Already stored as {memory['id']}" in again.stdout
    assert count(url, embedder, settings) == len(SEEDED) + 1


def test_store_from_stdin_and_search_with_fts_syntax_literally(tmp_path, url):
    text = 'Dave\'s laptop serial is XK-42 (the "work" one)\nsecond line kept'
    stored = cli(["store", "-", "--namespace", "dave", "--json"], tmp_path, url, input=text)
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)["memory"]["content"] == text

    # Every FTS5 operator character at once: searched as plain words, never a syntax error.
    query = 'laptop "serial * NEAR( XK-42 -work (unbalanced'
    found = cli(["search", query, "-n", "dave", "-k", "3", "--json"], tmp_path, url)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert [h["memory"]["content"] for h in hits] == [text]
    assert {"rrf", "vector", "text", "recency", "importance"} <= set(hits[0]["parts"])


def test_get_list_tags_update_delete_without_the_model(tmp_path, url, embedder, settings):
    listed = cli(["list", "--limit", "2", "--json"], tmp_path, url)
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert len(page["memories"]) == 2 and page["next_cursor"]
    rest = json.loads(
        cli(["list", "--cursor", page["next_cursor"], "--json"], tmp_path, url).stdout
    )
    ids = [m["id"] for m in page["memories"] + rest["memories"]]
    assert len(set(ids)) == len(SEEDED) and rest["next_cursor"] is None

    by_tag = json.loads(cli(["tags", "prefs", "--json"], tmp_path, url).stdout)
    assert {m["content"] for m in by_tag["memories"]} == {
        SEEDED[0]["content"],
        SEEDED[2]["content"],
    }
    both = json.loads(cli(["tags", "prefs", "bob", "--all", "--json"], tmp_path, url).stdout)
    assert [m["content"] for m in both["memories"]] == [SEEDED[2]["content"]]
    counts = json.loads(cli(["tags", "--json"], tmp_path, url).stdout)["tags"]
    assert {"tag": "prefs", "count": 2} in counts

    alice = next(m for m in by_tag["memories"] if "alice" in m["tags"])
    got = cli(["get", alice["content_hash"], "--json"], tmp_path, url)
    assert json.loads(got.stdout)["id"] == alice["id"]
    human = cli(["get", alice["id"]], tmp_path, url)
    assert human.returncode == 0 and SEEDED[0]["content"] in human.stdout

    updated = cli(
        ["update", alice["id"], "-t", "editor", "--importance", "0.9", "--json"], tmp_path, url
    )
    assert updated.returncode == 0, updated.stderr
    assert (json.loads(updated.stdout)["tags"], json.loads(updated.stdout)["importance"]) == (
        ["editor"],
        0.9,
    )

    deleted = cli(["delete", alice["id"], "--json"], tmp_path, url)
    assert json.loads(deleted.stdout)["memory"]["id"] == alice["id"]
    assert cli(["get", alice["id"]], tmp_path, url).returncode == 3

    dry = json.loads(
        cli(["delete", "--tag", "release", "--dry-run", "--json"], tmp_path, url).stdout
    )
    assert (dry["matched"], dry["deleted"]) == (1, 0)
    assert count(url, embedder, settings) == len(SEEDED) - 1
    gone = json.loads(cli(["delete", "--type", "decision", "--json"], tmp_path, url).stdout)
    assert gone["deleted"] == 1
    assert count(url, embedder, settings) == len(SEEDED) - 2


def test_stats_health_and_config(tmp_path, url):
    stats = json.loads(cli(["stats", "--json"], tmp_path, url).stdout)
    assert stats["total"] == len(SEEDED) and stats["store"] == url

    health = cli(["health", "--json"], tmp_path, url)
    assert health.returncode == 0, health.stderr
    body = json.loads(health.stdout)
    assert body["store"]["url"] == url and body["store"]["identity"]
    assert body["model_loaded"] is False  # health never loads the model

    shown = run_cli(
        ["config", "--json", "--namespace", "team"],
        tmp_path,
        MEMVAULT_MAX_CONTENT_BYTES="5000",
        MCP_MEMORY_SQLITE_PATH=str(tmp_path / "m.db"),
    )
    assert shown.returncode == 0, shown.stderr
    rows = {r["name"]: r for r in json.loads(shown.stdout)["settings"]}
    assert rows["namespace"] == {
        "name": "namespace",
        "value": "team",
        "source": "option --namespace",
    }
    assert rows["max_content_bytes"]["source"] == "env MEMVAULT_MAX_CONTENT_BYTES"
    assert rows["store_url"] == {
        "name": "store_url",
        "value": f"sqlite://{tmp_path / 'm.db'}",
        "source": "env MCP_MEMORY_SQLITE_PATH",
    }
    assert rows["pg_ef_search"] == {"name": "pg_ef_search", "value": "100", "source": "default"}
    assert rows["pg_pool_size"]["value"] == "10"
    human = run_cli(["config"], tmp_path)
    assert human.returncode == 0 and "max_content_bytes" in human.stdout


BAD_INPUT = [
    (["store", ""], "content"),
    (["store", "   \n\t "], "content"),
    (["store", "x" * 101], "content"),
    (["store", "fine", "--importance", "2"], "importance"),
    (["store", "fine", "--metadata", "[1, 2]"], "metadata"),
    (["store", "fine", "--metadata", "{not json"], "metadata"),
    (["store", "fine", "--created-at", "yesterday-ish"], "created_at"),
    (["list", "--filter", '{"bogus": 1}'], "filter.bogus"),
    (["list", "--filter", '{"tags_any": 5}'], "filter.tags_any"),
    (["list", "-n", "team", "--filter", '{"namespace": "default"}'], "filter.namespace"),
    (["list", "--limit", "0"], "limit"),
    (["search", "tabs", "-k", "0"], "k"),
    (["search", "tabs", "-k", "1001"], "k"),
    (["search", "   "], "query"),
    (["recall", "the age of dinosaurs"], "time"),
    (["update", "whatever"], "changes"),
    (["delete"], "id"),
]


@pytest.mark.parametrize(("args", "field"), BAD_INPUT, ids=[" ".join(a)[:40] for a, _ in BAD_INPUT])
def test_bad_input_exits_2_names_the_field_and_changes_nothing(
    tmp_path, url, embedder, settings, args, field
):
    env = {k: None for k in os.environ if k.startswith(("MEMVAULT_", "MCP_"))}
    result = CliRunner().invoke(
        app,
        [*args, "--json", "--store", url],
        env={**env, "MEMVAULT_MAX_CONTENT_BYTES": "100", "MEMVAULT_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert error_of(result) | {"message": ""} == {
        "code": "invalid_input",
        "field": field,
        "message": "",
    }
    assert count(url, embedder, settings) == len(SEEDED)


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b"caf\xe9 au lait", "not valid UTF-8"),
        (b"before\x00after", "control characters"),
        (b"y" * 101, "over the limit"),
        (b"", "empty"),
    ],
)
def test_bad_stdin_is_refused(tmp_path, url, embedder, settings, stdin, message):
    result = subprocess.run(
        [sys.executable, "-m", "memvault", "store", "-", "--store", url, "--json"],
        capture_output=True,
        input=stdin,
        timeout=300,
        env=cli_env(tmp_path, MEMVAULT_MAX_CONTENT_BYTES="100"),
    )
    assert result.returncode == 2
    error = error_of(result)
    assert error["field"] == "content" and message in error["message"]
    assert count(url, embedder, settings) == len(SEEDED)


def test_non_utf8_argument_is_refused(tmp_path, url, embedder, settings):
    result = cli_bytes(["store", b"caf\xe9"], tmp_path, url)
    assert result.returncode == 2
    assert error_of(result)["field"] == "content"
    assert count(url, embedder, settings) == len(SEEDED)


def test_human_errors_name_the_field_on_stderr(tmp_path, url):
    result = cli(["list", "--filter", '{"colour": "red"}'], tmp_path, url)
    assert result.returncode == 2 and result.stdout == ""
    assert "unknown filter key 'colour'" in result.stderr
    assert "(field: filter.colour)" in result.stderr


@pytest.mark.parametrize(
    ("store_url", "code", "field"),
    [
        ("not-a-url", 2, "store_url"),
        ("sqlite://", 2, "store_url"),
        ("ftp://host/x", 2, "store_url"),
        ("sqlite:///proc/no/such/dir/m.db", 3, "store_url"),
    ],
)
def test_store_url_errors(tmp_path, store_url, code, field):
    result = run_cli(["get", "some-id", "--store", store_url, "--json"], tmp_path)
    assert result.returncode == code, result.stderr
    assert error_of(result)["field"] == field


def test_not_found_and_usage_errors(tmp_path, url):
    missing = cli(["get", "no-such-id", "--json"], tmp_path, url)
    assert missing.returncode == 3
    assert error_of(missing) == {
        "code": "not_found",
        "field": "id",
        "message": "no memory 'no-such-id' in namespace 'default'",
    }
    assert cli(["delete", "no-such-id"], tmp_path, url).returncode == 3
    assert cli(["store", "x", "--importance", "high"], tmp_path, url).returncode == 2
    assert run_cli(["no-such-command"], tmp_path).returncode == 2


def test_namespaces_are_separate(tmp_path, url):
    other = cli(["list", "-n", "elsewhere", "--json"], tmp_path, url)
    assert json.loads(other.stdout)["memories"] == []
    ref = content_hash(SEEDED[0]["content"])
    assert cli(["get", ref], tmp_path, url).returncode == 0
    assert cli(["get", ref, "-n", "elsewhere"], tmp_path, url).returncode == 3


def test_version_alone_prints_it():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("memvault ")


def test_recall_prints_the_window_it_read_the_phrase_as(tmp_path, url):
    shown = cli(["recall", "between 2020-01-01 and 2020-02-01"], tmp_path, url)
    assert shown.returncode == 0, shown.stderr
    # the end day is included: the window ends as the next day begins
    assert "From 2020-01-01T00:00:00+00:00 to 2020-02-02T00:00:00+00:00" in shown.stdout
    assert "No matching memories." in shown.stdout


def test_readable_output_shows_control_characters_escaped(tmp_path, embedder, settings):
    """Text with control characters (stored before they were refused, or by another tool)
    is shown escaped, so it cannot clear the screen, retitle or recolour the terminal."""
    url = f"sqlite://{tmp_path / 'esc.db'}"
    hostile = Memory(
        "clear screen \x1b[2J and \x9b31m red\rover",
        tags=("t\x1b]0;title\x07",),
        memory_type="n\x1bte",
        metadata={"k\x1b": "v\x1b[5m"},
    )
    with Vault.open(url, settings=settings, embedder=embedder) as vault:
        vault.store_backend.bind_embedding(embedder.spec)
        vault.store_backend.add(
            [hostile.with_changes(embedding=embedder.embed([hostile.content])[0])]
        )
    for args in (["list"], ["get", hostile.id], ["tags"], ["search", "clear screen"]):
        result = cli(args, tmp_path, url)
        assert result.returncode == 0, result.stderr
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.stdout), args
        assert "\\x1b" in result.stdout, args
    refused = cli(["get", "no\x1b[2Jsuch"], tmp_path, url)
    assert refused.returncode == 2 and "\x1b" not in refused.stderr
