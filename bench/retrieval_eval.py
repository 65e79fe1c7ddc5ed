"""Retrieval quality on a LongMemEval-style folder, through the public Vault API.

    python bench/retrieval_eval.py ../shared/data/longmemeval-s60

The folder holds ``memories.jsonl.gz`` and ``queries.jsonl.gz`` in the format
described in ``../shared/data/README.md``. Each query's space is loaded into
its own namespace with ``Vault.store_many`` and searched with ``Vault.search``.
Prints turn-level recall@1/5/10, session-level recall@5/10, MRR@10 and nDCG@10
(turn and session level), overall and per question type, plus the ingest rate
and search latency.

Ingesting ~29k turns with the torch model takes long on a small machine, so
the ingested store is kept and reused (``--store-url-template``, keyed by the
data and the settings that shape the index), and document vectors are cached
on disk by model and exact text (``--embedding-cache``), so a re-ingest after
a change to the index costs only the writes. ``--config`` evaluates other
search settings (``memvault.search.hybrid.SearchSettings``) on the same store:

    --config default --config text --config vector \\
    --config "equal-rrf:text_weight=1,chunk_margin=0"
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import memvault
from embedding_cache import CachedEmbedder
from memvault import Vault
from memvault.chunking import window_chars
from memvault.config import Settings
from memvault.embedding import Embedder, open_embedder
from memvault.model import content_hash, to_utc
from memvault.search.hybrid import SearchSettings

WORK_DIR = Path("/tmp/memvault-bench")
PRESETS = {
    # Each part alone, through the same fusion code: the other list weighs
    # nothing, and the words are plain BM25 (no next match's credit).
    "vector": {"text_weight": 0.0},
    "text": {"vector_weight": 0.0, "context_weight": 0.0},
    "default": {},
}


@dataclass
class Dataset:
    """Memories per space, the queries, and how a data id maps to the stored memory."""

    memories: dict[str, list[dict[str, Any]]]
    queries: list[dict[str, Any]]
    fingerprint: str
    stored_id: dict[str, str] = field(default_factory=dict)
    sessions_of: dict[str, set[str]] = field(default_factory=dict)


def read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def data_file(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.jsonl.gz", f"{stem}.jsonl"):
        if (folder / name).exists():
            return folder / name
    sys.exit(f"{folder} has no {stem}.jsonl.gz or {stem}.jsonl")


def spread_by_type(queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Queries in round-robin order over question types, so a prefix covers every type."""
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for query in queries:
        by_type[query.get("question_type", "all")].append(query)
    ordered = []
    while any(by_type.values()):
        for kind in sorted(by_type):
            if by_type[kind]:
                ordered.append(by_type[kind].pop(0))
    return ordered


def load_dataset(folder: Path, limit: int | None) -> Dataset:
    memories_path, queries_path = data_file(folder, "memories"), data_file(folder, "queries")
    queries = spread_by_type(list(read_jsonl(queries_path)))[:limit]
    spaces = {q["space"] for q in queries}
    memories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in read_jsonl(memories_path):
        space = item["metadata"]["space"]
        if space in spaces:
            memories[space].append(item)
    digest = hashlib.sha256()
    for path in (memories_path, queries_path):
        digest.update(path.read_bytes())
    digest.update(",".join(sorted(spaces)).encode())
    data = Dataset(dict(memories), queries, digest.hexdigest()[:16])
    # The Vault keeps the first of identical contents in a namespace; a later
    # copy is found as that first memory, which stands for all its sessions.
    for items in data.memories.values():
        first: dict[str, str] = {}
        for item in items:
            kept = first.setdefault(content_hash(item["content"]), item["id"])
            data.stored_id[item["id"]] = kept
            data.sessions_of.setdefault(kept, set()).add(item["metadata"]["session"])
    return data


def ingest(vault: Vault, data: Dataset) -> dict[str, Any]:
    """Store every space's memories in its own namespace; already stored ones are skipped."""
    total = sum(len(items) for items in data.memories.values())
    done, started = 0, time.perf_counter()
    for space, items in data.memories.items():
        rows = [{key: item[key] for key in ("id", "content", "tags", "memory_type", "metadata",
                                            "created_at") if key in item} for item in items]
        vault.store_many(rows, namespace=space)
        done += len(rows)
        elapsed = time.perf_counter() - started
        print(f"\r  ingested {done}/{total} memories, {done / elapsed:.1f}/s", end="",
              file=sys.stderr, flush=True)
    print(file=sys.stderr)
    seconds = time.perf_counter() - started
    return {"memories": total, "seconds": round(seconds, 1),
            "memories_per_s": round(total / seconds, 1)}


def dcg(gains: list[int]) -> float:
    return sum(g / math.log2(rank + 2) for rank, g in enumerate(gains))


