"""One ``optimize`` (or bulk load) rebuilds a PostgreSQL store's vector graphs at a
time: a second one started meanwhile, from this process, the CLI or another
process, stops at once with a conflict naming the first, and changes nothing;
writes go on meanwhile and none is lost; the first ends with every graph built
and the searches those of a store written afresh."""

from __future__ import annotations

import textwrap
import threading

import numpy as np
import psycopg
import pytest

from memvault.errors import Conflict
from memvault.model import Filter
from memvault.transfer.migrate import migrate

from .conftest import run_cli, start_together
from .test_postgres_words_fast import (  # noqa: F401  (old_store is a fixture)
    MEMORIES,
    URL_OPTIONS,
    assert_same_searches,
    graphs,
    held_optimize,
    old_store,
    opened,
)
from .test_postgres_words_upgrade import stale_rows
from .test_store_conformance import mem
from .transfer_data import filled

MORE = [mem(f"migrated while optimizing, number {n}", 2000 + n, namespace="home") for n in range(3)]


def test_a_second_optimize_stops_at_once_and_writes_go_on(database, old_store, tmp_path, settings):  # noqa: F811
    built, fresh = old_store
    url = database + URL_OPTIONS
    first = held_optimize(url, database)
    store = opened(database)
    written: list[str] = []
    try:
        assert first.stdout.readline().strip() == "held"
        assert graphs(database) == {}  # dropped, the rows half converted
        stale = stale_rows(database)

        with pytest.raises(Conflict) as refused:
            store.optimize()
        assert "a memvault optimize (" in refused.value.message
        assert "already rebuilding the vector graphs" in refused.value.message
        with pytest.raises(Conflict), store.bulk_load():
            pass
        cli = run_cli(["optimize", "--store", url], tmp_path)
        assert cli.returncode == 1, cli.stderr
        assert "already rebuilding the vector graphs" in " ".join(cli.stderr.split())
        assert stale_rows(database) <= stale  # the CLI's background conversion may help
        # A migration into the store (its graph missing) goes on without a bulk load.
        source = filled(f"sqlite://{tmp_path / 'more.db'}", MORE)
        report = migrate(source, store, settings=settings)
        assert report.ok and report.moved == len(MORE), report.to_dict()

        # A writer all along the rest of the first optimize: the conversion, the
        # vacuum and the graphs' build.
        done = threading.Event()

        def write() -> None:
            try:
                while not done.is_set() or len(written) < 5:
                    n = len(written)
                    memory = mem(
                        f"written while optimizing, number {n}", 1000 + n, namespace="home"
                    )
                    ((stored, created),) = store.add([memory])
                    assert created
                    written.append(stored.id)
            except BaseException as exc:  # failed in the test's thread below
                failed.append(exc)

        failed: list[BaseException] = []
        writer = threading.Thread(target=write)
        writer.start()
        first.stdin.write("go\n")
        first.stdin.flush()
        out, _ = first.communicate(timeout=300)
        done.set()
        writer.join()
        assert not failed, failed
        assert first.returncode == 0
        assert "the vector graphs built after" in out

        assert graphs(database) == built
        assert stale_rows(database) == 0
        written += [m.id for m in MORE]
        total = len(MEMORIES) + len(written)
        assert store.count(Filter(namespace=None)) == total
        assert [m.id for m in store.get_many(written)] == written
        with psycopg.connect(database) as conn:
            (distinct,) = conn.execute(
                "SELECT count(DISTINCT (namespace, content_hash)) FROM memvault_memories"
            ).fetchone()
        assert distinct == total
        for memory_id in written:
            (memory,) = store.get_many([memory_id], with_embedding=True)
            fresh.add([memory])
            (best,) = store.vector_search(np.asarray(memory.embedding), 1, Filter(namespace="home"))
            assert best.id == memory_id
        assert_same_searches(store, fresh)
        assert store.health()["vector_index"] == "hnsw"
    finally:
        first.kill()
        first.wait()
        store.close()


TOGETHER = textwrap.dedent(
    """
    import sys
    from memvault.errors import Conflict
    from memvault.stores.postgres.store import PostgresStore

    store = PostgresStore(sys.argv[1])
    store.word_converter.close()
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        store.optimize()
        print("done")
    except Conflict as exc:
        print("refused:", exc.message)
    store.close()
    """
)


def test_two_optimizes_started_together_leave_every_graph(database, old_store, tmp_path):  # noqa: F811
    built, fresh = old_store
    url = database + URL_OPTIONS
    outputs = start_together(TOGETHER, [[url], [url]], tmp_path)
    assert "done" in outputs  # one ran; the other ran after it or was refused
    for output in outputs:
        assert output == "done" or "already rebuilding the vector graphs" in output
    assert graphs(database) == built
    assert stale_rows(database) == 0
    store = opened(database)
    try:
        assert store.count(Filter(namespace=None)) == len(MEMORIES)
        assert_same_searches(store, fresh)
    finally:
        store.close()
