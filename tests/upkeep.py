"""Helpers for the upkeep tests: a seeded store with known duplicates, and snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from memvault.model import Filter
from memvault.stores import Store
from memvault.transfer.records import decode_vector, memory_to_record
from memvault.vault import Vault

BASE = datetime(2024, 1, 1, tzinfo=UTC)
LONG = (
    "Postmortem of the March outage. " + "The cache layer fell over under load and "
    "the fallback path hammered the primary database until it ran out of connections. " * 40
)

# name -> content; the groups below say which must end up together.
SEED = {
    "tabs": "Alice prefers tabs over spaces for indentation!!",
    "tabs_case": "alice prefers TABS over spaces for indentation",
    "tabs_reordered": "For indentation Alice prefers tabs over spaces.",
    "rust": "Bob's favourite programming language is Rust.",
    "rust_us": "Bob's favorite programming language is Rust.",
    "wifi": "The office wifi password is changed every month.",
    "wifi_verb": "The office wifi password changes every month.",
    "fridays": "Deploys happen on Fridays.",
    "fridays_case": "deploys happen on fridays!",
    "long": LONG,
    "long_case": LONG.upper(),
    # Alike but distinct facts: none of these may be merged.
    "postgres": "The team decided to use PostgreSQL for the billing service.",
    "mysql": "The team decided to use MySQL for the billing service.",
    "peanuts": "Carol is allergic to peanuts.",
    "shellfish": "Carol is allergic to shellfish.",
    "limit_100": "The API rate limit is 100 requests per minute.",
    "limit_1000": "The API rate limit is 1000 requests per minute.",
    "vim": "Dave uses vim as his editor.",
    "emacs": "Dave uses emacs as his editor.",
    "move_yesterday": "Dr. Chen scheduled the office move yesterday.",
    "move_last_month": "Dr. Chen scheduled the office move last month.",
}
CLUSTERS = [
    {"tabs", "tabs_case", "tabs_reordered"},
    {"rust", "rust_us"},
    {"wifi", "wifi_verb"},
    {"fridays", "fridays_case"},
    {"long", "long_case"},
]
EXACT = [{"fridays", "fridays_case"}, {"long", "long_case"}]


def seed(vault: Vault, namespace: str = "default") -> dict[str, str]:
    """Store SEED (each a day apart, with its own tag and metadata); return name -> id."""
    items = [
        {
            "content": content,
            "tags": [name, "seed"],
            "metadata": {"name": name, "n": i},
            "importance": round(0.1 + 0.04 * i, 2),
            "created_at": BASE + timedelta(days=i),
        }
        for i, (name, content) in enumerate(SEED.items())
    ]
    results = vault.store_many(items, namespace=namespace)
    return {name: r.memory.id for name, r in zip(SEED, results, strict=True)}


class Snapshot:
    """Every memory and chunk of a store, as dump records, comparable with ``==``.

    Fields compare exactly; vectors to within float32 rounding, because Chroma
    normalizes every vector it is given, so one written back differs in its
    last bit (1e-8). Everything else must be identical.
    """

    def __init__(self, store: Store) -> None:
        every = Filter(namespace=None, include_chunks=True, include_expired=True)
        records = sorted(
            (memory_to_record(m) for batch, _ in store.scan(every, batch_size=500) for m in batch),
            key=lambda r: r["id"],
        )
        self.vectors = {r["id"]: decode_vector(r.pop("vector"), None) for r in records}
        self.records = records

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Snapshot)
            and self.records == other.records
            and all(
                np.allclose(v, other.vectors[i], rtol=0, atol=1e-6) for i, v in self.vectors.items()
            )
        )

    def __repr__(self) -> str:
        return f"Snapshot({self.records!r})"


def snapshot(store: Store) -> Snapshot:
    return Snapshot(store)
