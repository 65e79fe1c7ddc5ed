"""Resuming a migration: the checkpoint it keeps in the target's journal.

After every batch, the source cursor and the counts so far are written into
the target's journal (``Store.journal_put``, kind ``checkpoint``) under
``migration:<hash of source and filter>``, so a rerun of the same move finds
where the interrupted one stopped. A finished checkpoint is not resumed: the
rerun starts over and finds everything already there.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields

from ..model import Filter, utcnow
from ..stores import Store
from .retry import retrying
from .source import Source

KIND = "checkpoint"  # the journal kind of a migration's checkpoints


@dataclass
class Checkpoint:
    cursor: str | None = None
    moved: int = 0
    skipped: int = 0
    chunks: int = 0
    reembedded: int = 0
    done: bool = False
    started_at: str = field(default_factory=lambda: utcnow().isoformat())


def key(source: Source, flt: Filter) -> str:
    """The journal key of moving ``flt``'s memories out of ``source``."""
    scope = json.dumps([source.identity(), repr(flt)])
    return "migration:" + hashlib.sha256(scope.encode()).hexdigest()[:16]


def unfinished(target: Store, name: str) -> Checkpoint | None:
    """The checkpoint an interrupted run left under ``name``, or None."""
    data = retrying(lambda: target.journal_get(KIND, name), "reading the checkpoint")
    if not data:
        return None
    saved = Checkpoint(**{f.name: data[f.name] for f in fields(Checkpoint) if f.name in data})
    return None if saved.done else saved


def save(target: Store, name: str, checkpoint: Checkpoint, source_url: str) -> None:
    value = {**asdict(checkpoint), "source": source_url}
    retrying(lambda: target.journal_put(KIND, name, value), "saving the checkpoint")
