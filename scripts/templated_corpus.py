"""Write tests/data/templated.jsonl: templated documents from the generator, the hand-written ones, and mutations.

    .venv/bin/python scripts/templated_corpus.py

The corpus is ``templated_workload(2025)`` (10 layouts × 10 documents), then the documents written by
hand (ids ``hand-<layout>-NN``, kept from the file as they are: the file is their only copy), then
``templated_mutations`` of all of them with ``random.Random(2025)``. Re-run it after changing the
generator; ``tests/corpus/test_templated_corpus.py`` checks that the file is what this recipe makes.
"""

from __future__ import annotations

import random
from pathlib import Path

from stepcache_bench.templated import templated_mutations, templated_workload
from stepcache_bench.workload import WorkloadItem, dump_workload, load_workload

SEED = 2025
CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "templated.jsonl"


def build(hand: list[WorkloadItem]) -> list[WorkloadItem]:
    documents = templated_workload(SEED, per_layout=10)
    return documents + hand + templated_mutations(documents + hand, random.Random(SEED))


def main() -> None:
    kept = load_workload(CORPUS) if CORPUS.exists() else []
    hand = [item for item in kept if item.id.startswith("hand-") and not item.perturbation.startswith("mutate:")]
    items = build(hand)
    dump_workload(items, CORPUS)
    print(f"{CORPUS}: {len(items)} items ({len(hand)} written by hand)")


if __name__ == "__main__":
    main()
