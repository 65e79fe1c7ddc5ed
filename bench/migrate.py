"""Migration, export and import figures. Prints memories/s; asserts nothing.

    python bench/migrate.py --n 100000 [--postgres-url postgresql://...]

A SQLite store is filled with ``--n`` memories carrying precomputed unit
vectors (no model runs, so the figures are about moving data), then moved
sqlite -> chroma (embedded), chroma -> sqlite, sqlite -> postgres (when a URL
is given), and written to and read back from a dump. Each move is timed
without its verification pass, which is timed on its own. Besides wall-clock
rates it prints memories per CPU-second of this process (all its threads),
which says more than the wall clock on a machine shared with other work.
Into PostgreSQL, the HNSW build the bulk load logs is then set beside plain
``CREATE INDEX`` builds on the same rows with the same settings.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's memvault

from memvault.config import Settings
from memvault.model import EmbeddingSpec, Filter, Memory
from memvault.stores import open_store
from memvault.stores.postgres import bulk_load
from memvault.stores.postgres.schema import VECTOR_INDEX, vector_index_sql
from memvault.transfer.backup import DumpSource, export_dump
from memvault.transfer.migrate import migrate
from memvault.transfer.source import EVERYTHING
from memvault.transfer.verify import compare, inventory

SPEC = EmbeddingSpec("all-MiniLM-L6-v2", 384)
WORDS = (
    "alice bob team client prefers scheduled cancelled approved report database "
    "migration standup menu server budget launch upgrade python lisbon friday"
).split()


def fill(url: str, n: int, batch: int = 2000) -> None:
    rng = np.random.default_rng(7)
    pick = random.Random(7)
    store = open_store(url)
    store.bind_embedding(SPEC)
    for start in range(0, n, batch):
        size = min(batch, n - start)
        vectors = rng.standard_normal((size, SPEC.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.add(
            [
                Memory(
                    content=" ".join(pick.choices(WORDS, k=12)) + f" (note {start + i})",
                    namespace=("alice", "bob", "default")[i % 3],
                    tags=(f"t{i % 20}", "bench"),
                    metadata={"i": start + i},
                    embedding=vectors[i],
                )
                for i in range(size)
            ]
        )
    store.close()


class CopyClock:
    """A Progress that notes when the copy itself ends: what follows it until
    migrate() returns is the target finishing a bulk load (PostgreSQL's HNSW build)."""

    def __init__(self) -> None:
        self.copied_at: float | None = None

    def start(self, label: str, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        self.copied_at = time.perf_counter()


def move(label: str, source, target, n: int, settings: Settings, batch: int) -> None:
    clock = CopyClock()
    started, cpu = time.perf_counter(), time.process_time()
    report = migrate(
        DumpSource(source) if source.endswith(".gz") else source,
        target,
        settings=settings,
        batch_size=batch,
        verify=False,
        progress=clock,
    )
    ended = time.perf_counter()
    took, cpu = ended - started, time.process_time() - cpu
    assert report.moved == n, report.to_dict()
    checking = time.perf_counter()
    src = DumpSource(source) if source.endswith(".gz") else open_store(source)
    dst = open_store(target)
    result = compare(inventory(src, EVERYTHING), inventory(dst, EVERYTHING), exact=True)
    checked = time.perf_counter() - checking
    src.close()
    dst.close()
    print(
        f"{label:<24} {n / took:>8.0f} memories/s  {n / cpu:>8.0f} per CPU-s  "
        f"({took:6.1f} s; verification {checked:5.1f} s, "
        f"{'same' if result.ok else 'DIFFERENT'})"
    )
    if clock.copied_at is not None and ended - clock.copied_at > 1:
        print(
            f"{'':<24} of which copying {clock.copied_at - started:.1f} s, then finishing "
            f"the bulk load (word counts, VACUUM ANALYZE, HNSW build) "
            f"{ended - clock.copied_at:.1f} s"
        )
    sys.stdout.flush()


class BuildLog(logging.Handler):
    """Keeps what the bulk load logs of its CREATE INDEX: seconds, maintenance_work_mem,
    max_parallel_maintenance_workers."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.built: tuple[float, str, str] | None = None
        logging.getLogger(bulk_load.__name__).addHandler(self)
        logging.getLogger(bulk_load.__name__).setLevel(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        # The bulk load logs other steps too (a rewrite in write order, namespace graphs).
        if record.msg == bulk_load.BUILT:
            _, seconds, memory, workers = record.args  # type: ignore[misc]
            self.built = (seconds, memory, workers)


def plain_index_build(url: str, built: tuple[float, str, str], runs: int = 3) -> None:
    """Build the HNSW index again with a plain CREATE INDEX on the same rows, with the
    settings the bulk load's build had, from the same state: the table vacuumed and
    no autovacuum running. Prints each build beside the migration's: on a shared machine
    one build varies by a tenth or more from the next, so one ratio says little alone."""
    seconds, memory, workers = built
    store = open_store(url)
    options = store.options
    store.close()
    took = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT set_config('maintenance_work_mem', %s, false)", (memory,))
        conn.execute("SELECT set_config('max_parallel_maintenance_workers', %s, false)", (workers,))
        for _ in range(runs):
            while conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            ).fetchone()[0]:
                time.sleep(0.5)
            conn.execute(f"DROP INDEX {VECTOR_INDEX}")
            started = time.perf_counter()
            conn.execute(
                vector_index_sql(VECTOR_INDEX, options.hnsw_m, options.hnsw_ef_construction)
            )
            took.append(time.perf_counter() - started)
    plain = statistics.median(took)
    print(
        f"{'':<24} HNSW build (maintenance_work_mem {memory}, {workers} parallel workers): "
        f"in the migration {seconds:.1f} s; plain CREATE INDEX on the same rows and settings "
        f"{', '.join(f'{t:.1f}' for t in took)} s: {seconds / plain:.2f}× their median; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--postgres-url", help="also move sqlite -> this PostgreSQL database")
    parser.add_argument("--no-chroma", action="store_true", help="skip the moves through Chroma")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="memvault-bench-migrate-"))
    settings = Settings.from_env({"MEMVAULT_DATA_DIR": str(work / "data")})
    sqlite = f"sqlite://{work / 'source.db'}"
    chroma = f"chroma://{work / 'chroma'}?collection=bench"

    started, cpu = time.perf_counter(), time.process_time()
    fill(sqlite, args.n)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"n={args.n}  batch={args.batch_size}  load average {os.getloadavg()[0]:.1f}  "
        f"work dir {work}"
    )
    print(f"{'filled sqlite':<24} {args.n / took:>8.0f} memories/s  {args.n / cpu:>8.0f} per CPU-s")
    if not args.no_chroma:
        move("sqlite -> chroma", sqlite, chroma, args.n, settings, args.batch_size)
        move(
            "chroma -> sqlite",
            chroma,
            f"sqlite://{work / 'back.db'}",
            args.n,
            settings,
            args.batch_size,
        )
    if args.postgres_url:
        build_log = BuildLog()
        move("sqlite -> postgres", sqlite, args.postgres_url, args.n, settings, args.batch_size)
        if build_log.built is None:
            print(f"{'':<24} (no HNSW build: the move did not use the bulk load)")
        else:
            plain_index_build(args.postgres_url, build_log.built)

    dump = work / "all.jsonl.gz"
    store = open_store(sqlite)
    started, cpu = time.perf_counter(), time.process_time()
    written = export_dump(store, dump)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    store.close()
    print(
        f"{'export (dump)':<24} {written / took:>8.0f} memories/s  {written / cpu:>8.0f} "
        f"per CPU-s  ({took:6.1f} s, {dump.stat().st_size / 2**20:.0f} MB)"
    )
    move(
        "import (dump -> sqlite)",
        str(dump),
        f"sqlite://{work / 'imported.db'}",
        args.n,
        settings,
        args.batch_size,
    )
    count = open_store(f"sqlite://{work / 'imported.db'}").count(Filter(namespace=None))
    print(
        f"imported {count}; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}"
        " MB"
    )


if __name__ == "__main__":
    main()
