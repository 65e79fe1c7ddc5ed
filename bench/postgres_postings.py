"""The PostgreSQL word ranking with and without its postings, on one kept store.

    python bench/postgres_scale.py --n 100000 --keep /var/tmp/pg100k     # once
    python bench/postgres_postings.py --reuse /var/tmp/pg100k            # then this

Interleaved question by question on the same server, so both ways see the same
load: whole hybrid searches (k = 10, the query vector given) unfiltered, in one
namespace and with a tag, and word searches alone (k = 50, one namespace), each
with the postings tried first (``stores/postgres/postings.py``) or the tiers
alone (``words.py``); the rankings are compared too. Then writes in batches of
100 with the postings' triggers on and off, round by round (the rows deleted
again). Nothing here asserts a time: it prints what it measured, with the load.
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

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.postgres_scale import start_server  # noqa: E402
from bench.scale_meters import CpuMeter  # noqa: E402
from bench.scale_rows import build_memories, random_units, real_vectors  # noqa: E402

from memvault.model import Filter, utcnow  # noqa: E402
from memvault.search.hybrid import SearchSettings, hybrid_search  # noqa: E402
from memvault.search.text import query_terms  # noqa: E402
from memvault.stores.postgres import ranking  # noqa: E402
from memvault.stores.postgres.store import PostgresStore  # noqa: E402

SCOPES = {
    "none": Filter(namespace=None),
    "namespace": Filter(namespace="ns3"),
    "namespace and tag": Filter(namespace="ns3", tags_any=("tag1",)),
}
TRIGGERS = ("memvault_postings_added", "memvault_postings_removed")


def summary(times: list[float]) -> str:
    times = sorted(times)
    return f"p50 {statistics.median(times):.1f} / p95 {times[int(0.95 * (len(times) - 1))]:.1f} ms"


def searches(store: PostgresStore, texts: list[str], vectors: list) -> None:
    """Each scope's hybrid searches and word rankings, both ways in turn."""
    tried = ranking.postings_share
    ways = {"postings": tried, "tiers": lambda _statistics, _flt: None}
    for scope, flt in SCOPES.items():
        hybrid: dict[str, list[float]] = {way: [] for way in ways}
        words: dict[str, list[float]] = {way: [] for way in ways}
        differ = 0
        for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
            ranked = {}
            for way in sorted(ways, reverse=bool(i % 2)):
                ranking.postings_share = ways[way]
                started = time.perf_counter()
                hybrid_search(
                    store, text, lambda _q, v=vector: v, 10, flt, SearchSettings(), utcnow()
                )
                hybrid[way].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                found = store.text_search(query_terms(text), 50, flt)
                words[way].append((time.perf_counter() - started) * 1000)
                ranked[way] = [(c.id, round(c.score, 9)) for c in found]
            differ += ranked["postings"] != ranked["tiers"]
        ranking.postings_share = tried
        print(
            f"{scope}: hybrid {summary(hybrid['postings'])} with the postings, "
            f"{summary(hybrid['tiers'])} with the tiers; words alone (k=50) "
            f"{summary(words['postings'])} against {summary(words['tiers'])}; "
            f"{differ} rankings differ; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )


def writes(store: PostgresStore, url: str, vocabulary: list[str], rounds: int) -> None:
    """1,000 memories in batches of 100 per round, the postings' triggers on and off
    in turn; memories/s and CPU seconds (server and this process) per round."""
    cpu = CpuMeter(url)
    done: dict[bool, list[str]] = {True: [], False: []}
    try:
        for r in range(rounds):
            on = r % 2 == 0
            with psycopg.connect(url, autocommit=True) as conn:
                for trigger in TRIGGERS:
                    how = "ENABLE" if on else "DISABLE"
                    conn.execute(f"ALTER TABLE memvault_memories {how} TRIGGER {trigger}")
            fresh = build_memories(10_000_000 + 1000 * r, random_units(1000, r + 7), [], vocabulary)
            store.index_waiting_vectors()
            spent, started = cpu(), time.perf_counter()
            for start in range(0, 1000, 100):
                store.add(fresh[start : start + 100])
            rate = 1000 / (time.perf_counter() - started)
            spent = (cpu() or 0.0) - (spent or 0.0)
            done[on].append(f"{rate:,.0f}/s ({spent:.2f} CPU s)")
            store.delete([m.id for m in fresh])
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            for trigger in TRIGGERS:
                conn.execute(f"ALTER TABLE memvault_memories ENABLE TRIGGER {trigger}")
    for on, rounds_done in done.items():
        kept = "kept" if on else "not kept"
        line = f"writes of 1,000 in batches of 100, postings {kept}: {', '.join(rounds_done)}"
        print(f"{line}; load average {os.getloadavg()[0]:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reuse", type=Path, required=True, help="a server kept by --keep")
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--write-rounds", type=int, default=6)
    parser.add_argument("--shared-buffers", default="1GB")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on the way out
    texts, vectors = real_vectors(args.sample + args.queries)
    vocabulary = sorted(
        {w for t in texts[: args.sample] for w in re.findall(r"[a-z]{3,}", t.lower())}
    )
    server = start_server(
        argparse.Namespace(
            reuse=args.reuse, keep=None, shared_buffers=args.shared_buffers, build_workers=1
        )
    )
    try:
        url = server.url("bench")
        store = PostgresStore(url)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        searches(store, texts[args.sample :], list(vectors[args.sample :]))
        writes(store, url, vocabulary, args.write_rounds)
        store.close()
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
