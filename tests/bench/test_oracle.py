"""The oracle answers every corpus item from its truth, finds the item inside StepCache's own model
calls, errs the way models do when asked to, and is deterministic."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from stepcache import BackendError, BackendRequest, MemoryStore, ScriptedBackend, StepCache
from stepcache_bench.checker import check
from stepcache_bench.oracle import Oracle, UnknownRequest
from stepcache_bench.workload import WorkloadItem, load_workload

CORPUS = Path(__file__).parents[1] / "data" / "phrasings.jsonl"


@pytest.fixture(scope="module")
def items() -> list[WorkloadItem]:
    return load_workload(CORPUS)


def _item(id: str, prompt: str, truth: dict[str, object], **request: object) -> WorkloadItem:
    return WorkloadItem.model_validate(
        {"id": id, "request": {"messages": [{"role": "user", "content": prompt}], **request}, "truth": truth}
    )


def _ask(*messages: tuple[str, str], response_format: dict[str, object] | None = None) -> BackendRequest:
    return BackendRequest(
        messages=tuple({"role": role, "content": content} for role, content in messages),
        model="m",
        response_format=response_format,
    )


LINEAR = _item(
    "lin", "Solve 3x + 5 = 20", {"kind": "linear", "variable": "x", "solution": "5", "equation": "3x + 5 = 20"}
)
LINEAR_DECIMAL = _item(
    "lin-decimal",
    "Solve 3x + 5 = 20 and give x as a decimal, please",
    {"kind": "linear", "variable": "x", "solution": "5", "equation": "3x + 5 = 20", "format": "decimal"},
)
RECORD = _item(
    "record",
    "Ticket HC-68241 from dana.kim@fastmail.com, opened 2024-03-14 at 09:30, resolved. Keys: id, email, date, time, "
    "resolved, total. The total was $87.40 (subtotal $79.90).",
    {
        "kind": "json",
        "required_keys": ["id", "email", "date", "time", "resolved", "total"],
        "expected": {
            "id": "HC-68241",
            "email": "dana.kim@fastmail.com",
            "date": "2024-03-14",
            "time": "09:30",
            "resolved": True,
            "total": 87.40,
        },
    },
)


# -- right ------------------------------------------------------------------------------------------


def test_answers_every_corpus_item_right(items: list[WorkloadItem]) -> None:
    oracle = Oracle(items)
    for item in items:
        answer = oracle(item.request.backend_request("m"))
        result = check(item, answer)
        assert result.ok, (item.id, answer, result.reasons)


def test_linear_answer_is_a_short_true_derivation() -> None:
    oracle = Oracle([LINEAR])
    assert oracle(_ask(("user", "Solve 3x + 5 = 20"))) == "1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5"


def test_presentation_follows_the_truth(items: list[WorkloadItem]) -> None:
    oracle = Oracle(items)
    by_id = {item.id: item for item in items}

    def answer(id: str) -> str:
        return oracle(by_id[id].request.backend_request("m"))

    assert answer("lin17-base") == "x = 12"  # "reply with only the final number"
    assert answer("lin18-base").endswith("x = \\boxed{5}")
    assert answer("lin19-base").endswith("x = 7/3 ≈ 2.33")
    assert answer("lin19-final-rounded") == "x ≈ 0.56"
    assert answer("lin20-decimal").endswith("x = 2.5") and answer("lin20-base").endswith("x = 5/2")


# -- which item -------------------------------------------------------------------------------------


def test_finds_the_item_inside_stepcache_wrapping() -> None:
    oracle = Oracle([LINEAR, LINEAR_DECIMAL, RECORD])
    wrapped = _ask(("system", "Solve the linear equation step by step."), ("user", "Solve   3x + 5 =\n20"))
    assert oracle.item_for(wrapped) is LINEAR  # whitespace does not matter
    patch = _ask(
        ("system", "Solve the linear equation step by step."),
        (
            "user",
            "Problem:\nSolve 3x + 5 = 20\n\nThese first 1 steps are checked:\n1. 3x + 5 = 20\n\n"
            "Continue the solution from step 2, ending with the line 'x = <value>'.",
        ),
    )
    assert oracle(patch) == "2. 3x = 15\n3. x = 5"
    # "Solve 3x + 5 = 20" occurs in the decimal item's prompt too: the longest match wins
    assert oracle.item_for(_ask(("user", LINEAR_DECIMAL.prompt))) is LINEAR_DECIMAL


def test_json_repair_gets_only_the_keys_it_asks_for() -> None:
    oracle = Oracle([RECORD])
    repair = _ask(
        ("system", "Reply with only a JSON object."),
        ("user", RECORD.prompt),
        ("assistant", '{"id": "HC-68241"}'),
        ("user", 'The previous answer was rejected. Return a JSON object with exactly these keys: "email", "total".'),
    )
    assert json.loads(oracle(repair)) == {"email": "dana.kim@fastmail.com", "total": 87.40}
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "patch", "schema": {"type": "object", "properties": {"resolved": {"type": "boolean"}}}},
    }
    assert json.loads(oracle(_ask(("user", RECORD.prompt), response_format=schema))) == {"resolved": True}
    assert json.loads(oracle(_ask(("user", RECORD.prompt)))) == RECORD.truth.expected  # type: ignore[union-attr]


def test_unknown_or_ambiguous_requests_raise_instead_of_guessing() -> None:
    oracle = Oracle([LINEAR])
    with pytest.raises(UnknownRequest, match="no workload item's user text occurs") as raised:
        oracle(_ask(("user", "Solve 4x + 2 = 30")))
    assert isinstance(raised.value, BackendError) and not raised.value.retryable
    other = _item("other", "Solve 3x + 5 = 20", {"kind": "evaluation", "value": "20"})
    with pytest.raises(UnknownRequest, match="lin, other"):
        Oracle([LINEAR, other])(_ask(("user", "Solve 3x + 5 = 20")))
    with pytest.raises(ValueError, match="error_rate"):
        Oracle([LINEAR], error_rate=1.5)
    with pytest.raises(ValueError, match="no item has a truth"):
        Oracle([WorkloadItem.model_validate({"id": "t", "request": {"messages": [{"role": "user", "content": "hi"}]}})])


def test_stepcache_runs_on_the_oracle() -> None:
    cache = StepCache(ScriptedBackend(responder=Oracle([LINEAR, RECORD])), store=MemoryStore())
    assert cache.complete(LINEAR.request.chat_request("m")).text.endswith("x = 5")
    assert check(RECORD, cache.complete(RECORD.request.chat_request("m")).text).ok


# -- wrong ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_answer_is_wrong_at_error_rate_one(items: list[WorkloadItem], seed: int) -> None:
    oracle = Oracle(items, error_rate=1.0, seed=seed)
    for item in items:
        answer = oracle(item.request.backend_request("m"))
        assert check(item, answer).correct is False, (item.id, answer)


def _json_mistake(expected: dict[str, object], got: dict[str, object]) -> str:
    if set(got) < set(expected):
        return "missing key"
    (key,) = [k for k in expected if got[k] != expected[k]]
    was, now = expected[key], got[key]
    if now is None:
        return "null"
    if isinstance(was, bool):
        return "flipped"
    if isinstance(was, (int, float)):  # 87.5 for 87.4 is a digit off; 79.9 (the subtotal) a neighbour
        a, b = str(was), str(now)
        return "digit" if len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1 else "neighbour"
    assert isinstance(was, str) and isinstance(now, str)
    if now in expected.values():
        return "neighbour"
    if was.endswith("-" + now):
        return "truncated"
    if re.fullmatch(r"\d{4}-\d\d-\d\d|\d\d:\d\d", was):
        return "shifted"
    return "typo" if len(now) == len(was) else "other"


def test_json_mistakes_are_the_ones_models_make(items: list[WorkloadItem]) -> None:
    kinds: Counter[str] = Counter()
    for seed in range(4):
        oracle = Oracle(items, error_rate=1.0, seed=seed)
        for item in items:
            if item.truth is None or item.truth.kind != "json":
                continue
            kinds[_json_mistake(item.truth.expected, json.loads(oracle(item.request.backend_request("m"))))] += 1
    assert set(kinds) == {"missing key", "null", "flipped", "neighbour", "digit", "truncated", "shifted", "typo"}, kinds


def test_a_date_lands_where_a_time_belongs() -> None:
    answers = {Oracle([RECORD], error_rate=1.0, seed=seed)(_ask(("user", RECORD.prompt))) for seed in range(200)}
    assert any(json.loads(a).get("time") == "2024-03-14" for a in answers)
    assert any(json.loads(a).get("total") == 79.90 for a in answers)  # the subtotal for the total
    assert any(json.loads(a).get("id") == "68241" for a in answers)  # a truncated ID


def test_linear_mistakes_are_a_slip_carried_on_or_a_wrong_final_value() -> None:
    answers = {Oracle([LINEAR], error_rate=1.0, seed=seed)(_ask(("user", LINEAR.prompt))) for seed in range(40)}
    slips = {a for a in answers if "3x = 15" not in a}
    assert slips and answers - slips
    for answer in slips:  # the slip is carried to the final value: the last two lines agree
        collected, final = answer.splitlines()[1:]
        assert int(collected.split("= ")[1]) == 3 * int(final.split("= ")[1])
    for answer in answers:
        assert check(LINEAR, answer).correct is False


def test_is_deterministic(items: list[WorkloadItem]) -> None:
    def run(seed: int) -> list[str]:
        oracle = Oracle(items, error_rate=0.5, seed=seed)
        return [oracle(item.request.backend_request("m")) for item in items]

    first = run(7)
    assert run(7) == first
    assert run(8) != first
    wrong = sum(1 for item, answer in zip(items, first, strict=True) if not check(item, answer).ok)
    assert 0.3 * len(items) < wrong < 0.7 * len(items)


def test_a_repair_call_is_told_apart_by_the_keys_it_asks_for() -> None:
    """Two items with the same text and schemas that differ in one key: a repair asking for that key
    can only be about the item that has it."""

    def item(ident: str, key: str, value: str) -> WorkloadItem:
        schema = {"type": "object", "properties": {"name": {"type": "string"}, key: {"type": "string"}}}
        return WorkloadItem.model_validate(
            {
                "id": ident,
                "request": {
                    "messages": [{"role": "user", "content": "Ada, ada@example.org, London"}],
                    "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
                },
                "truth": {"kind": "json", "required_keys": ["name", key], "expected": {"name": "Ada", key: value}},
            }
        )

    city, email = item("city", "city", "London"), item("email", "email", "ada@example.org")
    oracle = Oracle([city, email])
    repair = BackendRequest(
        messages=(
            {"role": "user", "content": "Ada, ada@example.org, London"},
            {"role": "user", "content": "Return a JSON object with exactly these keys: email."},
        ),
        model="m",
    )
    assert oracle.item_for(repair) is email
    assert json.loads(oracle(repair)) == {"email": "ada@example.org"}
    assert oracle.item_for(email.request.backend_request("m")) is email
