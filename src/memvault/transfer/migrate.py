"""Moving every memory from one store (or peer, or dump) into another, reliably.

``migrate(source, target)`` streams the source in batches and adds each batch
to the target, keeping ids, timestamps, tags, metadata and namespaces. Vectors
are copied when both sides use the same model and recomputed with the local
model when asked (``reembed=True``). Content already in the target (same
namespace and content hash) is skipped, so a rerun adds nothing twice.

Resuming: after every batch a checkpoint is written into the target's journal
(``checkpoints``); a run that finds an unfinished one for the same source and
filter continues after it.

``replace=True`` makes the target hold exactly the source's memories (within
the filter): after a backup of the target, memories that the source lacks, or
holds with other tags or metadata, are deleted, then the copy runs.

At the end both sides are compared (counts and an order-independent digest
over namespace, content hash, tags and metadata); ``report.verification``
names the memories that differ.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from functools import partial

from ..config import Settings
from ..embedding import Embedder, open_embedder
from ..errors import Conflict, IncompatibleEmbedding, InvalidInput, StoreUnavailable
from ..memory_vectors import MemoryVectors
from ..model import EmbeddingSpec, Filter, Memory
from ..stores import Store
from ..turns import TurnContext
from . import checkpoints
from .admission import placeable, within_limits
from .backup import backup_to_dump
from .checkpoints import Checkpoint
from .progress import NULL_PROGRESS, Progress
from .report import MAX_FAILURES_LISTED, MigrationReport
from .retry import RETRY_ATTEMPTS, backoff, gave_up, retrying
from .source import EVERYTHING, Source
from .sources import open_source
from .targets import OpenedTarget, PendingStore, check_disk, open_target
from .vectors import plan_vectors
from .verify import Verification, compare, fingerprint, inventory

DEFAULT_BATCH = 500
# A move at least this large, and larger than what the target holds, runs in
# the target's bulk-load mode if it has one (PostgreSQL: the HNSW graph is built
# once at the end instead of row by row, which is ~50 times faster).
BULK_MIN_MEMORIES = 10_000


def migrate(
    source: str | Source,
    target: str | Store,
    *,
    flt: Filter = EVERYTHING,
    batch_size: int = DEFAULT_BATCH,
    reembed: bool = False,
    dry_run: bool = False,
    backup: bool = False,
    replace: bool = False,
    max_rate: float | None = None,
    verify: bool = True,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    progress: Progress = NULL_PROGRESS,
) -> MigrationReport:
    """Move memories from ``source`` to ``target`` (URLs, or open objects left open)."""
    if not isinstance(batch_size, int) or not 1 <= batch_size <= 10_000:
        raise InvalidInput("batch_size must be an integer from 1 to 10000", field="batch_size")
    if max_rate is not None and max_rate <= 0:
        raise InvalidInput(
            "max_rate must be a positive number of memories per second", field="max_rate"
        )
    settings = settings or Settings.from_env()
    src = (
        retrying(lambda: open_source(source, settings), "opening the source")
        if isinstance(source, str)
        else source
    )
    try:
        opened = (
            retrying(
                lambda: open_target(
                    target, settings, replace=replace, dry_run=dry_run, progress=progress
                ),
                "opening the target",
            )
            if isinstance(target, str)
            else OpenedTarget(target)
        )
        dst = opened.store
        try:
            run = _Run(src, dst, flt, batch_size, reembed, settings, embedder, progress)
            run.report.removed = opened.taken_over
            run.report.backup = str(opened.backup) if opened.backup else None
            run.report.left_in_backup = opened.unreadable
            return run.execute(
                dry_run=dry_run,
                backup=(backup or replace) and not opened.backup,
                replace=replace,
                max_rate=max_rate,
                verify=verify,
            )
        finally:
            if isinstance(target, str):
                dst.close()
    finally:
        if isinstance(source, str):
            src.close()


class _Run:
    """One migration: pre-flight checks, optional pruning, the copy, the verification."""

    def __init__(
        self,
        source: Source,
        target: Store,
        flt: Filter,
        batch_size: int,
        reembed: bool,
        settings: Settings,
        embedder: Embedder | None,
        progress: Progress,
    ) -> None:
        self.source, self.target, self.flt = source, target, flt
        self.batch_size, self.reembed, self.settings = batch_size, reembed, settings
        self._embedder, self.progress = embedder, progress
        self.report = MigrationReport(source=source.url, target=target.url)
        self.key = checkpoints.key(source, flt)
        # Called before each write: ``ready_to_write`` until it has run.
        self._ready: Callable[[], None] = _nothing

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = open_embedder(self.settings)
        return self._embedder

    def execute(
        self, *, dry_run: bool, backup: bool, replace: bool, max_rate: float | None, verify: bool
    ) -> MigrationReport:
        started = time.perf_counter()
        report = self.report
        report.dry_run = dry_run
        pending = isinstance(self.target, PendingStore)
        spec = self.preflight(write_probe=not (dry_run or pending))
        if dry_run:
            self.plan(replace)
        else:
            # A new target is created at the first write: a source whose every
            # record the target refuses leaves no store behind, only the empty
            # stand-in. An empty source creates it at once (restoring or importing
            # an empty dump is a write: reads afterwards find the store, empty),
            # unless it is empty because every record of it was refused.
            refused_all = not report.source_count and bool(getattr(self.source, "rejected", None))
            if not pending and backup:
                report.backup = str(backup_to_dump(self.target, self.settings, self.progress))
            if replace:
                self.prune()
            with contextlib.ExitStack() as writing:
                self._ready = partial(self.ready_to_write, writing, spec)
                if not pending or not (report.source_count or refused_all):
                    self._ready()
                self.copy(max_rate)
            report.target_not_created = isinstance(self.target, PendingStore)
            if verify:
                report.verification = self.verify(exact=replace)
        report.elapsed = time.perf_counter() - started
        return report

    def ready_to_write(self, writing: contextlib.ExitStack, spec: EmbeddingSpec | None) -> None:
        """Before the first write (once): a new target created, the model bound, and the
        bulk mode entered, left with ``writing``."""
        self._ready = _nothing
        if isinstance(self.target, PendingStore):
            self.target = retrying(self.target.create, "creating the target")
        if spec is not None:
            self.target.bind_embedding(spec)
        self.enter_bulk_mode(writing)

    def enter_bulk_mode(self, writing: contextlib.ExitStack) -> None:
        """The target's ``bulk_load()`` for a large move into a smaller store, entered
        for the rest of the copy (left with ``writing``).

        Searches of the target stay correct meanwhile (exact, so slower). A run
        killed before the index was rebuilt leaves it missing; the rerun sees
        that and loads in bulk mode again, which rebuilds it, unless another run
        (an optimize, a server's background build) is rebuilding it already:
        then the copy goes on without, while a large one stops with that run's
        conflict, to be run again after it rather than load slowly.
        """
        bulk_load = getattr(self.target, "bulk_load", None)
        if bulk_load is None:
            return
        moving = self.report.source_count
        large = moving >= BULK_MIN_MEMORIES and moving >= self.target.count(Filter(namespace=None))
        if not large and self.target.health().get("vector_index") != "missing":
            return
        try:
            writing.enter_context(bulk_load())
        except Conflict:
            if large:
                raise

    # -- before anything moves ------------------------------------------------
    def preflight(self, *, write_probe: bool) -> EmbeddingSpec | None:
        """Check both ends; return the model the target's vectors will be of."""
        retrying(self.source.health, "checking the source")
        retrying(self.target.health, "checking the target")
        if self.source.identity() == self.target.identity():
            raise InvalidInput("source and target are the same store", field="target_url")
        self.report.source_count = retrying(
            lambda: self.source.count(self.flt.with_changes(include_chunks=False)),
            "counting the source",
        )
        spec = self.vector_plan()
        check_disk(
            self.target,
            self.source.embedding_spec() or self.target.embedding_spec(),
            self.report.source_count,
        )
        if write_probe:
            # The checkpoint read and write double as the check that the target is writable.
            checkpoint = self.load_checkpoint()
            self.save_checkpoint(checkpoint)
        return spec

    def vector_plan(self) -> EmbeddingSpec:
        spec, self.report.vectors = plan_vectors(
            self.source.embedding_spec(),
            self.target.embedding_spec(),
            lambda: self.embedder.spec,
            reembed=self.reembed,
        )
        return spec

    def plan(self, replace: bool) -> None:
        """A dry run: count what would move, be skipped and (with replace) be removed."""
        for batch, _ in self.source.scan(
            self.flt.with_changes(include_chunks=False),
            batch_size=self.batch_size,
            with_embedding=False,
        ):
            by_ns: dict[str, list[str]] = {}
            for m in batch:
                by_ns.setdefault(m.namespace, []).append(m.content_hash)
            present = sum(
                len(self.target.existing_hashes(ns, hashes)) for ns, hashes in by_ns.items()
            )
            self.report.skipped += present
            self.report.moved += len(batch) - present
        if replace:
            self.report.removed += len(self.stale())

    # -- checkpoint ---------------------------------------------------------
    def load_checkpoint(self) -> Checkpoint:
        saved = checkpoints.unfinished(self.target, self.key)
        if saved is None:
            return Checkpoint()
        self.report.resumed_from = saved.cursor
        return saved

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        if not isinstance(self.target, PendingStore):  # nothing written yet, nothing to resume
            checkpoints.save(self.target, self.key, checkpoint, self.source.url)

    # -- the work -----------------------------------------------------------
    def stale(self) -> list[str]:
        """Ids of target memories the source lacks or holds differently."""
        wanted = inventory(self.source, self.flt, self.progress, "Reading source")
        have = inventory(self.target, self.flt, self.progress, "Reading target")
        return [
            ident for key, (ident, fp) in have.items() if key not in wanted or wanted[key][1] != fp
        ]

    def prune(self) -> None:
        doomed = self.stale()
        self.progress.start("Removing", len(doomed))
        for start in range(0, len(doomed), self.batch_size):
            part = doomed[start : start + self.batch_size]
            self.report.removed += retrying(partial(self.target.delete, part), "removing")
            self.progress.advance(len(part))
        self.progress.finish()

    def copy(self, max_rate: float | None) -> None:
        checkpoint = self.load_checkpoint()
        earlier = dataclasses.replace(checkpoint)
        report = self.report
        self.progress.start("Migrating", report.source_count)
        self.progress.advance(checkpoint.moved + checkpoint.skipped)
        began, done_here = time.monotonic(), 0
        for batch, cursor in self.batches(checkpoint.cursor):
            added = self.write(batch)
            checkpoint.cursor = cursor
            for name in ("moved", "skipped", "chunks", "reembedded"):
                setattr(checkpoint, name, getattr(checkpoint, name) + added[name])
            self.save_checkpoint(checkpoint)
            self.progress.advance(added["moved"] + added["skipped"])
            done_here += len(batch)
            if max_rate:
                time.sleep(max(0.0, done_here / max_rate - (time.monotonic() - began)))
        checkpoint.done = True
        self.save_checkpoint(checkpoint)
        self.progress.finish()
        for name in ("moved", "skipped", "chunks", "reembedded"):
            setattr(report, name, getattr(checkpoint, name) - getattr(earlier, name))
        report.moved_earlier = earlier.moved
        for ident, reason in getattr(self.source, "rejected", {}).items():
            self.fail(ident, reason)

    def batches(self, cursor: str | None) -> Iterator[tuple[list[Memory], str]]:
        """Source batches after ``cursor``; a failed read restarts the scan at the last cursor."""
        failures = 0
        while True:
            try:
                for batch, after in self.source.scan(
                    self.flt, batch_size=self.batch_size, cursor=cursor
                ):
                    failures, cursor = 0, after
                    yield batch, after
                return
            except StoreUnavailable as exc:
                failures += 1
                if failures >= RETRY_ATTEMPTS:
                    raise gave_up(exc, "reading the source") from exc
                time.sleep(backoff(failures))

    def write(self, batch: list[Memory]) -> dict[str, int]:
        counts = {"moved": 0, "skipped": 0, "chunks": 0, "reembedded": 0}
        admitted = within_limits(batch, self.fail)
        batch = self.with_vectors(placeable(admitted, self.target), counts)
        if not batch:
            return counts
        self._ready()
        try:
            results = retrying(lambda: self.target.add(batch), "writing")
        except (Conflict, InvalidInput, IncompatibleEmbedding):
            # One memory the target refuses (an id it holds with other content, say) must
            # not stop the rest: write one by one and list the refused ones.
            results = []
            for memory in batch:
                try:
                    results += retrying(partial(self.target.add, [memory]), "writing")
                except (Conflict, InvalidInput, IncompatibleEmbedding) as exc:
                    self.fail(memory.id, exc.message)
        for memory, created in results:
            if memory.parent_id is not None:
                counts["chunks"] += created
            else:
                counts["moved" if created else "skipped"] += 1
        return counts

    def fail(self, ident: str, reason: str) -> None:
        self.report.failed += 1
        if len(self.report.failures) < MAX_FAILURES_LISTED:
            self.report.failures.append((ident, reason))

    def with_vectors(self, batch: list[Memory], counts: dict[str, int]) -> list[Memory]:
        """Recompute vectors when asked, and for memories the source had none for."""
        need = batch if self.reembed else [m for m in batch if m.embedding is None]
        if not need:
            return batch
        spec = self.target.embedding_spec()
        if spec is not None and spec != self.embedder.spec:
            for m in need:
                self.fail(m.id, "no vector, and the local model is not the target's")
            return [m for m in batch if m.embedding is not None]
        # A turn's earlier turns come from the source when it is a store (it holds
        # them all, whatever order the batches come in); a dump or another tool's
        # data cannot be queried, so its turns get their header and no earlier turns.
        history = self.source if isinstance(self.source, Store) else None
        vectors = MemoryVectors(self.embedder, TurnContext.from_settings(self.settings))
        fresh = {m.id: m for m in vectors.reembed(need, history)}
        counts["reembedded"] += len(fresh)
        return [fresh.get(m.id, m) for m in batch]

    def verify(self, *, exact: bool) -> Verification:
        source = inventory(self.source, self.flt, self.progress, "Verifying source")
        target = inventory(self.target, self.flt, self.progress, "Verifying target")
        return compare(source, target, exact=exact)


def _nothing() -> None:
    pass


__all__ = ["MigrationReport", "fingerprint", "migrate", "retrying"]
