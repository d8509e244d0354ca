"""Reading a linear task from what people write: notations, wrappers, conversations, presentations.

Each class of writing has examples here, and hypothesis writes random equations in random notations:
a reading is either the equation written (same solution) or a decline — never another equation.
"""

from __future__ import annotations

import re
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stepcache._types import ChatRequest
from stepcache.families.linear._read import explain_request, read_request


def chat(*turns: str, system: str | None = None) -> ChatRequest:
    messages = [{"role": "system", "content": system}] if system else []
    for i, turn in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": turn})
    return ChatRequest.model_validate({"messages": messages})


def solution(*turns: str, system: str | None = None) -> Fraction | str:
    found = explain_request(chat(*turns, system=system))
    return found if isinstance(found, str) else found.problem.solution


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # answer-format lines and placeholders are how the answer should look, not equations
        ("Solve for q: 7q - 9 = 40. Show numbered steps and end with 'q = <value>'.", 7),
        ("2x + 7 = 15, x = ?", 4),
        ("Solve 3x - 2 = 10.\nFinal line: x = <value>", 4),
        ("Solve 5y + 1 = 26. Answer: y = [answer]", 5),
        ("Find x. 4x = 2x + 10. Reply as {x}", 5),
        ("Solve 9 - x = 4 and write x = ...", 5),
        ("Solve 2x + 3 = 8 and give the answer in the form x = a/b", Fraction(5, 2)),
        # markdown, code fences, LaTeX, unicode
        ("**Solve** `3x + 5 = 20`", 5),
        ("```\n3x + 5 = 20\n```\nsolve it", 5),
        ("Solve $3x+5=20$", 5),
        ("Solve \\(\\frac{x}{4} + 3 = 9\\)", 24),
        ("Solve $2 \\cdot x + 4 = 10$", 3),
        ("Find x such that \\(\\frac{4x + 13}{2} = 12\\).", Fraction(11, 4)),  # a whole expression in \\frac
        ("Solve $\\left(x + 1\\right) \\times 3 = 12$", 3),
        ("Solve 3x \u2212 5 = 10", 5),
        ("Solve 3 \u00d7 x + 2 = 11", 3),
        ("Solve x \u00f7 4 = 2", 8),
        ("Solve 3x + \u00bd = 2", Fraction(1, 2)),
        ("Solve \uff13x + 5 = 20", 5),  # a fullwidth digit
        # numbers as locales write them
        ("Solve for x: 2,500 + 125x = 4,000", 12),
        ("Solve 0,5x + 2,5 = 4", 3),
        ("Solve for x: 15% of x = 45", 300),
        ("Solve 1/2x + 3 = 7", 8),
        ("Solve 2.5x + 4 = 19, where x is the length in meters.", 6),
        ("Solve for $x$: $\\frac{2}{3}x - 4 = 10$", 21),  # a \\frac is one quantity
        ("I'm in Germany so we write decimals with a comma (2,5 = two and a half). Solve 2,5x + 1,5 = 9", 3),
        ("Resuelve la ecuaci\u00f3n 4x + 6 = 30, por favor.", 6),  # a non-ASCII letter is part of its word
        ("Solve 6r - 1 = 2; answer as a simplified fraction.", Fraction(1, 2)),
        ("Equation: 11x - 7 = 48", 5),
        ("can you do 2(k + 3) = 26", 10),
        # wrappers, questions and conversations
        ("What is the solution of 3x + 5 = 20 if x is an integer?", 5),
        ("If 5 more than 3 times a number is 20, then 3n + 5 = 20. Find n.", 5),
        ("Tom's age t satisfies 3t + 4 = 25. How old is Tom?", 7),
        ("3x + 5 = 20", 5),
        ("solve 3x+5 =20 pls", 5),
        ("Solve:\n3x + 5 = 20\nx", 5),  # a line break ends an equation: not "20x"
        # a verb of equality between two pieces of math is "="
        ("15% of x is 42. What is x?", 280),
        ("3n + 5 equals 20. Find n.", 5),
        ("n is a whole number and 3n + 5 = 20. Find n.", 5),
        # percent changes and named numbers, the way word problems state an equation
        ("x increased by 20% is 96. What's x?", 80),
        ("The price p reduced by 15% is 34. Find p.", 40),
        ("If 40% of a number n equals 26, what is n?", 65),
        # the request in the writer's language; numbers in the writer's locale
        ("L\u00f6se bitte die Gleichung nach x auf: 2,5x + 1,5 = 9", 3),
        ("R\u00e9sous l'\u00e9quation suivante : 0,5x \u2212 3 = 4,5", 15),
        ("Resuelve la ecuaci\u00f3n: 1,2y + 0,6 = 3", 2),
    ],
)
def test_reads_the_equation_whatever_the_wording(prompt: str, expected: int | Fraction) -> None:
    assert solution(prompt) == expected


