"""The arithmetic family's calculation reader: what a solution line's calculations are, exactly."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepcache.families.arithmetic._calc import calculations, evaluate, tokens_of
from stepcache.families.arithmetic._numbers import format_number, numbers_in


def _calcs(line: str) -> list[tuple[list[Fraction], Fraction | None, Fraction | None]]:
    """Each calculation as (operand values, its value, the stated result)."""
    tokens = tokens_of(line)
    out = []
    for calc in calculations(tokens):
        values = [tokens[i].value or Fraction(0) for i in calc.operands]
        out.append((values, calc.value(values), tokens[calc.result].value))
    return out


@pytest.mark.parametrize(
    ("line", "value", "stated"),
    [
        ("7 pounds/day*2=14 pounds/day", 14, 14),
        ("Then multiply: 14 pounds/day * 150% = 21 pounds/day", 21, 21),
        ("21 pounds/day/troll * 20 trolls = 420 pounds/day", 420, 420),
        ("420 pounds/day * 31 days = 13,020 pounds", 13020, 13020),
        ("John has 100*10= 1000 pineapples on his field.", 1000, 1000),
        ("Golf balls:32*1/2=16.", 16, 16),
        ("The room's perimeter is 2(40+9) = 98 feet", 98, 98),
        ("The length is 3 yard(s) * (3 feet / 1 yard(s)) = 9 feet.", 9, 9),
        ("So he makes 2520*$0.5=$1260 every week", 1260, 1260),
        ("he earns $50/day * 24 days/month = $1200/month", 1200, 1200),
        ("For the red balls, 3 balls * £9/ball = £27.", 27, 27),
        ("The chemistry part is 100% - 40% = 60% of the quiz.", Fraction(3, 5), Fraction(3, 5)),
        ("a total of 6 skeins per cardigan + 11 skeins per vest + 14 skeins per pair of booties = 31 skeins", 31, 31),
        ("she completed 3 for a total of 10*3 = 30 minutes", 30, 30),
        ("3 x 4 = 12 eggs", 12, 12),
        ("8 × 2 = 17 wheels", 16, 17),  # a slip: read, and its stated result kept apart
        ("25% of 80 = 20 students", 20, 20),
        ("12 ÷ 3 = 4 times a year", 4, 4),
        ("2 times 3 = 6", 6, 6),
        ("Golf balls: half of 32 = 16 balls", 16, 16),
        ("Total: 2,500 + 1,250.50 = 3,750.50", Fraction(375050, 100), Fraction(375050, 100)),
    ],
)
def test_reads_the_calculation_a_line_holds(line: str, value: Fraction, stated: Fraction) -> None:
    (found,) = _calcs(line)
    assert found[1] == Fraction(value)
    assert found[2] == Fraction(stated)


@pytest.mark.parametrize(
    "line",
    [
        "Half of the 32 balls = 16",  # no operator before '=': prose, never "corrected"
        "Anna = 312 points",
        "We know that y = x + 110, and y + x = 400.",  # algebra: letters are unknowns, not units
        "we get 2x+110=400",
        "The answer is 24.",
        "2 + 3 = 5 * 2",  # the stated value is itself an expression: not one calculation
    ],
)
def test_lines_that_hold_no_calculation(line: str) -> None:
    assert _calcs(line) == []


def test_chained_calculations_in_one_line_are_each_read() -> None:
    found = _calcs("Her brother ate 2 + 6 = 8 slices and her friend 8 + 6 = 14 slices.")
    assert [(v, s) for _, v, s in found] == [(8, 8), (14, 14)]


def test_numbers_in_a_question_include_words_and_ratios() -> None:
    found = numbers_in("Maya has three dozen eggs and twice as many apples; two thirds of 60 pears and 40% of $1,200.")
    texts = [(n.text.strip(), n.value, n.ratio) for n in found]
    assert ("three", 3, "") in texts
    assert ("dozen", 12, "count") in texts
    assert ("twice", 2, "times") in texts
    assert ("two thirds", Fraction(2, 3), "part") in texts
    assert ("40%", Fraction(2, 5), "") in texts
    assert ("$1,200", 1200, "") in texts


def test_five_times_is_a_factor_like_twice() -> None:
    (five,) = [n for n in numbers_in("Joe can eat five times as much.")]
    assert five.ratio == "times" and five.value == 5


def test_names_and_ordinals_are_not_quantities() -> None:
    assert numbers_in("Room B12 on the 3rd floor", words=False) == []


def test_format_number_is_exact() -> None:
    assert format_number(Fraction(5, 2)) == "2.5"
    assert format_number(Fraction(7, 3)) == "7/3"
    assert format_number(Fraction(-1, 8)) == "-0.125"
    assert format_number(Fraction(12)) == "12"


# -- properties --------------------------------------------------------------------------------

_UNITS = ["", " apples", " $", " pounds/day", " km", " minutes per lap"]
_OPS = ["+", "-", "*", "/", " x ", " × ", " ÷ "]
_NUMBERS = st.one_of(
    st.integers(min_value=1, max_value=99_999),
    st.decimals(min_value=0, max_value=9999, places=2, allow_nan=False, allow_infinity=False).filter(lambda d: d > 0),
)


def _written(value: object, unit: str, comma: bool) -> tuple[str, Fraction]:
    exact = Fraction(str(value))
    text = f"{value:,}" if comma and isinstance(value, int) else str(value)
    if unit == " $":
        return f"${text}", exact
    return f"{text}{unit}", exact


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_NUMBERS, st.sampled_from(_UNITS), st.booleans()), min_size=2, max_size=5),
    st.lists(st.sampled_from(_OPS), min_size=4, max_size=4),
    st.booleans(),
)
def test_any_written_calculation_evaluates_exactly(
    operands: list[tuple[object, str, bool]], ops: list[str], slip: bool
) -> None:
    """A calculation written with units, currency, thousands separators and any multiplication or
    division sign is read as exactly its arithmetic; a wrong stated result is read as stated."""
    parts = [_written(v, unit, comma) for v, unit, comma in operands]
    text = parts[0][0]
    seq: list[str | int] = [0]
    for k, (written, _) in enumerate(parts[1:], 1):
        op = ops[k - 1]
        text += f" {op.strip()} {written}"
        seq += [{"x": "*", "×": "*", "÷": "/"}.get(op.strip(), op.strip()), k]
    value = evaluate(seq, [exact for _, exact in parts])
    if value is None or value < 0 or format_number(value).count("/"):
        return
    stated = value + 1 if slip else value
    line = f"So the total is {text} = {format_number(stated)} in all"
    (found,) = _calcs(line)
    assert found[0] == [exact for _, exact in parts]
    assert found[1] == value
    assert found[2] == stated
