"""The Defragmenter: analyse a namespace for duplicates, review each cluster, merge the choice.

An analysis runs as a job on the server's one upkeep queue (with progress for
a large store), as ``POST /api/v1/maintenance/dedup`` does. Its clusters are
then reviewed one by one, members side by side with their differences from
the survivor marked: a person picks the survivor, leaves members out, or
skips the cluster. Applying merges only the clusters chosen, through
``Vault.choose_duplicates`` and ``actions.consolidate``: the same backup,
operation log and undo as ``memvault dedup --apply``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from ..access.principal import Principal
from ..errors import InvalidInput
from ..maintenance import actions
from ..maintenance.duplicates import DEFAULT_THRESHOLD, DuplicatePlan, check_threshold
from ..maintenance.jobs import shared_runner
from ..maintenance.merge import RULES, check_rule
from ..maintenance.selection import ClusterChoice
from .deps import VaultDep, chosen_namespace, namespace_counts, number, scope_filter, text
from .operations import job_url
from .render import PageRoute, page, see_other
from .review import Review, Reviews
from .session import checked_form, need
from .text import word_diff

router = APIRouter(route_class=PageRoute, include_in_schema=False, prefix="/defrag")
Form = Annotated[FormData, Depends(checked_form)]
Admin = Annotated[Principal, need("admin")]


@router.get("")
def defragmenter(request: Request, vault: VaultDep, principal: Admin) -> Response:
    return page(
        request,
        "defrag.html",
        reviews=Reviews.of(request.app.state).list(),
        namespaces=namespace_counts(request, vault, principal),
        ns=chosen_namespace(vault, principal, None),
        rules=RULES,
        threshold=DEFAULT_THRESHOLD,
    )


@router.post("")
def analyse(request: Request, vault: VaultDep, principal: Admin, form: Form) -> Response:
    namespace = chosen_namespace(vault, principal, text(form, "ns"))
    threshold = check_threshold(number(form, "threshold", DEFAULT_THRESHOLD))
    keep = check_rule(text(form, "keep", "newest"))
    scope = scope_filter(
        text(form, "tags"), text(form, "type"), text(form, "after"), text(form, "before")
    )
    vault.upkeep.selection(scope, namespace, None)  # bad scope: refused now, not as a failed job
    params: dict[str, Any] = {
        "namespace": namespace,
        "filter": scope,
        "threshold": threshold,
        "keep": keep,
    }
    review = Review("", namespace, params)  # its id is the job's, known once it is queued

    def work(progress: Any) -> dict[str, Any]:
        plan = vault.upkeep.find_duplicates(progress=progress, **params)
        review.plan = plan
        return {
            "scanned": plan.scanned,
            "clusters": len(plan.clusters),
            "redundant": plan.redundant,
        }

    job = shared_runner(request.app.state).submit("analyse", params, work)
    review.job_id = job.id
    Reviews.of(request.app.state).add(review)
    return see_other(f"/defrag/{job.id}")


def _plan(review: Review) -> DuplicatePlan:
    if review.plan is None:
        raise InvalidInput("the analysis has not finished yet", field="analysis")
    return review.plan


@router.get("/{job_id}")
def analysis(request: Request, job_id: str, principal: Admin) -> Response:
    review = Reviews.of(request.app.state).get(job_id)
    job = shared_runner(request.app.state).get(job_id)
    return page(request, "analysis.html", review=review, job=job)


@router.post("/{job_id}/apply")
def apply(request: Request, job_id: str, vault: VaultDep, principal: Admin, form: Form) -> Response:
    review = Reviews.of(request.app.state).get(job_id)
    principal.namespace(review.namespace, vault.settings.namespace, writing=True)
    plan = vault.upkeep.choose_duplicates(_plan(review), review.choices)
    job = shared_runner(request.app.state).submit(
        "consolidate",
        {"analysis": job_id, "clusters": [c.id for c in plan.clusters]},
        lambda progress: actions.consolidate(vault.upkeep, plan, progress=progress),
    )
    review.applied_job = job.id
    return see_other(job_url(job))


@router.get("/{job_id}/{number}")
def cluster_page(request: Request, job_id: str, number: int, principal: Admin) -> Response:
    review = Reviews.of(request.app.state).get(job_id)
    cluster = review.cluster(number)
    choice = review.choices.get(cluster.id, ClusterChoice(cluster.survivor.id))
    survivor = next(m for m in cluster.members if m.id == choice.survivor)
    similarity = {d.memory.id: d.similarity for d in cluster.duplicates}
    members = [
        {
            "memory": m,
            "survivor": m.id == survivor.id,
            "included": m.id not in choice.leave_out,
            "similarity": similarity.get(m.id),
            "diff": None if m.id == survivor.id else word_diff(survivor.content, m.content),
        }
        for m in cluster.members
    ]
    return page(
        request,
        "cluster.html",
        review=review,
        cluster=cluster,
        number=number,
        total=len(review.plan.clusters if review.plan else ()),
        members=members,
        decision=review.decision(cluster.id),
    )


@router.post("/{job_id}/{number}")
def decide(
    request: Request, job_id: str, number: int, vault: VaultDep, principal: Admin, form: Form
) -> Response:
    review = Reviews.of(request.app.state).get(job_id)
    cluster = review.cluster(number)
    if text(form, "action") == "skip":
        review.decide(cluster.id, None)
    else:
        survivor = text(form, "survivor", cluster.survivor.id)
        included = set(form.getlist("include")) | {survivor}
        choice = ClusterChoice(
            survivor, frozenset(m.id for m in cluster.members if m.id not in included)
        )
        vault.upkeep.choose_duplicates(_plan(review), {cluster.id: choice})  # refuses a bad choice
        review.decide(cluster.id, choice)
    following = review.next_undecided(number)
    return see_other(f"/defrag/{job_id}/{following}" if following else f"/defrag/{job_id}")
