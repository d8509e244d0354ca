"""The rewrites themselves: wrappers keep the meaning and say what they did, mutations change it and
carry the new request's true answer, wrapped workloads are ordered and reproducible."""

from __future__ import annotations

import random
import re
from fractions import Fraction

import pytest

from stepcache import BackendRequest
from stepcache_bench.checker import check
from stepcache_bench.metamorphic import (
    ANY_KIND,
    MUTATIONS,
    WRAPPERS,
    applicable_mutations,
    applicable_wrappers,
    kind_of,
    wrap_chain,
    wrapped_workload,
)
from stepcache_bench.oracle import Oracle, UnknownRequest
from stepcache_bench.workload import JsonTruth, LinearTruth, QuadraticTruth, WorkloadItem, generate_workload

ITEMS = generate_workload(42, bases_per_task=3, variants_per_perturbation=1)
BY_ID = {item.id: item for item in ITEMS}


def _value(expression: str, env: dict[str, Fraction]) -> Fraction:
    """Our own exact evaluator ('0.25x + 5', '3(x^2 - 2)'), so the test does not trust the package's."""
    code = re.sub(r"\d+(?:\.\d+)?", lambda m: f'F("{m.group(0)}")', expression)
    code = re.sub(r"(?<![A-Za-z\"])([A-Za-z])(?![A-Za-z\"(])", lambda m: f"(V[{m.group(1)!r}])", code)
    code = code.replace(")F(", ")*F(").replace(")(", ")*(").replace("^", "**")
    result = eval(code, {"__builtins__": {}}, {"F": Fraction, "V": env})  # noqa: S307 - our own strings
    return Fraction(result)


def _holds(equation: str, env: dict[str, Fraction]) -> bool:
    left, right = equation.split("=")
    return _value(left, env) == _value(right, env)


# -- wrappers -------------------------------------------------------------------------------------


def test_at_least_twelve_documented_wrappers_and_their_mutations() -> None:
    assert len(WRAPPERS) >= 12 and len(MUTATIONS) >= 5
    for name, wrapper in WRAPPERS.items():
        assert wrapper.name == name and wrapper.doc and wrapper.group and wrapper.kinds <= ANY_KIND
    for name, mutation in MUTATIONS.items():
        assert mutation.name == name and mutation.doc and mutation.kinds <= ANY_KIND


@pytest.mark.parametrize("name", list(WRAPPERS))
def test_each_wrapper_applies_somewhere_keeps_the_meaning_and_says_what_it_did(name: str) -> None:
    wrapper = WRAPPERS[name]
    applied = 0
    for item in ITEMS:
        if not wrapper.applies(item):
            assert wrapper(item, random.Random(0)) is None or kind_of(item) in wrapper.kinds
            continue
        wrapped = wrapper(item, random.Random(7))
        assert wrapped is not None
        assert wrapped == wrapper(item, random.Random(7))  # deterministic given the rng
        assert wrapped.id == f"{item.id}~{name}" and wrapped.perturbation == f"wrap:{name}"
        assert wrapped.base_id == item.id and not wrapped.semantic
        assert (wrapped.family, wrapped.task, wrapped.seed) == (item.family, item.task, item.seed)
        assert wrapped.request != item.request
        if name not in ("system_format", "response_format"):  # the two that change the presentation
            assert wrapped.truth == item.truth
        applied += 1
    assert applied, f"{name} applies to no generated item"


def test_a_caller_format_request_updates_what_a_right_answer_looks_like() -> None:
    seen = set()
    for seed in range(40):
        for item in ITEMS:
            if not isinstance(item.truth, LinearTruth) or item.truth.format == "fraction":
                continue
            wrapped = WRAPPERS["system_format"](item, random.Random(seed))
            assert wrapped is not None and isinstance(wrapped.truth, LinearTruth)
            system = wrapped.request.messages[0]["content"]
            truth = wrapped.truth
            if "only the final" in system:
                seen.add("final")
                assert truth.answer == "final" and not truth.boxed and truth.places is None
            elif "boxed" in system:
                seen.add("boxed")
                assert truth.boxed and truth.answer == "steps"
            else:
                seen.add("places")
                assert truth.places is not None and f"{truth.places} decimal places" in system
            assert truth.solution == item.truth.solution
    assert seen == {"final", "boxed", "places"}


