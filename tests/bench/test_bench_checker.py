"""The independent checker accepts right answers and rejects each kind of wrong or broken one."""

from __future__ import annotations

import pytest

from stepcache_bench.checker import check, check_answer
from stepcache_bench.imperfect import ImperfectModel
from stepcache_bench.workload import (
    EvaluationTruth,
    JsonTruth,
    LinearTruth,
    ProseTruth,
    QuadraticTruth,
    SystemTruth,
    generate_workload,
)

LINEAR = LinearTruth(variable="x", solution="5", equation="3x + 5 = 20")
RIGHT = "1. 3x + 5 = 20\n2. Subtract 5 from both sides: 3x = 15\n3. x = 15/3 = 5"


@pytest.mark.parametrize(
    "text",
    [
        RIGHT,
        "1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5",
        "Step 1: 3x + 5 = 20\nStep 2: 3x = 15\nStep 3: x = 5\n\n**Final answer:** x = 5.",
        "1) 3x = 20 - 5\n2) $x = \\frac{15}{3}$\n3) \\boxed{x = 5}",
        "1. 3x = 15 (subtract 5 from both sides)\n2. x = 5.0",
        "1. x = 5 ✓",
        # how small instruction-tuned models tend to write it
        "1. **Subtract 5 from both sides:**\n   \\[\n   3x + 5 - 5 = 20 - 5\n   \\]\n"
        "2. **Divide both sides by 3:**\n   \\[\n   x = \\frac{15}{3}\n   \\]\n"
        "   Simplifying, we get:\n   \\[\n   x = 5\n   \\]\n\nThe value of \\(x\\) is \\(5\\).",
        "### Step 1: Start with the equation: \\(3x + 5 = 20\\).\n### Step 2: Subtract 5: \\(3x = 15\\).\n"
        "### Step 3: Divide by 3: \\(x = 5\\).",
    ],
)
def test_linear_right_answers(text: str) -> None:
    result = check_answer(LINEAR, text)
    assert (result.correct, result.integrity, result.ok) == (True, True, True), result.reasons


@pytest.mark.parametrize(
    ("text", "correct", "integrity", "reason"),
    [
        ("1. 3x + 5 = 20\n2. 3x = 12\n3. x = 4", False, False, "final x = 4, expected 5"),
        ("1. 3x + 5 = 20\n2. 3x = 15", False, True, "no final 'x = value' line"),
        ("1. 3x + 5 = 20\n3. 3x = 15\n4. x = 5", True, False, "numbered 1, 3, 4"),
        ("1. 3x + 5 = 20\n2. 3x = 15\n2. x = 5", True, False, "numbered 1, 2, 2"),
        ("1. 3x = 15\n2. 3x = 15\n3. x = 5", True, False, "step 2 repeats"),
        ("1. 3x + 5 = 20\n2. x = 4\n3. x = 5", True, False, "contradictory final lines: x = 4, 5"),
        ("1. 3x + 5 = 20\n2. 3x = 16\n3. x = 5", True, False, "step 2 ('3x = 16') does not hold"),
        ("1. 3y + 5 = 20\n2. y = 5", False, True, "no final 'x = value'"),
        ("1. 3x = 15\n2. x = 20 - 15", False, True, "no final 'x = value'"),  # not a value yet
    ],
)
def test_linear_wrong_or_broken_answers(text: str, correct: bool, integrity: bool, reason: str) -> None:
    result = check_answer(LINEAR, text)
    assert (result.correct, result.integrity, result.ok) == (correct, integrity, False)
    assert any(reason in r for r in result.reasons), result.reasons


def test_requested_format_is_honoured() -> None:
    fraction = LinearTruth(variable="k", solution="5/2", format="fraction")
    decimal = LinearTruth(variable="k", solution="5/2", format="decimal")
    anything = LinearTruth(variable="k", solution="5/2")
    assert check_answer(fraction, "1. 2k = 5\n2. k = 5/2").ok
    assert check_answer(fraction, "1. 2k = 5\n2. k = -\\frac{-5}{2}").correct is False  # not a number we read
    assert check_answer(fraction, "1. 2k = 5\n2. k = 2.5").reasons == ("asked for a fraction, got 2.5",)
    assert check_answer(decimal, "1. 2k = 5\n2. k = 2.5").ok
    assert check_answer(decimal, "1. 2k = 5\n2. k = 5/2").reasons == ("asked for a decimal, got 5/2",)
    assert check_answer(decimal, "1. 2k = 5\n2. k = 5/2 = 2.5").ok
    assert check_answer(anything, "k = 2.5").ok and check_answer(anything, "k = 5/2").ok
    assert check_answer(anything, "k = 2.50001").correct is False  # exact, never rounded
    integer = LinearTruth(variable="x", solution="4", format="fraction")
    assert check_answer(integer, "x = 4").ok  # a whole number is a fraction


