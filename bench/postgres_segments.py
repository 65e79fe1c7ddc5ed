"""Vector graphs built in segments: what one node would pay to index 1,000 memories/s.

    python bench/postgres_scale.py --n 1000000 --keep DIR      # once (or a copy of a kept store)
    python bench/postgres_segments.py --reuse DIR               # then this

The scheme: new rows wait (compared exactly) until a segment's worth has
arrived, its graph is built in bulk (a partial HNSW index over its rowid range,
the bounds literals), searches walk every graph and merge, and segments are
merged in tiers of ``T`` (a merge builds the union's graph again). On the kept
store, its server started as ``postgres_scale --reuse`` does (one process a build):

1. a ``CREATE INDEX CONCURRENTLY`` over the newest rows (``--builds``), split
   by ``pg_stat_progress_create_index``'s phases, and the same graphs built on
   a table holding only those rows (``--graph-sizes``): the graph alone;
2. the real questions' k = 10 nearest through the store's graph alone, then
   with 1 to ``--segments`` partial graphs of ``--segment`` rows each (the
   oldest rowids, so that the first holds the real sentences), the segments
   at ``hnsw.ef_search`` 100 and 40 (the store's graph at 100): p50/p95, the
   server's CPU per search, recall@10 against exact search over the whole
   store and, of the segments' answers, over the segments' rows; and the
   exact comparison of the newest rows no segment holds yet;
3. from those, the cores a tiered scheme needs for 1,000 memories/s at
   ``--n``, and the graphs a search walks.

Everything it builds is dropped at the end. CPU is the server's processes'
(``ServerCpu``), so other jobs do not count; the load average is printed with
each figure. Nothing here asserts a time: it prints what it measured.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from bench.postgres_postings import summary  # noqa: E402
from bench.postgres_scale import start_server  # noqa: E402
from bench.scale_meters import ServerCpu  # noqa: E402
from bench.scale_rows import DIM, START, all_vectors, exact_top, real_vectors  # noqa: E402

from memvault.stores.postgres.schema import build_memory_sql, vector_index_sql  # noqa: E402
from memvault.stores.postgres.vector_types import register_vector  # noqa: E402

M, EF_CONSTRUCTION, K = 16, 64, 10
SEGMENT = "memvault_bench_segment_"
COPY = "memvault_bench_segment_rows"
# A hit's bench row (``scale_rows``): rows are stamped a minute apart from START.
ROW = f"round(extract(epoch FROM created_at - '{START.isoformat()}'::timestamptz) / 60)::int"
# CPU ms per memory written, not indexed (``docs/benchmarks.md``, where a memory's CPU goes).
WRITE_MS = 0.38


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def backend_cpu(pid: int) -> float:
    return sum(psutil.Process(pid).cpu_times()[:2])


def connect(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    oid = conn.execute("SELECT 'vector'::regtype::oid").fetchone()
    assert oid is not None
    register_vector(conn, oid[0])
    return conn


def copy_graph_sql() -> str:
    """The store's graph statement, for the table holding only the rows to build."""
    statement = vector_index_sql(f"{COPY}_graph", M, EF_CONSTRUCTION)
    return statement.replace(" ON memvault_memories ", f" ON {COPY} ")


def timed_build(url: str, rows: int, statement: str) -> tuple[float, float, list[tuple]]:
    """Wall and CPU seconds of one index build (its backend alone: no parallel
    workers), and its phases: (phase, wall s, CPU s) as the progress view gave them."""
    with connect(url) as conn, connect(url) as watcher:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        conn.execute("SET max_parallel_maintenance_workers = 0")
        conn.execute(build_memory_sql(rows, DIM, M, session=True))
        marks: list[tuple[str, float, float]] = []
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                found = watcher.execute(
                    "SELECT phase FROM pg_stat_progress_create_index WHERE pid = %s", (pid,)
                ).fetchone()
                phase = found[0] if found else "(no progress row: starting or ending)"
                if not marks or marks[-1][0] != phase:
                    marks.append((phase, time.perf_counter(), backend_cpu(pid)))
                done.wait(0.02)

        thread = threading.Thread(target=watch)
        started, cpu_before = time.perf_counter(), backend_cpu(pid)
        thread.start()
        conn.execute(statement)
        wall, cpu = time.perf_counter() - started, backend_cpu(pid) - cpu_before
        done.set()
        thread.join()
    ends = [*marks[1:], ("", started + wall, cpu_before + cpu)]
    phases = [(p, e[1] - t, e[2] - c) for (p, t, c), e in zip(marks, ends, strict=True)]
    return wall, cpu, phases


