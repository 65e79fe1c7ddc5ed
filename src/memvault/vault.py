"""The Vault: the one service every interface calls; this module reads as its public API.

It owns a Store and an Embedder and checks input; the work is composed: the
write path (``writing.Writer``), hybrid retrieval (``search/``), upkeep
(``vault.upkeep``), API keys (``vault.keys``), stats and health (``status``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from . import status
from .access.keys import KeyRing
from .config import Settings
from .embedding import Embedder, QueryCache, open_embedder
from .errors import InvalidInput, NotFound
from .inputs import build_memory, check_changes, check_k, check_query, check_ref
from .limits import check_namespace, check_time, normalize_tags
from .maintenance.upkeep import Upkeep
from .memory_vectors import ChunkProgress
from .model import Filter, FilterArg, Hit, Memory, StoreResult, utcnow
from .search.hybrid import SearchSettings
from .search.options import MAX_HALF_LIFE_DAYS, MAX_RECENCY, with_recency
from .search.recall import Recall, When, time_window
from .search.searcher import Searcher
from .search.similar import nearest_to
from .search.timephrase import TimeRange
from .stores import Page, Store, open_store
from .stores.pending import open_on_write
from .transfer import backup as backups
from .transfer.progress import NULL_PROGRESS, Progress
from .transfer.switch import store_url_for
from .turns import TurnContext
from .writing import STORE_BATCH, Writer

if TYPE_CHECKING:  # the Redis client is imported only by a server configured to use it
    from .search.shared_results import SharedResults

Observer = Callable[[str, float], None]
# Spelled once here: inside Vault, ``list`` names the method, not the builtin.
Hits = list[Hit]
# The search bounds are the MCP schema's too; Recall is part of the Vault's API.
__all__ = ["MAX_HALF_LIFE_DAYS", "MAX_RECENCY", "Recall", "Vault"]


class Vault:
    """Persistent memory: store, search, recall, update, delete, stats.

    Open one with ``Vault.open(url)``; it is also a context manager. The upkeep
    calls (duplicates, consolidate, archive, summarize, optimize, undo) are on
    ``vault.upkeep`` (``maintenance.upkeep.Upkeep``), the store's API keys on
    ``vault.keys`` (``access.keys.KeyRing``).
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: Settings | None = None,
        *,
        search_settings: SearchSettings | None = None,
        turn_context: TurnContext | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.store_backend = store
        self.embedder = embedder
        self.settings = settings or Settings.from_env()
        self.search_settings = search_settings or SearchSettings()
        self.turn_context = turn_context or TurnContext.from_settings(self.settings)
        self.observer = observer
        # Ranks a search's words while its query is embedded, and writes a batch
        # while the next is embedded (threads start on first use).
        self._background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="memvault-words")
        self.searcher = Searcher(store, embedder, self.settings, self._background, self._timed)
        # With shared results, the searcher's store announces every write.
        store = self.store_backend = self.searcher.store
        self.writer = Writer(
            store, embedder, self.settings, self.turn_context, self._background, self._timed
        )
        self.keys = KeyRing(store)
        self.upkeep = Upkeep(
            store, embedder, self.settings, scope=self._filter, embed=self.writer.embed
        )

    @property
    def queries(self) -> QueryCache:
        """The query-vector cache (its hits and misses are in the metrics)."""
        return self.searcher.queries

    @property
    def results(self) -> SharedResults | None:
        """The fleet's shared search results, when ``MEMVAULT_CACHE_URL`` is set."""
        return self.searcher.results

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        create: bool | Literal["on_write"] = True,
        **kw: Any,
    ) -> Vault:
        """Open the store at ``url`` (default: the configured one) with the local model.

        Without ``create``, a store that does not exist yet is NotFound (nothing is made).
        With ``"on_write"``, it is made by the first write, so a call refused for its
        input leaves none behind (for one command: ``stores.pending``).
        An mcp-memory-service database is imported once into a store beside it,
        which is opened instead (``transfer.switch``).
        """
        settings = settings or Settings.from_env()
        url = store_url_for(url or settings.store_url, settings)
        store = (
            open_on_write(url, settings)
            if create == "on_write"
            else open_store(url, settings, create=create)
        )
        return cls(store, embedder or open_embedder(settings), settings, **kw)

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._background.shutdown(wait=True)
        self.searcher.close()
        self.store_backend.close()

    def _ns(self, namespace: str | None) -> str:
        return check_namespace(namespace if namespace is not None else self.settings.namespace)

    def _filter(self, flt: FilterArg, namespace: str | None) -> Filter:
        ns = self._ns(namespace)
        if isinstance(flt, Filter):
            return flt.with_changes(namespace=ns)
        return Filter.from_dict(dict(flt) if flt else None, namespace=ns)

    def _timed(self, name: str, started: float) -> None:
        if self.observer is not None:
            self.observer(name, time.perf_counter() - started)

    # -- writing ------------------------------------------------------------
    def store(
        self,
        content: str,
        *,
        tags: Sequence[str] | None = None,
        memory_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        importance: float | None = None,
        namespace: str | None = None,
        created_at: datetime | str | None = None,
        expires_at: datetime | str | None = None,
        embedding_progress: ChunkProgress | None = None,
    ) -> StoreResult:
        """Store one memory; the same content twice in a namespace is stored once.

        Long content is embedded in chunks; ``embedding_progress(done, total)``
        is called after every ``EMBED_STEP`` of them, to show how far it got.
        """
        item = {
            "content": content,
            "tags": tags,
            "memory_type": memory_type,
            "metadata": metadata,
            "importance": importance,
            "created_at": created_at,
            "expires_at": expires_at,
        }
        ns = self._ns(namespace)
        memory = build_memory(item, ns, self.settings.max_content_bytes)
        return self.writer.store_all([memory], ns, embedding_progress=embedding_progress)[0]

    def store_many(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        namespace: str | None = None,
        batch_size: int = STORE_BATCH,
        progress: Callable[[int], None] | None = None,
    ) -> list[StoreResult]:
        """Store many memories: all are checked first, then embedded and written in batches.

        Each batch is one transaction, written on a background thread while the
        next batch is embedded. Content already stored (or repeated in
        ``items``) is not embedded again and comes back with ``created=False``.
        An error or an interrupt lets the batch being written finish first.
        """
        ns = self._ns(namespace)
        max_bytes = self.settings.max_content_bytes
        memories = [
            build_memory(item, ns, max_bytes, f"items[{i}].") for i, item in enumerate(items)
        ]
        return self.writer.store_all(memories, ns, batch_size, progress)

    def update(
        self,
        ref: str,
        *,
        namespace: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        importance: float | None = None,
        memory_type: str | None = None,
        expires_at: datetime | str | None = None,
    ) -> Memory:
        changes = check_changes(
            tags=tags,
            metadata=metadata,
            importance=importance,
            memory_type=memory_type,
            expires_at=expires_at,
        )
        memory = self.get(ref, namespace=namespace)
        return self.store_backend.update(memory.id, changes)

    def delete(self, ref: str, *, namespace: str | None = None) -> Memory:
        """Delete one memory by id or content hash and return what was deleted."""
        memory = self.get(ref, namespace=namespace)
        self.store_backend.delete([memory.id])
        return memory

    def delete_where(
        self, flt: FilterArg, *, namespace: str | None = None, dry_run: bool = False
    ) -> int:
        """Delete every memory matching a filter; ``dry_run`` only counts them."""
        criteria = self._filter(flt, namespace)
        if criteria.is_namespace_only:
            raise InvalidInput(
                "delete_where needs a filter beyond the namespace (tags, "
                "memory_type, time range or metadata)",
                field="filter",
            )
        if dry_run:
            return self.store_backend.count(criteria)
        ids = [
            m.id
            for batch, _ in self.store_backend.scan(criteria, batch_size=500, with_embedding=False)
            for m in batch
        ]
        return self.store_backend.delete(ids)

    # -- reading ------------------------------------------------------------
    def get(self, ref: str, *, namespace: str | None = None) -> Memory:
        """A memory by id or content hash, in the namespace; NotFound otherwise."""
        memory = self.store_backend.get(check_ref(ref), self._ns(namespace))
        if memory is None or memory.parent_id is not None:
            raise NotFound(f"no memory {ref!r} in namespace {self._ns(namespace)!r}", field="id")
        return memory

    def chunks(self, memory: Memory) -> list[str]:
        """The parts a long memory was embedded in (one part if it fits the model's window)."""
        return self.writer.chunks(memory.content)

    def similar(self, ref: str, *, k: int = 5, namespace: str | None = None) -> list[Hit]:
        """The memories nearest in meaning to one memory, best first (itself left out).

        Each hit's score is the cosine similarity of the nearest of its parts.
        """
        memory, k = self.get(ref, namespace=namespace), check_k(k)
        parts = len(self.chunks(memory))
        return nearest_to(self.store_backend, memory, k, parts, self._filter(None, namespace))

    def list(
        self,
        *,
        namespace: str | None = None,
        filter: FilterArg = None,
        limit: int = 50,
        cursor: str | None = None,
        oldest_first: bool = False,
    ) -> Page:
        return self.store_backend.query(
            self._filter(filter, namespace),
            limit=check_k(limit, "limit"),
            cursor=cursor,
            oldest_first=oldest_first,
        )

    def count(self, *, namespace: str | None = None, filter: FilterArg = None) -> int:
        return self.store_backend.count(self._filter(filter, namespace))

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        namespace: str | None = None,
        filter: FilterArg = None,
        now: datetime | None = None,
        recency: float | None = None,
        half_life_days: float | None = None,
    ) -> Hits:
        """Hybrid search: meaning and words, fused by rank, blended with recency and importance.

        ``now`` is the moment the search is made (default: the current time); it
        dates recency and any time the query names, so results are reproducible.
        ``recency`` (0 to 10; default ``search_settings.recency``, 0) weighs how
        new a memory is: a score is multiplied by ``1 + recency × 0.5 ** (age /
        half_life_days)`` (default half-life 30 days), so 1 doubles the score of
        a memory made now and adds half as much to one a half-life old.
        """
        query, k = check_query(query), check_k(k)
        settings = with_recency(self.search_settings, recency, half_life_days)
        criteria = self._filter(filter, namespace)
        self.searcher.check_model()
        now = check_time(now, "now") if now is not None else utcnow()
        return self.searcher.search(query, k, criteria, settings, now)

    def search_by_tag(
        self,
        tags: Sequence[str] | str,
        *,
        match: str = "any",
        namespace: str | None = None,
        filter: FilterArg = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Memories carrying any (or all) of ``tags``, newest first."""
        wanted = normalize_tags(tags)
        if not wanted:
            raise InvalidInput("give at least one tag", field="tags")
        if match not in {"any", "all"}:
            raise InvalidInput("match must be 'any' or 'all'", field="match")
        criteria = self._filter(filter, namespace).with_changes(
            **{"tags_any" if match == "any" else "tags_all": wanted}
        )
        return self.store_backend.query(criteria, limit=check_k(limit, "limit"), cursor=cursor)

    def recall(
        self,
        when: When,
        *,
        query: str | None = None,
        k: int = 10,
        namespace: str | None = None,
        filter: FilterArg = None,
        now: datetime | None = None,
    ) -> Recall:
        """Memories from a time ("last week", "in March 2025", or a (start, end) pair).

        With ``query``, the best matches within that time; without, the newest.
        The result says which window the phrase was read as.
        """
        span = self.time_range(when, now)
        criteria = self._filter(filter, namespace).with_changes(
            created_after=span.start, created_before=span.end
        )
        if query:
            hits = self.search(query, k=k, namespace=namespace, filter=criteria)
        else:
            page = self.store_backend.query(criteria, limit=check_k(k))
            hits = [Hit(m, 1.0, {}) for m in page.memories]
        return Recall(span, hits)

    @staticmethod
    def time_range(when: When, now: datetime | None = None) -> TimeRange:
        """The window a phrase or a (start, end) pair names, as ``recall`` reads it."""
        return time_window(when, now)

    # -- about the vault ----------------------------------------------------
    @property
    def url(self) -> str:
        """The store's URL, password removed."""
        return self.store_backend.url

    def identity(self) -> str:
        """The store's own id: the same for every process that opens it."""
        return self.store_backend.identity()

    def total(self) -> int:
        """How many memories the store holds, every namespace."""
        return self.store_backend.count(Filter(namespace=None))

    def backup(
        self, *, keep: int = backups.DEFAULT_KEEP, progress: Progress = NULL_PROGRESS
    ) -> backups.BackupResult:
        """A timestamped dump of the whole store (SQLite: also a file copy) in
        ``<data dir>/backups``; the newest ``keep`` backups of the store are kept."""
        return backups.backup(self.store_backend, self.settings, keep=keep, progress=progress)

    def stats(self, *, namespace: str | None = None) -> dict[str, Any]:
        """Totals, by type, top tags, per month, size and model; all namespaces if None."""
        return status.stats(
            self.store_backend, self.embedder, check_namespace(namespace) if namespace else None
        )

    def health(self) -> dict[str, Any]:
        """Cheap: checks the store answers; never loads the model."""
        return status.health(self.store_backend, self.embedder)