def test_response_format_derives_the_schema_from_the_truth() -> None:
    for item in ITEMS:
        if not isinstance(item.truth, JsonTruth):
            continue
        for seed in range(6):
            wrapped = WRAPPERS["response_format"](item, random.Random(seed))
            assert wrapped is not None and isinstance(wrapped.truth, JsonTruth)
            rf = wrapped.request.response_format
            assert rf != item.request.response_format
            if rf and rf["type"] == "json_schema":
                schema = rf["json_schema"]["schema"]
                assert schema["required"] == list(item.truth.required_keys) and not wrapped.truth.additional_keys
                for key, value in item.truth.expected.items():
                    expected_type = {bool: "boolean", int: "integer", float: "number", str: "string"}[type(value)]
                    assert schema["properties"][key] == {"type": expected_type}
            else:
                assert wrapped.truth.additional_keys and "json" in wrapped.prompt.casefold()


def test_json_skeleton_and_bullets_replace_the_key_list() -> None:
    item = next(i for i in ITEMS if isinstance(i.truth, JsonTruth) and "Required keys:" in i.prompt)
    assert isinstance(item.truth, JsonTruth)
    listed = ", ".join(item.truth.required_keys)
    for name in ("json_skeleton", "key_bullets"):
        wrapped = WRAPPERS[name](item, random.Random(3))
        assert wrapped is not None and listed not in wrapped.prompt
        assert all(f'"{k}"' in wrapped.prompt or f" {k}\n" in wrapped.prompt + "\n" for k in item.truth.required_keys)


def test_chains_compose_in_order_and_refuse_two_of_a_group() -> None:
    item = next(i for i in ITEMS if isinstance(i.truth, LinearTruth))
    chain = [WRAPPERS["multi_turn"], WRAPPERS["latex"], WRAPPERS["politeness"]]
    wrapped = wrap_chain(item, chain, random.Random(1))
    assert wrapped is not None
    assert wrapped.id == f"{item.id}~latex~politeness~multi_turn"  # WRAPPERS order, whatever the list order
    assert wrapped.perturbation == "wrap:latex+politeness+multi_turn" and wrapped.base_id == item.id
    assert wrapped.request.messages[-1]["content"].count("$") >= 2 or "\\(" in wrapped.prompt
    assert wrap_chain(item, [WRAPPERS["latex"], WRAPPERS["unicode_ops"]], random.Random(1)) is None


# -- mutations ------------------------------------------------------------------------------------


def _mutants(name: str, items: list[WorkloadItem] = ITEMS) -> list[tuple[WorkloadItem, WorkloadItem]]:
    mutation = MUTATIONS[name]
    out = []
    for item in items:
        for seed in range(3):
            mutated = mutation(item, random.Random(seed)) if mutation.applies(item) else None
            if mutated is not None:
                out.append((item, mutated))
    assert out, f"{name} applies to no generated item"
    return out


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_mutations_say_what_they_did(name: str) -> None:
    for item, mutated in _mutants(name):
        assert mutated.id == f"{item.id}~{name}" and mutated.perturbation == f"mutate:{name}"
        assert mutated.base_id == item.id and mutated.semantic and mutated.prompt != item.prompt
        assert MUTATIONS[name](item, random.Random(4)) == MUTATIONS[name](item, random.Random(4))


@pytest.mark.parametrize("name", ["percent_coefficient", "stale_constant"])
def test_constant_changes_carry_the_new_equations_solution(name: str) -> None:
    for item, mutated in _mutants(name):
        truth, old = mutated.truth, item.truth
        if isinstance(old, JsonTruth):
            assert isinstance(truth, JsonTruth) and truth.expected != old.expected
            changed = [k for k in old.expected if truth.expected[k] != old.expected[k]]
            assert len(changed) == 1 and f"{changed[0]}: " in mutated.prompt
            continue
        assert isinstance(truth, LinearTruth) and isinstance(old, LinearTruth)
        assert mutated.family == "linear" and truth.solution != old.solution
        solution = Fraction(truth.solution)
        assert _holds(truth.equation, {truth.variable: solution}), (mutated.id, truth.equation)
        assert not _holds(truth.equation, {truth.variable: solution + 1})
        if name == "percent_coefficient":
            assert "% of " + truth.variable in mutated.prompt
        else:
            assert truth.equation in mutated.prompt


def test_a_squared_term_is_a_quadratic_with_its_rational_roots_or_no_truth() -> None:
    with_roots = 0
    for _item, mutated in _mutants("square_term", generate_workload(43)):
        assert mutated.family == "generic" and "^2" in mutated.prompt
        if mutated.truth is None:
            continue
        assert isinstance(mutated.truth, QuadraticTruth)
        with_roots += 1
        for root in mutated.truth.roots:
            assert _holds(mutated.truth.equation, {mutated.truth.variable: Fraction(root)})
    assert with_roots  # some squares have rational roots


