"""Duplicate analysis and consolidation figures. Prints; asserts nothing.

    python bench/dedup.py --n 10000|100000 [--pairs 150] [--check-ivf 20000]

1. Quality, with the real model: the bench writes labelled pairs from
   templates: paraphrases (reordered, reworded, a filler word, another
   spelling, case and punctuation) and distinct-but-similar facts (another
   person, object, time, a negation, another number). Both members of every
   pair are stored in one namespace and ``find_duplicates`` runs at 0.90 and
   0.95: a pair counts as found when both land in one cluster. Precision also
   counts clusters that join members of different pairs.
2. Speed, with precomputed vectors: ``--n`` memories whose vectors are real
   embeddings of ``--embed`` template texts plus Gaussian noise (same-topic
   neighbours about 0.7 apart, as real notes are), 5% of them planted
   near-duplicates (cosine 0.90 to 0.99 to an original). Analysis time (scan,
   compare, plan; wall and CPU seconds), the planted pairs found, apply and
   undo time, and, on a subset, the ivf method's pair recall against exact
   search.
"""

from __future__ import annotations

import argparse
import random
import string
import tempfile
import time
from pathlib import Path

import numpy as np

from memvault import Memory, Vault
from memvault.config import Settings
from memvault.maintenance.neighbours import similar_pairs

SUBJECTS = [
    "Alice",
    "Bob",
    "the team",
    "my manager",
    "the client",
    "our landlord",
    "Dr. Chen",
    "the vendor",
    "my sister",
    "the new intern",
    "Priya",
    "the auditor",
]
VERBS = {
    "prefers": "favours",
    "asked about": "inquired about",
    "scheduled": "set up",
    "cancelled": "called off",
    "recommended": "suggested",
    "complained about": "grumbled about",
    "approved": "signed off on",
    "forgot": "forgot about",
    "is worried about": "is concerned about",
    "organised": "organized",
}
OBJECTS = [
    "the quarterly report",
    "tabs over spaces",
    "a trip to Lisbon",
    "the database migration",
    "weekly standups",
    "a vegetarian menu",
    "the staging server",
    "the budget review",
    "a dentist appointment",
    "the API rate limits",
    "the kitchen renovation",
    "the marketing launch",
    "a birthday party",
    "the on-call rota",
    "the office move",
]
WHENS = [
    "on Monday",
    "next week",
    "in March",
    "after lunch",
    "before the release",
    "yesterday",
    "every Friday",
    "last month",
    "tomorrow morning",
    "at the offsite",
]
NUMBERS = ["100", "250", "12", "3", "40"]


def fact(rng: random.Random) -> tuple[str, str, str, str]:
    return (rng.choice(SUBJECTS), rng.choice(list(VERBS)), rng.choice(OBJECTS), rng.choice(WHENS))


def sentence(s: str, v: str, o: str, w: str) -> str:
    return f"{s[0].upper()}{s[1:]} {v} {o} {w}."


def paraphrase(rng: random.Random, s: str, v: str, o: str, w: str) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return f"{w[0].upper()}{w[1:]}, {s} {v} {o}."
    if kind == 1:
        return sentence(s, VERBS[v], o, w)
    if kind == 2:
        return f"Note: {s} {v} {o} {w}."
    if kind == 3:
        return sentence(s, v, o, w).lower().rstrip(".") + "!"
    return f"{s[0].upper()}{s[1:]} {v} {o}, {w}."


def distinct(rng: random.Random, s: str, v: str, o: str, w: str) -> tuple[str, str]:
    kind = rng.randrange(5)
    base = sentence(s, v, o, w)
    if kind == 0:
        return base, sentence(rng.choice([x for x in SUBJECTS if x != s]), v, o, w)
    if kind == 1:
        return base, sentence(s, v, rng.choice([x for x in OBJECTS if x != o]), w)
    if kind == 2:
        return base, sentence(s, v, o, rng.choice([x for x in WHENS if x != w]))
    if kind == 3:
        return base, f"{s[0].upper()}{s[1:]} never {v.replace('is ', 'was not ')} {o} {w}."
    a, b = rng.sample(NUMBERS, 2)
    return f"{base[:-1]} ({a} people).", f"{base[:-1]} ({b} people)."