def test_quadratic_evaluation_system() -> None:
    quadratic = QuadraticTruth(variable="x", roots=("2", "3"), equation="x^2 - 5x + 6 = 0")
    assert check_answer(quadratic, "1. (x - 2)(x - 3) = 0\n2. x = 2 or x = 3").ok
    assert check_answer(quadratic, "1. x^2 - 5x + 6 = 0\n2. x_1 = 2, x_2 = 3").ok
    stale = check_answer(quadratic, "1. x^2 - 5x + 6 = 0\n2. x = 3")  # only one root: a stale reuse
    assert stale.correct is False and "root(s) 2" in stale.reasons[0]
    evaluation = EvaluationTruth(value="17", expression="3x + 5")
    assert check_answer(evaluation, "1. 3(4) + 5\n2. = 12 + 5\n3. = 17").ok
    assert check_answer(evaluation, "1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5").correct is False
    assert check_answer(evaluation, "1. 3(4) + 5 = 16\n2. 16").correct is False
    system = SystemTruth(solution={"x": "6", "y": "4"})
    assert check_answer(system, "1. x + y = 10\n2. x - y = 2\n3. x = 6\n4. y = 4").ok
    wrong = check_answer(system, "1. x = 6\n2. y = 5")
    assert wrong.correct is False and wrong.reasons == ("final y = 5, expected 4",)


JSON = JsonTruth(required_keys=("name", "age", "active"), expected={"name": "Ada Lovelace", "age": 36, "active": True})


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "Ada Lovelace", "age": 36, "active": true}',
        'Here it is:\n```json\n{"name": "  ada lovelace ", "age": 36.0, "active": true}\n```',
        'Sure! {"name": "Ada Lovelace", "age": 36, "active": true, "extra": 1} Hope that helps.',
    ],
)
def test_json_right_answers(text: str) -> None:
    assert check_answer(JSON, text).ok


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"name": "Ada Lovelace", "age": 36}', "missing required key(s): active"),
        ('{"name": "Ada Lovelace", "age": 37, "active": true}', "age = 37, expected 36"),
        ('{"name": "Ada Lovelace", "age": "36", "active": true}', 'age = "36", expected 36'),
        ('{"name": "Ada Lovelace", "age": 36, "active": "true"}', 'active = "true", expected true'),
        ('{"name": "Grace Hopper", "age": 36, "active": true}', 'name = "Grace Hopper"'),
        ('{"name": "Ada Lovelace", "age": 36, "active": true,}', "no JSON object"),
        ("Ada is 36.", "no JSON object"),
        (
            '{"name": "Ada Lovelace", "age": 36, "active": true} {"name": "Bo", "age": 1, "active": false}',
            "2 different",
        ),
    ],
)
def test_json_wrong_answers(text: str, reason: str) -> None:
    result = check_answer(JSON, text)
    assert result.correct is False and any(reason in r for r in result.reasons), result.reasons


def test_json_schema_forbids_extra_keys_and_duplicates_break_integrity() -> None:
    strict = JSON.model_copy(update={"additional_keys": False})
    extra = check_answer(strict, '{"name": "Ada Lovelace", "age": 36, "active": true, "id": 1}')
    assert extra.correct is False and extra.reasons == ("keys not allowed by the schema: id",)
    duplicated = check_answer(JSON, '{"name": "Ada Lovelace", "age": 36, "age": 36, "active": true}')
    assert duplicated.correct is True and duplicated.integrity is False
    assert duplicated.reasons == ("JSON key(s) repeated: age",)


def test_prose_and_unchecked() -> None:
    prose = ProseTruth(mentions=("Ada Lovelace",))
    assert check_answer(prose, "Ada Lovelace is a 36-year-old mathematician who is active.").ok
    as_json = check_answer(prose, '{"name": "Ada Lovelace", "age": 36}')
    assert as_json.correct is False and as_json.reasons == ("answered with JSON; prose was requested",)
    assert check_answer(prose, "She is a mathematician.").correct is False
    nothing = check_answer(None, "anything")
    assert (nothing.correct, nothing.integrity, nothing.ok) == (None, True, None)


def test_whole_workload_right_answers_pass_and_wrong_ones_fail() -> None:
    """The imperfect model answers every item right at error_rate=0 and every checkable one wrong at 1."""
    items = generate_workload(43)
    right, wrong = ImperfectModel(error_rate=0.0), ImperfectModel(error_rate=1.0)
    for item in items:
        request = item.request.backend_request("m")
        assert check(item, right(request)).ok, (item.id, right(request))
        if not item.semantic:
            assert check(item, wrong(request)).correct is False, (item.id, wrong(request))


# -- presentation: only the final value, \boxed{}, rounding --------------------------------------------

FINAL = LinearTruth(variable="x", solution="12", equation="2x + 11 = 35", answer="final")
BOXED = LinearTruth(variable="x", solution="5", equation="5x - 3 = 2x + 12", boxed=True)
BOXED_FINAL = LinearTruth(variable="x", solution="17/3", boxed=True, answer="final")
ROUNDED = LinearTruth(variable="x", solution="7/3", equation="3x + 1 = 8", places=2)
ROUNDED_FINAL = LinearTruth(variable="x", solution="5/9", answer="final", places=2)