def builds(
    url: str, n: int, sizes: list[int], graph_sizes: list[int]
) -> tuple[dict[int, float], float]:
    """Part 1: returns the graph's CPU ms a vector by graph size, and the CPU seconds
    of a concurrent build's heap scans (the last of ``sizes``) besides its graph."""
    print(f"\n1. graphs built in bulk (m {M}, ef_construction {EF_CONSTRUCTION}, one process)")
    per_vector: dict[int, float] = {}
    scans = 0.0
    for size in sorted(set(sizes) | set(graph_sizes)):
        with connect(url) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {COPY}")
            conn.execute(
                f"CREATE TABLE {COPY} AS SELECT rowid, embedding FROM memvault_memories "
                f"WHERE rowid > {n - size}"
            )
        wall, cpu, _ = timed_build(url, size, copy_graph_sql())
        per_vector[size] = cpu * 1000 / size
        print(
            f"  graph of {size:,} rows alone (a table of just those): {wall:.1f} s, "
            f"{cpu:.1f} CPU s, {per_vector[size]:.2f} CPU ms a vector; {load()}",
            flush=True,
        )
        with connect(url) as conn:
            conn.execute(f"DROP TABLE {COPY}")
    for size in sizes:
        name = f"{SEGMENT}newest"
        where = f"rowid > {n - size} AND rowid <= {n}"
        wall, cpu, phases = timed_build(
            url, size, vector_index_sql(name, M, EF_CONSTRUCTION, concurrently=True, where=where)
        )
        with connect(url) as conn:
            conn.execute(f"DROP INDEX {name}")
        # The first heap scan is inside the build phase, with the graph: what the whole
        # build took more than the graph alone (a difference within the builds' spread
        # if small); the second is the validation's.
        validation = sum(c for phase, _, c in phases if phase.startswith("index validation"))
        scans = max(cpu - per_vector[size] * size / 1000, validation)
        print(
            f"  CREATE INDEX CONCURRENTLY over the newest {size:,} of {n:,}: {wall:.1f} s, "
            f"{cpu:.1f} CPU s ({cpu - per_vector[size] * size / 1000:+.1f} against the graph "
            f"alone); {load()}"
        )
        for phase, spent, phase_cpu in phases:
            if spent >= 0.05:
                print(f"    {phase}: {spent:.1f} s, {phase_cpu:.1f} CPU s")
    return per_vector, scans


def nearest(bounds: list[str]) -> str:
    """The k nearest through each graph named by its rowid bounds (none: the
    store's graph), merged; each hit as its bench row and distance."""
    parts = [
        f"(SELECT {ROW} AS row, embedding <=> %(q)s AS d FROM memvault_memories "
        f"{'WHERE ' + b if b else ''} ORDER BY d LIMIT {K})"
        for b in bounds or [""]
    ]
    return f"SELECT row, d FROM ({' UNION ALL '.join(parts)}) AS u ORDER BY d LIMIT {K}"


class Searcher:
    """The store's graph on one connection (ef_search 100), the segments' on another
    (ef_search as asked), one statement each; CPU of the server and this process."""

    def __init__(self, url: str, queries: np.ndarray, vectors: np.ndarray, passes: int) -> None:
        self.main, self.other = connect(url), connect(url)
        self.main.execute("SET hnsw.ef_search = 100")
        self.server = ServerCpu(self.main)
        self.queries, self.vectors, self.passes = queries, vectors, passes
        self.truth = exact_top(vectors, queries, K, np.arange(len(vectors)))

    def cpu(self) -> float:
        return self.server() + time.process_time()

    def run(self, bounds: list[str], ef: int) -> tuple[list[float], float, float, float]:
        """Latencies (ms), CPU ms a search, recall@10 of the merged answer and of the
        segments' own against exact search over their rows."""
        self.other.execute(f"SET hnsw.ef_search = {ef}")
        base, segments = nearest([]), nearest(bounds)
        rows = [
            r[0]
            for b in bounds
            for r in self.main.execute(f"SELECT {ROW} FROM memvault_memories WHERE {b}")
        ]
        inside = exact_top(self.vectors, self.queries, K, np.array(rows)) if bounds else []

        def one(q: np.ndarray) -> tuple[list, list]:
            found = self.main.execute(base, {"q": q}).fetchall()
            return found, self.other.execute(segments, {"q": q}).fetchall() if bounds else []

        for q in self.queries:
            one(q)  # warms the caches; each connection prepares its statement
        times: list[float] = []
        merged: list[float] = []
        own: list[float] = []
        before = self.cpu()
        for _ in range(self.passes):
            for i, q in enumerate(self.queries):
                started = time.perf_counter()
                found, theirs = one(q)
                times.append((time.perf_counter() - started) * 1000)
                best = sorted(dict([*found, *theirs]).items(), key=lambda hit: hit[1])[:K]
                merged.append(len({row for row, _ in best} & self.truth[i]) / K)
                if bounds:
                    own.append(len({row for row, _ in theirs} & inside[i]) / K)
        cpu_ms = (self.cpu() - before) * 1000 / len(times)
        return times, cpu_ms, float(np.mean(merged)), float(np.mean(own)) if own else 0.0

    def exact_tail(self, size: int) -> tuple[list[float], float]:
        """The newest ``size`` rows compared exactly, as vectors waiting for a graph are."""
        statement = (
            f"SELECT rowid, cosine_distance(embedding, %(q)s) AS d FROM memvault_memories "
            f"WHERE rowid > (SELECT max(rowid) FROM memvault_memories) - {size} "
            f"ORDER BY d LIMIT {K}"
        )
        for q in self.queries:
            self.main.execute(statement, {"q": q})
        times = []
        before = self.cpu()
        for q in self.queries:
            started = time.perf_counter()
            self.main.execute(statement, {"q": q}).fetchall()
            times.append((time.perf_counter() - started) * 1000)
        return times, (self.cpu() - before) * 1000 / len(self.queries)

    def close(self) -> None:
        self.main.close()
        self.other.close()


