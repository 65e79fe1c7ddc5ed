"""Converting a PostgreSQL store's words from before memvault's tokenizer: how fast
the background thread goes, and how fast ``optimize`` does it with the graphs rebuilt.

    python bench/postgres_convert.py --n 100000 --background 60

Loads ``--n`` memories (``bench/scale_rows``: ten namespaces, so at 100,000 each
has a graph of its own) with a bulk load, marking every row as holding old
words before the graphs are built (what migration 7 does to an existing store;
the rewrite costs the same whatever the old words were). Then the store is
opened and its background thread left to convert for ``--background`` seconds,
and ``optimize`` converts the rest. Prints the rates; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.postgres_scale import start_server  # noqa: E402
from bench.scale_rows import BATCH, DIM, batch_vectors, build_memories, real_vectors  # noqa: E402

from memvault.model import EmbeddingSpec  # noqa: E402
from memvault.stores.postgres.store import PostgresStore  # noqa: E402

GRAPHS = (
    "SELECT count(*) FROM pg_indexes WHERE tablename = 'memvault_memories' "
    "AND indexdef LIKE '%hnsw%'"
)


def stale(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(
            conn.execute("SELECT count(*) FROM memvault_memories WHERE words_stale").fetchone()[0]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=5_000, help="real MiniLM vectors")
    parser.add_argument("--background", type=float, default=60.0, help="seconds of the thread")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on the way out
    # The graph builds' and the words' timings (``bulk_load``, ``retokenize``).
    logging.basicConfig(format="  %(relativeCreated)8.0f ms %(message)s")
    for name in ("bulk_load", "retokenize"):
        logging.getLogger(f"memvault.stores.postgres.{name}").setLevel(logging.INFO)
    args.keep = args.reuse = None
    args.shared_buffers, args.build_workers = "1GB", 1
    texts, real = real_vectors(args.sample + 50)  # the cache postgres_scale makes
    texts, real = texts[: args.sample], real[: args.sample]
    vocabulary = sorted({w for t in texts for w in re.findall(r"[a-z]{3,}", t.lower())})
    server = start_server(args)
    try:
        url = server.create_database("bench")
        store = PostgresStore(url)
        store.bind_embedding(EmbeddingSpec("all-MiniLM-L6-v2", DIM))
        with store.bulk_load():
            for start in range(0, args.n, BATCH):
                vectors = batch_vectors(start, min(BATCH, args.n - start), real)
                store.add(build_memories(start, vectors, texts, vocabulary))
            with psycopg.connect(url) as conn:
                conn.execute("UPDATE memvault_memories SET words_stale = true")
        store.close()  # the load built the graphs, the namespaces' too
        with psycopg.connect(url) as conn:
            graphs = conn.execute(GRAPHS).fetchone()[0]
        print(
            f"{args.n:,} memories of old words, {graphs} HNSW graph(s); load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
            flush=True,
        )

        started = time.perf_counter()
        store = PostgresStore(url)  # its thread starts converting
        time.sleep(args.background)
        store.word_converter.close()  # after the batch it is in
        took = time.perf_counter() - started
        before = args.n - stale(url)
        print(
            f"background thread: {before:,} rows in {took:.1f} s, {before / took:,.0f} rows/s "
            f"(load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )
        left = stale(url)
        started = time.perf_counter()
        done = store.optimize()
        took = time.perf_counter() - started
        store.close()
        with psycopg.connect(url) as conn:
            graphs = conn.execute(GRAPHS).fetchone()[0]
        print(
            f"optimize: {left:,} rows in {took:.1f} s, {left / took:,.0f} rows/s, with the "
            f"vacuum and the graphs rebuilt; {stale(url):,} left, {graphs} HNSW graph(s) "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
        for line in done:
            print("  " + line)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
