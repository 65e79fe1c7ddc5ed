"""What a namespace costs in the SQLite file, and search within one. Prints; asserts nothing.

    python bench/namespaces.py [--namespaces 10000] [--per 10] [--queries 200] [--vectors int8]

Fills two fresh stores with the same memories (synthetic notes, random unit
vectors, so no model runs): one with ``--namespaces`` namespaces of ``--per``
memories each, one with all of them in a single namespace. The difference in
file size (after ``optimize``) is what the namespaces themselves cost; the
rest is the memories (a 384-d vector is 768 bytes as float16, 388 as int8:
``--vectors``, the stores' precision). Then search p50 within one namespace
of the many: the vector and word rankings a search fuses, without the
query's embedding.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ingest_search import pct, texts
from memvault.config import DEFAULT_SQLITE_VECTORS, Settings
from memvault.model import EmbeddingSpec, Filter, Memory
from memvault.search.text import query_terms
from memvault.stores.sqlite.store import SqliteStore

SPEC = EmbeddingSpec("all-MiniLM-L6-v2", 384)


def fill(path: Path, namespaces: int, per: int, vectors: str) -> SqliteStore:
    """A store of ``namespaces * per`` memories; the same texts and vectors whatever the split."""
    store = SqliteStore.from_url(f"sqlite://{path}?vectors={vectors}", Settings.from_env())
    store.bind_embedding(SPEC)
    rng = np.random.default_rng(3)
    total = namespaces * per
    notes = texts(total)
    for start in range(0, total, 5000):
        part = range(start, min(start + 5000, total))
        vectors = rng.standard_normal((len(part), SPEC.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.add(
            [
                Memory(
                    content=notes[i],
                    embedding=v,
                    namespace=f"user-{i // per}" if namespaces > 1 else "everyone",
                )
                for i, v in zip(part, vectors, strict=True)
            ]
        )
        print(f"  {part.stop}/{total}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    store.optimize()
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--namespaces", type=int, default=10_000)
    parser.add_argument("--per", type=int, default=10, help="memories in each namespace")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--vectors", choices=["float16", "int8"], default=DEFAULT_SQLITE_VECTORS, help="precision"
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="memvault-namespaces-"))
    total = args.namespaces * args.per

    started = time.perf_counter()
    many = fill(workdir / "many.db", args.namespaces, args.per, args.vectors)
    print(
        f"{args.namespaces} namespaces of {args.per}: filled in "
        f"{time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    one = fill(workdir / "one.db", 1, total, args.vectors)
    many_size, one_size = many.size_bytes() or 0, one.size_bytes() or 0
    print(f"memories                {total:10d}   vectors {args.vectors}")
    print(f"file, {args.namespaces} namespaces {many_size / 1e6:9.1f} MB")
    print(f"file, one namespace     {one_size / 1e6:9.1f} MB")
    print(
        f"per namespace           {(many_size - one_size) / args.namespaces / 1e3:9.2f} KB"
        f"   per memory {one_size / total / 1e3:.2f} KB"
    )
    one.close()

    rng = np.random.default_rng(11)
    questions = [query_terms(q) for q in texts(args.queries, seed=99)]
    vector_s, word_s = [], []
    for i in range(args.queries):
        flt = Filter(namespace=f"user-{int(rng.integers(args.namespaces))}")
        vector = rng.standard_normal(SPEC.dimension).astype(np.float32)
        vector /= np.linalg.norm(vector)
        # The first search loads the in-process indexes: not counted.
        many.vector_search(vector, 10, flt)
        start = time.perf_counter()
        many.vector_search(vector, 10, flt)
        vector_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        many.text_search(questions[i], 10, flt)
        word_s.append(time.perf_counter() - start)
    print(f"vector search p50       {pct(vector_s, 50):9.2f} ms  (one namespace of the many)")
    print(f"word search p50         {pct(word_s, 50):9.2f} ms")
    many.close()


if __name__ == "__main__":
    main()
