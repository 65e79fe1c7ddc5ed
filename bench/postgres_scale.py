"""PostgreSQL store at scale: COPY load rate, HNSW build, search latency and recall.

    python bench/postgres_scale.py --n 100000            # embedded PostgreSQL 18 + pgvector
    python bench/postgres_scale.py --n 100000 --sqlite /var/tmp/s100k.db   # the same on SQLite
    python bench/postgres_scale.py --n 1000000 --url postgresql://user@host/db   # your server
    python bench/postgres_scale.py --n 1000000 --keep /var/tmp/pg1m     # keep the loaded server
    python bench/postgres_scale.py --n 1000000 --reuse /var/tmp/pg1m    # search it again, no load

The vectors are precomputed so the run takes minutes, not hours:

- a sample of real MiniLM vectors (``--sample``, default 5,000): sentences from the
  docstrings of Python's standard library, read from its source files (offline),
  embedded once with the bundled all-MiniLM-L6-v2 and cached in bench/.cache;
- random unit vectors for the rest of ``--n``. They are the hard case for an
  HNSW graph (no clusters to follow), so recall on them is a floor.

Queries are held-out real sentences (their neighbours are the real sample) and
fresh random unit vectors. Every row is in one of ten namespaces, so the
filtered runs keep 10 % of the store and go through the store's filtered path
(pgvector's iterative index scan); each row has one of four tags too, and the
tag-filtered hybrid searches keep one namespace and one tag (2.5 %). Searches go
through the store, the code path the Vault uses; recall@10 is measured against
exact search (numpy). Whole hybrid searches (words and vectors, fused) are timed
with the real queries, their vectors given (the embedding is excluded), with the
statements each sends to PostgreSQL.
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
from pathlib import Path

import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.scale_meters import STATEMENTS, CpuMeter, paired_reads  # noqa: E402
from bench.scale_rows import (  # noqa: E402
    BATCH,
    DIM,
    NAMESPACES,
    all_vectors,
    batch_vectors,
    build_memories,
    exact_top,
    random_units,
    real_vectors,
    row_of,
)
from tests.pg_server import EmbeddedPostgres  # noqa: E402

from memvault.model import EmbeddingSpec, Filter, utcnow  # noqa: E402
from memvault.search.hybrid import SearchSettings, hybrid_search  # noqa: E402
from memvault.stores.base import Store  # noqa: E402
from memvault.stores.postgres.store import PostgresStore  # noqa: E402
from memvault.stores.sqlite.store import SqliteStore  # noqa: E402


def measure(
    store: PostgresStore,
    queries: np.ndarray,
    truth: list[set[int]],
    flt: Filter,
    cpu: CpuMeter,
    k: int = 10,
) -> tuple[float, float, float | None, float]:
    """(p50 ms, p95 ms, CPU ms per query, recall@k) of store.vector_search."""
    for q in queries[:5]:
        store.vector_search(q, k, flt)  # warm the cache and the pool
    times, recalls = [], []
    cpu_before = cpu()
    for q, expected in zip(queries, truth, strict=True):
        started = time.perf_counter()
        hits = store.vector_search(q, k, flt)
        times.append((time.perf_counter() - started) * 1000)
        recalls.append(len({row_of(c) for c in hits} & expected) / k)
    cpu_after = cpu()
    cpu_ms = (cpu_after - cpu_before) * 1000 / len(queries) if cpu_before and cpu_after else None
    times.sort()
    return (
        statistics.median(times),
        times[int(0.95 * (len(times) - 1))],
        cpu_ms,
        float(np.mean(recalls)),
    )


def measure_hybrid(
    stores: dict[str, Store],
    texts: list[str],
    vectors: np.ndarray,
    cpu: CpuMeter | None = None,
    passes: int = 1,
) -> None:
    """Print p50/p95 of whole hybrid searches (k = 10): unfiltered, in one namespace,
    and in one namespace with one tag of four (a fortieth of the store); with a
    ``cpu`` meter, the CPU each costs (this process and the server's).

    With several ``stores`` (named by what sets them apart) each question is
    asked of each in turn, the first store first every other question, so that
    the other jobs of a shared machine weigh on each alike, in ``passes`` over
    the questions; the CPU, which cannot be told apart that way, is metered
    over one more pass of each."""
    settings = SearchSettings()
    first = next(iter(stores.values()))
    scopes = [("none", Filter(namespace=None)), ("namespace", Filter(namespace="ns3"))]
    tagged = Filter(namespace="ns3", tags_any=("tag1",))
    if first.count(tagged):
        scopes.append(("namespace and tag", tagged))
    else:
        print("(no tagged memories: loaded by an earlier bench; --keep a new load for them)")
    questions = list(zip(texts, vectors, strict=True))

    def search(store: Store, text: str, vector: np.ndarray, flt: Filter) -> float:
        started = time.perf_counter()
        hybrid_search(store, text, lambda _q: vector, 10, flt, settings, utcnow())
        return (time.perf_counter() - started) * 1000

    for scope, flt in scopes:
        # A first pass warms the caches and the pool: each pooled connection
        # prepares and plans the statements it is given (a store of several gets
        # each side's on each), as a server does once in its life.
        for store in stores.values():
            for text, vector in questions:
                search(store, text, vector, flt)
        paired = {name: paired_reads(store) for name, store in stores.items()}
        sent = STATEMENTS.count
        times: dict[str, list[float]] = {name: [] for name in stores}
        for i, (text, vector) in enumerate(questions * passes):
            for name in list(stores)[:: 1 if i % 2 else -1]:
                times[name].append(search(stores[name], text, vector, flt))
        statements = (STATEMENTS.count - sent) / len(questions) / passes / len(stores)
        for name, store in stores.items():
            spent = ""
            if isinstance(store, PostgresStore):
                spent = f", {statements:.1f} statements"
            before = paired[name]
            if before is not None:
                reads = {key: n - before[key] for key, n in (paired_reads(store) or {}).items()}
                spent += (
                    f" (the rankings' two sent together, on two connections at once "
                    f"{reads['two connections']} times of {len(questions) * passes})"
                )
            cpu_before = cpu() if cpu is not None else None
            if cpu_before:
                for text, vector in questions:
                    search(store, text, vector, flt)
                cpu_after = cpu() if cpu is not None else None
                if cpu_after:
                    spent += f", {(cpu_after - cpu_before) * 1000 / len(questions):.1f} CPU ms"
            ordered = sorted(times[name])
            print(
                f"hybrid search, filter {scope}{name}: p50 {statistics.median(ordered):.1f} ms, "
                f"p95 {ordered[int(0.95 * (len(ordered) - 1))]:.1f} ms{spent}; "
                f"load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )


def run_sqlite(
    path: Path,
    args: argparse.Namespace,
    texts: list[str],
    real: np.ndarray,
    vocabulary: list[str],
    query_sets: dict[str, np.ndarray],
    query_texts: list[str],
) -> None:
    """The same store, searches and writes on a SQLite file (loaded if it is new)."""
    store = SqliteStore(path)
    store.bind_embedding(EmbeddingSpec("all-MiniLM-L6-v2", DIM))
    held = store.count(Filter(namespace=None))
    if held == 0:
        started = time.perf_counter()
        for start in range(0, args.n, BATCH):
            vectors = batch_vectors(start, min(BATCH, args.n - start), real)
            store.add(build_memories(start, vectors, texts, vocabulary))
        print(f"SQLite load: {args.n / (time.perf_counter() - started):,.0f} memories/s")
    elif held != args.n:
        raise SystemExit(f"{path} holds {held:,} memories, not --n {args.n:,}")
    vectors = all_vectors(args.n, real)
    print(f"\nSQLite store {path}, n={args.n:,}; load average {os.getloadavg()[0]:.1f}")
    for kind, qs in query_sets.items():
        for scope, flt, rows in (
            ("none", Filter(namespace=None), np.arange(args.n)),
            ("namespace", Filter(namespace="ns3"), np.arange(3, args.n, NAMESPACES)),
        ):
            p50, p95, _, recall = measure(
                store, qs, exact_top(vectors, qs, 10, rows), flt, CpuMeter(None)
            )
            print(
                f"vector search {kind:>6} {scope:>9}: p50 {p50:.2f} ms, p95 {p95:.2f} ms, "
                f"recall@10 {recall:.3f}",
                flush=True,
            )
    measure_hybrid({"": store}, query_texts, query_sets["real"])
    store.close()
    measure_writes(SqliteStore(path), args.n, vocabulary, CpuMeter(None))


def start_server(args: argparse.Namespace) -> EmbeddedPostgres:
    """The embedded server, durable as a real one would be (the test server's shortcuts
    off), sized by the arguments; in ``--keep``/``--reuse``'s directory if given."""
    root = args.reuse or args.keep
    if args.keep is not None and any(args.keep.iterdir() if args.keep.exists() else ()):
        raise SystemExit(f"--keep {args.keep}: not empty (use --reuse to search it)")
    if args.reuse is not None and not (args.reuse / "data" / "PG_VERSION").exists():
        raise SystemExit(f"--reuse {args.reuse}: no server kept there")
    return EmbeddedPostgres(
        {
            "shared_buffers": args.shared_buffers,
            "effective_cache_size": "16GB",
            "max_wal_size": "8GB",
            "max_parallel_maintenance_workers": str(args.build_workers),
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
        },
        root=root,
    ).start()


def load(
    url: str, args: argparse.Namespace, texts: list[str], real: np.ndarray, vocabulary: list[str]
) -> None:
    """COPY ``--n`` memories in with the HNSW index dropped, then build it; print both."""
    store = PostgresStore(url)
    store.bind_embedding(EmbeddingSpec("all-MiniLM-L6-v2", DIM))
    with store.bulk_load(args.build_memory):
        started = time.perf_counter()
        for start in range(0, args.n, BATCH):
            vectors = batch_vectors(start, min(BATCH, args.n - start), real)
            store.add(build_memories(start, vectors, texts, vocabulary))
            print(f"  loaded {start + len(vectors):,}", end="\r", flush=True)
        load_s = time.perf_counter() - started
        build_started = time.perf_counter()
    build_s = time.perf_counter() - build_started
    print(
        f"COPY load: {args.n / load_s:,.0f} memories/s ({load_s:.1f} s, HNSW index "
        f"dropped during the load)"
    )
    print(
        f"HNSW build (m={store.options.hnsw_m}, ef_construction="
        f"{store.options.hnsw_ef_construction}, maintenance_work_mem "
        f"{args.build_memory or 'sized by the store'}, "
        f"{args.build_workers} parallel worker(s)), then a graph per large namespace, "
        f"with the word counts and VACUUM ANALYZE before: {build_s:.1f} s",
        flush=True,
    )
    store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE memvault_memories")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=5_000, help="real MiniLM vectors")
    parser.add_argument("--queries", type=int, default=200, help="of each kind")
    parser.add_argument("--ef", default="40,100,200,400", help="ef_search values to try")
    parser.add_argument("--url", help="an existing PostgreSQL (default: start an embedded one)")
    parser.add_argument(
        "--keep",
        type=Path,
        help="start the embedded server in this new "
        "directory and leave it there, loaded, for --reuse",
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        help="search the server kept by --keep (same --n and --sample) without loading anything",
    )
    parser.add_argument(
        "--build-memory",
        help="maintenance_work_mem for the build (default: "
        "what PostgresStore.bulk_load sizes for the graph)",
    )
    parser.add_argument(
        "--build-workers",
        type=int,
        default=1,
        help="max_parallel_maintenance_workers (besides the leader)",
    )
    parser.add_argument("--shared-buffers", default="1GB")
    parser.add_argument(
        "--sqlite", type=Path, help="measure a SQLite store in this file instead (loaded if new)"
    )
    args = parser.parse_args()
    if args.url and (args.keep or args.reuse):
        parser.error("--keep and --reuse are for the embedded server, not --url")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on the way out

    texts, sentences_vectors = real_vectors(args.sample + args.queries)
    query_texts = texts[args.sample :]
    texts, real = texts[: args.sample], sentences_vectors[: args.sample]
    vocabulary = sorted({w for t in texts for w in re.findall(r"[a-z]{3,}", t.lower())})
    query_sets = {
        "real": sentences_vectors[args.sample :],
        "random": random_units(args.queries, seed=3),
    }
    if args.sqlite:
        run_sqlite(args.sqlite, args, texts, real, vocabulary, query_sets, query_texts)
        return

    server = None if args.url else start_server(args)
    url = args.url or (server.url("bench") if args.reuse else server.create_database("bench"))
    cpu = CpuMeter(url if server is not None else None)
    print(
        f"PostgreSQL store, n={args.n:,} ({args.sample:,} real MiniLM + "
        f"{args.n - args.sample:,} random unit vectors), k=10, {args.queries} queries of each "
        f"kind; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )
    try:
        if args.reuse:
            with psycopg.connect(url) as conn:
                held = conn.execute("SELECT count(*) FROM memvault_memories").fetchone()[0]
            if held != args.n:
                raise SystemExit(f"{args.reuse} holds {held:,} memories, not --n {args.n:,}")
            print(f"reusing the server kept in {args.reuse} (load and build not re-measured)")
        else:
            load(url, args, texts, real, vocabulary)
        with psycopg.connect(url, autocommit=True) as conn:
            sizes = conn.execute(
                "SELECT pg_size_pretty(pg_table_size('memvault_memories')), "
                "pg_size_pretty(pg_relation_size('memvault_memories_embedding')), "
                "pg_size_pretty(pg_indexes_size('memvault_memories'))"
            ).fetchone()
        print(f"table {sizes[0]}, HNSW index {sizes[1]}, all indexes {sizes[2]}")
        PostgresStore(url).close()  # a kept store from before: its migrations first
        if server is not None:
            # A serving database keeps its index in memory; a fresh start reads it
            # from disk page by page, which would land on the first ef_search measured.
            # The words are read from the postings' key alone.
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
                conn.execute(
                    "SELECT pg_prewarm('memvault_memories_embedding'), "
                    "pg_prewarm('memvault_memories'), pg_prewarm('memvault_postings_pkey')"
                )

        joiner = "&" if "?" in url else "?"
        vectors = all_vectors(args.n, real)
        truth = {
            (kind, scope): exact_top(vectors, qs, 10, rows)
            for kind, qs in query_sets.items()
            for scope, rows in (
                ("all", np.arange(args.n)),
                ("ns3", np.arange(3, args.n, NAMESPACES)),
            )
        }
        del vectors
        print(
            f"\n{'ef_search':>9} {'queries':>8} {'filter':>9} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'CPU ms':>7} {'recall@10':>10}"
        )
        for ef in [int(x) for x in args.ef.split(",")]:
            store = PostgresStore(f"{url}{joiner}ef_search={ef}")
            for kind, qs in query_sets.items():
                for scope, flt in (
                    ("none", Filter(namespace=None)),
                    ("namespace", Filter(namespace="ns3")),
                ):
                    key = (kind, "all" if scope == "none" else "ns3")
                    p50, p95, cpu_ms, recall = measure(store, qs, truth[key], flt, cpu)
                    spent = f"{cpu_ms:7.2f}" if cpu_ms is not None else f"{'-':>7}"
                    print(
                        f"{ef:>9} {kind:>8} {scope:>9} {p50:>8.2f} {p95:>8.2f} {spent} "
                        f"{recall:>10.3f}",
                        flush=True,
                    )
            store.close()
        # A store of one connection sends both sides of a search on it, one after the other.
        stores = {
            "": PostgresStore(url),
            ", one connection": PostgresStore(f"{url}{joiner}pool_size=1"),
        }
        measure_hybrid(stores, query_texts, query_sets["real"], cpu, passes=3)
        for store in stores.values():
            store.close()
        measure_writes(PostgresStore(url), args.n, vocabulary, cpu)
    finally:
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        if server is not None:
            server.cleanup()


def measure_writes(store: Store, n: int, vocabulary: list[str], cpu: CpuMeter) -> None:
    """Adds with the index in place, and word searches; the added rows are deleted
    again, so that a kept store stays as loaded. A PostgreSQL write leaves its vectors
    to the indexer (``indexing``), whose graph inserts are most of a write's cost: the
    CPU is printed up to the last batch's commit and again once every vector of the
    batches is in the graphs."""
    fresh = build_memories(n, random_units(1_200, seed=n + 1), [], vocabulary)
    store.add(fresh[:1])
    started, cpu_before = time.perf_counter(), cpu()
    for start in range(1, 1_001, 100):
        store.add(fresh[start : start + 100])
    batch_s, cpu_after = time.perf_counter() - started, cpu()
    batch_cpu = (
        f", {(cpu_after - cpu_before):.2f} CPU s per 1,000" if cpu_before and cpu_after else ""
    )
    print(
        f"\nwith the index in place: batches of 100 at {1_000 / batch_s:,.0f} memories/s{batch_cpu}"
    )
    if isinstance(store, PostgresStore):
        started = time.perf_counter()
        store.index_waiting_vectors()
        indexed = cpu()
        print(
            f"then {time.perf_counter() - started:.1f} s until the indexer had moved every "
            "vector into the graphs"
            + (
                f": written and indexed, {indexed - cpu_before:.2f} CPU s per 1,000"
                if cpu_before and indexed
                else ""
            )
        )
    singles = []
    for memory in fresh[1_001:1_200]:
        started = time.perf_counter()
        store.add([memory])
        singles.append((time.perf_counter() - started) * 1000)
    singles.sort()
    print(
        f"single add p50 {statistics.median(singles):.1f} ms, p95 "
        f"{singles[int(0.95 * (len(singles) - 1))]:.1f} ms"
    )
    for terms in (["cache"], ["synthetic", "memory"], ["pathname", "unicode"]):
        times = []
        for _ in range(20):
            started = time.perf_counter()
            store.text_search(terms, 50, Filter(namespace="ns3"))
            times.append((time.perf_counter() - started) * 1000)
        print(f"text_search {terms} (k=50, one namespace): p50 {statistics.median(times):.1f} ms")
    store.delete([m.id for m in fresh])
    store.close()


if __name__ == "__main__":
    main()
