"""LinearFamily.detect: which prompts are linear equations, and what the task remembers of them."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from linear_harness import ask

from stepcache._exceptions import StoreError
from stepcache.families.linear import LinearFamily


@pytest.fixture
def family() -> LinearFamily:
    return LinearFamily()


@pytest.mark.parametrize(
    ("prompt", "var", "solution", "constants"),
    [
        ("Solve 3x + 5 = 20.", "x", Fraction(5), ["3", "5", "20"]),
        ("Solve for y: 4(y - 2) + 6 = 30", "y", Fraction(8), ["4", "2", "6", "30"]),
        ("Find x if x/4 + 3 = 9", "x", Fraction(24), ["4", "3", "9"]),
        ("What is t when (2t + 1)/3 = 5?", "t", Fraction(7), ["2", "1", "3", "5"]),
        ("Solve 3p + 12 = 2p + 38", "p", Fraction(26), ["3", "12", "2", "38"]),
        ("Determine k: 0.5k + 1.5 = 4", "k", Fraction(5), ["1/2", "3/2", "4"]),
        ("Solve 18 - 4n = 2", "n", Fraction(4), ["18", "4", "2"]),
        ("Solve 3*x + 5 = 20", "x", Fraction(5), ["3", "5", "20"]),
        ("Solve 3x \u2212 5 = 10", "x", Fraction(5), ["3", "5", "10"]),
        ("Solve 2(x+1) = x - 4", "x", Fraction(-6), ["2", "1", "4"]),
        ("Find the value of m: 2m + -6 = -10", "m", Fraction(-2), ["2", "6", "10"]),
        ("Please solve 7 = 2z + 2 and show your steps", "z", Fraction(5, 2), ["7", "2", "2"]),
        # An equation alone asks to be solved: there is nothing else it can ask.
        ("3x + 5 = 20", "x", Fraction(5), ["3", "5", "20"]),
        # 1/(2x) would not be linear, so in a linear equation 1/2x is (1/2)x, as calculators read it.
        ("Solve 1/2x = 4", "x", Fraction(8), ["1", "2", "4"]),
    ],
)
def test_detect_accepts_linear_equations(
    family: LinearFamily, prompt: str, var: str, solution: Fraction, constants: list[str]
) -> None:
    task = family.detect(ask(prompt))
    assert task is not None
    assert task.family == "linear"
    assert task.data["variable"] == var
    assert Fraction(task.data["solution"]) == solution
    assert task.data["constants"] == constants
    assert task.data["format"] == "default"
    json.dumps(dict(task.data))  # stored as JSON


@pytest.mark.parametrize(
    "prompt",
    [
        "Solve x^2 = 4",
        "Solve x\u00b2 + 1 = 5",
        "Solve x*x + 2 = 6",
        "Solve x(x + 1) = 6",
        "Solve 2x + y = 4",
        "Solve the system 2x + 3 = 7 and x - y = 1",
        "Solve 3x + 5 = 20 and 2x = 4",
        "Evaluate 3x + 5 when x = 4",
        "If x = 2, what is 3x + 5?",
        "Substitute x = 3 into 2x + 1 = y",
        "Solve 3x + 5 > 20",
        "Solve 3x + 5 \u2264 20",
        "What is 12 + 7?",
        "Solve this equation for me.",
        "3x + 5 = 20 is the line we graphed",  # a statement about the equation, no request
        "Solve 3x + 5 = 3x + 2",  # no solution
        "Solve 2x = 2x",  # every x
        "Solve 5/x = 1",  # not linear
        "Solve for y: 3x + 5 = 20",  # asks for another variable
        "Solve 3x + 5 = 20. Give the answer as a fraction and as a decimal.",
    ],
)
def test_detect_rejects_everything_else(family: LinearFamily, prompt: str) -> None:
    assert family.detect(ask(prompt)) is None


def test_detect_leaves_json_requests_to_the_json_family(family: LinearFamily) -> None:
    assert family.detect(ask("Solve 3x + 5 = 20", response_format={"type": "json_object"})) is None


def test_answer_format_comes_from_the_prompt(family: LinearFamily) -> None:
    def fmt(prompt: str) -> object:
        task = family.detect(ask(prompt))
        assert task is not None
        return task.data["format"]

    assert fmt("Solve 2x = 7") == "default"
    assert fmt("Solve 2x = 7. Give the answer as a fraction.") == "fraction"
    assert fmt("Solve 2x = 7 and write the answer as a decimal.") == "decimal"
    assert fmt("Solve 2x = 7. Give the answer as a decimal, not a fraction.") == "decimal"
    assert fmt("Solve 2x = 7; no decimals please") == "fraction"


def test_signature_masks_constants_names_and_wording(family: LinearFamily) -> None:
    def sig(prompt: str) -> str:
        task = family.detect(ask(prompt))
        assert task is not None
        return task.signature

    base = sig("Solve 3x + 5 = 20")
    assert base == "linear|#v + # = #"
    assert sig("Find y: 7y + 12 = 40") == base
    assert sig("What is the value of q in 2q+1=9?") == base
    assert sig("Solve 3*x + 5 = 20") == base
    assert sig("Solve 3x - 5 = 20") != base
    # the format is not part of it: adapt re-renders the final line, so any format's entry serves
    assert sig("Solve 3x + 5 = 20 as a decimal") == base
    assert sig("Solve 3(x + 5) = 20") != base


def test_load_task_rebuilds_the_detected_task(family: LinearFamily) -> None:
    task = family.detect(ask("Solve for y: 4(y - 2) + 6 = 30 as a fraction"))
    assert task is not None
    loaded = family.load_task(json.loads(json.dumps(dict(task.data))))
    assert loaded == task  # parsed is not compared; data and signature are
    assert loaded.data["equation"] == "4(y - 2) + 6 = 30"


def test_load_task_rejects_data_that_is_not_a_linear_task(family: LinearFamily) -> None:
    with pytest.raises(StoreError, match="not a solvable linear equation"):
        family.load_task({"equation": "x^2 = 4", "variable": "x", "format": "default"})
