"""Shared fixtures: the real model (loaded once), and real stores of every kind.

A store kind is added by registering a factory in ``tests/backends.py``; the
conformance suite then runs unchanged against it.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from memvault.config import Settings
from memvault.embedding import OnnxEmbedder, SentenceTransformerEmbedder
from memvault.stores.postgres.store import PostgresStore
from memvault.vault import Vault

from .backends import STORE_KINDS, make_store
from .chroma_server import running_chroma
from .pg_server import EmbeddedPostgres
from .redis_server import RedisServer
from .test_store_conformance import SPEC

SRC = Path(__file__).resolve().parents[1] / "src"
# Exported ONNX models, shared by all test processes and runs: an export is keyed by
# the checksum of the model and written atomically under a lock, so sharing is safe,
# and it saves every process that embeds a minute of exporting.
MODEL_CACHE = Path(tempfile.gettempdir()) / f"memvault-test-models-{getpass.getuser()}"


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    model = SentenceTransformerEmbedder()
    model.load()
    return model


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    """One ``chroma run`` server on 127.0.0.1 for the session; each test uses its own collection."""
    with running_chroma(tmp_path_factory.mktemp("chroma-server") / "data") as server:
        yield server


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL + pgvector server for the session; each test makes its own database."""
    with EmbeddedPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """One ``redis-server`` for the session, on 127.0.0.1 and a free port."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def database(pg_server: EmbeddedPostgres):
    """The URL of a new, empty database on the session's server."""
    name = f"t_{uuid.uuid4().hex}"
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)


@pytest.fixture
def pg(database: str):
    """A PostgreSQL store on a new database, its model bound."""
    store = PostgresStore(database)
    store.bind_embedding(SPEC)
    yield store
    store.close()


@pytest.fixture(scope="session", autouse=True)
def exported_model() -> None:
    """Export the default model into MODEL_CACHE before any test (a no-op once cached), so
    that no subprocess test spends its time limit exporting."""
    OnnxEmbedder(None, MODEL_CACHE).load()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {"MEMVAULT_DATA_DIR": str(tmp_path / "data"), "MEMVAULT_MODEL_CACHE_DIR": str(MODEL_CACHE)}
    )


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path):
    backend = make_store(request.param, tmp_path, request)
    yield backend
    backend.close()


@pytest.fixture
def vault(tmp_path: Path, embedder, settings) -> Vault:
    v = Vault.open(f"sqlite://{tmp_path / 'vault.db'}", settings=settings, embedder=embedder)
    yield v
    v.close()


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a memvault subprocess that uses this checkout's source."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMVAULT_", "MCP_"))}
    env["PYTHONPATH"] = str(SRC)
    env["MEMVAULT_DATA_DIR"] = str(tmp_path / "data")
    env["MEMVAULT_MODEL_CACHE_DIR"] = str(MODEL_CACHE)
    env.update(extra)
    return env


def run_cli(
    args: list[str], tmp_path: Path, input: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memvault", *args],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path, **env),
        input=input,
        timeout=300,
    )


def start_together(script: str, args: list[list[str]], tmp_path: Path) -> list[str]:
    """Run one process per argument list; release them at once; their outputs."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *a],
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(tmp_path),
        )
        for a in args
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    return outputs


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, which the browser tests drive (nothing can be downloaded here).

    Missing, the tests fail saying how to install it: they are never skipped.
    """
    if not CHROMIUM.exists():
        pytest.fail(
            f"the dashboard's browser tests need {CHROMIUM}: "
            "run `sudo apt-get install chromium` (Debian/Ubuntu)",
            pytrace=False,
        )
    return str(CHROMIUM)
