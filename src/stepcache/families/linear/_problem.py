"""The parsed request (:class:`Problem`), detection from a prompt, and the checks on steps."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ._parse import Found, Lin, canonical, find_equations, normalise, strip_numbering, tokenize

__all__ = [
    "Problem",
    "problem_of",
    "problem_from_data",
    "problem_from_equation",
    "check_step",
    "final_value",
    "format_error",
    "render_value",
    "FORMATS",
]

FORMATS = ("default", "fraction", "decimal")


@dataclass(frozen=True, slots=True)
class Problem:
    """One linear equation in one variable, and how its answer must be written."""

    equation: str  # canonical text, e.g. "3x + 5 = 20"
    var: str
    constants: tuple[Fraction, ...]  # the numbers of the equation, in order of appearance
    literals: tuple[str, ...]  # ... as written ("0.5", "20")
    template: str  # numbers masked as '#', the variable as 'v'
    fmt: str
    left: Lin
    right: Lin

    @property
    def solution(self) -> Fraction:
        return (self.right[1] - self.left[1]) / (self.left[0] - self.right[0])

    @property
    def sides_text(self) -> tuple[str, str]:
        left, right = self.equation.split(" = ")
        return left, right

    def to_data(self) -> dict[str, Any]:
        return {
            "equation": self.equation,
            "variable": self.var,
            "constants": [str(c) for c in self.constants],
            "literals": list(self.literals),
            "template": self.template,
            "format": self.fmt,
            "solution": str(self.solution),
        }


def problem_from_equation(equation: str, fmt: str, var: str | None = None, *, strict: bool = False) -> Problem | None:
    """The problem for a text holding exactly one linear equation with a unique solution, else None."""
    found = find_equations(tokenize(normalise(equation)), var, strict=strict)
    if len(found) != 1:
        return None
    return problem_of(found[0], fmt)


def problem_of(eq: Found, fmt: str) -> Problem | None:
    """The problem of one found equation, or None when it is not linear in one unknown with a unique solution."""
    if eq.error or len(eq.sides) != 2 or eq.var is None or not any(eq.mentions):
        return None
    left, right = eq.sides
    if left[0] == right[0]:  # no unique solution (identity or contradiction)
        return None
    nums = [t for t in eq.toks if t.kind == "num"]
    return Problem(
        equation=eq.text,
        var=eq.var,
        constants=tuple(Fraction(t.text) for t in nums),
        literals=tuple(t.text for t in nums),
        template=canonical(eq.toks, number=lambda t: "#", letter=lambda t: "v"),
        fmt=fmt,
        left=left,
        right=right,
    )


def problem_from_data(data: Mapping[str, Any]) -> Problem:
    fmt = str(data.get("format", "default"))
    problem = problem_from_equation(str(data["equation"]), fmt, str(data["variable"]))
    if problem is None or fmt not in FORMATS:
        raise ValueError(f"stored linear task is not a solvable linear equation: {dict(data)!r}")
    return problem


# -- values ------------------------------------------------------------------------------------
def terminating(value: Fraction) -> bool:
    d = value.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def decimal_text(value: Fraction) -> str:
    """Exact decimal spelling of a terminating fraction (``7/2`` → ``3.5``)."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    places = 0
    while (value * 10**places).denominator != 1:
        places += 1
    digits = str((value * 10**places).numerator).rjust(places + 1, "0")
    if not places:
        return sign + digits
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def render_value(value: Fraction, fmt: str) -> str:
    """The one spelling of the answer in ``fmt``: ``5``, ``7/2``, or for decimal ``3.5`` (``1/3`` stays)."""
    if value.denominator == 1:
        return str(value.numerator)
    if fmt == "decimal" and terminating(value):
        return decimal_text(value)
    return f"{value.numerator}/{value.denominator}"


_VALUE = r"-?\s*(?:\d+(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+)?"
_FINAL = re.compile(
    r"^(?:[^=]*[:,]\s*)?"  # "Multiply both sides by 4:", "So,"
    r"(?:(?:so|thus|hence|therefore)\s+)?"
    r"(?:(?:the\s+)?(?:final\s+)?(?:answer|solution|result)\s*(?:is\s*:?|:)\s*)?"
    rf"([A-Za-z])\s*=\s*({_VALUE})\s*\.?$",
    re.IGNORECASE,
)


def final_value(problem: Problem, step: str) -> tuple[str, str] | None:
    """``(variable, value text)`` when ``step`` is a final ``v = value`` line, else None."""
    m = _FINAL.match(normalise(strip_numbering(step)).strip())
    if m is None:
        return None
    return m.group(1), re.sub(r"\s+", "", m.group(2))


def format_error(problem: Problem, text: str) -> str:
    """Why ``text`` is not the answer spelled in the requested format ('' when it is)."""
    want = problem.solution
    expected = render_value(want, problem.fmt)
    if text == expected:
        return ""
    if problem.fmt == "decimal" and want.denominator == 1 and re.fullmatch(r"-?\d+\.0+", text):
        return ""  # "5.0" is a fine decimal
    if problem.fmt == "decimal" and "/" not in expected:
        return f"the answer must be written as the decimal {problem.var} = {expected}"
    if "/" in expected:
        return f"the answer must be written as the reduced fraction {problem.var} = {expected}"
    return f"the answer must be written as {problem.var} = {expected}"


# -- checking steps ----------------------------------------------------------------------------
_VALUE_CLAIM = re.compile(
    r"(?:\b(?:is|are|equals?|was|be|gives?|get|gets|yields?|becomes?)\s*:?|[\u2248\u2245~])\s*[-+]?\(?\d",
    re.IGNORECASE,
)
#: A step without an equation must be short: an instruction ("Subtract 5 from both sides."),
#: not an argument we cannot check.
MAX_PROSE_WORDS = 25


def check_step(var: str, solution: Fraction, step: str) -> str:
    """Why ``step`` is wrong for an equation in ``var`` whose solution is ``solution`` ('' if fine)."""
    text = normalise(strip_numbering(step))
    found = find_equations(tokenize(text), var)
    if not found:
        if len(text.split()) > MAX_PROSE_WORDS:
            return f"a step without an equation must be short prose (at most {MAX_PROSE_WORDS} words)"
        if _VALUE_CLAIM.search(text):
            return "states a value in words instead of as an equation"
        return ""
    for eq in found:
        if eq.error:
            return f"cannot read the equation {eq.text!r}: {eq.error}"
        for (l_side, r_side), (l_var, r_var) in zip(
            zip(eq.sides, eq.sides[1:]), zip(eq.mentions, eq.mentions[1:]), strict=True
        ):
            reason = _pair_error(var, solution, l_side, r_side, l_var or r_var)
            if reason:
                return f"{eq.text!r} {reason}"
    return ""


def _pair_error(var: str, solution: Fraction, left: Lin, right: Lin, mentions: bool) -> str:
    a = left[0] - right[0]
    b = right[1] - left[1]
    if a:
        got = b / a
        return "" if got == solution else f"gives {var} = {got}, which does not solve the original equation"
    if not mentions:
        return "" if not b else "is false arithmetic"
    return f"is true for every {var}, so it is not a step" if not b else "has no solution"
