"""A PostgreSQL store whose vector graphs a killed optimize left missing gets them
back from ``memvault serve``: built in the background at its start (opening
waits for nothing), never while an optimize holds them, and an index a
cancelled build left invalid counts as missing."""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg
import pytest
from psycopg.rows import namedtuple_row

from memvault.stores.postgres import namespace_graphs
from memvault.stores.postgres.namespace_graphs import graph_name
from memvault.stores.postgres.schema import VECTOR_INDEX
from memvault.stores.postgres.store import PostgresStore

from .conftest import cli_env
from .pg_server import free_port
from .test_postgres_graph_health import with_a_namespace_graph
from .test_postgres_words_fast import (
    URL_OPTIONS,
    assert_same_searches,
    graphs,
    held_optimize,
    kill_an_optimize_midway,
    old_store,  # noqa: F401  (a fixture)
    opened,
)
from .test_store_conformance import mem


@pytest.fixture
def killed(database, old_store):  # noqa: F811
    """The state an optimize killed mid-way leaves: no graph; the graphs it dropped."""
    kill_an_optimize_midway(database)
    return old_store


def test_the_graphs_a_killed_optimize_dropped_are_built_in_the_background(database, killed):
    built, fresh = killed
    store = PostgresStore(database + URL_OPTIONS)
    try:
        health = store.health()
        assert health["vector_index"] == "missing"
        assert set(health["namespace_graphs"].values()) == {"missing"}, health
        note = store.repair_in_background()
        assert note is not None and "building it in the background" in note
        store.graph_builder.join()
        assert graphs(database) == built  # the store's graph and the namespace's
        health = store.health()
        assert health["vector_index"] == "hnsw" and "vector_index_note" not in health
        assert set(health["namespace_graphs"].values()) == {"hnsw"}
        assert "namespace_graphs_note" not in health
        assert store.repair_in_background() is None
        store.word_converter.join()
        assert_same_searches(store, fresh)
    finally:
        store.close()


def test_no_background_build_while_an_optimize_rebuilds_the_graphs(database, old_store, caplog):  # noqa: F811
    built, _ = old_store
    optimize = held_optimize(database + URL_OPTIONS, database)
    store = opened(database)
    try:
        assert optimize.stdout.readline().strip() == "held"
        note = store.health()["vector_index_note"]
        assert "until a memvault optimize (" in note and "now rebuilding" in note
        assert store.repair_in_background() is not None  # missing, so it looks
        store.graph_builder.join()
        assert graphs(database) == {}  # the optimize builds them at its end
        assert "a memvault optimize (" in caplog.text
        optimize.communicate("go\n", timeout=300)
        assert optimize.returncode == 0
        assert graphs(database) == built
        assert store.repair_in_background() is None
    finally:
        optimize.kill()
        optimize.wait()
        store.close()


def test_an_invalid_graph_counts_as_missing_and_is_built_again(pg, database):
    pg.add([mem(f"memory number {n}", n) for n in range(50)])
    with psycopg.connect(database, autocommit=True) as conn:
        # What a cancelled CREATE INDEX CONCURRENTLY leaves: the index, unusable.
        conn.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass",
            (VECTOR_INDEX,),
        )
        assert pg.health()["vector_index"] == "missing"
        assert pg.repair_in_background() is not None
        pg.graph_builder.join()
        valid = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass", (VECTOR_INDEX,)
        ).fetchone()
    assert valid == (True,)
    assert pg.health()["vector_index"] == "hnsw"


def test_serve_says_so_and_builds_the_missing_graphs(database, killed, tmp_path):
    built, _ = killed
    server = subprocess.Popen(
        [sys.executable, "-m", "memvault", "serve", "--port", str(free_port())],
        env=cli_env(tmp_path, MEMVAULT_STORE_URL=database + URL_OPTIONS),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        said = ""
        while "building it in the background" not in " ".join(said.split()):
            line = server.stderr.readline()
            assert line, said
            said += line
        deadline = time.monotonic() + 120
        while graphs(database) != built and time.monotonic() < deadline:
            assert server.poll() is None
            time.sleep(0.2)
        assert graphs(database) == built
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("left", ["missing", "invalid"])
def test_a_namespace_graph_an_interrupted_build_left_is_built_in_the_background(
    database, left, caplog
):
    """Killed after the store's graph was built again (a build of the namespaces'
    follows it), or while building a namespace's concurrently: the store's graph is
    there, a namespace's not, or invalid."""
    store = with_a_namespace_graph(database)
    try:
        built = namespace_graphs_there(database)
        assert built == {graph_name("work"): True}
        health = store.health()
        assert health["namespace_graphs"] == {"work": "hnsw"}
        assert "namespace_graphs_note" not in health
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(
                f"DROP INDEX {graph_name('work')}"
                if left == "missing"
                else "UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass",
                () if left == "missing" else (graph_name("work"),),
            )
        health = store.health()
        assert health["vector_index"] == "hnsw"  # the store's graph is there
        assert health["namespace_graphs"] == {"work": left}
        assert "memvault optimize" in health["namespace_graphs_note"]
        assert store.repair_in_background() is None  # the thread looks, and logs it
        store.graph_builder.join()
        assert "missing or invalid (the graph of namespace 'work'" in caplog.text
        assert namespace_graphs_there(database) == built
        health = store.health()
        assert health["namespace_graphs"] == {"work": "hnsw"}
        assert "namespace_graphs_note" not in health
        caplog.clear()
        assert store.repair_in_background() is None
        store.graph_builder.join()
        assert "missing or invalid" not in caplog.text
    finally:
        store.close()


def namespace_graphs_there(database: str) -> dict[str, bool]:
    with psycopg.connect(database) as conn, conn.cursor(row_factory=namedtuple_row) as cur:
        return namespace_graphs.existing(cur)
