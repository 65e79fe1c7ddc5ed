"""Retrieval quality on evaluation sets in the shared format, through the public Vault API.

    python bench/retrieval_eval.py ../shared/data/longmemeval-s60 \\
        ../shared/data/longmemeval-d140 ../shared/data/locomo-conv0-4

Each folder holds ``memories.jsonl.gz`` and ``queries.jsonl.gz`` in the format
described in ``../shared/data/README.md`` (``retrieval_data``). Each question's
space is loaded into its own namespace with ``Vault.store_many`` and searched
with ``Vault.search``, as of the question's ``question_time`` (as of now when it
has none, as in LoCoMo). Prints, per set, the scores of ``retrieval_scoring``
overall and per question type, plus the ingest rate and search latency; with
several sets or configurations, a combined summary (each set's overall row,
and the sets of one benchmark pooled, e.g. LongMemEval s60 + d140).

Ingesting ~29k turns with the model takes long on a small machine, so the
ingested store is kept and reused (``--store-url-template``, keyed by the
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
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from embedding_cache import CachedEmbedder
from memvault import Vault
from memvault.config import Settings
from memvault.embedding import open_embedder
from memvault.limits import to_utc
from memvault.search.hybrid import SearchSettings
from memvault.stores import bm25
from memvault.turns import TurnContext
from retrieval_data import Dataset
from retrieval_ingest import WORK_DIR, WordsOnly, open_set
from retrieval_scoring import Table, print_table, score_query, summarize

PRESETS = {
    # Each part alone, through the same fusion code: the other list weighs
    # nothing, the words are plain BM25 (no next match's credit), and a time
    # the question names lifts nothing.
    "vector": {"text_weight": 0.0, "time_boost": 0.0, "when_boost": 0.0},
    "text": {"vector_weight": 0.0, "context_weight": 0.0, "time_boost": 0.0, "when_boost": 0.0},
    "default": {},
}


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
        changes[name] = (
            (raw.lower() in ("1", "true", "yes"))
            if isinstance(default, bool)
            else type(default)(raw)
        )
    return label, dataclasses.replace(SearchSettings(), **changes)


@dataclass
class Run:
    """One configuration's results on one set."""

    label: str
    settings: SearchSettings
    scored: list[tuple[str, dict[str, float]]]
    first_ms: list[float]
    embed_ms: list[float]
    again_ms: list[float]
    misses: list[dict[str, Any]]

    @property
    def table(self) -> Table:
        return summarize(self.scored)

    def timing(self) -> dict[str, float]:
        """p50/p95 of the first search, of its query's embedding alone, and of the search again."""
        return {
            f"{name}_{label}": _quantile(values, q)
            for name, values in (
                ("first", self.first_ms),
                ("embed", self.embed_ms),
                ("again", self.again_ms),
            )
            for label, q in (("p50", 0.5), ("p95", 0.95))
        }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def evaluate(
    url: str,
    embedder: Any,
    data: Dataset,
    label: str,
    settings: SearchSettings,
    as_of_now: bool,
    timed: bool = True,
) -> Run:
    """Search every query with these settings; a fresh Vault, so each query is embedded.

    Untimed, each query is searched once and its vector may come from the disk cache.
    """
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
            first_ms.append((searched - started) * 1000)
            if timed:
                embedder.embed([query["query"]])
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
    return Run(label, settings, scored, first_ms, embed_ms, again_ms, misses)


def changed_settings(settings: SearchSettings) -> dict[str, Any]:
    defaults = SearchSettings()
    return {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(defaults)
        if getattr(settings, f.name) != getattr(defaults, f.name)
    }


def report(data: Dataset, runs: list[Run], show_misses: bool) -> None:
    for run in runs:
        print(
            f"\n### {data.name}: {run.label} ({changed_settings(run.settings) or 'the defaults'})\n"
        )
        print_table(run.table)
        if run.embed_ms:
            t = run.timing()
            print(
                f"\nsearch (k=10): first p50 {t['first_p50']:.1f} ms, "
                f"p95 {t['first_p95']:.1f} ms (its query embedded alone: p50 "
                f"{t['embed_p50']:.1f} ms); the same search again (warm, vector cached) "
                f"p50 {t['again_p50']:.1f} ms"
            )
        if show_misses:
            for query in run.misses:
                print(f"  T@5 miss [{query.get('question_type')}] {query['query'][:90]}")


