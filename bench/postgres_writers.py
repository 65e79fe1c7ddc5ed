"""Single PostgreSQL adds from one connection and from several at once, on a kept store.

    python bench/postgres_scale.py --n 100000 --keep /var/tmp/pg100k     # once
    python bench/postgres_writers.py --reuse /var/tmp/pg100k             # then this

Each connection sends the statement a single ``add`` sends (``writes.py``: the
insert, its postings' trigger and the word counts, in autocommit), each
memory new, with the durable commit on (``synchronous_commit``, as served)
and off (the commit's WAL flush left out), and with the word counts in the
statement and without them, for 1 and ``--writers`` connections; two rounds.
Prints adds/s over all connections and each add's p50/p95, with the load.
The rows are deleted and the counts made again at the end, so the kept store
stays as it was. Nothing here asserts a time: it prints what it measured.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.postgres_scale import start_server  # noqa: E402
from bench.scale_rows import build_memories, random_units, real_vectors  # noqa: E402

from memvault.stores.postgres.store import PostgresStore  # noqa: E402
from memvault.stores.postgres.vector_types import register_vector  # noqa: E402
from memvault.stores.postgres.words import RECOUNT  # noqa: E402
from memvault.stores.postgres.writes import (  # noqa: E402
    DEFERRED_COLUMNS,
    VALUE_MARKS,
    inserting,
    memory_row,
)


def add_sql(counted: bool) -> str:
    """The statement ``writes._add_one`` sends, with or without the word counts."""
    return inserting(DEFERRED_COLUMNS, f"VALUES ({VALUE_MARKS})", counted)


def run(conns: list[psycopg.Connection], sql: str, memories: list, sync: str) -> str:
    """Each connection adds its share of ``memories`` one by one; the figures."""
    writers = len(conns)
    times: list[float] = []

    def writer(k: int) -> None:
        conns[k].execute(f"SET synchronous_commit = {sync}")
        for m in memories[k::writers]:
            started = time.perf_counter()
            conns[k].execute(sql, memory_row(m, m.embedding), prepare=True).fetchall()
            times.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rate = len(memories) / (time.perf_counter() - started)
    times.sort()
    return (
        f"{rate:6,.0f} adds/s, each p50 {statistics.median(times):5.2f} / p95 "
        f"{times[int(0.95 * (len(times) - 1))]:5.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reuse", type=Path, required=True, help="a server kept by --keep")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--per", type=int, default=150, help="adds per connection and way")
    parser.add_argument("--shared-buffers", default="1GB")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on the way out
    texts, _ = real_vectors(5_050)
    vocabulary = sorted({w for t in texts[:5_000] for w in re.findall(r"[a-z]{3,}", t.lower())})
    server = start_server(
        argparse.Namespace(
            reuse=args.reuse, keep=None, shared_buffers=args.shared_buffers, build_workers=1
        )
    )
    added: list[str] = []
    try:
        url = server.url("bench")
        PostgresStore(url).close()  # applies this code's migrations to the kept store
        with psycopg.connect(url) as conn:
            oid = conn.execute("SELECT 'vector'::regtype::oid").fetchone()[0]
        conns = [psycopg.connect(url, autocommit=True) for _ in range(args.writers)]
        for conn in conns:
            register_vector(conn, oid)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        for round_ in range(2):
            for writers in (1, args.writers):
                for counted in (True, False):
                    for sync in ("on", "off"):
                        first = 20_000_000 + 10_000 * len(added) // args.per
                        count = writers * args.per
                        memories = build_memories(
                            first, random_units(count, seed=first), [], vocabulary
                        )
                        added += [m.id for m in memories]
                        figures = run(conns[:writers], add_sql(counted), memories, sync)
                        print(
                            f"round {round_}, {writers} writer(s), word counts "
                            f"{'in' if counted else 'out'}, durable commit {sync:>3}: {figures}; "
                            f"load average {os.getloadavg()[0]:.1f}",
                            flush=True,
                        )
        for conn in conns:
            conn.close()
    finally:
        if added:
            with psycopg.connect(url) as conn, conn.transaction():
                conn.execute("DELETE FROM memvault_memories WHERE id = ANY(%s)", (added,))
                for statement in RECOUNT:  # some rows were added without their counts
                    conn.execute(statement)
        server.cleanup()


if __name__ == "__main__":
    main()
