"""Duplicate analysis and consolidation figures (issue 7). Prints; asserts nothing.

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
   near-duplicates (cosine about 0.97 to an original). Analysis time (scan and
   compare), the clusters found against those planted, apply time, and, on a
   subset, the ivf method's pair recall against exact search.
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

SUBJECTS = ["Alice", "Bob", "the team", "my manager", "the client", "our landlord", "Dr. Chen",
            "the vendor", "my sister", "the new intern", "Priya", "the auditor"]
VERBS = {"prefers": "favours", "asked about": "inquired about", "scheduled": "set up",
         "cancelled": "called off", "recommended": "suggested", "complained about":
         "grumbled about", "approved": "signed off on", "forgot": "forgot about",
         "is worried about": "is concerned about", "organised": "organized"}
OBJECTS = ["the quarterly report", "tabs over spaces", "a trip to Lisbon", "the database migration",
           "weekly standups", "a vegetarian menu", "the staging server", "the budget review",
           "a dentist appointment", "the API rate limits", "the kitchen renovation",
           "the marketing launch", "a birthday party", "the on-call rota", "the office move"]
WHENS = ["on Monday", "next week", "in March", "after lunch", "before the release",
         "yesterday", "every Friday", "last month", "tomorrow morning", "at the offsite"]
NUMBERS = ["100", "250", "12", "3", "40"]


def fact(rng: random.Random) -> tuple[str, str, str, str]:
    return (rng.choice(SUBJECTS), rng.choice(list(VERBS)), rng.choice(OBJECTS),
            rng.choice(WHENS))


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
        first, second = ((sentence(*parts), paraphrase(rng, *parts)) if same
                         else distinct(rng, *parts))
        if first.lower() in used or second.lower() in used or first == second:
            continue
        used.update({first.lower(), second.lower()})
        pairs.append((first, second, same))
    return pairs


def quality(vault: Vault, pairs: list[tuple[str, str, bool]]) -> None:
    results = vault.store_many([{"content": t} for a, b, _ in pairs for t in (a, b)],
                               namespace="quality")
    ids = [r.memory.id for r in results]
    positives = {frozenset(ids[2 * i:2 * i + 2]) for i, (_, _, same) in enumerate(pairs) if same}
    print(f"\nquality: {len(positives)} paraphrase pairs, "
          f"{len(pairs) - len(positives)} distinct-but-similar pairs (real model)")
    for threshold in (0.90, 0.95):
        plan = vault.find_duplicates(namespace="quality", threshold=threshold)
        found = {frozenset((m.id, n.id)) for c in plan.clusters for m in c.members
                 for n in c.members if m.id < n.id}
        true = len(found & positives)
        precision = true / len(found) if found else 1.0
        print(f"  threshold {threshold:.2f}: precision {precision:.3f}  "
              f"recall {true / len(positives):.3f}  (pairs found {len(found)}, "
              f"clusters {len(plan.clusters)})")


def letters(i: int) -> str:
    """``i`` spelled in letters, so contents differ without numbers (see the number guard)."""
    out = ""
    while True:
        i, r = divmod(i, 26)
        out = string.ascii_lowercase[r] + out
        if i == 0:
            return out


def speed(vault: Vault, n: int, embed: int, check_ivf: int) -> None:
    rng = np.random.default_rng(3)
    texts_rng = random.Random(5)
    bases = [sentence(*fact(texts_rng)) for _ in range(embed)]
    base_vectors = vault.embedder.embed(bases)
    planted = n // 20
    origin = rng.integers(0, embed, n - planted)
    # Same-topic neighbours: base + noise at cosine ~0.85 to the base, ~0.72 to each other.
    vectors = base_vectors[origin] + rng.standard_normal((n - planted, 384)).astype(
        np.float32) * 0.0316
    copies = rng.choice(n - planted, planted, replace=False)
    dups = vectors[copies] + rng.standard_normal((planted, 384)).astype(np.float32) * 0.0128
    vectors = np.vstack([vectors, dups])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    store = vault.store_backend
    store.bind_embedding(vault.embedder.spec)
    # Each memory reads like the text its vector came from; a planted copy like its original.
    topic = np.concatenate([origin, origin[copies]])
    for start in range(0, n, 2000):
        store.add([Memory(content=f"{bases[topic[i]]} ({letters(i)})", namespace="speed",
                          embedding=vectors[i]) for i in range(start, min(n, start + 2000))])
    print(f"\nspeed: n={n} ({planted} planted near-duplicates), filled in "
          f"{time.perf_counter() - started:.1f} s")
    stages: dict[str, float] = {}

    def progress(stage: str, done: int, total: int | None) -> None:
        stages.setdefault(stage, time.perf_counter())

    started = time.perf_counter()
    plan = vault.find_duplicates(namespace="speed", progress=progress)
    analysis = time.perf_counter() - started
    scan = stages.get("compare", time.perf_counter()) - started
    planted_pairs = {frozenset((int(c), n - planted + k)) for k, c in enumerate(copies)}
    print(f"  analysis ({plan.method}, threshold {plan.threshold}): {analysis:.1f} s "
          f"(scan {scan:.1f} s, compare and plan {analysis - scan:.1f} s)")
    print(f"  clusters {len(plan.clusters)}, redundant {plan.redundant} "
          f"(planted {len(planted_pairs)})")
    started = time.perf_counter()
    op = vault.consolidate(plan)
    applied = time.perf_counter() - started
    print(f"  apply: {applied:.1f} s for {op.result['clusters']} clusters "
          f"({op.result['removed']} removed, backup {Path(op.backup).stat().st_size:,} bytes)")
    started = time.perf_counter()
    vault.undo(op.id)
    print(f"  undo: {time.perf_counter() - started:.1f} s")
    if check_ivf:
        subset = vectors[:check_ivf]
        timings = {}
        found = {}
        for method in ("exact", "ivf"):
            started = time.perf_counter()
            a, b, _ = similar_pairs(subset, 0.9, method=method)
            timings[method] = time.perf_counter() - started
            found[method] = set(zip(a.tolist(), b.tolist(), strict=True))
        recall = len(found["exact"] & found["ivf"]) / max(1, len(found["exact"]))
        print(f"  ivf vs exact on {len(subset)} vectors at 0.90: pair recall {recall:.4f} "
              f"({len(found['exact'])} pairs); exact {timings['exact']:.1f} s, "
              f"ivf {timings['ivf']:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=150)
    parser.add_argument("--embed", type=int, default=2000)
    parser.add_argument("--check-ivf", type=int, default=20_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="memvault-dedup-"))
    settings = Settings.from_env({"MEMVAULT_DATA_DIR": str(workdir)})
    with Vault.open(f"sqlite://{workdir / 'dedup.db'}", settings=settings) as vault:
        quality(vault, labelled_pairs(args.pairs))
        speed(vault, args.n, args.embed, min(args.check_ivf, args.n))


if __name__ == "__main__":
    main()