def score_query(data: Dataset, query: dict[str, Any], ranked: list[str]) -> dict[str, float]:
    """Every metric for one query; ``ranked`` are stored memory ids, best first."""
    relevant = {data.stored_id.get(i, i) for i in query.get("relevant_ids", [])}
    relevant_sessions = set(query.get("relevant_sessions", []))
    out: dict[str, float] = {}
    top = ranked[:10]
    credited: set[str] = set()
    session_gains = []
    for memory_id in top:
        fresh = (data.sessions_of.get(memory_id, set()) & relevant_sessions) - credited
        session_gains.append(1 if fresh else 0)
        credited |= fresh
    out["S@5"] = float(any(session_gains[:5]))
    out["S@10"] = float(any(session_gains))
    ideal = dcg([1] * min(len(relevant_sessions), 10))
    out["sNDCG@10"] = dcg(session_gains) / ideal if ideal else 0.0
    if relevant:  # turn-level scores skip queries without labelled turns
        gains = [1 if i in relevant else 0 for i in top]
        for k in (1, 5, 10):
            out[f"T@{k}"] = float(any(gains[:k]))
        out["MRR@10"] = next((1 / (r + 1) for r, g in enumerate(gains) if g), 0.0)
        out["NDCG@10"] = dcg(gains) / dcg([1] * min(len(relevant), 10))
    return out


COLUMNS = ["T@1", "T@5", "T@10", "S@5", "S@10", "MRR@10", "NDCG@10", "sNDCG@10"]


