"""Undo or finish any logged operation, whatever its kind."""

from __future__ import annotations

from ..stores import Store
from . import archiving, consolidation, summarize
from .oplog import Operation, OperationLog, Progress
from .optimize import EXPIRE

_UNDO = {
    consolidation.KIND: consolidation.undo,
    archiving.KIND: archiving.undo,
    EXPIRE: archiving.undo,
    summarize.KIND: summarize.undo,
}


def undo(store: Store, op_id: str, *, force: bool = False,
         progress: Progress | None = None) -> Operation:
    """Reverse operation ``op_id``; idempotent, and resumable if interrupted."""
    op = OperationLog(store).get(op_id)
    return _UNDO[op.kind](store, op.id, force=force, progress=progress)


def resume(store: Store, *, kind: str | None = None, progress: Progress | None = None
           ) -> list[Operation]:
    """Finish every interrupted operation (of ``kind``): apply what was pending, finish
    undos that were under way, drop what never got past preparing."""
    return [_RESUME[op.kind](store, op, progress) for op in OperationLog(store).list(kind=kind)
            if op.status in ("preparing", "pending", "undoing")]


_RESUME = {
    consolidation.KIND: consolidation.resume_one,
    archiving.KIND: archiving.resume_one,
    EXPIRE: archiving.resume_one,
    summarize.KIND: summarize.resume_one,
}
