"""Ingest and search figures for the core. Prints; asserts nothing.

    python bench/ingest_search.py --n 1000|10000|100000 [--store-url URL]
                                  [--runtimes onnx-int8,onnx,torch] [--texts FILE]

Up to ``--embed-limit`` texts are embedded by the real model (raw encode rate,
``store_many`` rate, the ratio of the two). Beyond that the store is filled with
precomputed vectors so a 100k run finishes in minutes: each extra memory gets a
real vector of one of the embedded texts plus small Gaussian noise,
re-normalized, which keeps the clustered shape of real embeddings (random unit
vectors would make every neighbour equally far). Then, on the full store:
the queries' embedding time alone, search p50/p95 with and without a cached
query vector, filtered search p50, the
vector part alone with recall@10 against exact search, single ``store`` p50,
peak RSS and file size. With several ``--runtimes`` (embedding runtimes), the
whole run is repeated for each and a table compares them.

The default texts are synthetic notes from a deliberately small vocabulary
(every content word is in about a tenth of all memories), the worst case for
the full-text side, which ranks every memory holding any query word.
``--texts`` takes real text instead: a JSON Lines file (gzip or not) of
objects with a ``content`` field, such as LongMemEval's ``memories.jsonl.gz``;
the queries are the first dozen words of held-out lines.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from memvault import Filter, Memory, Vault
from memvault.config import Settings
from memvault.embedding import QueryCache

SUBJECTS = [
    "Alice",
    "Bob",
    "the team",
    "my manager",
    "the client",
    "our landlord",
    "Dr. Chen",
    "the vendor",
    "my sister",
    "the new intern",
]
VERBS = [
    "prefers",
    "asked about",
    "scheduled",
    "cancelled",
    "recommended",
    "complained about",
    "approved",
    "forgot",
    "moved",
    "is worried about",
]
OBJECTS = [
    "the quarterly report",
    "tabs over spaces",
    "a trip to Lisbon",
    "the database migration",
    "weekly standups",
    "a vegetarian menu",
    "the staging server",
    "the budget review",
    "a dentist appointment",
    "the API rate limits",
    "the kitchen renovation",
    "a Python 3.12 upgrade",
    "the marketing launch",
    "a birthday party",
]
WHENS = [
    "on Monday",
    "next week",
    "in March",
    "after lunch",
    "before the release",
    "yesterday",
    "every Friday",
    "at 9:30",
    "last month",
    "tomorrow morning",
]


def texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
        f"{rng.choice(WHENS)} (note {i})"
        for i in range(n)
    ]


def real_texts(path: Path, n: int, queries: int) -> tuple[list[str], list[str]]:
    """``n`` distinct contents from ``path``, and ``queries`` held-out ones cut to 12 words."""
    seen: dict[str, None] = {}
    with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            content = json.loads(line).get("content", "").strip()
            if content:
                seen[content] = None
            if len(seen) >= n + queries:
                break
    contents = list(seen)
    if len(contents) < n + queries:
        sys.exit(f"{path} has {len(contents)} distinct contents; --n {n} needs {n + queries}")
    return contents[:n], [" ".join(t.split()[:12]) for t in contents[n:]]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def timed(fn, *args, **kw) -> float:
    start = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--store-url", help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--embed-limit", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--texts",
        type=Path,
        help="JSON Lines of {'content': ...} to use instead of the synthetic notes",
    )
    parser.add_argument(
        "--runtimes",
        default=Settings.from_env().embedding_runtime,
        help="comma-separated embedding runtimes to compare "
        "(auto, onnx-int8, onnx, torch); default: the configured one",
    )
    args = parser.parse_args()
    rows = {runtime: run(args, runtime) for runtime in args.runtimes.split(",")}
    if len(rows) > 1:
        print_table(rows)


def run(args: argparse.Namespace, runtime: str) -> dict[str, float | str]:
    """Every figure for one embedding runtime, on a fresh store; printed and returned."""
    workdir = Path(tempfile.mkdtemp(prefix="memvault-bench-"))
    url = args.store_url or f"sqlite://{workdir / 'bench.db'}"
    # A fresh data directory for the store, but the usual model cache: no re-export.
    models = Settings.from_env().model_cache_dir
    settings = Settings.from_env(
        {
            "MEMVAULT_DATA_DIR": str(workdir),
            "MEMVAULT_MODEL_CACHE_DIR": str(models),
            "MEMVAULT_EMBEDDING_RUNTIME": runtime,
        }
    )
    vault = Vault.open(url, settings=settings)
    if args.texts:
        corpus, queries = real_texts(args.texts, args.n, args.queries)
    else:
        corpus, queries = texts(args.n), texts(args.queries, seed=99)
    embedded = corpus[: min(args.n, args.embed_limit)]
    vault.embedder.load()
    print(
        f"store {url}  n={args.n}  embedded by the model={len(embedded)}  "
        f"runtime={vault.embedder.runtime}  texts={args.texts or 'synthetic'}"
    )
    vault.embedder.embed(["warm up"] * 8)
    cpu = time.process_time()
    # The same texts as store_many below, so the ratio compares like with like.
    raw = timed(vault.embedder.embed, embedded)
    # CPU seconds (all threads) are far less disturbed than wall time on a shared machine.
    cpu_per_1k = (time.process_time() - cpu) * 1000 / len(embedded)
    raw_rate = len(embedded) / raw
    stored = timed(
        vault.store_many, [{"content": t, "tags": [f"t{i % 10}"]} for i, t in enumerate(embedded)]
    )
    many_rate = len(embedded) / stored
    print(
        f"raw encode       {raw_rate:8.0f} texts/s (the embedder's batches: "
        f"{'64, torch' if vault.embedder.runtime == 'torch' else '32, length-sorted'}; "
        f"{cpu_per_1k:.1f} CPU s per 1000 texts)"
    )
    print(f"store_many       {many_rate:8.0f} memories/s   ratio {many_rate / raw_rate:.2f}")

    base = vault.embedder.embed(embedded[:512])
    fill_with_precomputed(vault, corpus[len(embedded) :], base)
    print(f"filled           {vault.count()} memories")

    single = [
        timed(vault.store, f"single store probe {i} about {OBJECTS[i % len(OBJECTS)]}")
        for i in range(30)
    ]
    one_text = [timed(vault.embedder.embed, [f"one text probe {i}"]) for i in range(30)]
    print(
        f"single store p50 {pct(single, 50):8.1f} ms   (one-text encode p50 "
        f"{pct(one_text, 50):.1f} ms)"
    )

    # A running server has read the store's vectors and the words' postings
    # before; the first pass over new words reads them (~0.6 ms a word here).
    # Warm them, then drop the query vectors so that the timed pass embeds.
    for q in queries:
        vault.search(q, k=10)
    vault.searcher.queries = QueryCache(vault.embedder, vault.settings.query_cache_size)
    # A search is compared with its query's embedding time alone. Ten
    # queries are embedded alone (the query cache untouched), then searched
    # uncached, and so on in turn: this machine's speed drifts by the minute,
    # and the two figures must share its phases.
    query_embed, cold = [], []
    for start in range(0, len(queries), 10):
        block = queries[start : start + 10]
        query_embed += [timed(vault.embedder.embed, [q]) for q in block]
        cold += [timed(vault.search, q, k=10) for q in block]
    warm = [timed(vault.search, q, k=10) for q in queries]
    filtered = [timed(vault.search, q, k=10, filter={"tags_any": ["t3"]}) for q in queries]
    print(f"query embedding  p50 {pct(query_embed, 50):6.1f} ms  (the same queries, alone)")
    # The words are ranked while the query is embedded, so a search no longer
    # splits into the two; what it adds is compared with the embedding alone.
    print(
        f"search uncached  p50 {pct(cold, 50):6.1f} ms  p95 {pct(cold, 95):6.1f} ms"
        f"  (the query embedding + {pct(cold, 50) - pct(query_embed, 50):.1f} ms)"
    )
    print(f"search cached    p50 {pct(warm, 50):6.1f} ms  p95 {pct(warm, 95):6.1f} ms")
    print(f"filtered search  p50 {pct(filtered, 50):6.1f} ms  (tag on ~10%)")

    # Peak RSS before the recall check, which holds a second copy of every vector.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    vector_part(vault, queries)
    size = vault.store_backend.size_bytes() or 0
    print(f"peak RSS         {rss:8.0f} MB")
    print(f"store size       {size / 1e6:8.1f} MB")
    vault.close()
    return {
        "runtime": vault.embedder.runtime,
        "raw encode /s": raw_rate,
        "CPU s / 1k texts": cpu_per_1k,
        "store_many /s": many_rate,
        "one query ms": pct(one_text, 50),
        "store p50 ms": pct(single, 50),
        "query embed ms": pct(query_embed, 50),
        "search p50 ms": pct(cold, 50),
    }


def print_table(rows: dict[str, dict[str, float | str]]) -> None:
    """One line per runtime (peak RSS is the process's, so it is left out)."""
    columns = list(next(iter(rows.values())))
    print("\n| asked | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for asked, row in rows.items():
        cells = [
            v if isinstance(v, str) else f"{v:.1f}" if v < 100 else f"{v:.0f}" for v in row.values()
        ]
        print(f"| {asked} | " + " | ".join(cells) + " |")


def fill_with_precomputed(vault: Vault, rest: list[str], base: np.ndarray) -> None:
    if not rest:
        return
    rng = np.random.default_rng(3)
    store = vault.store_backend
    started = time.perf_counter()
    for start in range(0, len(rest), 5000):
        part = rest[start : start + 5000]
        picks = base[rng.integers(0, len(base), len(part))]
        vecs = picks + rng.normal(0, 0.04, picks.shape).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        store.add(
            [
                Memory(content=t, tags=(f"t{(start + i) % 10}",), embedding=v)
                for i, (t, v) in enumerate(zip(part, vecs, strict=True))
            ]
        )
        print(f"  precomputed {start + len(part)}/{len(rest)}", file=sys.stderr, end="\r")
    print(
        f"  precomputed fill {len(rest) / (time.perf_counter() - started):.0f} memories/s",
        file=sys.stderr,
    )


def vector_part(vault: Vault, queries: list[str]) -> None:
    """The nearest-neighbour step alone, and its recall@10 against exact search."""
    store = vault.store_backend
    flt = Filter.build(namespace=vault.settings.namespace)
    # The store searches chunks of long memories too: so does the exact baseline.
    everything = [
        m
        for batch, _ in store.scan(flt.with_changes(include_chunks=True), batch_size=5000)
        for m in batch
    ]
    matrix = np.stack([m.embedding for m in everything])
    ids = [m.id for m in everything]
    times, recalls = [], []
    for q in queries[:50]:
        vec = vault.queries.vector(q)
        start = time.perf_counter()
        got = store.vector_search(vec, 10, flt)
        times.append(time.perf_counter() - start)
        exact = {ids[i] for i in np.argsort(-(matrix @ vec))[:10]}
        recalls.append(len(exact & {c.id for c in got}) / 10)
    print(
        f"vector part      p50 {pct(times, 50):6.1f} ms  p95 {pct(times, 95):6.1f} ms  "
        f"recall@10 {statistics.mean(recalls):.3f}"
    )


if __name__ == "__main__":
    main()
