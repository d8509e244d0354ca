"""The second validation corpus (tests/data/validation.jsonl) is well-formed and its truths are exact.

Only the file is checked here: it loads, its ids and groups are sound, and every ground truth agrees with
itself (a linear solution satisfies its equation, roots are roots, JSON truths name every required key).
How StepCache does on it is measured with ``stepcache bench --workload``, not here.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from stepcache_bench._expr import Expr, linear_coefficients, parse_chain, parse_expr, quadratic_coefficients
from stepcache_bench.checker import check
from stepcache_bench.oracle import Oracle
from stepcache_bench.workload import (
    EvaluationTruth,
    JsonTruth,
    LinearTruth,
    ProseTruth,
    QuadraticTruth,
    SystemTruth,
    WorkloadItem,
    load_workload,
)

CORPUS = Path(__file__).resolve().parents[1] / "data" / "validation.jsonl"
ITEMS = load_workload(CORPUS)
BY_ID = {item.id: item for item in ITEMS}


def _difference(equation: str) -> tuple[Expr, frozenset[str]]:
    """``left - right`` of a one-``=`` equation, and the variables it uses."""
    sides = parse_chain(equation)
    assert len(sides) == 2, f"{equation!r} is not one equation"
    left, right = sides
    variables = left.variables | right.variables
    return Expr(("-", left.tree, right.tree), variables), variables


def _ids(kind: type) -> list[str]:
    return [item.id for item in ITEMS if isinstance(item.truth, kind)]


def test_size_and_unique_ids() -> None:
    raw = [json.loads(line)["id"] for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(raw) == len(set(raw)) == len(ITEMS)
    assert len(ITEMS) >= 180


def test_composition() -> None:
    families = Counter(item.family for item in ITEMS)
    assert families["linear"] >= 75
    assert families["json"] >= 65
    assert families["generic"] >= 25
    assert set(families) == {"linear", "json", "generic"}
    semantic = Counter(item.family for item in ITEMS if item.semantic)
    assert semantic["json"] >= 5 and semantic["generic"] >= 5
    assert all(item.truth is not None for item in ITEMS)
    formats = Counter((item.request.response_format or {}).get("type") for item in ITEMS)
    assert formats["json_object"] >= 5 and formats["json_schema"] >= 5


def test_groups_point_at_their_base() -> None:
    for item in ITEMS:
        if item.perturbation == "base":
            assert item.base_id is None, item.id
            assert not item.semantic, item.id
            continue
        assert item.base_id in BY_ID, f"{item.id}: base {item.base_id!r} is not in the corpus"
        base = BY_ID[item.base_id]
        assert base.perturbation == "base" and base.base_id is None, item.id
        if item.family != base.family:
            assert item.semantic, f"{item.id}: another family than its base must be a semantic variant"
    variants = Counter(item.base_id for item in ITEMS if item.base_id)
    assert all(variants[item.id] >= 1 for item in ITEMS if item.perturbation == "base" and item.family != "generic")


def test_family_matches_truth() -> None:
    for item in ITEMS:
        if isinstance(item.truth, LinearTruth):
            assert item.family == "linear", item.id
        elif isinstance(item.truth, JsonTruth):
            assert item.family == "json", item.id
        else:
            assert item.family == "generic", item.id


@pytest.mark.parametrize("item_id", _ids(LinearTruth))
def test_linear_solution_satisfies_its_equation(item_id: str) -> None:
    truth = BY_ID[item_id].truth
    assert isinstance(truth, LinearTruth)
    difference, variables = _difference(truth.equation)
    assert variables == {truth.variable}
    coefficients = linear_coefficients(difference, truth.variable)
    assert coefficients is not None and coefficients[0] != 0, f"{truth.equation!r} is not linear in {truth.variable}"
    assert difference({truth.variable: Fraction(truth.solution)}) == 0
    assert Fraction(truth.solution) == -coefficients[1] / coefficients[0]
    if truth.format == "fraction":
        assert Fraction(truth.solution).denominator != 1


@pytest.mark.parametrize("item_id", _ids(QuadraticTruth))
def test_quadratic_roots_are_all_the_roots(item_id: str) -> None:
    truth = BY_ID[item_id].truth
    assert isinstance(truth, QuadraticTruth)
    difference, variables = _difference(truth.equation)
    assert variables == {truth.variable}
    coefficients = quadratic_coefficients(difference, truth.variable)
    assert coefficients is not None and coefficients[0] != 0
    a, b, c = coefficients
    roots = {Fraction(r) for r in truth.roots}
    assert all(difference({truth.variable: r}) == 0 for r in roots)
    assert len(roots) == (2 if b * b - 4 * a * c > 0 else 1)


@pytest.mark.parametrize("item_id", _ids(SystemTruth))
def test_system_solution_satisfies_every_equation(item_id: str) -> None:
    truth = BY_ID[item_id].truth
    assert isinstance(truth, SystemTruth)
    env = {name: Fraction(value) for name, value in truth.solution.items()}
    assert len(truth.equations) == len(env)
    for equation in truth.equations:
        difference, variables = _difference(equation)
        assert variables <= set(env)
        assert difference(env) == 0, equation


_AT = re.compile(r"(?P<expr>.+) at (?P<var>[A-Za-z]) = (?P<value>-?[\d./]+)")
_RELATION = re.compile(r"(<=|>=|<|>)")


@pytest.mark.parametrize("item_id", _ids(EvaluationTruth))
def test_evaluation_value_follows_from_its_expression(item_id: str) -> None:
    """``E at v = N`` evaluates E; ``L < R`` is an inequality whose boundary is the value; else E is constant."""
    truth = BY_ID[item_id].truth
    assert isinstance(truth, EvaluationTruth)
    if match := _AT.fullmatch(truth.expression):
        value = parse_expr(match["expr"])({match["var"]: Fraction(match["value"])})
    elif _RELATION.search(truth.expression):
        left, _, right = _RELATION.split(truth.expression)
        difference, variables = _difference(f"{left} = {right}")
        (variable,) = variables
        coefficients = linear_coefficients(difference, variable)
        assert coefficients is not None and coefficients[0] != 0
        value = -coefficients[1] / coefficients[0]
    else:
        value = parse_expr(truth.expression)({})
    assert value == Fraction(truth.value)


def _schema(item: WorkloadItem) -> dict[str, object] | None:
    rf = item.request.response_format or {}
    if rf.get("type") != "json_schema":
        return None
    schema = rf["json_schema"]["schema"]
    assert isinstance(schema, dict)
    return schema


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def _conforms(value: object, schema: dict[str, object]) -> bool:
    kind = schema.get("type")
    if not isinstance(kind, str) or not isinstance(value, _JSON_TYPES[kind]):
        return False
    if isinstance(value, bool) and kind != "boolean":
        return False
    if "enum" in schema and value not in schema["enum"]:  # type: ignore[operator]
        return False
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        assert isinstance(properties, dict)
        required = schema.get("required", [])
        assert isinstance(required, list)
        if set(required) - set(value) or (schema.get("additionalProperties") is False and set(value) - set(properties)):
            return False
        return all(_conforms(v, properties[k]) for k, v in value.items() if k in properties)
    if isinstance(value, list):
        items = schema.get("items")
        assert isinstance(items, dict)
        return all(_conforms(v, items) for v in value)
    return True


@pytest.mark.parametrize("item_id", _ids(JsonTruth))
def test_json_truth_names_every_required_key(item_id: str) -> None:
    item = BY_ID[item_id]
    truth = item.truth
    assert isinstance(truth, JsonTruth)
    assert truth.required_keys and set(truth.required_keys) == set(truth.expected)
    schema = _schema(item)
    if schema is not None:
        assert list(schema["required"]) == list(truth.required_keys)  # type: ignore[call-overload]
        assert (schema.get("additionalProperties") is False) == (not truth.additional_keys)
        assert _conforms(dict(truth.expected), schema), "expected object does not fit the request's json_schema"
    prompt = "\n".join(m["content"] for m in item.request.messages)
    for key in truth.required_keys:
        assert key in prompt or schema is not None, f"key {key!r} is not asked for anywhere in the request"


@pytest.mark.parametrize("item_id", _ids(ProseTruth))
def test_prose_truth_names_something(item_id: str) -> None:
    truth = BY_ID[item_id].truth
    assert isinstance(truth, ProseTruth) and truth.mentions


def test_items_with_different_truths_are_told_apart() -> None:
    """The bench's ground-truth oracle finds each item from its own request, and its answer passes the checker."""
    oracle = Oracle(ITEMS)
    for item in ITEMS:
        request = item.request.backend_request("validation")
        assert oracle.item_for(request).truth == item.truth, item.id
        result = check(item, oracle(request))
        assert result.ok, (item.id, result.reasons)
