"""The Vault: the one service every interface calls.

It owns a Store and an Embedder, checks input, chunks long content, embeds in
batches, and runs hybrid retrieval (vector + full text, fused by reciprocal
rank, then blended with recency and importance).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from .chunking import split_into_chunks, window_chars
from .config import Settings
from .embedding import Embedder, QueryCache, open_embedder
from .errors import IncompatibleEmbedding, InvalidInput, NotFound
from .inputs import build_memory, check_k, check_number, check_query
from .limits import (
    check_importance,
    check_memory_type,
    check_metadata,
    check_namespace,
    check_time,
    has_control,
    is_utf8,
    normalize_tags,
)
from .maintenance.upkeep import Upkeep
from .model import Filter, FilterArg, Hit, Memory, MemoryChanges, StoreResult, utcnow
from .search.hybrid import SearchSettings, hybrid_search
from .search.timephrase import TimeRange, parse_time_phrase
from .stores import Page, Store, open_store
from .transfer.switch import store_url_for, switch_record
from .turns import TurnContext, prefixes

if TYPE_CHECKING:  # the Redis client is imported only by a server configured to use it
    from .search.shared_results import SharedResults

Observer = Callable[[str, float], None]
STORE_BATCH = 256
# Spelled once here: inside Vault, ``list`` names the method, not the builtin.
Hits = list[Hit]
# The most a search may weigh recency: at 10 a memory made now scores 11 times
# one with the same relevance made long ago.
MAX_RECENCY = 10.0
MAX_HALF_LIFE_DAYS = 36_500.0


@dataclass(frozen=True)
class Recall:
    """What ``Vault.recall`` found, and the time window it looked in."""

    span: TimeRange
    hits: list[Hit]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.span.start.isoformat(),
            "end": self.span.end.isoformat(),
            "hits": [h.to_dict() for h in self.hits],
        }


class Vault:
    """Persistent memory: store, search, recall, update, delete, stats.

    Open one with ``Vault.open(url)``; it is also a context manager. The upkeep
    calls (duplicates, consolidate, archive, summarize, optimize, undo) are on
    ``vault.upkeep`` (``maintenance.upkeep.Upkeep``).
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
        turns = self.settings.context_turns  # 0: every memory embedded alone, no date either
        self.turn_context = turn_context or TurnContext(turns=turns, date=turns > 0)
        shared = None
        if self.settings.cache_url:
            from .embedding.shared_cache import SharedVectors  # imports the Redis client

            shared = SharedVectors(self.settings.cache_url, embedder.spec)
        self.queries = QueryCache(embedder, self.settings.query_cache_size, shared)
        self.results: SharedResults | None = None
        if self.settings.cache_url:
            from .search.shared_results import AnnouncedWrites, SharedResults

            self.results = SharedResults(self.settings.cache_url, store.identity())
            # Every write from here on, the upkeep's too, drops the results it could change.
            store = cast(Store, AnnouncedWrites(store, self.results))
            self.store_backend = store
        self.observer = observer
        self._chunk_chars = window_chars(embedder.max_tokens)
        # Ranks a search's words while its query is embedded (threads start on first use).
        self._background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="memvault-words")
        self.upkeep = Upkeep(
            store, embedder, self.settings, scope=self._filter, embed=self._embed_with_chunks
        )

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        create: bool = True,
        **kw: Any,
    ) -> Vault:
        """Open the store at ``url`` (default: the configured one) with the local model.

        Without ``create``, a store that does not exist yet is NotFound (nothing is made).
        An mcp-memory-service database is imported once into a store beside it,
        which is opened instead (``transfer.switch``).
        """
        settings = settings or Settings.from_env()
        url = store_url_for(url or settings.store_url, settings)
        store = open_store(url, settings, create=create)
        return cls(store, embedder or open_embedder(settings), settings, **kw)

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._background.shutdown(wait=True)
        if self.queries.shared is not None:
            self.queries.shared.close()
        if self.results is not None:
            self.results.close()
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
    ) -> StoreResult:
        """Store one memory; the same content twice in a namespace is stored once."""
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
        return self._store_all([build_memory(item, ns, self.settings.max_content_bytes)], ns)[0]

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
        return self._store_all(memories, ns, batch_size, progress)

    def _store_all(
        self,
        memories: list[Memory],
        namespace: str,
        batch_size: int = STORE_BATCH,
        progress: Callable[[int], None] | None = None,
    ) -> list[StoreResult]:
        started = time.perf_counter()
        first_of: dict[str, Memory] = {}
        for memory in memories:
            first_of.setdefault(memory.content_hash, memory)
        existing = self.store_backend.existing_hashes(namespace, sorted(first_of))
        new = [m for content_hash, m in first_of.items() if content_hash not in existing]
        self._check_chunks(memories, new)
        # A turn's context comes from every item before it, the repeated ones too.
        prefix_of = dict(zip(map(id, memories), self._turn_prefixes(memories), strict=True))
        stored: dict[str, tuple[Memory, bool]] = {}

        def written(done: dict[str, tuple[Memory, bool]]) -> None:
            stored.update(done)
            if progress is not None:
                progress(len(done))

        batches = [new[i : i + batch_size] for i in range(0, len(new), batch_size)]
        writing: Future[dict[str, tuple[Memory, bool]]] | None = None
        try:
            for number, batch in enumerate(batches):
                records = self._embed_with_chunks(batch, [prefix_of[id(m)] for m in batch])
                if writing is not None:
                    done, writing = writing.result(), None
                    written(done)
                if number + 1 < len(batches):
                    writing = self._background.submit(self._write, records)
                else:  # nothing left to embed meanwhile
                    written(self._write(records))
        finally:
            if writing is not None:
                written(writing.result())
        for content_hash in existing:  # stored before this call: read each once
            found = self.store_backend.get(content_hash, namespace)
            stored[content_hash] = (found or first_of[content_hash], False)
        out = []
        for memory in memories:
            kept, created = stored[memory.content_hash]
            out.append(StoreResult(kept, created and first_of[memory.content_hash] is memory))
        if progress is not None and len(memories) > len(new):
            progress(len(memories) - len(new))  # the repeated and the already stored
        self._timed("store", started)
        return out

    def _write(self, records: list[Memory]) -> dict[str, tuple[Memory, bool]]:
        """One transaction; each memory (chunks left out) by its content hash."""
        self.store_backend.bind_embedding(self.embedder.spec)
        return {
            m.content_hash: (m, created)
            for m, created in self.store_backend.add(records)
            if m.parent_id is None
        }

    def _check_chunks(self, memories: list[Memory], new: list[Memory]) -> None:
        """Refuse, before anything is embedded, content that would take more chunks than
        ``max_chunks``: its cost is known now, and paying it could take minutes."""
        budget = self.settings.max_chunks
        for memory in new:
            if len(memory.content) <= self._chunk_chars:
                continue  # one chunk
            chunks = len(split_into_chunks(memory.content, self._chunk_chars))
            if chunks > budget:
                where = "" if len(memories) == 1 else f"items[{memories.index(memory)}]."
                raise InvalidInput(
                    f"{where}content would be embedded as {chunks} chunks of up to "
                    f"{self._chunk_chars} characters, over the limit of {budget} "
                    "(MEMVAULT_MAX_CHUNKS); each chunk costs the model about as much as a "
                    "paragraph. Store it as several smaller memories, or raise the limit",
                    field=f"{where}content",
                )

    def _turn_prefixes(self, memories: list[Memory]) -> list[str]:
        """What each memory's first chunk is embedded after (``turns``): "" for most."""

        def earlier(namespace: str, session: object, first: Memory, count: int) -> list[str]:
            if count == 0:
                return []
            flt = Filter(
                namespace=namespace,
                metadata={"session": session},
                created_before=first.created_at,
            )
            page = self.store_backend.query(flt, limit=count)
            return [m.content for m in reversed(page.memories)]

        return prefixes(memories, self.turn_context, earlier)

    def _embed_with_chunks(
        self, memories: list[Memory], prefixes: Sequence[str] | None = None
    ) -> list[Memory]:
        """The memories with vectors, each followed by its chunk records if it is long.

        ``prefixes`` (one per memory) are embedded before a memory's first chunk
        (``turns``); the stored content stays the memory's own.
        """
        if not memories:
            return []
        texts: list[str] = []
        chunks: list[str] = []
        owners: list[tuple[int, int]] = []
        for i, memory in enumerate(memories):
            for j, chunk in enumerate(split_into_chunks(memory.content, self._chunk_chars)):
                chunks.append(chunk)
                texts.append(prefixes[i] + chunk if prefixes and j == 0 else chunk)
                owners.append((i, j))
        started = time.perf_counter()
        vectors = self.embedder.embed(texts)
        self._timed("embed", started)
        records: list[Memory] = []
        for (i, j), text, vector in zip(owners, chunks, vectors, strict=True):
            parent = memories[i]
            if j == 0:
                records.append(parent.with_changes(embedding=vector))
            else:
                # An empty content_hash is recomputed from the chunk's own text.
                records.append(
                    parent.with_changes(
                        id=f"{parent.id}#{j}",
                        content=text,
                        content_hash="",
                        parent_id=parent.id,
                        chunk_index=j,
                        embedding=vector,
                    )
                )
        return records

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
        changes = MemoryChanges(
            tags=normalize_tags(tags) if tags is not None else None,
            metadata=check_metadata(metadata) if metadata is not None else None,
            importance=check_importance(importance) if importance is not None else None,
            memory_type=check_memory_type(memory_type) if memory_type is not None else None,
            expires_at=check_time(expires_at, "expires_at") if expires_at is not None else None,
        )
        if changes.is_empty():
            raise InvalidInput(
                "nothing to update: give tags, metadata, importance, memory_type or expires_at",
                field="changes",
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
        if not isinstance(ref, str) or not ref.strip() or not is_utf8(ref) or has_control(ref):
            raise InvalidInput(
                "id or content_hash must be a non-empty UTF-8 string without control characters",
                field="id",
            )
        memory = self.store_backend.get(ref.strip(), self._ns(namespace))
        if memory is None or memory.parent_id is not None:
            raise NotFound(f"no memory {ref!r} in namespace {self._ns(namespace)!r}", field="id")
        return memory

    def chunks(self, memory: Memory) -> list[str]:
        """The parts a long memory was embedded in (one part if it fits the model's window)."""
        return split_into_chunks(memory.content, self._chunk_chars)

    def similar(self, ref: str, *, k: int = 5, namespace: str | None = None) -> list[Hit]:
        """The memories nearest in meaning to one memory, best first (itself left out).

        Each hit's score is the cosine similarity of the nearest of its parts.
        """
        memory, k = self.get(ref, namespace=namespace), check_k(k)
        vector = self.store_backend.get_many([memory.id], with_embedding=True)[0].vector()
        # Its own parts and several parts of one long memory can take places: ask for more.
        candidates = self.store_backend.vector_search(
            vector, 2 * k + len(self.chunks(memory)), self._filter(None, namespace)
        )
        best: dict[str, float] = {}
        for candidate in candidates:
            owner = candidate.memory_id
            if owner != memory.id and owner not in best:
                best[owner] = candidate.score
        kept = list(best)[:k]
        found = {m.id: m for m in self.store_backend.get_many(kept)}
        return [Hit(found[i], best[i], {"vector": best[i]}) for i in kept if i in found]

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
        settings = self.search_settings
        if recency is not None or half_life_days is not None:
            settings = dataclasses.replace(
                settings,
                recency=settings.recency
                if recency is None
                else check_number(recency, "recency", 0, MAX_RECENCY),
                half_life_days=settings.half_life_days
                if half_life_days is None
                else check_number(
                    half_life_days, "half_life_days", 0, MAX_HALF_LIFE_DAYS, low_open=True
                ),
            )
        criteria = self._filter(filter, namespace)
        self._check_model()
        now = check_time(now, "now") if now is not None else utcnow()
        started = time.perf_counter()
        # A query asked before skips the model, and then there is nothing to overlap.
        background = None if query in self.queries else self._background

        def run() -> list[Hit]:
            return hybrid_search(
                self.store_backend,
                query,
                self.queries.vector,
                k,
                criteria,
                settings,
                now,
                background=background,
            )

        question = (query, k, criteria, settings, self.embedder.spec.model)
        hits = run() if self.results is None else self.results.search(question, now, run)
        self._timed("search", started)
        return hits

    def _check_model(self) -> None:
        """Refuse to compare the store's vectors with another model's query vectors."""
        held, local = self.store_backend.embedding_spec(), self.embedder.spec
        if held is not None and held != local:
            url = self.store_backend.url
            raise IncompatibleEmbedding(
                f"store {url} holds vectors of {held.model} ({held.dimension} dimensions) but "
                f"the local model is {local.model} ({local.dimension}): a search would compare "
                f"the two models' vectors. Set MEMVAULT_EMBEDDING_MODEL to the store's model, "
                f"or copy the store with new vectors: memvault migrate '{url}' NEW_URL --reembed",
                field="embedding_model",
            )

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
        when: str | tuple[datetime | str, datetime | str],
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
    def time_range(
        when: str | tuple[datetime | str, datetime | str], now: datetime | None = None
    ) -> TimeRange:
        """The window a phrase or a (start, end) pair names, as ``recall`` reads it."""
        if isinstance(when, str):
            return parse_time_phrase(when, check_time(now, "now") if now is not None else None)
        if isinstance(when, tuple | list) and len(when) == 2:
            return TimeRange(check_time(when[0], "start"), check_time(when[1], "end"))
        raise InvalidInput("time must be a phrase or a (start, end) pair", field="time")

    # -- about the vault ----------------------------------------------------
    def stats(self, *, namespace: str | None = None) -> dict[str, Any]:
        """Totals, by type, top tags, per month, size and model; all namespaces if None."""
        s = self.store_backend.stats(check_namespace(namespace) if namespace else None)
        spec = self.store_backend.embedding_spec()
        return {
            "total": s.total,
            "namespaces": s.namespaces,
            "by_type": s.by_type,
            "top_tags": [{"tag": t, "count": n} for t, n in s.top_tags],
            "per_month": s.per_month,
            "oldest": s.oldest,
            "newest": s.newest,
            "size_bytes": self.store_backend.size_bytes(),
            "store": self.store_backend.url,
            "model": spec.model if spec else self.embedder.spec.model,
            "dimension": spec.dimension if spec else self.embedder.spec.dimension,
            "runtime": self.embedder.runtime,
            **s.extra,
        }

    def health(self) -> dict[str, Any]:
        """Cheap: checks the store answers; never loads the model."""
        store = self.store_backend.health()
        switched = switch_record(self.store_backend)
        if switched is not None:
            store["imported_from_mcp_memory_service"] = switched
        # A store that answers but cannot do everything (damaged, full, read-only) lists why.
        status = "degraded" if store.get("problems") else "ok"
        return {
            "status": status,
            "store": {"url": self.store_backend.url, **store},
            "model": self.embedder.spec.model,
            "dimension": self.embedder.spec.dimension,
            "runtime": self.embedder.runtime,
            "model_loaded": bool(getattr(self.embedder, "loaded", False)),
        }
