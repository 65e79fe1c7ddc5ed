"""Opening a migration's target so that nothing is created before anything is written.

A target that exists is opened as it is. One that does not is stood in for
by an empty scratch store (``stores.pending``) while the migration checks
both ends and plans: a dry run never creates it, and a run refused by its
checks leaves nothing behind. The real store is created when the first write
is due. A Chroma
collection another tool wrote is taken over only by a migration that replaces
the target's contents, after a verbatim copy of every record (``collection_copy``;
records memvault cannot read as memories, such as one with no content, are
kept there and named in the report).
``check_disk`` is the pre-flight check that a local target can be written and
has room.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..errors import NotFound, StoreUnavailable
from ..model import EmbeddingSpec
from ..stores import Store, open_store
from ..stores.chroma import ChromaTarget, parse_chroma_url, take_over
from ..stores.pending import PendingStore
from .collection_copy import copy_collection
from .peers import ChromaPeerSource, chroma_layout
from .progress import NULL_PROGRESS, Progress
from .source import CHROMA_SCHEMES, EVERYTHING


@dataclass
class OpenedTarget:
    """A migration's target; ``backup`` and ``taken_over`` say whether another tool's
    collection was copied whole and emptied first (in a dry run: would be)."""

    store: Store | PendingStore
    backup: Path | None = None
    taken_over: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    """Records of that collection memvault could not read as memories, and why:
    they are in the backup only."""


def open_target(
    url: str,
    settings: Settings,
    *,
    replace: bool = False,
    dry_run: bool = False,
    progress: Progress = NULL_PROGRESS,
) -> OpenedTarget:
    """The store ``url`` names, or a PendingStore when there is none yet.

    With ``replace``, a Chroma collection another tool wrote is taken over:
    copied whole to the backups directory, emptied, and then written as
    memvault's (a dry run only counts what it holds).
    """
    if replace and url.split("://", 1)[0].lower() in CHROMA_SCHEMES:
        chroma = parse_chroma_url(url)
        if chroma_layout(chroma) == "peer":
            return _take_over(url, chroma, settings, dry_run, progress)
    try:
        return OpenedTarget(open_store(url, settings, create=False))
    except NotFound:
        return OpenedTarget(PendingStore(url, settings))


def _take_over(
    url: str, chroma: ChromaTarget, settings: Settings, dry_run: bool, progress: Progress
) -> OpenedTarget:
    peer = ChromaPeerSource(chroma)
    try:
        peer.count(EVERYTHING)  # a pass without vectors that lists what cannot be read
        unreadable = sorted(peer.rejected.items())
        held = peer.health()["records"]
    finally:
        peer.close()
    if dry_run:
        return OpenedTarget(PendingStore(url, settings), taken_over=held, unreadable=unreadable)
    copy, _ = copy_collection(chroma, settings, progress)
    removed = take_over(chroma)
    return OpenedTarget(
        open_store(url, settings, create=False),
        backup=copy,
        taken_over=removed,
        unreadable=unreadable,
    )


def check_disk(target: Store | PendingStore, spec: EmbeddingSpec | None, memories: int) -> None:
    """Refuse a local target that cannot be written, or lacks the disk ``memories`` need."""
    path = getattr(target, "path", None)
    if path is None:
        return
    where = Path(path)
    while not where.exists():
        where = where.parent
    if not os.access(where, os.W_OK):
        raise StoreUnavailable(f"target {target.url} is not writable ({where})", field="target_url")
    # Generous per memory (int8 or float16 vectors and short rows take 0.9-1.3 KB),
    # plus room for the write-ahead log of the batch being written.
    per_memory = (spec.dimension * 4 * 2 if spec else 3072) + 4096
    needed = memories * per_memory + (8 << 20)
    free = shutil.disk_usage(where).free
    if free < needed:
        raise StoreUnavailable(
            f"not enough free disk for {target.url}: about {needed >> 20} MB needed, "
            f"{free >> 20} MB free at {where}",
            field="target_url",
        )
