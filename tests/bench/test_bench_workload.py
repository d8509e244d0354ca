"""The paper-shaped workload: shape, determinism, ground truth that is actually true, and the JSONL format."""

from __future__ import annotations

import json
import re
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from stepcache_bench.workload import (
    JSON_PERTURBATIONS,
    LINEAR_PERTURBATIONS,
    EvaluationTruth,
    JsonTruth,
    LinearTruth,
    ProseTruth,
    QuadraticTruth,
    SystemTruth,
    WorkloadError,
    WorkloadItem,
    dump_workload,
    generate_workload,
    load_workload,
)

# -- an evaluator of our own, so the test does not trust the package's parser ------------------------


def _value(expression: str, env: dict[str, Fraction]) -> Fraction:
    """Evaluate '4(y - 2) + 6' with exact fractions by rewriting it as Python."""
    code = re.sub(r"\d+(?:\.\d+)?", lambda m: f'F("{m.group(0)}")', expression)
    code = re.sub(r"(?<![A-Za-z\"])([A-Za-z])(?![A-Za-z\"(])", lambda m: f"(V[{m.group(1)!r}])", code)
    code = code.replace(")F(", ")*F(").replace(")(", ")*(").replace("^", "**")
    result = eval(code, {"__builtins__": {}}, {"F": Fraction, "V": env})  # noqa: S307 - our own strings
    assert isinstance(result, Fraction), (expression, code)
    return result


def _holds(equation: str, env: dict[str, Fraction]) -> bool:
    left, right = equation.split("=")
    return _value(left, env) == _value(right, env)


def test_own_evaluator_is_right() -> None:
    assert _value("4(y - 2) + 6", {"y": Fraction(9)}) == 34
    assert _value("(2t + 1)/3", {"t": Fraction(4)}) == 3
    assert _value("0.5k + 1.5", {"k": Fraction(5)}) == 4
    assert _value("x^2 - 5x + 6", {"x": Fraction(3)}) == 0
    assert not _holds("3x + 5 = 20", {"x": Fraction(4)})


# -- shape ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def items() -> list[WorkloadItem]:
    return generate_workload(42)


def test_paper_shape(items: list[WorkloadItem]) -> None:
    assert len(items) == 2 * 10 * (1 + 5 * 3)
    bases = [i for i in items if i.perturbation == "base"]
    assert Counter(i.task for i in bases) == {"linear": 10, "json": 10}
    for base in bases:
        variants = Counter(i.perturbation for i in items if i.base_id == base.id)
        expected = LINEAR_PERTURBATIONS if base.task == "linear" else JSON_PERTURBATIONS
        assert variants == {p: 3 for p in expected}
    # base prompts come first: they fill the cache
    assert all(i.perturbation == "base" for i in items[:20])
    assert len({i.id for i in items}) == len(items)
    assert all(i.seed == 42 for i in items)
    assert all(i.semantic == (i.perturbation == "semantic") for i in items)


def test_same_seed_same_workload_other_seed_other_workload() -> None:
    assert generate_workload(43) == generate_workload(43)
    a, b = generate_workload(43), generate_workload(44)
    assert [i.prompt for i in a] != [i.prompt for i in b]


def test_variants_are_shuffled_not_grouped_by_base(items: list[WorkloadItem]) -> None:
    variants = [i.base_id for i in items[20:]]
    runs = sum(1 for x, y in zip(variants, variants[1:]) if x != y)
    assert runs > len(variants) // 2


def test_sizes_scale() -> None:
    small = generate_workload(7, bases_per_task=2, variants_per_perturbation=1, tasks=("linear",))
    assert len(small) == 2 * (1 + 5)
    with pytest.raises(ValueError, match="unknown task"):
        generate_workload(7, tasks=("poetry",))


def test_every_item_names_the_family_that_should_claim_it(items: list[WorkloadItem]) -> None:
    # linear equations and JSON records by their task; a semantic variant (quadratic, evaluation,
    # system, prose) is none of the specialised families' business
    for item in items:
        assert item.family == ("generic" if item.semantic else item.task), item.id
    assert Counter(i.family for i in items) == {"linear": 130, "json": 130, "generic": 60}


# -- the ground truth is true ------------------------------------------------------------------------


def test_every_linear_truth_solves_its_equation() -> None:
    checked = 0
    for seed in (42, 43, 44):
        for item in generate_workload(seed):
            if item.task != "linear" or item.semantic:
                continue
            truth = item.truth
            assert isinstance(truth, LinearTruth)
            assert truth.equation in item.prompt
            solution = Fraction(truth.solution)
            assert _holds(truth.equation, {truth.variable: solution}), item.id
            assert not _holds(truth.equation, {truth.variable: solution + 1}), item.id  # a unique solution
            assert solution.denominator in (1, 2, 4, 5)  # integer or a simple, terminating rational
            checked += 1
    assert checked == 3 * 10 * (1 + 4 * 3)  # base + constants, rename, paraphrase, format


