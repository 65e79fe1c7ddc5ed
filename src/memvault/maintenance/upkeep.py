"""Upkeep of a store: duplicates, consolidation, archives, summaries, optimize, undo.

A Vault holds one ``Upkeep`` as ``vault.upkeep``. It is given what it needs
(the store, the embedder, the settings, the Vault's way to scope a filter to a
namespace and its way to embed memories with their chunks) rather than
inheriting them, so it never imports the Vault. Backups of consolidations go
to ``<data_dir>/backups``, archives (also of expired memories) to
``<data_dir>/archives`` unless a path is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..config import Settings
from ..embedding.base import Embedder
from ..errors import InvalidInput
from ..files import namespace_slug
from ..inputs import build_memory, check_k
from ..limits import check_namespace
from ..model import Filter, FilterArg, Memory, utcnow
from ..stores.base import RepairsInBackground, Store
from .age import cutoff
from .analytics import detailed_stats
from .archiving import archive, restore_archive
from .consolidation import consolidate
from .duplicates import DEFAULT_THRESHOLD, DuplicatePlan, check_threshold, find_duplicates
from .oplog import Operation, OperationLog, Progress, resume, undo
from .optimize import OptimizeReport, optimize
from .selection import ClusterChoice, choose
from .summarize import (
    DEFAULT_SIMILARITY,
    MAX_GROUP,
    MIN_GROUP,
    check_groups,
    plan_summaries,
    summarize,
)
from .summarizers import ChatSummarizer, ExtractiveSummarizer, Summarizer

Scope = Callable[[FilterArg, "str | None"], Filter]
Embed = Callable[[list[Memory]], list[Memory]]


class Upkeep:
    """The upkeep calls of one Vault; every interface reaches them as ``vault.upkeep``."""

    def __init__(
        self, store: Store, embedder: Embedder, settings: Settings, *, scope: Scope, embed: Embed
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self._scope = scope
        self._embed = embed

    def find_duplicates(
        self,
        *,
        namespace: str | None = None,
        filter: FilterArg = None,
        threshold: float = DEFAULT_THRESHOLD,
        keep: str = "newest",
        method: str = "auto",
        progress: Progress | None = None,
    ) -> DuplicatePlan:
        """Exact and near duplicates in a namespace, clustered, with a plan to merge them."""
        return find_duplicates(
            self.store,
            self._scope(filter, namespace),
            threshold=threshold,
            keep=keep,
            method=method,
            progress=progress,
        )

    def choose_duplicates(
        self, plan: DuplicatePlan, choices: Mapping[str, ClusterChoice]
    ) -> DuplicatePlan:
        """A plan as a person reviewed it: chosen survivors, members left out (``selection``)."""
        return choose(self.store, plan, choices)

    def consolidate(self, plan: DuplicatePlan, *, progress: Progress | None = None) -> Operation:
        """Merge a plan's clusters (backup and operation log first); undo with ``undo``."""
        return consolidate(
            self.store, plan, backup_dir=self._upkeep_dir("backups"), progress=progress
        )

    def archive(
        self,
        *,
        older_than: str | timedelta | datetime | None = None,
        namespace: str | None = None,
        filter: FilterArg = None,
        path: str | Path | None = None,
        progress: Progress | None = None,
    ) -> Operation | None:
        """Move matching memories (with vectors) to a dump file; None if nothing matched."""
        criteria = self.archive_selection(filter, namespace, older_than)
        # Named by the server: a namespace's slug and hash, never the namespace as sent.
        target = (
            Path(path)
            if path
            else self._upkeep_dir("archives")
            / (f"{namespace_slug(criteria.namespace or '')}-{utcnow():%Y%m%dT%H%M%S%f}.jsonl.gz")
        )
        return archive(self.store, criteria, target, progress=progress)

    def restore_archive(
        self, path: str | Path, *, progress: Progress | None = None
    ) -> dict[str, int]:
        """Bring an archive's memories back, skipping any whose content is back already."""
        return restore_archive(self.store, Path(path), progress=progress)

    def summarize(
        self,
        *,
        older_than: str | timedelta | datetime | None = None,
        namespace: str | None = None,
        filter: FilterArg = None,
        similarity: float = DEFAULT_SIMILARITY,
        min_group: int = MIN_GROUP,
        max_group: int = MAX_GROUP,
        archive_originals: bool = False,
        dry_run: bool = False,
        summarizer: Summarizer | None = None,
        progress: Progress | None = None,
    ) -> tuple[list[dict[str, Any]], Operation | None]:
        """Store one summary per group of related memories; the items and the operation.

        ``dry_run`` returns the items without storing anything.
        """
        criteria = self.selection(filter, namespace, older_than)
        similarity = check_threshold(similarity, "similarity")
        check_groups(min_group, max_group)
        items = plan_summaries(
            self.store,
            criteria,
            summarizer or self.summarizer(),
            similarity=similarity,
            min_group=min_group,
            max_group=max_group,
            progress=progress,
        )
        if dry_run:
            return items, None
        ns = criteria.namespace or self.settings.namespace

        def prepare(batch: list[dict[str, Any]]) -> list[Any]:
            self.store.bind_embedding(self.embedder.spec)
            return self._embed(
                [build_memory(item, ns, self.settings.max_content_bytes) for item in batch]
            )

        op = summarize(
            self.store,
            criteria,
            items,
            prepare,
            archive_originals=archive_originals,
            archive_dir=self._upkeep_dir("archives"),
            progress=progress,
        )
        return items, op

    def summarizer(self) -> Summarizer:
        """The configured summarizer: the chat endpoint if one is set, else extractive."""
        if self.settings.summary_url:
            return ChatSummarizer(
                self.settings.summary_url,
                self.settings.summary_model or "",
                api_key=self.settings.summary_api_key,
            )
        return ExtractiveSummarizer(self.embedder.embed)

    def optimize(self, *, progress: Progress | None = None) -> OptimizeReport:
        """Archive and remove expired memories, then compact and re-index the store."""
        return optimize(self.store, self._upkeep_dir("archives"), progress=progress)

    def repair_in_background(self) -> str | None:
        """For a long-running process: start rebuilding in the background what an
        interrupted upkeep or an upgrade left missing in the store (``RepairsInBackground``:
        a PostgreSQL store's vector graphs and its postings' visibility map); what is
        happening, in words, or None."""
        store = self.store
        return store.repair_in_background() if isinstance(store, RepairsInBackground) else None

    def detailed_stats(
        self, *, namespace: str | None = None, duplicates: bool = True, top: int = 20
    ) -> dict[str, Any]:
        """Distributions, growth, largest memories and the duplicate ratio."""
        return detailed_stats(
            self.store,
            check_namespace(namespace) if namespace else None,
            top=check_k(top, "top"),
            duplicates=duplicates,
        )

    def undo(
        self, operation_id: str, *, force: bool = False, progress: Progress | None = None
    ) -> Operation:
        """Reverse a logged maintenance operation (see ``operations``)."""
        return undo(self.store, operation_id, force=force, progress=progress)

    def resume(
        self, *, kind: str | None = None, progress: Progress | None = None
    ) -> list[Operation]:
        """Finish maintenance operations that were interrupted (by a crash, a kill)."""
        return resume(self.store, kind=kind, progress=progress)

    def operations(self, *, namespace: str | None = None) -> list[Operation]:
        """The maintenance operations logged in this store, oldest first."""
        return OperationLog(self.store).list(namespace=namespace)

    def selection(
        self, flt: FilterArg, namespace: str | None, older_than: str | timedelta | datetime | None
    ) -> Filter:
        """The filter an upkeep call works on: ``flt`` in the namespace, older than an age."""
        criteria = self._scope(flt, namespace)
        if older_than is not None:
            criteria = criteria.with_changes(created_before=cutoff(older_than))
        return criteria

    def archive_selection(
        self, flt: FilterArg, namespace: str | None, older_than: str | timedelta | datetime | None
    ) -> Filter:
        """What an archive takes: never a whole namespace by accident."""
        criteria = self.selection(flt, namespace, older_than)
        if criteria.is_namespace_only:
            raise InvalidInput(
                "archive needs older_than or another filter; it never takes a "
                "whole namespace by accident",
                field="older_than",
            )
        return criteria

    def _upkeep_dir(self, name: str) -> Path:
        return self.settings.data_dir / name
