"""A person's review of a duplicate plan: another survivor, members left out, clusters skipped.

An analysis ranks each cluster's members by a rule and keeps the first; a
person reviewing it (the dashboard's Defragmenter) may prefer another member's
wording, see that one member says something else and leave it out, or skip the
cluster. ``choose`` turns those choices into an ordinary ``DuplicatePlan`` so
that ``consolidate`` merges it with the same backup, log and undo as
``memvault dedup --apply``: each chosen cluster's members are the chosen
survivor first, then the others kept in their ranked order; the merged fields,
the similarities (to the chosen survivor) and the cluster id are worked out
again for that membership. Members left out are not touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InvalidInput
from ..stores import Store
from .duplicates import Duplicate, DuplicateCluster, DuplicatePlan, cluster_id, text_key
from .merge import merged_changes

CHOSEN = "chosen"
"""The ``keep`` of a plan whose survivors a person chose (it is logged with the operation)."""


@dataclass(frozen=True, slots=True)
class ClusterChoice:
    """Which member of a cluster survives, and which members stay out of the merge."""

    survivor: str
    leave_out: frozenset[str] = field(default_factory=frozenset)


def choose(
    store: Store, plan: DuplicatePlan, choices: Mapping[str, ClusterChoice]
) -> DuplicatePlan:
    """The plan narrowed to the clusters in ``choices``, each as chosen.

    A cluster left with one member after its exclusions is dropped. Unknown
    clusters or members, or a survivor left out, are refused before anything
    is read.
    """
    known = {c.id: c for c in plan.clusters}
    kept: list[tuple[DuplicateCluster, list[str]]] = []
    for identifier, choice in choices.items():
        cluster = known.get(identifier)
        if cluster is None:
            raise InvalidInput(f"no cluster {identifier!r} in the plan", field="clusters")
        ranked = [m.id for m in cluster.members]
        strangers = sorted(choice.leave_out - set(ranked))
        if choice.survivor not in ranked or strangers:
            missing = choice.survivor if choice.survivor not in ranked else strangers[0]
            raise InvalidInput(
                f"{missing!r} is not a member of cluster {identifier!r}",
                field="survivor" if missing == choice.survivor else "leave_out",
            )
        if choice.survivor in choice.leave_out:
            raise InvalidInput("the survivor cannot be left out of its cluster", field="leave_out")
        order = [
            choice.survivor,
            *(i for i in ranked if i != choice.survivor and i not in choice.leave_out),
        ]
        if len(order) > 1:
            kept.append((cluster, order))
    vectors = _unit_vectors(store, [i for _, order in kept for i in order])
    clusters = tuple(_rebuilt(cluster, order, vectors) for cluster, order in kept)
    return replace(plan, keep=CHOSEN, clusters=clusters)


def _unit_vectors(store: Store, ids: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for memory in store.get_many(ids, with_embedding=True):
        vector = np.asarray(memory.embedding, dtype=np.float32)
        out[memory.id] = vector / (np.linalg.norm(vector) or 1.0)
    return out


def _rebuilt(
    cluster: DuplicateCluster, order: list[str], vectors: Mapping[str, np.ndarray]
) -> DuplicateCluster:
    by_id = {m.id: m for m in cluster.members}
    members = [by_id[i] for i in order]
    head = members[0]
    duplicates = tuple(
        Duplicate(
            m,
            float(vectors[head.id] @ vectors[m.id])
            if head.id in vectors and m.id in vectors
            else 0.0,
            text_key(m.content) == text_key(head.content),
        )
        for m in members[1:]
    )
    return DuplicateCluster(
        id=cluster_id(members),
        survivor=head,
        duplicates=duplicates,
        changes=merged_changes(members, None),
    )
