"""PostgreSQL store at scale: COPY load rate, HNSW build, search latency and recall.

    python bench/postgres_scale.py --n 100000            # embedded PostgreSQL 18 + pgvector
    python bench/postgres_scale.py --n 1000000 --url postgresql://user@host/db   # your server

The vectors are precomputed so the run takes minutes, not hours:

- a sample of real MiniLM vectors (``--sample``, default 5,000): sentences from the
  docstrings of Python's standard library, read from its source files (offline),
  embedded once with the bundled all-MiniLM-L6-v2 and cached in bench/.cache;
- random unit vectors for the rest of ``--n``. They are the hard case for an
  HNSW graph (no clusters to follow), so recall on them is a floor.

Queries are held-out real sentences (their neighbours are the real sample) and
fresh random unit vectors. Every row is in one of ten namespaces, so the
filtered runs keep 10 % of the store and go through the store's filtered path
(pgvector's iterative index scan). Searches go through ``PostgresStore``, the
code path the Vault uses; recall@10 is measured against exact search (numpy).
Nothing here asserts a time: it prints what it measured.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import signal
import statistics
import sys
import sysconfig
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.pg_server import EmbeddedPostgres  # noqa: E402

from memvault.model import EmbeddingSpec, Filter, Memory  # noqa: E402
from memvault.stores.postgres import PostgresStore  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
DIM = 384
NAMESPACES = 10
BATCH = 10_000
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def stdlib_sentences() -> list[str]:
    """Distinct English sentences from the standard library's docstrings."""
    seen: dict[str, None] = {}
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if "test" in path.parts or "site-packages" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
                doc = ast.get_docstring(node) or ""
                for part in _SENTENCE.split(" ".join(doc.split())):
                    if 40 <= len(part) <= 300 and part[0].isupper():
                        seen.setdefault(part, None)
    return list(seen)


def real_vectors(count: int) -> tuple[list[str], np.ndarray]:
    """``count`` sentences and their MiniLM vectors, computed once and cached."""
    CACHE.mkdir(exist_ok=True)
    texts_file, vectors_file = CACHE / f"minilm_{count}.json", CACHE / f"minilm_{count}.npy"
    if texts_file.exists() and vectors_file.exists():
        return json.loads(texts_file.read_text()), np.load(vectors_file)
    sentences = stdlib_sentences()
    if len(sentences) < count:
        raise SystemExit(f"only {len(sentences)} sentences available; lower --sample")
    picked = [sentences[i] for i in np.random.default_rng(7).permutation(len(sentences))[:count]]
    from memvault.embedding import SentenceTransformerEmbedder

    print(f"embedding {count} real sentences once (cached in {CACHE}) ...", flush=True)
    vectors = SentenceTransformerEmbedder().embed(picked)
    texts_file.write_text(json.dumps(picked))
    np.save(vectors_file, vectors)
    return picked, vectors


def random_units(count: int, seed: int) -> np.ndarray:
    out = np.random.default_rng(seed).standard_normal((count, DIM), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def build_memories(first: int, count: int, texts: list[str], real: np.ndarray,
                   vocabulary: list[str]) -> tuple[list[Memory], np.ndarray]:
    """Rows first..first+count: real sentences while they last, then random vectors
    with a dozen words drawn from the sentences' vocabulary."""
    real_rows = max(0, min(count, len(texts) - first))
    vectors = np.concatenate([real[first:first + real_rows],
                              random_units(count - real_rows, seed=first + 1)])
    picks = np.random.default_rng(first + 2).integers(len(vocabulary), size=(count, 12))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    memories = []
    for row, vector, words in zip(range(first, first + count), vectors, picks, strict=True):
        content = texts[row] if row < len(texts) else (
            f"synthetic memory {row}: " + " ".join(vocabulary[w] for w in words))
        memories.append(Memory(content=content, namespace=f"ns{row % NAMESPACES}",
                               created_at=start + timedelta(minutes=row), embedding=vector))
    return memories, vectors


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, rows: np.ndarray
              ) -> list[set[int]]:
    """Row numbers of the k nearest (cosine) among ``rows``, per query."""
    out = []
    for start in range(0, len(queries), 64):
        scores = queries[start:start + 64] @ vectors[rows].T
        best = np.argpartition(-scores, k, axis=1)[:, :k]
        out.extend({int(rows[j]) for j in line} for line in best)
    return out


class CpuMeter:
    """CPU seconds spent so far by this process and the server's memvault connections.

    On a shared machine wall time includes waiting for a core; CPU time is what
    a query costs. Only for a server on this machine (its processes are visible).
    """

    def __init__(self, url: str | None) -> None:
        self.url = url

    def __call__(self) -> float | None:
        if self.url is None:
            return None
        with psycopg.connect(self.url, autocommit=True, application_name="bench") as conn:
            pids = [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'memvault'")]
        try:
            server = sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)
        except psutil.Error:
            return None
        return server + time.process_time()


