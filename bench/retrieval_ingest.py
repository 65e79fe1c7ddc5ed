"""Loading an evaluation set into a store once, and finding it again.

``retrieval_eval`` keeps each ingested store (keyed by the data and the
settings that shape the index, ``store_key``) so that another configuration
or a re-run searches it without ingesting anything; a store whose ingest was
cut short can still be evaluated on the spaces it holds in full.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import memvault
from embedding_cache import CachedEmbedder
from memvault import Vault
from memvault.chunking import window_chars
from memvault.config import Settings
from memvault.embedding import Embedder
from memvault.inputs import build_memory
from memvault.model import EmbeddingSpec, content_hash
from memvault.turns import TurnContext, prefixes
from retrieval_data import Dataset, load_dataset

WORK_DIR = Path("/tmp/memvault-bench")


class WordsOnly:
    """A stand-in embedder for ``--words-only``: one fixed vector for every text.

    It ingests a large set in minutes instead of hours, for configurations in
    which meaning weighs nothing (the words, their credits, the fusion of word
    lists); its store is apart from the model's (another model name).
    """

    def __init__(self, model: Embedder) -> None:
        self.spec = EmbeddingSpec("words-only", model.spec.dimension)
        self.max_tokens = model.max_tokens  # the same chunks as the model's store
        self.runtime = "none"

    def load(self) -> None:
        pass

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.spec.dimension), dtype=np.float32)
        out[:, 0] = 1.0
        return out


def ingest(vault: Vault, data: Dataset, in_content: TurnContext | None = None) -> dict[str, Any]:
    """Store every space's memories in its own namespace; already stored ones are skipped.

    Spaces go in the order of their questions (spread over question types), so a
    store whose ingest was cut short holds whole spaces of a ``--limit-questions``
    prefix: that prefix is evaluated on it without ingesting anything more.
    ``in_content`` writes each turn's context into its content, so the words index
    sees it too (the scores read ids only, so they are unaffected by the longer
    content); the Vault then embeds the content as it is.
    """
    total = sum(len(items) for items in data.memories.values())
    done, started = 0, time.perf_counter()
    spaces = dict.fromkeys(q["space"] for q in data.queries)
    for space in spaces:
        items = data.memories.get(space, [])
        rows = [
            {
                key: item[key]
                for key in ("id", "content", "tags", "memory_type", "metadata", "created_at")
                if key in item
            }
            for item in items
        ]
        if in_content is not None:
            rows = with_context_in_content(in_content, rows, space, vault.settings)
        vault.store_many(rows, namespace=space)
        done += len(rows)
        elapsed = time.perf_counter() - started
        print(
            f"\r  ingested {done}/{total} memories, {done / elapsed:.1f}/s",
            end="",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)
    seconds = time.perf_counter() - started
    return {
        "memories": total,
        "seconds": round(seconds, 1),
        "memories_per_s": round(total / seconds, 1),
    }


def with_context_in_content(
    context: TurnContext, rows: list[dict[str, Any]], space: str, settings: Settings
) -> list[dict[str, Any]]:
    """The rows with what the model sees before each turn written into its content."""
    memories = [build_memory(row, space, settings.max_content_bytes) for row in rows]
    added = prefixes(memories, context, lambda *_: [])
    return [
        {**row, "content": extra + row["content"]} for row, extra in zip(rows, added, strict=True)
    ]


def store_key(data: Dataset, embedder: Embedder, salt: str, turns: TurnContext) -> str:
    """What the ingested index depends on: the data, the model and its runtime, the chunk
    window, what a turn is embedded with, the code."""
    parts = [
        data.fingerprint,
        embedder.spec.model,
        str(window_chars(embedder.max_tokens)),
        memvault.__version__,
        salt,
    ]
    if turns.enabled:  # stores keyed before turns had context embedded them alone
        parts.append(repr(turns))
    if embedder.runtime != "torch":  # torch stores were keyed before runtimes existed
        parts.append(embedder.runtime)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def keep_stored_spaces(url: str, embedder: Any, data: Dataset) -> None:
    """Keep the questions whose space the store holds in full (each distinct content once)."""
    with Vault.open(url, embedder=embedder) as vault:
        whole = {
            space
            for space, items in data.memories.items()
            if vault.count(namespace=space) == len({content_hash(i["content"]) for i in items})
        }
    asked = len(data.queries)
    data.queries = [q for q in data.queries if q["space"] in whole]
    print(f"only the ingested: {len(data.queries)} of {asked} questions have their space stored")


def open_set(folder: Path, args: argparse.Namespace, embedder: Any) -> tuple[Dataset, str, dict]:
    """The set, and the URL of its ingested store (ingested now unless done before)."""
    data = load_dataset(folder, args.limit_questions)
    salt = args.salt + (" words-see-context" if args.words_see_context else "")
    key = store_key(data, embedder, salt, args.turn_context)
    url = args.store_url_template.format(key=key)
    marker = WORK_DIR / f"{key}.ingest.json"
    print(
        f"\ndata {folder}: {len(data.queries)} questions, "
        f"{sum(len(v) for v in data.memories.values())} memories; runtime {embedder.runtime}; "
        f"store {url}"
    )
    # The marker stands for this store only: the same key on another URL (a
    # fresh PostgreSQL database) is ingested anew.
    ingested = marker.exists() and json.loads(marker.read_text()).get("url") == url
    if args.only_ingested and not ingested:
        keep_stored_spaces(url, embedder, data)
        return data, url, {"url": url, "ingest": "under way or cut short"}
    if args.reingest or not ingested:
        if args.words_see_context:  # the context goes into the content, embedded as it is
            with Vault.open(url, embedder=embedder, turn_context=TurnContext(0, False)) as vault:
                stats = ingest(vault, data, args.turn_context)
        else:
            with Vault.open(url, embedder=embedder, turn_context=args.turn_context) as vault:
                stats = ingest(vault, data)
        if isinstance(embedder, CachedEmbedder):
            stats.update(model_encoded=embedder.computed, from_cache=embedder.reused)
        marker.write_text(json.dumps({"url": url, **stats}))
    stats = json.loads(marker.read_text())
    print(f"ingest: {stats}")
    return data, url, stats