def labelled_pairs(count: int, seed: int = 11) -> list[tuple[str, str, bool]]:
    """``count`` paraphrase pairs and ``count`` distinct pairs, every text used once."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str, bool]] = []
    used: set[str] = set()
    while len(pairs) < 2 * count:
        parts = fact(rng)
        same = len(pairs) % 2 == 0
        first, second = (
            (sentence(*parts), paraphrase(rng, *parts)) if same else distinct(rng, *parts)
        )
        if first.lower() in used or second.lower() in used or first == second:
            continue
        used.update({first.lower(), second.lower()})
        pairs.append((first, second, same))
    return pairs


def quality(vault: Vault, pairs: list[tuple[str, str, bool]]) -> None:
    results = vault.store_many(
        [{"content": t} for a, b, _ in pairs for t in (a, b)], namespace="quality"
    )
    ids = [r.memory.id for r in results]
    positives = {frozenset(ids[2 * i : 2 * i + 2]) for i, (_, _, same) in enumerate(pairs) if same}
    print(
        f"\nquality: {len(positives)} paraphrase pairs, "
        f"{len(pairs) - len(positives)} distinct-but-similar pairs (real model)"
    )
    for threshold in (0.90, 0.95):
        plan = vault.upkeep.find_duplicates(namespace="quality", threshold=threshold)
        found = {
            frozenset((m.id, n.id))
            for c in plan.clusters
            for m in c.members
            for n in c.members
            if m.id < n.id
        }
        true = len(found & positives)
        precision = true / len(found) if found else 1.0
        print(
            f"  threshold {threshold:.2f}: precision {precision:.3f}  "
            f"recall {true / len(positives):.3f}  (pairs found {len(found)}, "
            f"clusters {len(plan.clusters)})"
        )


def letters(i: int) -> str:
    """``i`` spelled in letters, so contents differ without numbers (see the number guard)."""
    out = ""
    while True:
        i, r = divmod(i, 26)
        out = string.ascii_lowercase[r] + out
        if i == 0:
            return out


class StageClock:
    """A progress callback that times each stage: wall seconds, and CPU seconds of this
    process (all threads), which say how much work it was on a machine shared with others."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float, float]] = []

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if not self.marks or self.marks[-1][0] != stage:
            self.marks.append((stage, time.perf_counter(), time.process_time()))

    def report(self) -> str:
        """Total, then each stage (the last mark ends the clock)."""
        first, last = self.marks[0], self.marks[-1]
        parts = [
            f"{a[0]} {b[1] - a[1]:.1f} s" for a, b in zip(self.marks, self.marks[1:], strict=False)
        ]
        return f"{last[1] - first[1]:.1f} s wall, {last[2] - first[2]:.1f} s CPU" + (
            f" ({', '.join(parts)})" if len(parts) > 1 else ""
        )