def measure(store: PostgresStore, queries: np.ndarray, truth: list[set[int]], flt: Filter,
            row_of: dict[str, int], cpu: CpuMeter, k: int = 10
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
        recalls.append(len({row_of[m.id] for m, _ in hits} & expected) / k)
    cpu_after = cpu()
    cpu_ms = (cpu_after - cpu_before) * 1000 / len(queries) if cpu_before and cpu_after else None
    times.sort()
    return (statistics.median(times), times[int(0.95 * (len(times) - 1))], cpu_ms,
            float(np.mean(recalls)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=5_000, help="real MiniLM vectors")
    parser.add_argument("--queries", type=int, default=200, help="of each kind")
    parser.add_argument("--ef", default="40,100,200,400", help="ef_search values to try")
    parser.add_argument("--url", help="an existing PostgreSQL (default: start an embedded one)")
    parser.add_argument("--build-memory", default="2GB", help="maintenance_work_mem for the build")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on the way out

    texts, real = real_vectors(args.sample + args.queries)
    vocabulary = sorted({w for t in texts for w in re.findall(r"[a-z]{3,}", t.lower())})
    memories, vectors = build_memories(0, args.n, texts[:args.sample], real, vocabulary)
    query_sets = {"real": real[args.sample:], "random": random_units(args.queries, seed=3)}
    row_of = {m.id: i for i, m in enumerate(memories)}
    every = np.arange(args.n)
    one_namespace = np.arange(3, args.n, NAMESPACES)

    server = None
    url = args.url
    if url is None:
        # Durable, as a real server would be: the test server's shortcuts off.
        server = EmbeddedPostgres({"shared_buffers": "1GB", "max_wal_size": "4GB",
                                   "max_parallel_maintenance_workers": "1", "fsync": "on",
                                   "synchronous_commit": "on", "full_page_writes": "on"}
                                  ).start()
        url = server.create_database("bench")
    cpu = CpuMeter(url if server is not None else None)
    print(f"PostgreSQL store, n={args.n:,} ({args.sample:,} real MiniLM + "
          f"{args.n - args.sample:,} random unit vectors), k=10, {args.queries} queries of each "
          f"kind; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    try:
        store = PostgresStore(url)
        store.bind_embedding(EmbeddingSpec("all-MiniLM-L6-v2", DIM))
        with store.bulk_load(args.build_memory):
            started = time.perf_counter()
            for start in range(0, args.n, BATCH):
                store.add(memories[start:start + BATCH])
                print(f"  loaded {min(start + BATCH, args.n):,}", end="\r", flush=True)
            load_s = time.perf_counter() - started
            build_started = time.perf_counter()
        build_s = time.perf_counter() - build_started
        print(f"COPY load: {args.n / load_s:,.0f} memories/s ({load_s:.1f} s, HNSW index "
              f"dropped during the load)")
        print(f"HNSW build (m={store.options.hnsw_m}, ef_construction="
              f"{store.options.hnsw_ef_construction}): {build_s:.1f} s")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE memvault_memories")
            sizes = conn.execute(
                "SELECT pg_size_pretty(pg_table_size('memvault_memories')), "
                "pg_size_pretty(pg_relation_size('memvault_memories_embedding')), "
                "pg_size_pretty(pg_indexes_size('memvault_memories'))").fetchone()
        print(f"table {sizes[0]}, HNSW index {sizes[1]}, all indexes {sizes[2]}")
        store.close()

        truth = {(kind, scope): exact_top(vectors, qs, 10, rows)
                 for kind, qs in query_sets.items()
                 for scope, rows in (("all", every), ("ns3", one_namespace))}
        print(f"\n{'ef_search':>9} {'queries':>8} {'filter':>9} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'CPU ms':>7} {'recall@10':>10}")
        for ef in [int(x) for x in args.ef.split(",")]:
            store = PostgresStore(f"{url}{'&' if '?' in url else '?'}ef_search={ef}")
            for kind, qs in query_sets.items():
                for scope, flt in (("none", Filter(namespace=None)),
                                   ("namespace", Filter(namespace="ns3"))):
                    key = (kind, "all" if scope == "none" else "ns3")
                    p50, p95, cpu_ms, recall = measure(store, qs, truth[key], flt, row_of, cpu)
                    spent = f"{cpu_ms:7.2f}" if cpu_ms is not None else f"{'-':>7}"
                    print(f"{ef:>9} {kind:>8} {scope:>9} {p50:>8.2f} {p95:>8.2f} {spent} "
                          f"{recall:>10.3f}", flush=True)
            store.close()

        store = PostgresStore(url)
        fresh, _ = build_memories(args.n, 1_200, [], real, vocabulary)
        store.add(fresh[:1])
        started, cpu_before = time.perf_counter(), cpu()
        for start in range(1, 1_001, 100):
            store.add(fresh[start:start + 100])
        batch_s, cpu_after = time.perf_counter() - started, cpu()
        batch_cpu = (f", {(cpu_after - cpu_before):.2f} CPU s per 1,000"
                     if cpu_before and cpu_after else "")
        singles = []
        for memory in fresh[1_001:1_200]:
            started = time.perf_counter()
            store.add([memory])
            singles.append((time.perf_counter() - started) * 1000)
        print(f"\nwith the index in place: batches of 100 at {1_000 / batch_s:,.0f} memories/s"
              f"{batch_cpu}; single add p50 {statistics.median(singles):.1f} ms")
        for terms in (["cache"], ["synthetic", "memory"], ["pathname", "unicode"]):
            times = []
            for _ in range(20):
                started = time.perf_counter()
                store.text_search(terms, 50, Filter(namespace="ns3"))
                times.append((time.perf_counter() - started) * 1000)
            print(f"text_search {terms} (k=50, one namespace): p50 "
                  f"{statistics.median(times):.1f} ms")
        store.close()
    finally:
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    main()