def test_a_second_unknown_has_no_truth_and_belongs_to_generic() -> None:
    for item, mutated in _mutants("variable_once"):
        assert isinstance(item.truth, LinearTruth)
        assert mutated.truth is None and mutated.family == "generic"
        letters = set(re.findall(r"(?<![A-Za-z])[a-z](?![A-Za-z])", mutated.prompt))
        assert len(letters - set(re.findall(r"(?<![A-Za-z])[a-z](?![A-Za-z])", item.prompt))) == 1


def test_a_swapped_key_changes_the_required_keys_and_the_schema() -> None:
    for item, mutated in _mutants("swap_key"):
        old, new = item.truth, mutated.truth
        assert isinstance(old, JsonTruth) and isinstance(new, JsonTruth)
        removed, added = (
            set(old.required_keys) - set(new.required_keys),
            set(new.required_keys) - set(old.required_keys),
        )
        assert len(removed) == 1 and len(added) == 1
        assert not (removed & set(new.expected)) and mutated.family == "json"
        assert ", ".join(new.required_keys) in mutated.prompt
        rf = mutated.request.response_format
        if rf and rf["type"] == "json_schema":
            assert rf["json_schema"]["schema"]["required"] == list(new.required_keys)


def test_whether_a_rewrite_applies_never_depends_on_the_rng() -> None:
    # applies() tries Random(0); a rewrite that then fails with another rng would break workloads and strategies
    for item in generate_workload(43):
        for rewrite in [*applicable_wrappers(item), *applicable_mutations(item)]:
            for seed in (1, 2, 3):
                assert rewrite(item, random.Random(seed)) is not None, (rewrite.name, item.id, seed)


# -- workloads and the oracle ---------------------------------------------------------------------


def test_wrapped_workload_puts_originals_first_and_is_reproducible() -> None:
    workload = wrapped_workload(ITEMS, random.Random(5))
    assert workload[: len(ITEMS)] == ITEMS
    assert workload == wrapped_workload(ITEMS, random.Random(5))
    assert len({i.id for i in workload}) == len(workload)
    variants = workload[len(ITEMS) :]
    assert all(v.base_id in BY_ID for v in variants)
    kinds = {v.perturbation for v in variants}
    assert {f"wrap:{w}" for w in WRAPPERS} <= kinds and {f"mutate:{m}" for m in MUTATIONS} <= kinds
    expected = sum(len(applicable_wrappers(i)) + len(applicable_mutations(i)) for i in ITEMS)
    assert len(variants) == expected
    few = wrapped_workload(ITEMS, random.Random(5), per_item=2)
    assert len([v for v in few if v.perturbation.startswith("wrap:")]) == 2 * len(ITEMS)


def _ask(oracle: Oracle, item: WorkloadItem) -> str:
    request = item.request.backend_request("m")
    return oracle(request)


def test_the_workload_oracle_tells_look_alikes_apart_by_the_callers_system_message() -> None:
    item = next(i for i in ITEMS if isinstance(i.truth, LinearTruth) and i.truth.format == "any")
    final = next(
        w
        for s in range(50)
        if (w := WRAPPERS["system_format"](item, random.Random(s))) is not None
        and isinstance(w.truth, LinearTruth)
        and w.truth.answer == "final"
    )
    oracle = Oracle([item, final])
    assert oracle.items_for(item.request.backend_request("m")) == [item]
    assert oracle.items_for(final.request.backend_request("m")) == [final]
    assert check(item, _ask(oracle, item)).ok and check(final, _ask(oracle, final)).ok
    mutated = MUTATIONS["variable_once"](item, random.Random(0))
    assert mutated is not None
    assert Oracle([item, mutated])(mutated.request.backend_request("m")) == Oracle.REFUSAL
    with pytest.raises(UnknownRequest):
        oracle(BackendRequest(messages=({"role": "user", "content": "What is the capital of Peru?"},), model="m"))


def test_the_oracle_answers_every_wrapped_and_mutated_item_right() -> None:
    """The truths of the rewritten items are consistent: answered from them, the checker agrees."""
    workload = wrapped_workload(ITEMS, random.Random(11))
    oracle = Oracle(workload)
    wrong = []
    for item in workload:
        if item.truth is None:
            continue
        verdict = check(item, _ask(oracle, item))
        if not verdict.ok:
            wrong.append(f"{item.id}: {'; '.join(verdict.reasons)}")
    assert not wrong, "\n".join(wrong[:10])
