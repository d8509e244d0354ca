"""Word problems that share a solution structure: the GSM-Symbolic workload.

Tutoring and practice traffic asks one problem with other names and numbers. The benchmark's copy of
the GSM-Symbolic development set (``_data/gsm-dev.jsonl.gz``, see its README: 310 problems from 46
templates, each with a reference solution and answer) becomes a workload: every problem once, in an
order shuffled by the seed, as traffic arrives. The first problem of a template to arrive is
``perturbation="base"`` (every system must generate it); the others are ``"template:<n>"`` with
``base_id`` that first one and ``semantic=False`` — the same problem with other constants, whose right
answer is a different number (a cache that serves the old answer is wrong).

Items carry ``task="arithmetic"``, ``family="arithmetic"`` and an
:class:`~stepcache_bench.workload.ArithmeticTruth` (the final answer, and the reference solution the
scripted model answers with).
"""

from __future__ import annotations

import gzip
import json
import random
from importlib.resources import files
from typing import Any

from .workload import ArithmeticTruth, ChatBody, WorkloadItem

__all__ = ["gsm_problems", "gsm_workload"]

#: Templates in ``--quick`` runs (the embedded model takes ~13 s per problem).
QUICK_TEMPLATES = 8


def gsm_problems() -> list[dict[str, Any]]:
    """The development set's rows (``id``, ``template``, ``kind``, ``question``, ``reference``, ``final``)."""
    data = files("stepcache_bench").joinpath("_data/gsm-dev.jsonl.gz").read_bytes()
    return [json.loads(line) for line in gzip.decompress(data).decode("utf-8").splitlines() if line.strip()]


def gsm_workload(seed: int, *, templates: int | None = None, max_tokens: int | None = 512) -> list[WorkloadItem]:
    """Every problem of ``templates`` templates (all by default; chosen by ``seed``) in arrival order."""
    rows = gsm_problems()
    rng = random.Random(seed)
    numbers = sorted({int(r["template"]) for r in rows})
    if templates is not None:
        numbers = sorted(rng.sample(numbers, min(templates, len(numbers))))
    chosen = [r for r in rows if int(r["template"]) in numbers]
    rng.shuffle(chosen)
    first: dict[int, str] = {}
    items: list[WorkloadItem] = []
    for row in chosen:
        template = int(row["template"])
        item_id = f"gsm{seed}-{row['id']}"
        base = first.setdefault(template, item_id)
        body: dict[str, Any] = {"messages": [{"role": "user", "content": row["question"]}]}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        items.append(
            WorkloadItem(
                id=item_id,
                request=ChatBody.model_validate(body),
                task="arithmetic",
                perturbation="base" if base == item_id else f"template:{template}",
                base_id=None if base == item_id else base,
                seed=seed,
                semantic=False,
                truth=ArithmeticTruth(answer=str(row["final"]).replace(",", ""), solution=row["reference"]),
                family="arithmetic",
            )
        )
    return items