@dataclass
class SearchCost:
    """CPU ms of a search's vector part: the store's graph alone, the second statement
    that walks the segments, each segment graph more (by ef_search), each row compared
    exactly."""

    alone: float
    statement: float
    per_graph: dict[int, float]
    per_row: float


def searches(url: str, searcher: Searcher, count: int, segment: int) -> SearchCost:
    """Part 2: what each graph and each row compared exactly adds to a search."""
    bounds = [f"rowid > {i * segment} AND rowid <= {(i + 1) * segment}" for i in range(count)]
    print(
        f"\n2. k = {K} nearest, {len(searcher.queries)} real questions x {searcher.passes}: the "
        f"store's graph (ef_search 100), then with partial graphs of {segment:,} rows each "
        "(the oldest rowids: the first holds the real sentences)"
    )
    with connect(url) as conn:
        for i, where in enumerate(bounds):
            conn.execute(build_memory_sql(segment, DIM, M, session=True))
            conn.execute(vector_index_sql(f"{SEGMENT}{i}", M, EF_CONSTRUCTION, where=where))
        plan = conn.execute(f"EXPLAIN {nearest(bounds)}", {"q": searcher.queries[0]}).fetchall()
    walked = sum(f"Index Scan using {SEGMENT}" in line for (line,) in plan)
    print(f"  (the plan walks {walked} of the {count} segments' graphs)")
    cpu: dict[tuple[int, int], float] = {}
    used_counts = [0, *[c for c in (1, 2, 4, 8, 16) if c <= count]]
    for used in used_counts:
        for ef in (100, 40) if used else (100,):
            times, cpu[used, ef], merged, own = searcher.run(bounds[:used], ef)
            print(
                f"  {used:>2} segment(s), ef_search {ef:>3}: {summary(times)}, "
                f"{cpu[used, ef]:5.1f} CPU ms a search, recall@10 {merged:.3f}"
                + (f" (the segments' own {own:.3f})" if used else "")
                + f"; {load()}",
                flush=True,
            )
    alone, most = cpu[0, 100], used_counts[-1]
    # Each graph more: the slope from one segment to the most; the rest of the first
    # one's cost is its statement's (one statement walking every graph would not pay it).
    per_graph = {ef: (cpu[most, ef] - cpu[1, ef]) / max(most - 1, 1) for ef in (100, 40) if most}
    statement = max(cpu[1, 40] - alone - per_graph[40], 0.0) if most else 0.0
    print(
        "  each segment graph more: "
        + ", ".join(f"{ms:.2f} CPU ms at ef_search {ef}" for ef, ms in per_graph.items())
        + f"; the segments' statement {statement:.2f}"
    )
    tails = []
    for size in (segment // 2, segment):
        times, tail_ms = searcher.exact_tail(size)
        tails.append(tail_ms)
        print(
            f"  the newest {size:,} rows compared exactly, alone: {summary(times)}, "
            f"{tail_ms:.1f} CPU ms a search; {load()}"
        )
    per_row = (tails[1] - tails[0]) / (segment - segment // 2)
    return SearchCost(alone, statement, per_graph, per_row)


def build_cost(per_vector: dict[int, float]) -> Callable[[float], float]:
    """CPU ms a vector of a graph of ``size`` rows, fitted as a + b ln(size)."""
    sizes = sorted(per_vector)
    if len(sizes) == 1:
        return lambda _size: per_vector[sizes[0]]
    b, a = np.polyfit(np.log(sizes), [per_vector[s] for s in sizes], 1)
    return lambda size: float(a + b * math.log(size))


def arithmetic(
    n: int,
    rate: int,
    cost: Callable[[float], float],
    scans_s: float,
    search: SearchCost,
    schemes: list[tuple[int, int]],
) -> None:
    """Part 3: the cores a tiered scheme needs to write and index ``rate`` a second,
    and what a search then walks."""
    print(
        f"\n3. {rate:,} memories/s at {n:,}, each vector built once per tier (graph CPU ms a "
        f"vector fitted a + b ln(size): {cost(20_000):.2f} at 20,000, {cost(n):.2f} at {n:,}); "
        f"writes {WRITE_MS} CPU ms a memory; a concurrent build's heap scans {scans_s:.1f} "
        "CPU s each (none when each segment is a partition of its own)"
    )
    writes = rate * WRITE_MS / 1000
    per_graph = search.per_graph.get(40, 0.0)
    for n0, tiers in schemes:
        sizes = [n0 * tiers**level for level in range(math.ceil(math.log(n / n0, tiers)))]
        first = rate * cost(n0) / 1000
        merges = rate * sum(cost(s) for s in [*sizes[1:], n]) / 1000
        scans = sum(rate / s for s in [*sizes, n]) * scans_s
        most = (tiers - 1) * len(sizes)
        # Half the graphs a tier may hold and half a segment waiting, on average.
        typical = search.alone + search.statement + most / 2 * per_graph + n0 / 2 * search.per_row
        worst = search.alone + search.statement + most * per_graph + n0 * search.per_row
        print(
            f"  segment {n0:,}, tier {tiers}: {len(sizes) + 1} builds a vector "
            f"({', '.join(f'{s:,}' for s in [*sizes, n])}); cores: writes {writes:.2f} + "
            f"segments {first:.2f} + merges {merges:.2f} = {writes + first + merges:.2f} "
            f"(+ {scans:.2f} for the heap scans, one table); a search walks up to {most + 1} "
            f"graphs and {n0:,} rows exactly: vector part about {typical:.0f} CPU ms "
            f"(at most {worst:.0f}; the store's graph alone {search.alone:.1f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reuse", type=Path, required=True, help="a kept store (it is changed)")
    parser.add_argument("--n", type=int, default=1_000_000, help="memories it holds")
    parser.add_argument("--sample", type=int, default=5_000, help="real MiniLM vectors")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--passes", type=int, default=2, help="over the questions, timed")
    parser.add_argument("--builds", default="20000,50000", help="CONCURRENTLY over the newest")
    parser.add_argument("--graph-sizes", default="20000,50000,100000")
    parser.add_argument("--segment", type=int, default=20_000, help="rows of a search's segment")
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--rate", type=int, default=1_000, help="memories/s to index")
    parser.add_argument("--schemes", default="5000:4,20000:4,20000:10,50000:4")
    parser.add_argument("--shared-buffers", default="5GB")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the server on the way out

    _, sentence_vectors = real_vectors(args.sample + args.queries)
    queries = sentence_vectors[args.sample :]
    vectors = all_vectors(args.n, sentence_vectors[: args.sample])
    server = start_server(
        argparse.Namespace(
            reuse=args.reuse, keep=None, shared_buffers=args.shared_buffers, build_workers=0
        )
    )
    url = server.url("bench")
    print(f"PostgreSQL store {args.reuse}, n={args.n:,}; {load()} on {os.cpu_count()} cores")
    try:
        with connect(url) as conn:
            held = conn.execute("SELECT count(*), max(rowid) FROM memvault_memories").fetchone()
            if held is None or held[0] != args.n or held[1] != args.n:
                raise SystemExit(f"{args.reuse} holds {held} memories and rowids, not {args.n:,}")
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            conn.execute(
                "SELECT pg_prewarm('memvault_memories_embedding'), pg_prewarm('memvault_memories')"
            )
        per_vector, scans = builds(
            url,
            args.n,
            [int(x) for x in args.builds.split(",")],
            [int(x) for x in args.graph_sizes.split(",")],
        )
        searcher = Searcher(url, queries, vectors, args.passes)
        try:
            search = searches(url, searcher, args.segments, args.segment)
        finally:
            searcher.close()
        schemes = [(int(a), int(b)) for a, b in (s.split(":") for s in args.schemes.split(","))]
        arithmetic(args.n, args.rate, build_cost(per_vector), scans, search, schemes)
    finally:
        with connect(url) as conn:
            for i in range(args.segments):
                conn.execute(f"DROP INDEX IF EXISTS {SEGMENT}{i}")
            conn.execute(f"DROP INDEX IF EXISTS {SEGMENT}newest")
            conn.execute(f"DROP TABLE IF EXISTS {COPY}")
        print(f"{load()} at the end")
        server.cleanup()


if __name__ == "__main__":
    main()