def combined(results: list[tuple[Dataset, list[Run]]]) -> Table:
    """Each configuration's overall row on each set, and on each benchmark's sets pooled."""
    rows: Table = {}
    families: dict[str, list[Dataset]] = defaultdict(list)
    for data, _ in results:
        families[data.family].append(data)
    labels = [run.label for run in results[0][1]]
    for index, label in enumerate(labels):
        for data, runs in results:
            rows[f"{label} · {data.name}"] = runs[index].table["all"]
        for family, sets in families.items():
            if len(sets) > 1:
                pooled = [
                    item for data, runs in results if data in sets for item in runs[index].scored
                ]
                name = " + ".join(d.name.removeprefix(family + "-") for d in sets)
                rows[f"{label} · {family} {name}"] = summarize(pooled)["all"]
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dirs", type=Path, nargs="+", metavar="DATA_DIR")
    parser.add_argument(
        "--store-url-template",
        default=f"sqlite://{WORK_DIR}/{{key}}.db",
        help="store URL; {key} is replaced by the data+settings key",
    )
    parser.add_argument(
        "--limit-questions",
        type=int,
        default=None,
        help="the first N questions of each set, spread over question types",
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="LABEL[:NAME=VALUE,...]",
        help="search settings to evaluate (repeatable): 'default', 'vector', "
        "'text', or a label with changes to the defaults",
    )
    parser.add_argument(
        "--runtime",
        default=None,
        choices=["auto", "onnx-int8", "onnx", "torch"],
        help="embedding runtime (default: MEMVAULT_EMBEDDING_RUNTIME, else what "
        "memvault uses by default)",
    )
    parser.add_argument("--embedding-cache", type=Path, default=WORK_DIR / "vectors.sqlite")
    parser.add_argument(
        "--no-embedding-cache",
        action="store_true",
        help="embed everything with the model (for a true ingest rate)",
    )
    parser.add_argument(
        "--reingest",
        action="store_true",
        help="run the ingest even if this store was completed before",
    )
    parser.add_argument("--salt", default="", help="extra text for the store key")
    parser.add_argument(
        "--as-of-now",
        action="store_true",
        help="search as of the current time, not each query's question_time",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--untimed",
        action="store_true",
        help="quality only: search each query once, its vector from the disk "
        "cache when there (fast for comparing many configurations)",
    )
    parser.add_argument(
        "--only-ingested",
        action="store_true",
        help="ingest nothing: evaluate the questions whose space the store "
        "already holds in full (a store whose ingest is under way)",
    )
    parser.add_argument(
        "--words-only",
        action="store_true",
        help="ingest without the model (a fixed vector), for configurations "
        "with vector_weight=0 only: the words side of a large set, fast",
    )
    parser.add_argument(
        "--turns",
        type=int,
        default=None,
        help="earlier turns a turn is embedded with (default: MEMVAULT_CONTEXT_TURNS, 0 unset)",
    )
    parser.add_argument(
        "--date",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="embed a turn after its date (default: as the Vault does, with --turns above 0)",
    )
    parser.add_argument(
        "--turn-chars", type=int, default=300, help="of each earlier turn, the last N characters"
    )
    parser.add_argument(
        "--words-see-context",
        action="store_true",
        help="write each turn's context into its content, so the words index sees it too",
    )
    parser.add_argument("--misses", action="store_true", help="list queries missed at T@5")
    parser.add_argument(
        "--bm25",
        metavar="K1,B",
        help=f"BM25's k1 and b for this run, in every store (default {bm25.K1},{bm25.B})",
    )
    args = parser.parse_args(argv)
    if args.bm25:
        # Every store reads the constants when it scores (stores.bm25), so setting
        # them here changes the words' ranking of the whole run.
        bm25.K1, bm25.B = (float(part) for part in args.bm25.split(","))
        print(f"BM25: k1 {bm25.K1}, b {bm25.B}")

    configs = [parse_config(c) for c in args.config or ["default"]]
    settings = Settings.from_env()
    if args.runtime:
        settings = dataclasses.replace(settings, embedding_runtime=args.runtime)
    turns = settings.context_turns if args.turns is None else args.turns
    date = turns > 0 if args.date is None else args.date
    args.turn_context = TurnContext(turns, date, args.turn_chars)
    print(f"turns embedded with: {args.turn_context}")
    model = open_embedder(settings)
    model.load()
    embedder = model if args.no_embedding_cache else CachedEmbedder(model, args.embedding_cache)
    if args.words_only:
        if any(config.vector_weight for _, config in configs):
            sys.exit("--words-only: every --config needs vector_weight=0 (meaning is not stored)")
        embedder = model = WordsOnly(model)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    results: list[tuple[Dataset, list[Run]]] = []
    saved: list[dict[str, Any]] = []
    for folder in args.data_dirs:
        data, url, stats = open_set(folder, args, embedder)
        # Queries are embedded by the model itself: their time is part of search.
        runs = [
            evaluate(
                url,
                embedder if args.untimed else model,
                data,
                label,
                config,
                args.as_of_now,
                timed=not args.untimed,
            )
            for label, config in configs
        ]
        report(data, runs, args.misses)
        results.append((data, runs))
        saved.append(
            {
                "data": str(folder),
                "bm25": {"k1": bm25.K1, "b": bm25.B},
                "ingest": stats,
                "runs": [
                    {
                        "label": r.label,
                        "settings": dataclasses.asdict(r.settings),
                        "table": r.table,
                        "search_ms": r.timing() if r.embed_ms else None,
                    }
                    for r in runs
                ],
            }
        )
    if len(results) > 1 or len(configs) > 1:
        print("\n### combined\n")
        print_table(combined(results), label="configuration · set")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"when": datetime.now().isoformat(timespec="seconds"), "sets": saved}, indent=1
            )
        )


if __name__ == "__main__":
    main()
