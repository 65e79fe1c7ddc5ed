"""A reviewed duplicate plan: another survivor, members left out, clusters skipped; merged
and undone through the same consolidation and log as ``memvault dedup``."""

from __future__ import annotations

import pytest

from memvault.errors import InvalidInput
from memvault.maintenance.merge import MERGED_FROM
from memvault.maintenance.selection import CHOSEN, ClusterChoice
from memvault.vault import Vault

from .upkeep import seed, snapshot


@pytest.fixture
def seeded(vault: Vault):
    return vault, seed(vault)


def _tabs_cluster(plan, ids):
    return next(
        c
        for c in plan.clusters
        if c.survivor.id in {ids["tabs"], ids["tabs_case"], ids["tabs_reordered"]}
    )


def test_another_survivor_and_a_member_left_out_are_merged_and_undone(seeded):
    vault, ids = seeded
    plan = vault.upkeep.find_duplicates()
    tabs = _tabs_cluster(plan, ids)
    assert tabs.survivor.id == ids["tabs_reordered"]  # the rule's pick: the newest
    before = snapshot(vault.store_backend)
    chosen = vault.upkeep.choose_duplicates(
        plan,
        {
            tabs.id: ClusterChoice(
                survivor=ids["tabs"], leave_out=frozenset({ids["tabs_reordered"]})
            )
        },
    )
    assert chosen.keep == CHOSEN and len(chosen.clusters) == 1
    cluster = chosen.clusters[0]
    assert [m.id for m in cluster.members] == [ids["tabs"], ids["tabs_case"]]
    assert cluster.id != tabs.id and cluster.duplicates[0].exact  # same text but for case
    assert 0.9 < cluster.duplicates[0].similarity <= 1.0001
    op = vault.upkeep.consolidate(chosen)
    assert op.result == {"clusters": 1, "removed": 1}
    survivor = vault.get(ids["tabs"])
    assert survivor.content == "Alice prefers tabs over spaces for indentation!!"
    assert survivor.tags == ("seed", "tabs", "tabs_case")
    assert survivor.metadata[MERGED_FROM] == [ids["tabs_case"]]
    left_out = vault.get(ids["tabs_reordered"])
    assert left_out.tags == ("seed", "tabs_reordered")  # untouched
    with pytest.raises(Exception, match="no memory"):
        vault.get(ids["tabs_case"])
    # Other clusters were not chosen, so they are all still there.
    assert vault.get(ids["rust"]) and vault.get(ids["rust_us"])
    assert [o.params["keep"] for o in vault.upkeep.operations()] == [CHOSEN]
    vault.upkeep.undo(op.id)
    assert snapshot(vault.store_backend) == before


def test_a_cluster_left_with_one_member_is_dropped_and_unchosen_ones_are_skipped(seeded):
    vault, ids = seeded
    plan = vault.upkeep.find_duplicates()
    rust = next(c for c in plan.clusters if ids["rust"] in {m.id for m in c.members})
    lone = vault.upkeep.choose_duplicates(
        plan, {rust.id: ClusterChoice(survivor=ids["rust"], leave_out=frozenset({ids["rust_us"]}))}
    )
    assert lone.clusters == ()
    as_ranked = vault.upkeep.choose_duplicates(plan, {rust.id: ClusterChoice(rust.survivor.id)})
    assert as_ranked.clusters[0].id == rust.id
    assert [m.id for m in as_ranked.clusters[0].members] == [m.id for m in rust.members]
    assert vault.upkeep.choose_duplicates(plan, {}).clusters == ()


@pytest.mark.parametrize(
    ("choice", "field"),
    [
        (lambda ids, c: {"0000000000": ClusterChoice(ids["tabs"])}, "clusters"),
        (lambda ids, c: {c.id: ClusterChoice(ids["rust"])}, "survivor"),
        (lambda ids, c: {c.id: ClusterChoice(ids["tabs"], frozenset({ids["rust"]}))}, "leave_out"),
        (lambda ids, c: {c.id: ClusterChoice(ids["tabs"], frozenset({ids["tabs"]}))}, "leave_out"),
    ],
)
def test_a_bad_choice_is_refused_naming_the_field(seeded, choice, field):
    vault, ids = seeded
    plan = vault.upkeep.find_duplicates()
    before = snapshot(vault.store_backend)
    with pytest.raises(InvalidInput) as refused:
        vault.upkeep.choose_duplicates(plan, choice(ids, _tabs_cluster(plan, ids)))
    assert refused.value.field == field
    assert snapshot(vault.store_backend) == before
