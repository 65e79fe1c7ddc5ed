"""Checking that two stores hold the same memories, whatever their order or engine.

A memory's fingerprint covers what identifies it to a user: namespace,
content hash, tags and metadata. An inventory maps each top-level memory's
``(namespace, content_hash)`` to its id and fingerprint; the store digest is
the sum of all fingerprints (mod 2^256), so it does not depend on order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..model import Filter, Memory
from .progress import NULL_PROGRESS, Progress
from .source import Source

Key = tuple[str, str]
_SCAN_BATCH = 2000
_MAX_LISTED = 50


def fingerprint(memory: Memory) -> bytes:
    canonical = json.dumps(
        [memory.namespace, memory.content_hash, sorted(memory.tags), memory.metadata],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).digest()


def inventory(
    source: Source, flt: Filter, progress: Progress = NULL_PROGRESS, label: str = "Reading"
) -> dict[Key, tuple[str, bytes]]:
    """Every top-level memory matching ``flt``: (namespace, hash) -> (id, fingerprint),
    in scan order (the order a migration writes them)."""
    out: dict[Key, tuple[str, bytes]] = {}
    progress.start(label, None)
    for batch, _ in source.scan(
        flt.with_changes(include_chunks=False), batch_size=_SCAN_BATCH, with_embedding=False
    ):
        for m in batch:
            # A source may repeat content (peers have no uniqueness rule); the first copy
            # is the one a migration keeps, so it is the one compared.
            out.setdefault((m.namespace, m.content_hash), (m.id, fingerprint(m)))
        progress.advance(len(batch))
    progress.finish()
    return out


def digest(items: dict[Key, tuple[str, bytes]]) -> str:
    total = sum(int.from_bytes(fp, "big") for _, fp in items.values()) % (1 << 256)
    return f"{total:064x}"


@dataclass
class Verification:
    """The outcome of comparing a source with a target."""

    source_count: int
    target_count: int
    source_digest: str
    target_digest: str
    missing: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.different or self.extra)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source_count": self.source_count,
            "target_count": self.target_count,
            "source_digest": self.source_digest,
            "target_digest": self.target_digest,
            "missing": self.missing[:_MAX_LISTED],
            "different": self.different[:_MAX_LISTED],
            "extra": self.extra[:_MAX_LISTED],
        }

    def problems(self) -> list[str]:
        """One line per differing memory (the first few of each kind)."""
        lines = []
        for kind, items in (
            ("missing from target", self.missing),
            ("differs in target", self.different),
            ("only in target", self.extra),
        ):
            lines += [f"{kind}: {item}" for item in items[:_MAX_LISTED]]
            if len(items) > _MAX_LISTED:
                lines.append(f"... and {len(items) - _MAX_LISTED} more {kind}")
        return lines


def compare(
    source: dict[Key, tuple[str, bytes]], target: dict[Key, tuple[str, bytes]], *, exact: bool
) -> Verification:
    """Every source memory must be in the target unchanged; with ``exact``, nothing else."""

    def name(key: Key, ident: str) -> str:
        return f"{ident} (namespace {key[0]}, hash {key[1][:12]})"

    result = Verification(len(source), len(target), digest(source), digest(target))
    for key, (ident, fp) in source.items():
        there = target.get(key)
        if there is None:
            result.missing.append(name(key, ident))
        elif there[1] != fp:
            result.different.append(name(key, there[0]))
    if exact:
        result.extra = [name(k, v[0]) for k, v in target.items() if k not in source]
    return result
