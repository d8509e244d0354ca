"""Metamorphic tests of StepCache (STYLE 15): language it did not write.

Invariance — a meaning-preserving rewrite of a request (a persona, markdown, LaTeX, a JSON skeleton,
a greeting turn, ... and chains of up to three of them) is claimed by the same family as the
original and answered right, whether it arrives first or after the original is cached.
Direction — a meaning-changing rewrite (a key of another meaning, a second unknown, a squared term,
a changed constant) is never served by reuse from the original's entry (an *adaptable* one, which
changes only constants, may be served by an adaptation, never by the original's answer), and when
its truth is known the answer is right.

The model is an oracle answering every request from its item's ground truth
(:class:`~stepcache_bench.oracle.Oracle`),
so every wrong answer here is StepCache's. Examples are drawn from the generated bench workload with a fixed seed
(``derandomize``): the same command always checks the same requests.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stepcache import MemoryStore, Result, Route, ScriptedBackend, StepCache
from stepcache_bench.checker import check
from stepcache_bench.metamorphic import (
    MUTATIONS,
    WRAPPERS,
    Mutation,
    Wrapper,
    applicable_mutations,
    kind_of,
)
from stepcache_bench.oracle import Oracle
from stepcache_bench.workload import LinearTruth, WorkloadItem, generate_workload

MODEL = "oracle"
ORIGINALS: list[WorkloadItem] = [*generate_workload(42), *generate_workload(43)]
MUTABLE: list[WorkloadItem] = [item for item in ORIGINALS if applicable_mutations(item)]
ORDER = list(WRAPPERS)


def _original(ident: str) -> WorkloadItem:
    return next(item for item in ORIGINALS if item.id == ident)


def _rounded(ident: str) -> tuple[WorkloadItem, WorkloadItem]:
    """``ident`` with a caller's "Round the final answer to 2 decimal places." (an integer solution)."""
    original = _original(ident)
    for seed in range(100):
        wrapped = WRAPPERS["system_format"](original, random.Random(seed))
        if wrapped is not None and isinstance(wrapped.truth, LinearTruth) and wrapped.truth.places == 2:
            return original, wrapped
    raise AssertionError(f"no rounding request for {ident}")


def _mutant(ident: str, name: str, seed: int) -> tuple[WorkloadItem, Mutation, WorkloadItem]:
    original, mutation = _original(ident), MUTATIONS[name]
    mutated = mutation(original, random.Random(seed))
    assert mutated is not None
    return original, mutation, mutated


# Found by the exhaustive run of these properties over the bench workloads (kept as regressions):
# answered fresh, a rounded integer is stated twice ("z = 5.00" on two numbered steps) ...
ROUNDED = _rounded("s42-lin-00-constants-1")
# ... and an equation whose variable changed in one place ("Solve for a: 6(s - 6) + 6 = -9") was reused
# from the original's entry as a rename, answering "s = 7/2" to a question about a.
SECOND_UNKNOWN = _mutant("s43-lin-02-rename-1", "variable_once", 135)

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def wrapped_items(draw: st.DrawFn) -> tuple[WorkloadItem, WorkloadItem]:
    """(original, the original through a chain of 1–3 wrappers, applied in ``WRAPPERS`` order)."""
    original = draw(st.sampled_from(ORIGINALS))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    length = draw(st.integers(1, 3))
    current, last, groups = original, -1, set[str]()
    for _ in range(length):
        later = [
            w for w in WRAPPERS.values() if ORDER.index(w.name) > last and w.group not in groups and w.applies(current)
        ]
        if not later:
            break
        wrapper: Wrapper = draw(st.sampled_from(later))
        wrapped = wrapper(current, rng)
        assert wrapped is not None, (wrapper.name, current.id)  # applies() said it would
        current, last = wrapped, ORDER.index(wrapper.name)
        groups.add(wrapper.group)
    assert current is not original  # every item has at least one wrapper (persona applies to all)
    return original, current


@st.composite
def mutated_items(draw: st.DrawFn) -> tuple[WorkloadItem, Mutation, WorkloadItem]:
    original = draw(st.sampled_from(MUTABLE))
    mutation: Mutation = draw(st.sampled_from(applicable_mutations(original)))
    mutated = mutation(original, random.Random(draw(st.integers(0, 2**32 - 1))))
    assert mutated is not None, (mutation.name, original.id)
    return original, mutation, mutated


def _cache(*items: WorkloadItem) -> StepCache:
    """StepCache in front of an always-right oracle that knows ``items`` (original and variant alike,
    so a model call that lost what the variant adds is answered as the original — and judged wrong)."""
    return StepCache(ScriptedBackend(responder=Oracle(items, error_rate=0.0)), store=MemoryStore())


def _ask(cache: StepCache, item: WorkloadItem) -> Result:
    return cache.complete(item.request.chat_request(MODEL))


def _show(item: WorkloadItem, result: Result) -> str:
    """What a failing example needs: the request as sent, and what StepCache did with it."""
    turns = "\n".join(f"  [{m['role']}] {m['content']!r}" for m in item.request.messages)
    format_ = f"\n  response_format: {item.request.response_format}" if item.request.response_format else ""
    return (
        f"\n{item.id} ({item.perturbation}, expects family {item.family}, truth {kind_of(item)}):\n{turns}"
        f"{format_}\n-> path {result.path.value}, family {result.family}, detail {result.detail!r}\n"
        f"-> answer {result.text[:400]!r}"
    )


def _assert_right(item: WorkloadItem, result: Result) -> None:
    verdict = check(item, result.text)
    assert verdict.ok, f"wrong answer: {'; '.join(verdict.reasons)}" + _show(item, result)


# -- invariance -----------------------------------------------------------------------------------


@SETTINGS
@given(wrapped_items())
@example(ROUNDED)
def test_wrapped_prompt_arriving_first_is_claimed_and_answered_like_the_original(
    pair: tuple[WorkloadItem, WorkloadItem],
) -> None:
    original, wrapped = pair
    result = _ask(_cache(original, wrapped), wrapped)
    assert result.family == original.family, f"claimed by {result.family}, not {original.family}" + _show(
        wrapped, result
    )
    _assert_right(wrapped, result)


@SETTINGS
@given(wrapped_items())
@example(ROUNDED)
def test_wrapped_prompt_after_the_original_is_claimed_and_answered_like_the_original(
    pair: tuple[WorkloadItem, WorkloadItem],
) -> None:
    original, wrapped = pair
    cache = _cache(original, wrapped)
    _ask(cache, original)
    result = _ask(cache, wrapped)
    assert result.family == original.family, f"claimed by {result.family}, not {original.family}" + _show(
        wrapped, result
    )
    _assert_right(wrapped, result)


# -- direction ------------------------------------------------------------------------------------


@SETTINGS
@given(mutated_items())
@example(SECOND_UNKNOWN)
def test_mutated_prompt_is_never_served_the_originals_answer(
    triple: tuple[WorkloadItem, Mutation, WorkloadItem],
) -> None:
    original, mutation, mutated = triple
    cache = _cache(original, mutated)
    first = _ask(cache, original)
    result = _ask(cache, mutated)
    from_original = result.path is Route.REUSE and first.stored is not None and result.entry == first.stored
    if mutation.adaptable:  # only constants changed: an adaptation may be right, the old answer never is
        assert not (from_original and result.text.strip() == first.text.strip()), (
            "the original's answer served unchanged" + _show(mutated, result)
        )
    else:
        assert not from_original, f"reused the original's entry after {mutation.name}" + _show(mutated, result)
    if mutated.truth is not None:
        _assert_right(mutated, result)