@pytest.mark.parametrize(
    ("truth", "text"),
    [
        (FINAL, "12"),
        (FINAL, "x = 12"),
        (FINAL, "x = 12.\n"),
        (FINAL, "**12**"),
        (FINAL, "$x = 12$"),
        (FINAL, "\\[\n\\boxed{12}\n\\]"),
        (FINAL, "The answer is 12"),
        (BOXED, "1. 5x - 3 = 2x + 12\n2. 3x = 15\n3. x = \\boxed{5}"),
        (BOXED, "1. 5x - 3 = 2x + 12\n2. 3x = 15\n3. \\boxed{x = 5}"),
        (BOXED, "1. 3x = 15\n2. x = 5\n\nFinal answer: $\\boxed{5}$"),
        (BOXED, "1. 3x = 15\n2. \\boxed{5}"),
        (BOXED_FINAL, "\\boxed{\\frac{17}{3}}"),
        (BOXED_FINAL, "x = \\boxed{17/3}"),
        (ROUNDED, "1. 3x + 1 = 8\n2. 3x = 7\n3. x = 7/3 ≈ 2.33"),
        (ROUNDED, "1. 3x = 7\n2. x = 7/3\n3. x ≈ 2.33"),
        (ROUNDED, "1. 3x = 7\n2. x = 2.33"),
        (ROUNDED, "1. 3x = 7\n2. $x \\approx 2.33$"),
        (ROUNDED_FINAL, "x ≈ 0.56"),
        (ROUNDED_FINAL, "0.56"),
        (LinearTruth(variable="x", solution="5", places=2), "x = 5.00"),
        (LinearTruth(variable="x", solution="7/3", places=0), "x = 7/3 ≈ 2"),
        (LinearTruth(variable="x", solution="1/8", places=2), "x = 0.13"),  # a tie: half up ...
        (LinearTruth(variable="x", solution="1/8", places=2), "x = 0.12"),  # ... or half to even
    ],
)
def test_presentation_right_answers(truth: LinearTruth, text: str) -> None:
    result = check_answer(truth, text)
    assert result.ok, result.reasons


@pytest.mark.parametrize(
    ("truth", "text", "reason"),
    [
        (FINAL, "1. 2x + 11 = 35\n2. 2x = 24\n3. x = 12", "asked for the final value only, got 3 lines"),
        (FINAL, "x = 12 since 2x = 24", "asked for the final value only, got 'x = 12 since 2x = 24'"),
        (FINAL, "13", "final x = 13, expected 12"),
        (BOXED, "1. 3x = 15\n2. x = 5", "asked for the answer in \\boxed{}"),
        (BOXED, "1. 3x = 18\n2. x = \\boxed{6}", "final x = 6, expected 5"),
        (BOXED_FINAL, "17/3", "asked for the answer in \\boxed{}"),
        (ROUNDED, "1. 3x = 7\n2. x = 7/3", "final x = 7/3, expected 2.33 (7/3 rounded)"),
        (ROUNDED, "x = 2.3", "expected 2.33"),
        (ROUNDED, "x = 2.333", "expected 2.33"),
        (ROUNDED, "1. 3x = 8\n2. x = 8/3 ≈ 2.67", "final x = 2.67, expected 2.33"),
        (ROUNDED_FINAL, "0.555", "expected 0.56"),
        (LinearTruth(variable="x", solution="5", places=2), "x = 5", "asked for 2 decimal place(s), got 5"),
    ],
)
def test_presentation_wrong_answers(truth: LinearTruth, text: str, reason: str) -> None:
    result = check_answer(truth, text)
    assert result.correct is False and any(reason in r for r in result.reasons), result.reasons


def test_rounded_answers_still_check_the_steps_against_the_exact_solution() -> None:
    broken = check_answer(ROUNDED, "1. 3x = 6\n2. x ≈ 2.33")  # right rounding, but step 1 is false
    assert broken.correct is True and broken.integrity is False
    assert any("step 1 ('3x = 6') does not hold for x = 7/3" in r for r in broken.reasons), broken.reasons
    contradictory = check_answer(ROUNDED, "1. x = 7/3\n2. x = 2.5\n3. x = 2.33")
    assert contradictory.integrity is False and any("contradictory" in r for r in contradictory.reasons)


def test_a_negated_unknown_is_not_a_statement_about_the_unknown() -> None:
    truth = LinearTruth(variable="p", solution="-35")
    assert check_answer(truth, "1. -p = 35\n2. p = -35").ok
    assert not check_answer(truth, "1. p = 35").ok
    assert check_answer(LinearTruth(variable="p", solution="5"), "1. x + p = 5\n2. p = 5").ok