def test_linear_perturbations_change_what_they_say(items: list[WorkloadItem]) -> None:
    by_id = {i.id: i for i in items}
    for item in items:
        if item.task != "linear" or item.base_id is None or item.semantic:
            continue
        base, truth = by_id[item.base_id], item.truth
        assert isinstance(base.truth, LinearTruth) and isinstance(truth, LinearTruth)
        if item.perturbation == "constants":
            assert truth.equation != base.truth.equation and truth.variable == base.truth.variable
        elif item.perturbation == "rename":
            assert truth.variable != base.truth.variable
            assert truth.equation == base.truth.equation.replace(base.truth.variable, truth.variable)
        elif item.perturbation == "paraphrase":
            assert truth.equation == base.truth.equation and item.prompt != base.prompt
        elif item.perturbation == "format":
            assert truth.equation == base.truth.equation and truth.format in item.prompt
            assert item.prompt.startswith(base.prompt)


def test_semantic_linear_truths(items: list[WorkloadItem]) -> None:
    kinds = Counter()
    for item in items:
        if item.task != "linear" or not item.semantic:
            continue
        truth = item.truth
        kinds[type(truth).__name__] += 1
        if isinstance(truth, QuadraticTruth):
            for root in truth.roots:
                assert _holds(truth.equation, {truth.variable: Fraction(root)})
        elif isinstance(truth, EvaluationTruth):
            match = re.search(r"Evaluate (.+) when ([a-z]) = (\d+)", item.prompt)
            assert match and match[1] == truth.expression
            assert _value(match[1], {match[2]: Fraction(match[3])}) == Fraction(truth.value)
        else:
            assert isinstance(truth, SystemTruth)
            env = {k: Fraction(v) for k, v in truth.solution.items()}
            assert len(truth.equations) == 2 and all(_holds(eq, env) for eq in truth.equations)
    assert kinds == {"QuadraticTruth": 10, "EvaluationTruth": 10, "SystemTruth": 10}


def test_json_truths_match_their_prompts(items: list[WorkloadItem]) -> None:
    by_id = {i.id: i for i in items}
    styles = Counter()
    for item in items:
        if item.task != "json":
            continue
        truth = item.truth
        if item.semantic:
            assert isinstance(truth, ProseTruth) and item.request.response_format is None
            assert "JSON" in item.prompt and all(m in item.prompt for m in truth.mentions)
            continue
        assert isinstance(truth, JsonTruth)
        assert 3 <= len(truth.required_keys) <= 5
        assert f"Required keys: {', '.join(truth.required_keys)}." in item.prompt
        for key, value in truth.expected.items():
            shown = {True: "true", False: "false"}.get(value, str(value)) if isinstance(value, bool) else str(value)
            assert f"{key}: {shown.removesuffix('.0')}" in item.prompt, (item.id, key)
        rf = item.request.response_format
        styles[rf["type"] if rf else "prompt"] += 1
        if rf and rf["type"] == "json_schema":
            schema = rf["json_schema"]["schema"]
            assert schema["required"] == list(truth.required_keys) and not truth.additional_keys
        base = by_id[item.base_id] if item.base_id else item
        assert isinstance(base.truth, JsonTruth)
        if item.perturbation == "add_key":
            assert truth.required_keys[:-1] == base.truth.required_keys
        elif item.perturbation == "rename_key":
            assert list(truth.expected.values()) == list(base.truth.expected.values())
            assert len(set(truth.required_keys) - set(base.truth.required_keys)) == 1
        elif item.perturbation == "values":
            assert truth.required_keys == base.truth.required_keys
    assert set(styles) == {"json_schema", "json_object", "prompt"}


# -- JSONL -------------------------------------------------------------------------------------------


def test_jsonl_round_trip(tmp_path: Path, items: list[WorkloadItem]) -> None:
    path = dump_workload(items, tmp_path / "w.jsonl")
    assert load_workload(path) == items
    first = json.loads(path.read_text().splitlines()[0])
    assert {"id", "request", "task", "perturbation", "truth"} <= set(first)


def test_minimal_user_trace_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    line = {"id": "a", "request": {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.3}}
    path.write_text(json.dumps(line) + "\n\n")
    (item,) = load_workload(path)
    assert item.truth is None and item.task == "other" and item.perturbation == "base"
    assert item.request.chat_request("m").prompt == "hi"


GOOD = {"id": "ok", "request": {"messages": [{"role": "user", "content": "Solve 2x = 4"}]}}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"w\.jsonl:2: not valid JSON"),
        ("[1, 2]", r"w\.jsonl:2: each line must be a JSON object"),
        (json.dumps({"id": "b"}), r"w\.jsonl:2: request: Field required"),
        (json.dumps({**GOOD, "id": "b", "truht": {}}), r"w\.jsonl:2: truht: Extra inputs"),
        (json.dumps({**GOOD, "id": "b", "truth": {"kind": "poem"}}), r"w\.jsonl:2: truth: .*tag 'poem'"),
        (
            json.dumps({**GOOD, "id": "b", "truth": {"kind": "linear", "variable": "x", "solution": "two"}}),
            r"w\.jsonl:2: truth\.linear\.solution: .*not an exact number",
        ),
        (
            json.dumps({"id": "b", "request": {"messages": [{"role": "system", "content": "hi"}]}}),
            r"w\.jsonl:2: .*'user' message",
        ),
        (json.dumps(GOOD), r"w\.jsonl:2: duplicate id 'ok' \(first used on line 1\)"),
    ],
)
def test_bad_lines_name_the_line_and_the_problem(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "w.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n")
    with pytest.raises(WorkloadError, match=message):
        load_workload(path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match="cannot read workload file"):
        load_workload(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(WorkloadError, match="no items"):
        load_workload(tmp_path / "empty.jsonl")
