"""Prometheus metrics of the HTTP service, in a registry of its own per app.

Latencies are histograms: HTTP requests by route template (never the raw path,
which would make one series per memory id), and Vault operations (``search``,
``store``, ``embed``) fed by the Vault's ``observer`` hook. Values that the
Vault already keeps (query-embedding cache hits and misses, the memory count)
are read when /metrics is scraped rather than copied on every change.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .errors import MemvaultError
from .vault import Vault

# Sub-millisecond store lookups up to multi-second batch embeddings.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The service's metrics; ``observe_operation`` is the Vault observer to install."""

    def __init__(self, vault: Vault) -> None:
        # The *_created series (process-wide switch) only double the output.
        disable_created_metrics()
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "memvault_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.operations = Histogram(
            "memvault_operation_duration_seconds",
            "Vault operation latency: search (whole hybrid search), store (one batch "
            "written, embedding included), embed (model time for a batch of texts).",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_VaultCollector(vault))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).observe(seconds)

    def observe_operation(self, name: str, seconds: float) -> None:
        self.operations.labels(name).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class _VaultCollector(Collector):
    """Reads the Vault's own counters at scrape time."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def collect(self) -> Iterator[Metric]:
        queries = self.vault.queries
        yield CounterMetricFamily(
            "memvault_query_embedding_cache_hits",
            "Searches whose query vector came from the cache.",
            value=queries.hits,
        )
        yield CounterMetricFamily(
            "memvault_query_embedding_cache_misses",
            "Searches that had to embed their query.",
            value=queries.misses,
        )
        up = GaugeMetricFamily("memvault_store_up", "1 if the store answered this scrape.")
        try:
            total = self.vault.total()
        except MemvaultError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "memvault_memories", "Memories in the store, all namespaces.", value=total
        )
