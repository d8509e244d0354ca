"""Metamorphic tests of the arithmetic family on the GSM-Symbolic development set.

Later instances are wrapped in meaning-preserving changes (a tutor system prompt, markdown, a
"Question:" prefix, a greeting, unicode punctuation, extra line breaks): the answer must stay right.
Others get one meaning-changing edit of a relation word (more → fewer, twice → half, each → in total,
buys → sells, ...): such a request must never be served from the cache.
"""

from __future__ import annotations

import functools
import random
import re

import pytest
from corpus_serving import Run, serve

from stepcache_bench.gsm import gsm_workload
from stepcache_bench.oracle import Oracle
from stepcache_bench.workload import WorkloadItem

WRAPS = {
    "system": lambda q: ({"role": "system", "content": "You are a patient math tutor for middle-school students."}, q),
    "markdown": lambda q: (None, f"### Homework\n\n**{q}**\n\nPlease show your work."),
    "prefix": lambda q: (None, f"Question: {q}"),
    "greeting": lambda q: (None, f"Hi! Could you help me with this one?\n\n{q}\n\nThanks a lot :)"),
    "unicode": lambda q: (None, q.replace(" - ", " – ").replace("'", "’")),
    "spacing": lambda q: (None, "  " + q.replace(". ", ".\n\n") + "  \n"),
}
MUTATIONS = [
    (r"\bmore\b", "fewer"),
    (r"\btwice\b", "half"),
    (r"\beach\b", "in total"),
    (r"\bhalf\b", "twice"),
    (r"\bless\b", "more"),
    (r"\bbuys\b", "sells"),
    (r"\bgave\b", "received"),
]


def _variant(
    base: WorkloadItem, kind: str, text: str, system: dict[str, str] | None, keeps_meaning: bool
) -> WorkloadItem:
    assert base.truth is not None
    messages = ([system] if system else []) + [{"role": "user", "content": text}]
    return WorkloadItem.model_validate(
        {
            "id": f"{base.id}~{kind}",
            "request": {"messages": messages, "max_tokens": 512},
            "task": "arithmetic",
            "perturbation": f"{'wrap' if keeps_meaning else 'mutate'}:{kind}",
            "base_id": base.base_id or base.id,
            "semantic": not keeps_meaning,
            "truth": base.truth.model_dump() if keeps_meaning else None,
            "family": "arithmetic",
        }
    )


@functools.cache
def _workload() -> tuple[list[WorkloadItem], list[WorkloadItem], list[WorkloadItem]]:
    rng = random.Random(7)
    items = gsm_workload(42)
    later = [i for i in items if i.perturbation != "base"]
    wraps = []
    for item in rng.sample(later, 120):
        kind = rng.choice(sorted(WRAPS))
        system, text = WRAPS[kind](item.prompt)
        wraps.append(_variant(item, kind, text, system, True))
    mutations = []
    for item in later:
        for pattern, replacement in MUTATIONS:
            if re.search(pattern, item.prompt):
                text = re.sub(pattern, replacement, item.prompt, count=1)
                mutations.append(_variant(item, replacement.replace(" ", "-"), text, None, False))
                break
    return items + wraps + mutations, wraps, mutations


@functools.cache
def _run(error_rate: float) -> Run:
    everything, _, _ = _workload()
    return serve(Oracle(everything, error_rate=error_rate, seed=1), everything)


@pytest.mark.parametrize("error_rate", [0.0, 0.3])
def test_meaning_preserving_wrappers_are_never_answered_wrong_from_the_cache(error_rate: float) -> None:
    run = _run(error_rate)
    _, wraps, _ = _workload()
    assert len(wraps) == 120 and not run.errors
    from_cache = [i.id for i in wraps if run.path_of[i.id] in ("reuse", "patch")]
    # measured 109 of 120 (65 before talk around the problem was read as framing); the rest change
    # the problem's own words (answered fresh)
    assert len(from_cache) >= 95
    wrong = {i: run.wrong[i] for i in from_cache if i in run.wrong}
    assert not wrong, wrong
    if error_rate == 0.0:
        assert not [i.id for i in wraps if i.id in run.wrong]


@pytest.mark.parametrize("error_rate", [0.0, 0.3])
def test_meaning_changes_are_never_served_from_the_cache(error_rate: float) -> None:
    run = _run(error_rate)
    _, _, mutations = _workload()
    assert len(mutations) > 100
    served = {i.id: run.path_of[i.id] for i in mutations if run.path_of[i.id] in ("reuse", "patch")}
    assert not served, served
