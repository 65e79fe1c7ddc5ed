"""How a Vault runs a checked search: the model check, the caches, the overlap.

The ``Searcher`` holds what a search needs besides its arguments: the query
vector cache (``embedding.cache``), the fleet's shared results when
``MEMVAULT_CACHE_URL`` is set (``shared_results``), and the executor that ranks
a query's words while its vector is computed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, cast

from ..config import Settings
from ..embedding import Embedder, QueryCache
from ..errors import IncompatibleEmbedding
from ..model import Filter, Hit
from ..stores.base import Store
from .hybrid import SearchSettings, hybrid_search

if TYPE_CHECKING:  # the Redis client is imported only by a server configured to use it
    from .shared_results import SharedResults


class Searcher:
    """Hybrid searches over one store with one model; ``store`` is the store to write to."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: Settings,
        background: Executor,
        timed: Callable[[str, float], None],
    ) -> None:
        self.embedder = embedder
        self.queries = QueryCache.for_settings(embedder, settings)
        self.results: SharedResults | None = None
        if settings.cache_url:
            from .shared_results import AnnouncedWrites, SharedResults

            self.results = SharedResults(settings.cache_url, store.identity())
            # Every write from here on, the upkeep's too, drops the results it could change.
            store = cast(Store, AnnouncedWrites(store, self.results))
        self.store = store
        self._background = background
        self._timed = timed

    def search(
        self, query: str, k: int, criteria: Filter, settings: SearchSettings, now: datetime
    ) -> list[Hit]:
        """The ``k`` best hits of checked arguments, the shared results' if they hold them."""
        started = time.perf_counter()
        # A query asked before skips the model, and then there is nothing to overlap.
        background = None if query in self.queries else self._background
        run = partial(
            hybrid_search,
            self.store,
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

    def check_model(self) -> None:
        """Refuse to compare the store's vectors with another model's query vectors."""
        held, local = self.store.embedding_spec(), self.embedder.spec
        if held is not None and held != local:
            url = self.store.url
            raise IncompatibleEmbedding(
                f"store {url} holds vectors of {held.model} ({held.dimension} dimensions) but "
                f"the local model is {local.model} ({local.dimension}): a search would compare "
                f"the two models' vectors. Set MEMVAULT_EMBEDDING_MODEL to the store's model, "
                f"or copy the store with new vectors: memvault migrate '{url}' NEW_URL --reembed",
                field="embedding_model",
            )

    def close(self) -> None:
        if self.queries.shared is not None:
            self.queries.shared.close()
        if self.results is not None:
            self.results.close()
