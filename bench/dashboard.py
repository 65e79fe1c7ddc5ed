"""Dashboard page render times on a large store. Prints; asserts nothing.

    python bench/dashboard.py --n 100000 [--reps 15]

Fills a fresh SQLite store as ``ingest_search.py`` does (the first
``--embed-limit`` notes embedded by the real model, the rest given a noisy copy
of one of their vectors), then requests each page of the dashboard through the
app in process (``TestClient``: routing, the access check, the Vault calls and
the template, no socket) and prints the median and p95 of each. For the search
page it also times the search the page shows (``Vault.search`` with the same
query, k and filter, its query vector cached as the page's is), so the page's
own cost is the difference.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from ingest_search import fill_with_precomputed, texts
from memvault import Vault
from memvault.config import Settings
from memvault.server import build_app
from memvault.web.browse import PAGE

QUERY = "Alice scheduled the database migration"


def timings(fn, reps: int) -> list[float]:
    fn()  # warm: caches, templates compiled, query vector embedded
    out = []
    for _ in range(reps):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--embed-limit", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="memvault-bench-"))
    settings = Settings.from_env(
        {
            "MEMVAULT_DATA_DIR": str(workdir),
            "MEMVAULT_MODEL_CACHE_DIR": str(Settings.from_env().model_cache_dir),
        }
    )
    vault = Vault.open(f"sqlite://{workdir / 'bench.db'}", settings=settings)
    corpus = texts(args.n)
    embedded = corpus[: min(args.n, args.embed_limit)]
    vault.store_many([{"content": t, "tags": [f"t{i % 10}"]} for i, t in enumerate(embedded)])
    base = np.vstack(
        [
            m.embedding
            for m in vault.store_backend.get_many(
                [m.id for m in vault.list(limit=min(1000, len(embedded))).memories],
                with_embedding=True,
            )
        ]
    )
    fill_with_precomputed(vault, corpus[len(embedded) :], base)
    print(f"{vault.count()} memories in {workdir / 'bench.db'}")
    client = TestClient(
        build_app(vault), base_url="http://127.0.0.1:8000", client=("127.0.0.1", 50000)
    )
    newest = client.get("/").text
    while "Counting the memories" in client.get("/analytics").text:
        time.sleep(0.5)  # the first visit counts in the background; time the pages after
    cursor = newest.split("cursor=", 1)[1].split('"', 1)[0].replace("&amp;", "&")
    some = vault.list(limit=1).memories[0].id
    pages = {
        "/ (newest)": "/",
        "/ (page 2)": f"/?cursor={cursor}",
        f"/?q= ({PAGE} hits)": f"/?q={QUERY}",
        "/?q= tag filter": f"/?q={QUERY}&tags=t3",
        "/memories/{id}": f"/memories/{some}",
        "/defrag": "/defrag",
        "/upkeep": "/upkeep",
        "/upkeep/archive preview": "/upkeep/archive?older_than=1d&tags=t3",
        "/operations": "/operations",
        "/analytics": "/analytics",
        "/health": "/health",
        "/docs": "/docs",
    }
    print("\n| page | p50 ms | p95 ms |\n|---|---:|---:|")
    for name, path in pages.items():

        def get(path: str = path) -> None:
            reply = client.get(path)
            assert reply.status_code == 200, (path, reply.status_code, reply.text[:300])

        ms = timings(get, args.reps)
        print(f"| `{name}` | {statistics.median(ms):.1f} | {np.percentile(ms, 95):.1f} |")
        sys.stdout.flush()
    for label, flt in (("", None), (" tag filter", {"tags_any": ["t3"]})):
        search = timings(lambda flt=flt: vault.search(QUERY, k=PAGE, filter=flt), args.reps)
        print(
            f"| `Vault.search` alone{label} (k={PAGE}) | {statistics.median(search):.1f} | "
            f"{np.percentile(search, 95):.1f} |"
        )
    vault.close()


if __name__ == "__main__":
    main()