def test_the_equation_may_be_in_an_earlier_turn() -> None:
    assert solution("I'm stuck on 6x - 4 = 2x + 12", "Happy to help! Where are you stuck?", "how do i solve it?") == 4
    assert solution("it's 6x - 4 = 2x + 12. how do i solve it?") == 4
    # a later turn with numbers changes the task: not a follow-up we can read
    assert isinstance(solution("Solve 2x + 3 = 7", "x = 2", "and if the 3 were a 5?"), str)
    # a newer equation is the task; the older one was answered
    assert solution("Solve 2x + 3 = 7", "x = 2", "Great. Now 5x - 1 = 9?") == 2


@pytest.mark.parametrize(
    "prompt",
    [
        # a misread would solve an equation that is not the one written: decline instead
        "Solve 5 apples + x = 12",  # starts in the middle of a sum
        "Solve twice x + 3 = 11",  # an arithmetic word continues it
        "Solve 3x = 12 + 2 dozen",
        "Solve half of x = 5",
        "Solve 3/4 of x = 12",
        "Solve |3| + x = 5",
        "Solve sqrt(x + 1) = 3",
        "Solve 3x + 5 % = 20",  # a bare percent: of what?
        "Solve 0.5x + 1,5 = 4",  # a decimal point and a decimal comma
        "Solve 2 500 + 125x = 4 000",  # spaces as thousands separators
        "Solve 3x + 5 = 20 where x = 5",
        "If x = 2, what is 3x + 5?",
        "Evaluate 3x + 5 when x = 4",
        "Solve 3x + 5 = 20 for y",
        "Solve 2x + 3 = 8, y = a/b",
        "Solve 3x + 5 > 20",
        "Solve 3x + 5 >= 20",
        "Solve x^2 = 4",
        "Solve 2x + y = 4",
        "Solve 3x + 5 = 20 = 4x",
        "Solve 3x + 5 = 20, 4x - 1 = 7",
        "Solve x = 7",  # nothing to solve
        "Write a python function that solves 3x + 5 = 20",
        "Solve 3x + 5 = 20 in Spanish",
        "Solve 3x + 5 = 20 and give the answer as a percentage",
        "3x + 5 = 20 is the line we graphed",
        "If x is 2, what is 3x + 5?",
        "A number n plus 5 is 12, find n",  # "plus" in words: arithmetic we do not read
        "Solve for a: 6(s - 6) + 6 = -9",  # "a" here is the unknown asked for, not the article
        "Is this equation linear: 3x + 5 = 20",
        "Rewrite 3x + 5 = 20 as a word problem",
    ],
)
def test_declines_what_it_cannot_read_for_certain(prompt: str) -> None:
    assert read_request(chat(prompt)) is None, explain_request(chat(prompt))


def test_the_callers_presentation_is_read() -> None:
    def presentation(*turns: str, system: str | None = None) -> object:
        found = explain_request(chat(*turns, system=system))
        assert not isinstance(found, str), found
        return found.presentation

    plain = presentation("Solve 3x + 5 = 20")
    assert (plain.answer, plain.boxed, plain.places, plain.fmt) == ("steps", False, None, "default")  # type: ignore[attr-defined]
    final = presentation("What is x if 4(x - 2) = 2x + 6? Output only the final number.")
    assert (final.answer, final.bare) == ("final", True)  # type: ignore[attr-defined]
    assert presentation("Solve 2x + 3 = 7 and put the final answer in \\boxed{}").boxed  # type: ignore[attr-defined]
    assert presentation("Solve 2x = 7. Give the answer to the nearest tenth.").places == 1  # type: ignore[attr-defined]
    assert presentation("Solve 2x = 7", system="Round every answer to 2 decimal places.").places == 2  # type: ignore[attr-defined]
    assert presentation("Find x to two decimal places: 6x + 1 = 12").places == 2  # type: ignore[attr-defined]
    assert presentation("solve 4(2x-1) = 3(x+2) and explain each step").explain  # type: ignore[attr-defined]
    assert not presentation("Explain in numbered steps: 4(2x-1) = 3(x+2)").explain  # type: ignore[attr-defined]
    calculator = presentation(
        "2x + 11 = 35", system="You are a calculator. Reply with only the final number, no explanation."
    )
    assert (calculator.answer, calculator.explain) == ("final", False)  # type: ignore[attr-defined]
    assert presentation("2x + 11 = 35. No explanation.").answer == "final"  # type: ignore[attr-defined]
    # the application's system prompt outranks the user's wording
    ruled = presentation(
        "Solve 9z + 5 = 4z + 11. Write numbered steps.", system="Reply with only the final numeric answer."
    )
    assert ruled.answer == "final"  # type: ignore[attr-defined]
    fractions = presentation("Solve 2x = 7 to 2 decimal places", system="Always answer with exact fractions.")
    assert (fractions.fmt, fractions.places) == ("fraction", None)  # type: ignore[attr-defined]
    # contradictions in one voice are declined
    assert read_request(chat("Solve 2x = 7. Show your steps. Output only the final number.")) is None
    assert read_request(chat("Solve 2x = 7 as a fraction rounded to 2 decimal places")) is None


