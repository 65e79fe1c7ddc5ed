"""PostgreSQL searches while vectors wait for the indexer: what comparing them exactly costs.

    python bench/postgres_waiting.py --keep /var/tmp/waiting100k    # load 100,000, then measure
    python bench/postgres_waiting.py --reuse /var/tmp/waiting100k   # measure the kept store again

A write leaves its vector in ``fresh_embedding`` for the indexer (``indexing``);
every search compares those vectors exactly. Here the newest rows are made
waiting by SQL (their vector moved back out of ``embedding``, as a write leaves
it) while the store's indexer is held (it starts only on a write, or at open if
rows wait then), and vector and hybrid searches are timed with 0 and more
vectors waiting, with the server's CPU per search. Each storage given for
``fresh_embedding`` is measured in turn (``external``, pgvector's default: a
row of a 384-d vector is over 2 kB, so the vector goes to the TOAST table;
``main``, kept in the row), then the store's own is set back. The rows are
``postgres_scale``'s (its ``load``), with its real MiniLM queries.
Nothing here asserts a time: it prints what it measured.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.postgres_scale import load, start_server  # noqa: E402
from bench.scale_meters import ServerCpu  # noqa: E402
from bench.scale_rows import real_vectors  # noqa: E402

from memvault.model import Filter, utcnow  # noqa: E402
from memvault.search.hybrid import SearchSettings, hybrid_search  # noqa: E402
from memvault.stores.postgres.store import PostgresStore  # noqa: E402

LAYOUT = """
SELECT count(*) FILTER (WHERE pg_column_toast_chunk_id(fresh_embedding) IS NOT NULL),
       count(*) FILTER (WHERE pg_column_toast_chunk_id(content) IS NOT NULL),
       count(*) FILTER (WHERE pg_column_toast_chunk_id(words) IS NOT NULL),
       coalesce(avg(pg_column_size(m.*)), 0)::int,
       (SELECT count(*) FROM memvault_memories WHERE fresh_embedding IS NULL
        AND pg_column_toast_chunk_id(words) IS NOT NULL)
FROM memvault_memories m WHERE fresh_embedding IS NOT NULL
"""


def make_waiting(store: PostgresStore, conn: psycopg.Connection, count: int) -> str:
    """Leave the newest ``count`` rows' vectors waiting, as their writes would; what the
    rows look like (how many vectors, contents and words are in the TOAST table)."""
    store.index_waiting_vectors()  # the ones of the last round into the graph again
    if count:
        conn.execute(
            "UPDATE memvault_memories SET fresh_embedding = embedding, embedding = NULL "
            "WHERE rowid > (SELECT max(rowid) FROM memvault_memories) - %s",
            (count,),
        )
    conn.execute("VACUUM ANALYZE memvault_memories")
    row = conn.execute(LAYOUT).fetchone()
    assert row is not None
    return (
        f"in TOAST: {row[0]:,} vectors, {row[1]:,} contents, {row[2]:,} words; "
        f"{row[3]:,} bytes a waiting row; words in TOAST of rows indexed: {row[4]:,}"
    )


def timed(
    search: Callable[[str, Any], object],
    queries: list[tuple[str, Any]],
    passes: int,
    cpu: ServerCpu,
) -> tuple[float, float, float]:
    """p50 and p95 ms, and the server's CPU ms, of ``passes`` over the queries after a
    warm-up."""
    for text, vector in queries[:5]:
        search(text, vector)
    times = []
    before = cpu()
    for text, vector in queries * passes:
        started = time.perf_counter()
        search(text, vector)
        times.append((time.perf_counter() - started) * 1000)
    spent = (cpu() - before) * 1000 / len(times)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))], spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="load a new server in this directory, kept")
    parser.add_argument("--reuse", type=Path, help="measure the server kept by --keep")
    parser.add_argument("--waiting", default="0,1000,5000", help="vectors waiting, in turn")
    parser.add_argument("--storage", default="external,main", help="of fresh_embedding, in turn")
    parser.add_argument("--passes", type=int, default=4, help="over the 50 queries")
    args = parser.parse_args()
    if (args.keep is None) == (args.reuse is None):
        parser.error("give one of --keep and --reuse")
    args.sample, args.build_memory, args.build_workers = 5_000, None, 1
    args.shared_buffers = "1GB"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on the way out

    texts, vectors = real_vectors(args.sample + 50)
    queries = list(zip(texts[args.sample :], vectors[args.sample :], strict=True))
    vocabulary = sorted(
        {w for t in texts[: args.sample] for w in re.findall(r"[a-z]{3,}", t.lower())}
    )
    server = start_server(args)
    try:
        url = server.url("bench") if args.reuse else server.create_database("bench")
        if args.keep:
            load(url, args, texts[: args.sample], vectors[: args.sample], vocabulary)
        conn = psycopg.connect(url, autocommit=True)
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        cpu = ServerCpu(conn)
        store = PostgresStore(url)
        settings = SearchSettings()
        own = {"m": "main", "e": "external", "x": "extended", "p": "plain"}[
            conn.execute(
                "SELECT attstorage FROM pg_attribute WHERE attname = 'fresh_embedding' "
                "AND attrelid = 'memvault_memories'::regclass"
            ).fetchone()[0]
        ]
        scopes = {"none": Filter(namespace=None), "namespace": Filter(namespace="ns3")}
        searches = len(queries) * args.passes
        print(
            f"PostgreSQL store of {args.n:,}, k=10, {searches} searches of each kind; "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        for storage in args.storage.split(","):
            conn.execute(
                f"ALTER TABLE memvault_memories ALTER COLUMN fresh_embedding SET STORAGE {storage}"
            )
            for count in (int(c) for c in args.waiting.split(",")):
                layout = make_waiting(store, conn, count)
                conn.execute(
                    "SELECT pg_prewarm('memvault_memories'), pg_prewarm(reltoastrelid)"
                    " FROM pg_class WHERE relname = 'memvault_memories'"
                )
                print(f"\nfresh_embedding {storage}, {count:,} waiting ({layout})", flush=True)
                for scope, flt in scopes.items():
                    kinds: dict[str, Callable[[str, Any], object]] = {
                        "vector": lambda _t, v, f=flt: store.vector_search(v, 10, f),
                        "hybrid": lambda t, v, f=flt: hybrid_search(
                            store, t, lambda _q: v, 10, f, settings, utcnow()
                        ),
                    }
                    for kind, search in kinds.items():
                        p50, p95, spent = timed(search, queries, args.passes, cpu)
                        print(
                            f"  {kind} search, filter {scope}: p50 {p50:.1f} ms, "
                            f"p95 {p95:.1f} ms, server {spent:.1f} CPU ms; "
                            f"load average {os.getloadavg()[0]:.1f}",
                            flush=True,
                        )
        store.index_waiting_vectors()
        conn.execute(
            f"ALTER TABLE memvault_memories ALTER COLUMN fresh_embedding SET STORAGE {own}"
        )
        store.close()
        conn.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
