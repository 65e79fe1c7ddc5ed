"""A PostgreSQL hybrid search in two statements against one Store call per step.

    python bench/postgres_scale.py --n 100000 --keep /var/tmp/pg100k   # once
    python bench/round_trips.py --reuse /var/tmp/pg100k

On the store ``postgres_scale`` keeps, the same held-out questions (their
vectors given: the model is excluded) are searched two ways, alternately so
that a shared machine's load falls on both alike: through ``rankings`` (the
word ranking, the predecessors and the nearest vectors in one statement, then
the kept memories read), and through the Store protocol alone (text_search,
preceding when a match has another shortly before it, vector_search,
get_many: what every search sent before). Prints, for each filter, p50/p95,
the CPU per search of this process and the server's connections (what a
search costs, whatever the load), the statements sent, and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.postgres_scale import start_server  # noqa: E402
from bench.scale_meters import STATEMENTS  # noqa: E402
from bench.scale_rows import real_vectors  # noqa: E402

from memvault.model import Filter, utcnow  # noqa: E402
from memvault.search.hybrid import SearchSettings, hybrid_search  # noqa: E402
from memvault.stores.postgres.store import PostgresStore  # noqa: E402


class StepByStep:
    """The store through the Store protocol alone: no ``rankings``."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name == "rankings":
            raise AttributeError(name)
        return getattr(self._store, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reuse", type=Path, required=True, help="a postgres_scale --keep dir")
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--shared-buffers", default="1GB")
    args = parser.parse_args()
    args.keep, args.build_workers = None, 1
    texts, vectors = real_vectors(args.sample + args.queries)
    questions = list(zip(texts[args.sample :], vectors[args.sample :], strict=True))
    server = start_server(args)
    try:
        store = PostgresStore(server.url("bench"))
        ways = {"two statements": store, "one call per step": StepByStep(store)}
        settings = SearchSettings()
        for text, vector in questions[:5]:  # warm the pool, the caches, the prepared plans
            for way in ways.values():
                hybrid_search(
                    way,
                    text,
                    lambda _q, v=vector: v,
                    10,
                    Filter(namespace="ns3"),
                    settings,
                    utcnow(),
                )
        with psycopg.connect(server.url("bench"), autocommit=True) as conn:
            pids = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'memvault'"
            ).fetchall()
        processes = [psutil.Process(pid) for (pid,) in pids]

        def cpu() -> float:
            return sum(sum(p.cpu_times()[:2]) for p in processes) + time.process_time()

        for scope, flt in (
            ("none", Filter(namespace=None)),
            ("namespace", Filter(namespace="ns3")),
            ("namespace and tag", Filter(namespace="ns3", tags_any=("tag1",))),
        ):
            times: dict[str, list[float]] = {name: [] for name in ways}
            spent = dict.fromkeys(ways, 0.0)
            sent = dict.fromkeys(ways, 0)
            for i, (text, vector) in enumerate(questions):
                for name in list(ways)[:: 1 if i % 2 else -1]:  # each first half the time
                    before, statements = cpu(), STATEMENTS.count
                    started = time.perf_counter()
                    hybrid_search(
                        ways[name], text, lambda _q, v=vector: v, 10, flt, settings, utcnow()
                    )
                    times[name].append((time.perf_counter() - started) * 1000)
                    spent[name] += cpu() - before
                    sent[name] += STATEMENTS.count - statements
            for name, taken in times.items():
                taken.sort()
                print(
                    f"filter {scope:<17} {name:<17}: p50 {statistics.median(taken):6.1f} ms, "
                    f"p95 {taken[int(0.95 * (len(taken) - 1))]:6.1f} ms, CPU "
                    f"{spent[name] * 1000 / len(taken):5.1f} ms, "
                    f"{sent[name] / len(taken):.1f} statements; "
                    f"load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        store.close()
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
