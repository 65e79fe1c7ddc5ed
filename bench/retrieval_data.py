"""Evaluation sets in the shared memory format: memories and questions per space.

A folder holds ``memories.jsonl.gz`` and ``queries.jsonl.gz`` as described in
``../shared/data/README.md`` (LongMemEval and LoCoMo alike). Each question is
asked only against its space's memories.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memvault.model import content_hash

# What memvault refuses in stored text (limits.py): a few chat turns hold stray
# control characters, shown as a space instead, as a user of memvault would.
CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass
class Dataset:
    """Memories per space, the queries, and how a data id maps to the stored memory."""

    name: str
    memories: dict[str, list[dict[str, Any]]]
    queries: list[dict[str, Any]]
    fingerprint: str
    stored_id: dict[str, str] = field(default_factory=dict)
    sessions_of: dict[str, set[str]] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """The benchmark a set is drawn from ("longmemeval" for longmemeval-s60)."""
        return self.name.split("-")[0]


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
            item["content"] = CONTROL_IN_TEXT.sub(" ", item["content"])
            memories[space].append(item)
    digest = hashlib.sha256()
    for path in (memories_path, queries_path):
        digest.update(path.read_bytes())
    digest.update(",".join(sorted(spaces)).encode())
    data = Dataset(folder.resolve().name, dict(memories), queries, digest.hexdigest()[:16])
    # The Vault keeps the first of identical contents in a namespace; a later
    # copy is found as that first memory, which stands for all its sessions.
    for items in data.memories.values():
        first: dict[str, str] = {}
        for item in items:
            kept = first.setdefault(content_hash(item["content"]), item["id"])
            data.stored_id[item["id"]] = kept
            data.sessions_of.setdefault(kept, set()).add(item["metadata"]["session"])
    return data
