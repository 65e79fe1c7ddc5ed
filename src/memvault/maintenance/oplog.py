"""The operation log: what each destructive maintenance operation did, kept in the store.

It lives in the store's journal (``Store.journal_put`` and friends), so it
travels with the data and works alike on every backend. An operation is one
header record (kind ``operation``) and its step records (kind
``operation-step``, keys ``<operation id>/<step number>``); each step holds the
before-images of the memories it changes, vectors included, so undo can put
them back exactly.

The life of an operation, and why the order matters:

1. ``preparing``: the header is written (naming the file it will write, if
   any), then every step with its before-images, then that file. Nothing has
   changed yet; an operation that dies here is abandoned when the next one
   runs: its steps are dropped and its file, whole or partly written, removed.
2. ``pending``: written only once every step is logged, and before the first
   destructive change. Each step is idempotent, so an interrupted operation is
   finished by running its steps again (``resume``).
3. ``applied``; and after an undo, ``undoing`` then ``undone``.

Each kind of operation registers how to finish it and how to reverse it
(``register``); ``undo`` and ``resume`` drive that life for every kind alike.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import Conflict, NotFound
from ..model import utcnow
from ..stores import Store
from ..transfer.dump import discard_dump

HEADER = "operation"
STEP = "operation-step"
STATUSES = ("preparing", "pending", "applied", "undoing", "undone", "abandoned")

Progress = Callable[[str, int, int | None], None]
"""Called as ``progress(stage, done, total)``; total is None when unknown."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One logged maintenance operation."""

    id: str
    kind: str
    namespace: str | None
    status: str
    created_at: str
    params: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    steps: int = 0
    backup: str | None = None
    finished_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class OperationLog:
    """Operations of one store, newest last."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def begin(
        self,
        kind: str,
        namespace: str | None,
        params: dict[str, Any],
        backup: Callable[[str], Path] | None = None,
    ) -> Operation:
        """A new ``preparing`` operation; ``backup`` names the file it will write,
        from the operation's id, so that abandoning it can remove that file."""
        now = utcnow()
        op_id = f"{now:%Y%m%dT%H%M%S}-{kind}-{secrets.token_hex(3)}"
        op = Operation(
            id=op_id,
            kind=kind,
            namespace=namespace,
            status="preparing",
            created_at=now.isoformat(),
            params=params,
            backup=str(backup(op_id)) if backup else None,
        )
        self._save(op)
        return op

    def log_steps(self, op: Operation, steps: Iterable[dict[str, Any]]) -> int:
        """Write the steps of a ``preparing`` operation; return how many."""
        count = 0
        for count, step in enumerate(steps, start=1):
            self.store.journal_put(STEP, f"{op.id}/{count:07d}", step)
        return count

    def set(self, op: Operation, **changes: Any) -> Operation:
        if changes.get("status") in ("applied", "undone", "abandoned"):
            changes.setdefault("finished_at", utcnow().isoformat())
        op = replace(op, **changes)
        self._save(op)
        return op

    def get(self, op_id: str) -> Operation:
        data = self.store.journal_get(HEADER, op_id) if isinstance(op_id, str) else None
        if data is None:
            raise NotFound(f"no operation {op_id!r} in this store", field="operation_id")
        return Operation(**data)

    def list(self, *, kind: str | None = None, namespace: str | None = None) -> list[Operation]:
        ops = (Operation(**data) for _, data in self.store.journal_list(HEADER))
        # Ids sort by second only, and two operations often start in the same
        # second (summarize then its archive): created_at keeps their order.
        return sorted(
            (
                op
                for op in ops
                if (kind is None or op.kind == kind)
                and (namespace is None or op.namespace == namespace)
            ),
            key=lambda op: op.created_at,
        )

    def steps(self, op: Operation) -> Iterator[dict[str, Any]]:
        for _, step in self.store.journal_list(STEP, prefix=f"{op.id}/"):
            yield step

    def abandon(self, op: Operation) -> Operation:
        """Drop a ``preparing`` operation's steps and file: it never changed anything."""
        keys = [key for key, _ in self.store.journal_list(STEP, prefix=f"{op.id}/")]
        self.store.journal_delete(STEP, keys)
        if op.backup:
            discard_dump(Path(op.backup))
        return self.set(op, status="abandoned", steps=0, backup=None)

    def _save(self, op: Operation) -> None:
        self.store.journal_put(HEADER, op.id, op.to_dict())


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """What a kind of operation does at each step of its life.

    ``finish`` runs a pending operation's idempotent steps and marks it applied;
    ``reverse`` puts back what it changed and returns what to add to its result;
    ``conflicts`` (optional) lists memories changed since, which undo would discard.
    """

    finish: Callable[[OperationLog, Operation, Progress | None], Operation]
    reverse: Callable[[OperationLog, Operation, Progress | None], dict[str, Any]]
    conflicts: Callable[[OperationLog, Operation], list[str]] | None = None


_LIFECYCLES: dict[str, Lifecycle] = {}


def register(kind: str, lifecycle: Lifecycle) -> None:
    _LIFECYCLES[kind] = lifecycle


def undo(
    store: Store, op_id: str, *, force: bool = False, progress: Progress | None = None
) -> Operation:
    """Reverse an operation; idempotent, and an interrupted undo is finished by another.

    Refuses (Conflict) when memories it wrote were changed since, unless ``force``.
    """
    log = OperationLog(store)
    op = log.get(op_id)
    if op.status in ("undone", "abandoned"):
        return op
    if op.status == "preparing":
        return log.abandon(op)
    lifecycle = _LIFECYCLES[op.kind]
    if op.status != "undoing" and not force and lifecycle.conflicts is not None:
        changed = lifecycle.conflicts(log, op)
        if changed:
            raise Conflict(
                f"{len(changed)} memories changed after operation {op.id} (first: "
                f"{changed[0]}); undo would discard those changes. Use force to "
                "undo anyway",
                field="operation_id",
            )
    op = log.set(op, status="undoing")
    added = lifecycle.reverse(log, op, progress)
    return log.set(op, status="undone", result={**op.result, **added})


def resume(
    store: Store, *, kind: str | None = None, progress: Progress | None = None
) -> list[Operation]:
    """Finish every interrupted operation (of ``kind``): apply what was pending, finish
    undos under way, drop what never got past preparing."""
    log = OperationLog(store)
    done = []
    for op in log.list(kind=kind):
        if op.status == "preparing":
            done.append(log.abandon(op))
        elif op.status == "pending":
            done.append(_LIFECYCLES[op.kind].finish(log, op, progress))
        elif op.status == "undoing":
            done.append(undo(store, op.id, force=True, progress=progress))
    return done