# -- property: any notation reads as the equation written, or not at all -------------------------

_VARS = "xyzntkpqmab"


def _num(value: Fraction, style: str) -> str:
    if value.denominator != 1:
        return {"latex": f"\\frac{{{value.numerator}}}{{{value.denominator}}}"}.get(
            style, f"({value.numerator}/{value.denominator})"
        )
    n = value.numerator
    if style == "thousands" and n >= 1000:
        return f"{n:,}"
    return str(n)


@st.composite
def bare_equations(draw: st.DrawFn) -> tuple[str, str, Fraction]:
    """``(equation, variable, solution)`` for ``a·v + b = c·v + d`` written in a random notation."""
    v = draw(st.sampled_from(_VARS))
    a = draw(st.integers(-30, 30).filter(bool))
    c = draw(st.integers(-30, 30).filter(lambda k: k != a))
    b = draw(st.integers(-5000, 5000))
    d = draw(st.integers(-5000, 5000))
    assume(b or c or a != 1)  # "x = 7" states a value: nothing to solve
    style = draw(st.sampled_from(["plain", "unicode", "latex", "thousands", "spaced", "starred"]))
    times = {"unicode": "\u00d7", "latex": " \\cdot ", "starred": "*"}.get(style, "")
    minus = "\u2212" if style == "unicode" else "-"

    def term(coef: int) -> str:
        sign = minus if coef < 0 else ""
        mag = abs(coef)
        return f"{sign}{'' if mag == 1 else _num(Fraction(mag), style) + times}{v}"

    def const(k: int, first: bool) -> str:
        if first:
            return (minus if k < 0 else "") + _num(Fraction(abs(k)), style)
        return f" {minus if k < 0 else '+'} {_num(Fraction(abs(k)), style)}"

    left = term(a) + (const(b, False) if b else "")
    right = (
        const(d, True) + (f" + {term(c)}" if c > 0 else f" {minus} {term(-c)}" if c < 0 else "")
        if d
        else term(c)
        if c
        else "0"
    )
    equation = f"{left} = {right}"
    if style == "latex":
        equation = f"${equation}$"
    if style == "spaced":
        equation = equation.replace(" ", "  ")
    return equation, v, Fraction(d - b, a - c)


@st.composite
def equations(draw: st.DrawFn) -> tuple[str, str, Fraction]:
    """``(prompt, variable, solution)``: a random equation in a random wrapper."""
    equation, v, value = draw(bare_equations())
    wrapper = draw(
        st.sampled_from(
            [
                "Solve {eq}",
                "Solve for {v}: {eq}",
                "What is {v} if {eq}?",
                "{eq}",
                "Please solve the equation {eq} and show your steps.",
                "Find {v}.\n\n{eq}\n\nEnd with the line {v} = <value>.",
                "**Problem:** {eq}\nSolve for {v}, final line `{v} = ?`",
            ]
        )
    )
    return wrapper.format(eq=equation, v=v), v, value


@settings(max_examples=300, deadline=None)
@given(equations())
def test_any_notation_reads_as_the_equation_written(case: tuple[str, str, Fraction]) -> None:
    prompt, var, expected = case
    # "1,000" alone could be a thousand or one (a decimal comma): only words around it tell
    assume("," not in prompt or re.search(r"[A-Za-z]{3,}", prompt) is not None)
    found = explain_request(chat(prompt))
    assert not isinstance(found, str), f"{prompt!r}: {found}"
    assert found.problem.var == var
    assert found.problem.solution == expected, prompt


#: Glue the reader does not understand: the equation it would read is only part of the one written.
_FOREIGN = ["twice ", "half of ", "3 apples + ", "|2| + ", "sqrt", " dozen", " + 4 more", "%", " times 3"]
#: Glue that makes a longer, readable equation: a reading must then use the glued numbers.
_JOINING = ["5 % of ", "2,", ".5", "^2"]


@settings(max_examples=200, deadline=None)
@given(bare_equations(), st.sampled_from(_FOREIGN + _JOINING), st.booleans())
def test_text_that_continues_an_equation_is_never_dropped(
    case: tuple[str, str, Fraction], glue: str, before: bool
) -> None:
    """Glue words or symbols onto an edge of the equation: either the reader declines, or its
    reading includes the glue — never the old equation read out of the new text."""
    equation, var, expected = case
    if equation.startswith("$") or (glue.startswith((".", "^", "%", " ")) and before):
        return  # ".5" or "^2" before an equation is not a continuation
    if glue.endswith((" ", ",", "sqrt")) and not before:
        return
    mutated = f"Solve {glue}{equation}" if before else f"Solve {equation}{glue}"
    found = explain_request(chat(mutated))
    if isinstance(found, str):
        return
    assert glue in _JOINING, f"{mutated!r} read as {found.problem.equation!r}"
    digits = [d for d in glue if d.isdigit()]
    assert all(d in "".join(found.problem.literals) for d in digits), f"{mutated!r} read as {found.problem.equation!r}"
