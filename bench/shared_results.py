"""Search results kept in Redis against searching PostgreSQL each time.

    python bench/postgres_scale.py --n 100000 --keep /var/tmp/pg100k   # once
    python bench/shared_results.py --n 100000 --reuse /var/tmp/pg100k

On the store ``postgres_scale`` keeps, with a real ``redis-server``: the same
held-out questions (their vectors given, so the model is excluded) searched
in one namespace three ways: a hybrid search without the cache; through the
cache, each question the first time (a miss: the read, the search, the kept
result written); and each question again (a hit). Then what a write costs
the cache: one announcement (a pipeline of two INCRs). Prints p50/p95 and the
load average; asserts no time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.postgres_scale import start_server  # noqa: E402
from bench.scale_rows import real_vectors  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402

from memvault.model import Filter, utcnow  # noqa: E402
from memvault.search.hybrid import SearchSettings, hybrid_search  # noqa: E402
from memvault.search.shared_results import SharedResults  # noqa: E402
from memvault.stores.postgres.store import PostgresStore  # noqa: E402


def timed(label: str, calls: list[Callable[[], object]]) -> None:
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    print(
        f"{label:<38} p50 {statistics.median(times):7.2f} ms, "
        f"p95 {times[int(0.95 * (len(times) - 1))]:7.2f} ms; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--reuse", type=Path, required=True, help="a postgres_scale --keep dir")
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--shared-buffers", default="1GB")
    args = parser.parse_args()
    args.keep, args.build_workers = None, 1
    texts, vectors = real_vectors(args.sample + args.queries)
    questions = list(zip(texts[args.sample :], vectors[args.sample :], strict=True))
    server = start_server(args)
    with tempfile.TemporaryDirectory() as scratch:
        cache = RedisServer(Path(scratch)).start()
        try:
            store = PostgresStore(server.url("bench"))
            results = SharedResults(cache.url, store.identity())
            flt, settings = Filter(namespace="ns3"), SearchSettings()

            def search(text: str, vector: object) -> Callable[[], object]:
                def run() -> object:
                    return hybrid_search(
                        store, text, lambda _q: vector, 10, flt, settings, utcnow()
                    )

                return run

            def cached(text: str, vector: object) -> Callable[[], object]:
                question = (text, 10, flt, settings, "all-MiniLM-L6-v2")
                return lambda: results.search(question, utcnow(), search(text, vector))

            print(f"n={args.n:,}, {len(questions)} questions, one namespace, k=10")
            for text, vector in questions[:5]:
                search(text, vector)()  # warm the pool and the caches
            timed("hybrid search, no cache", [search(t, v) for t, v in questions])
            timed("through the cache, first time (miss)", [cached(t, v) for t, v in questions])
            timed("through the cache, again (hit)", [cached(t, v) for t, v in questions])
            timed("a write announced", [lambda: results.written(["ns3"])] * len(questions))
            print(f"hits {results.hits}, misses {results.misses}, failures {results.failures}")
            results.close()
            store.close()
        finally:
            cache.stop()
            server.cleanup()


if __name__ == "__main__":
    main()