def summarize(scored: list[tuple[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Mean of each metric overall and per question type (skipping absent ones)."""
    groups: dict[str, list[dict[str, float]]] = defaultdict(list)
    for kind, scores in scored:
        groups["all"].append(scores)
        groups[kind].append(scores)
    table = {}
    for kind in ["all", *sorted(k for k in groups if k != "all")]:
        rows = groups[kind]
        table[kind] = {"n": len(rows)}
        for col in COLUMNS:
            values = [r[col] for r in rows if col in r]
            if values:
                table[kind][col] = sum(values) / len(values)
    return table


def print_table(table: dict[str, dict[str, float]], label: str = "question_type") -> None:
    """A Markdown table, one row per key of ``table``, in its order."""
    print(f"| {label:<26} | {'n':>3} | " + " | ".join(f"{c:>8}" for c in COLUMNS) + " |")
    print("|" + "-" * 28 + "|----:|" + "|".join("-" * 9 + ":" for _ in COLUMNS) + "|")
    for kind, row in table.items():
        cells = " | ".join(f"{row[c]:>8.3f}" if c in row else f"{'':>8}" for c in COLUMNS)
        print(f"| {kind:<26} | {int(row['n']):>3} | {cells} |")


def parse_config(text: str) -> tuple[str, SearchSettings]:
    """``LABEL`` (a preset or "default") or ``LABEL:NAME=VALUE,NAME=VALUE`` over the defaults."""
    label, _, pairs = text.partition(":")
    known = {f.name for f in dataclasses.fields(SearchSettings)}
    changes: dict[str, Any] = dict(PRESETS.get(label, {}))
    for pair in filter(None, (p.strip() for p in pairs.split(","))):
        name, _, raw = pair.partition("=")
        if name not in known:
            sys.exit(f"--config {text!r}: unknown setting {name!r}; known: {', '.join(known)}")
        default = getattr(SearchSettings(), name)
        changes[name] = type(default)(raw)
    return label, dataclasses.replace(SearchSettings(), **changes)


def store_key(data: Dataset, embedder: Embedder, salt: str) -> str:
    """What the ingested index depends on: the data, the model and its runtime, the chunk
    window, the code."""
    parts = [data.fingerprint, embedder.spec.model, str(window_chars(embedder.max_tokens)),
             memvault.__version__, salt]
    if embedder.runtime != "torch":  # torch stores were keyed before runtimes existed
        parts.append(embedder.runtime)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@dataclass
class Run:
    """One configuration's results on the whole query set."""

    label: str
    settings: SearchSettings
    table: dict[str, dict[str, float]]
    first_ms: list[float]
    embed_ms: list[float]
    again_ms: list[float]
    misses: list[dict[str, Any]]

    def timing(self) -> dict[str, float]:
        """p50/p95 of the first search, of its query's embedding alone, and of the search again."""
        return {f"{name}_{label}": _quantile(values, q)
                for name, values in (("first", self.first_ms), ("embed", self.embed_ms),
                                     ("again", self.again_ms))
                for label, q in (("p50", 0.5), ("p95", 0.95))}


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def evaluate(url: str, embedder: Any, data: Dataset, label: str, settings: SearchSettings,
             as_of_now: bool) -> Run:
    """Search every query with these settings; a fresh Vault, so each query is embedded."""
    first_ms, embed_ms, again_ms, scored, misses = [], [], [], [], []
    with Vault.open(url, embedder=embedder, search_settings=settings) as vault:
        vault.search("warm up", k=1, namespace="warm-up")
        for query in data.queries:
            asked = query.get("question_time")
            now = to_utc(asked) if asked and not as_of_now else None
            # The first search embeds the query (and ranks its words meanwhile);
            # then the query is embedded alone, the query cache untouched.
            started = time.perf_counter()
            hits = vault.search(query["query"], k=10, namespace=query["space"], now=now)
            searched = time.perf_counter()
            embedder.embed([query["query"]])
            first_ms.append((searched - started) * 1000)
            embed_ms.append((time.perf_counter() - searched) * 1000)
            # Once more: a long-running server has read the words' postings
            # and the namespace's vectors before; the first search had not.
            started = time.perf_counter()
            vault.search(query["query"], k=10, namespace=query["space"], now=now)
            again_ms.append((time.perf_counter() - started) * 1000)
            scores = score_query(data, query, [h.memory.id for h in hits])
            scored.append((query.get("question_type", "all"), scores))
            if scores.get("T@5") == 0.0:
                misses.append(query)
    return Run(label, settings, summarize(scored), first_ms, embed_ms, again_ms, misses)


def report(runs: list[Run], show_misses: bool) -> None:
    defaults = SearchSettings()
    for run in runs:
        changed = {f.name: getattr(run.settings, f.name) for f in dataclasses.fields(defaults)
                   if getattr(run.settings, f.name) != getattr(defaults, f.name)}
        print(f"\n### {run.label} ({changed or 'the defaults'})\n")
        print_table(run.table)
        t = run.timing()
        print(f"\nsearch (k=10): first p50 {t['first_p50']:.1f} ms, p95 {t['first_p95']:.1f} ms "
              f"(its query embedded alone: p50 {t['embed_p50']:.1f} ms); the same search "
              f"again (warm, vector cached) p50 {t['again_p50']:.1f} ms")
        if show_misses:
            for query in run.misses:
                print(f"  T@5 miss [{query.get('question_type')}] {query['query'][:90]}")
    if len(runs) > 1:
        print("\n### overall\n")
        print_table({run.label: {**run.table["all"]} for run in runs}, label="configuration")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--store-url-template", default=f"sqlite://{WORK_DIR}/{{key}}.db",
                        help="store URL; {key} is replaced by the data+settings key")
    parser.add_argument("--limit-questions", type=int, default=None,
                        help="the first N questions, spread over question types")
    parser.add_argument("--config", action="append", default=[],
                        metavar="LABEL[:NAME=VALUE,...]",
                        help="search settings to evaluate (repeatable): 'default', 'vector', "
                             "'text', or a label with changes to the defaults")
    parser.add_argument("--runtime", default=None,
                        choices=["auto", "onnx-int8", "onnx", "torch"],
                        help="embedding runtime (default: MEMVAULT_EMBEDDING_RUNTIME, else what "
                             "memvault uses by default)")
    parser.add_argument("--embedding-cache", type=Path, default=WORK_DIR / "vectors.sqlite")
    parser.add_argument("--no-embedding-cache", action="store_true",
                        help="embed everything with the model (for a true ingest rate)")
    parser.add_argument("--reingest", action="store_true",
                        help="run the ingest even if this store was completed before")
    parser.add_argument("--salt", default="", help="extra text for the store key")
    parser.add_argument("--as-of-now", action="store_true",
                        help="search as of the current time, not each query's question_time")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--misses", action="store_true", help="list queries missed at T@5")
    args = parser.parse_args(argv)

    data = load_dataset(args.data_dir, args.limit_questions)
    configs = [parse_config(c) for c in args.config or ["default"]]
    settings = Settings.from_env()
    if args.runtime:
        settings = dataclasses.replace(settings, embedding_runtime=args.runtime)
    model = open_embedder(settings)
    model.load()
    embedder = model if args.no_embedding_cache else CachedEmbedder(model, args.embedding_cache)
    key = store_key(data, embedder, args.salt)
    url = args.store_url_template.format(key=key)
    marker = WORK_DIR / f"{key}.ingest.json"
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    print(f"data {args.data_dir}: {len(data.queries)} questions, "
          f"{sum(len(v) for v in data.memories.values())} memories; runtime {model.runtime}; "
          f"store {url}")
    # The marker stands for this store only: the same key on another URL (a
    # fresh PostgreSQL database) is ingested anew.
    ingested = marker.exists() and json.loads(marker.read_text()).get("url") == url
    if args.reingest or not ingested:
        with Vault.open(url, embedder=embedder) as vault:
            stats = ingest(vault, data)
        if isinstance(embedder, CachedEmbedder):
            stats.update(model_encoded=embedder.computed, from_cache=embedder.reused)
        marker.write_text(json.dumps({"url": url, **stats}))
    ingest_stats = json.loads(marker.read_text())
    print(f"ingest: {ingest_stats}")
    # Queries are embedded by the model itself: their time is part of search.
    runs = [evaluate(url, model, data, label, settings, args.as_of_now)
            for label, settings in configs]
    report(runs, args.misses)
    if args.json:
        args.json.write_text(json.dumps({
            "data": str(args.data_dir), "ingest": ingest_stats,
            "when": datetime.now().isoformat(timespec="seconds"),
            "runs": [{"label": r.label, "settings": dataclasses.asdict(r.settings),
                      "table": r.table, "search_ms": r.timing()}
                     for r in runs]}, indent=1))


if __name__ == "__main__":
    main()
