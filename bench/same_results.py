"""How often two stores holding the same memories give the same search results.

    python bench/same_results.py ../shared/data/locomo-conv0-4 \\
        --first "sqlite:///tmp/memvault-bench/compact/{key}.db" \\
        --second "sqlite:///tmp/memvault-bench/compact/{key}-int8.db?vectors=int8"

For each evaluation set (the format of ``retrieval_data``), each question is
searched with ``Vault.search`` (the defaults, k=10, as of its question time)
in both stores, where both hold its space alike (the same number of
memories), and the two result lists are compared: the same ten in the same
order, the same ten in any order, the same five in order. ``{key}`` is the
set's store key as ``retrieval_eval`` names its ingested stores. Made to
compare a float16 store with its int8 copy; any two stores will do.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from embedding_cache import CachedEmbedder
from memvault import Vault
from memvault.config import Settings
from memvault.embedding import open_embedder
from memvault.limits import to_utc
from memvault.turns import TurnContext
from retrieval_data import load_dataset
from retrieval_ingest import WORK_DIR, store_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dirs", type=Path, nargs="+", metavar="DATA_DIR")
    parser.add_argument("--first", required=True, help="store URL; {key} is the set's key")
    parser.add_argument("--second", required=True, help="store URL; {key} is the set's key")
    parser.add_argument("--embedding-cache", type=Path, default=WORK_DIR / "vectors.sqlite")
    args = parser.parse_args()
    settings = Settings.from_env()
    model = open_embedder(settings)
    model.load()
    embedder = CachedEmbedder(model, args.embedding_cache)
    turns = TurnContext(settings.context_turns, settings.context_turns > 0, 300)
    for folder in args.data_dirs:
        data = load_dataset(folder, None)
        key = store_key(data, embedder, "", turns)
        first_url, second_url = (url.format(key=key) for url in (args.first, args.second))
        asked = in_order = as_set = top5 = 0
        with (
            Vault.open(first_url, embedder=embedder) as first,
            Vault.open(second_url, embedder=embedder) as second,
        ):
            for query in data.queries:
                held = first.count(namespace=query["space"])
                if not held or held != second.count(namespace=query["space"]):
                    continue
                when = query.get("question_time")
                now = to_utc(when) if when else None
                one, two = (
                    [
                        h.memory.id
                        for h in v.search(query["query"], k=10, namespace=query["space"], now=now)
                    ]
                    for v in (first, second)
                )
                asked += 1
                in_order += one == two
                as_set += set(one) == set(two)
                top5 += one[:5] == two[:5]
        print(
            f"{data.name}: {asked} questions held alike; the same ten in order {in_order}, "
            f"in any order {as_set}; the same five in order {top5}"
        )


if __name__ == "__main__":
    main()