def planted_vectors(
    base_vectors: np.ndarray, n: int, seed: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` unit vectors: base + noise, the last 5% copies of earlier ones with less noise.

    Returns the vectors, the base each came from, and which earlier vector each
    copy copies. Same-topic vectors sit about 0.72 apart (0.85 from their base);
    a copy's cosine to its original is spread over 0.90 to 0.99, across the
    thresholds.
    """
    rng = np.random.default_rng(seed)
    planted = n // 20
    origin = rng.integers(0, len(base_vectors), n - planted)
    vectors = (
        base_vectors[origin]
        + rng.standard_normal((n - planted, base_vectors.shape[1])).astype(np.float32) * 0.0316
    )
    copies = rng.choice(n - planted, planted, replace=False)
    spread = rng.uniform(0.007, 0.025, (planted, 1)).astype(np.float32)
    vectors = np.vstack(
        [
            vectors,
            vectors[copies]
            + rng.standard_normal((planted, base_vectors.shape[1])).astype(np.float32) * spread,
        ]
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, np.concatenate([origin, origin[copies]]), copies


def speed(vault: Vault, n: int, embed: int, check_ivf: int) -> None:
    texts_rng = random.Random(5)
    bases = [sentence(*fact(texts_rng)) for _ in range(embed)]
    vectors, topic, copies = planted_vectors(vault.embedder.embed(bases), n)
    planted = len(copies)
    copy_ids = np.arange(n - planted, n)
    pair_sims = np.einsum("ij,ij->i", vectors[copies], vectors[copy_ids])
    started = time.perf_counter()
    store = vault.store_backend
    store.bind_embedding(vault.embedder.spec)
    # Each memory reads like the text its vector came from, so a copy like its original.
    memories = [
        Memory(content=f"{bases[topic[i]]} ({letters(i)})", namespace="speed", embedding=vectors[i])
        for i in range(n)
    ]
    for start in range(0, n, 2000):
        store.add(memories[start : start + 2000])
    print(
        f"\nspeed: n={n} ({planted} planted near-duplicates, cosine "
        f"{pair_sims.min():.3f} to {pair_sims.max():.3f}), filled in "
        f"{time.perf_counter() - started:.1f} s"
    )
    clock = StageClock()
    plan = vault.upkeep.find_duplicates(namespace="speed", progress=clock)
    clock("end", 0, None)
    print(f"  analysis ({plan.method}, threshold {plan.threshold}): {clock.report()}")
    cluster_of = {m.id: c.id for c in plan.clusters for m in c.members}
    together = np.array(
        [
            cluster_of.get(memories[c].id, -1) == cluster_of.get(memories[d].id, -2)
            for c, d in zip(copies.tolist(), copy_ids.tolist(), strict=True)
        ]
    )
    expected = pair_sims >= plan.threshold
    print(
        f"  clusters {len(plan.clusters)}, redundant {plan.redundant}; planted pairs at or "
        f"above the threshold found: {int((together & expected).sum())} of "
        f"{int(expected.sum())}; below it, found: {int((together & ~expected).sum())}"
    )
    clock = StageClock()
    clock("apply", 0, None)
    op = vault.upkeep.consolidate(plan)
    clock("end", 0, None)
    print(
        f"  apply: {clock.report()} for {op.result['clusters']} clusters "
        f"({op.result['removed']} removed, backup {Path(op.backup).stat().st_size:,} bytes)"
    )
    clock = StageClock()
    clock("undo", 0, None)
    vault.upkeep.undo(op.id)
    clock("end", 0, None)
    print(f"  undo: {clock.report()}")
    if check_ivf:
        # Both members of as many planted pairs as fit, then ordinary vectors.
        pairs = min(planted, check_ivf // 4)
        rest = np.setdiff1d(np.arange(n - planted), copies[:pairs])[: check_ivf - 2 * pairs]
        subset = vectors[np.concatenate([copies[:pairs], copy_ids[:pairs], rest])]
        for threshold in (0.90, 0.95):
            timings, found = {}, {}
            for method in ("exact", "ivf"):
                clock = StageClock()
                clock(method, 0, None)
                a, b, _ = similar_pairs(subset, threshold, method=method)
                clock("end", 0, None)
                timings[method] = clock.report()
                found[method] = set(zip(a.tolist(), b.tolist(), strict=True))
            recall = len(found["exact"] & found["ivf"]) / max(1, len(found["exact"]))
            print(
                f"  ivf vs exact, {len(subset)} vectors at {threshold:.2f}: pair recall "
                f"{recall:.4f} of {len(found['exact'])} pairs; exact {timings['exact']}; "
                f"ivf {timings['ivf']}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=150, help="0 skips the quality part")
    parser.add_argument("--embed", type=int, default=2000)
    parser.add_argument("--check-ivf", type=int, default=20_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="memvault-dedup-"))
    # A fresh data directory for the store, but the usual model cache: no re-export.
    settings = Settings.from_env(
        {
            "MEMVAULT_DATA_DIR": str(workdir),
            "MEMVAULT_MODEL_CACHE_DIR": str(Settings.from_env().model_cache_dir),
        }
    )
    with Vault.open(f"sqlite://{workdir / 'dedup.db'}", settings=settings) as vault:
        if args.pairs:
            quality(vault, labelled_pairs(args.pairs))
        speed(vault, args.n, args.embed, min(args.check_ivf, args.n))


if __name__ == "__main__":
    main()
