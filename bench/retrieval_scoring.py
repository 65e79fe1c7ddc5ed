"""Scores of one ranked list against a question's labels, and their tables.

- ``T@k`` (turn ``recall_any``): a labelled turn is in the top k.
- ``R@k`` (evidence recall): the share of the labelled turns in the top k; for
  a question with one labelled turn it equals ``T@k``. LoCoMo's evidence
  recall, and stricter where an answer spans several turns.
- ``S@k``: a labelled session holds one of the top k turns.
- ``MRR@10``, ``NDCG@10`` (turns) and ``sNDCG@10`` (sessions, each credited once).
"""

from __future__ import annotations

import math
from collections import defaultdict

from retrieval_data import Dataset

COLUMNS = ["T@1", "T@5", "T@10", "R@5", "R@10", "S@5", "S@10", "MRR@10", "NDCG@10", "sNDCG@10"]
Table = dict[str, dict[str, float]]


def dcg(gains: list[int]) -> float:
    return sum(g / math.log2(rank + 2) for rank, g in enumerate(gains))


def score_query(data: Dataset, query: dict, ranked: list[str]) -> dict[str, float]:
    """Every metric for one query; ``ranked`` are stored memory ids, best first."""
    relevant = {data.stored_id.get(i, i) for i in query.get("relevant_ids", [])}
    relevant_sessions = set(query.get("relevant_sessions", []))
    out: dict[str, float] = {}
    top = ranked[:10]
    credited: set[str] = set()
    session_gains = []
    for memory_id in top:
        fresh = (data.sessions_of.get(memory_id, set()) & relevant_sessions) - credited
        session_gains.append(1 if fresh else 0)
        credited |= fresh
    out["S@5"] = float(any(session_gains[:5]))
    out["S@10"] = float(any(session_gains))
    ideal = dcg([1] * min(len(relevant_sessions), 10))
    out["sNDCG@10"] = dcg(session_gains) / ideal if ideal else 0.0
    if relevant:  # turn-level scores skip queries without labelled turns
        gains = [1 if i in relevant else 0 for i in top]
        for k in (1, 5, 10):
            out[f"T@{k}"] = float(any(gains[:k]))
        for k in (5, 10):
            out[f"R@{k}"] = sum(gains[:k]) / len(relevant)
        out["MRR@10"] = next((1 / (r + 1) for r, g in enumerate(gains) if g), 0.0)
        out["NDCG@10"] = dcg(gains) / dcg([1] * min(len(relevant), 10))
    return out


def summarize(scored: list[tuple[str, dict[str, float]]]) -> Table:
    """Mean of each metric overall and per question type (skipping absent ones)."""
    groups: dict[str, list[dict[str, float]]] = defaultdict(list)
    for kind, scores in scored:
        groups["all"].append(scores)
        groups[kind].append(scores)
    table: Table = {}
    for kind in ["all", *sorted(k for k in groups if k != "all")]:
        rows = groups[kind]
        table[kind] = {"n": len(rows)}
        for col in COLUMNS:
            values = [r[col] for r in rows if col in r]
            if values:
                table[kind][col] = sum(values) / len(values)
    return table


def print_table(table: Table, label: str = "question_type") -> None:
    """A Markdown table, one row per key of ``table``, in its order."""
    print(f"| {label:<34} | {'n':>4} | " + " | ".join(f"{c:>7}" for c in COLUMNS) + " |")
    print("|" + "-" * 36 + "|-----:|" + "|".join("-" * 8 + ":" for _ in COLUMNS) + "|")
    for kind, row in table.items():
        cells = " | ".join(f"{row[c]:>7.3f}" if c in row else f"{'':>7}" for c in COLUMNS)
        print(f"| {kind:<34} | {int(row['n']):>4} | {cells} |")
