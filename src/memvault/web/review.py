"""The Defragmenter's analyses in this server process, and a person's choices on each.

An analysis is a job (``maintenance.jobs``) that plans the merge of duplicates;
its plan and the choices made while reviewing it are kept here, by the job's
id, until the server stops (the newest ``KEEP``). Choices become a plan to
merge through ``Vault.choose_duplicates``, so nothing here decides what a
merge does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFound
from ..maintenance.duplicates import DuplicateCluster, DuplicatePlan
from ..maintenance.selection import ClusterChoice
from .deps import kept_on

KEEP = 20


@dataclass
class Review:
    """One analysis: where it looked, its plan once made, and what was chosen so far."""

    job_id: str
    namespace: str
    scope: dict[str, Any]
    plan: DuplicatePlan | None = None
    choices: dict[str, ClusterChoice] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    applied_job: str | None = None

    def cluster(self, number: int) -> DuplicateCluster:
        """The ``number``-th cluster (from 1)."""
        if self.plan is None or not 1 <= number <= len(self.plan.clusters):
            raise NotFound(f"no cluster {number} in this analysis", field="cluster")
        return self.plan.clusters[number - 1]

    def decision(self, cluster_id: str) -> str:
        if cluster_id in self.choices:
            return "merge"
        return "skip" if cluster_id in self.skipped else "undecided"

    def next_undecided(self, after: int = 0) -> int | None:
        """The number of the first cluster after ``after`` with no decision yet."""
        clusters = self.plan.clusters if self.plan else ()
        for number in range(after + 1, len(clusters) + 1):
            if self.decision(clusters[number - 1].id) == "undecided":
                return number
        return None

    def decide(self, cluster_id: str, choice: ClusterChoice | None) -> None:
        """Merge the cluster as ``choice`` says, or skip it (None)."""
        self.choices.pop(cluster_id, None)
        self.skipped.discard(cluster_id)
        if choice is None:
            self.skipped.add(cluster_id)
        else:
            self.choices[cluster_id] = choice


class Reviews:
    """The analyses of one app, newest last."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, Review] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, review: Review) -> None:
        with self._lock:
            self._items[review.job_id] = review
            while len(self._items) > KEEP:
                self._items.popitem(last=False)

    def get(self, job_id: str) -> Review:
        with self._lock:
            review = self._items.get(job_id)
        if review is None:
            raise NotFound(
                f"no analysis {job_id!r} (analyses live in the server's memory; start a new one)",
                field="analysis",
            )
        return review

    def list(self) -> list[Review]:
        with self._lock:
            return list(reversed(self._items.values()))

    @classmethod
    def of(cls, holder: Any) -> Reviews:
        """The reviews kept on ``holder`` (an app's state), made on first use."""
        return kept_on(holder, "dashboard_reviews", cls)
