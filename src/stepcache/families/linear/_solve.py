"""The deterministic fallback: a correct, checkable solution written without a model.

original → multiply both sides by the LCD of every denominator → expand → variable terms left,
constants right → simplify → (make the coefficient positive) → ``v = b/a`` → ``v = value``.
Every line is an equation with the same unique solution, so every line passes the verifier.
"""

from __future__ import annotations

import math
from fractions import Fraction

from ._parse import Lin, expanded_terms, number, tokenize
from ._problem import Problem, render_value

__all__ = ["solve_steps"]


def _terms(terms: list[tuple[Fraction, str]]) -> str:
    """``[(3, 'x'), (-5, '')]`` → ``3x - 5``; zero terms dropped; all integers by construction."""
    out = ""
    for coef, sym in terms:
        if not coef:
            continue
        mag = abs(coef)
        body = sym if sym and mag == 1 else f"{_number(mag)}{sym}"
        if not out:
            out = f"-{body}" if coef < 0 else body
        else:
            out += f" - {body}" if coef < 0 else f" + {body}"
    return out or "0"


def _number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"({value.numerator}/{value.denominator})"


def _lin(value: Lin, var: str) -> str:
    return _terms([(value[0], var), (value[1], "")])


def _expanded(side: str, var: str) -> str:
    return _terms([(c, var if d else "") for c, d in expanded_terms(side, var)])


def _multiplier(problem: Problem) -> int:
    """What to multiply both sides by: the LCD of the denominators *as written*.

    ``(2a + 4)/6 = 3`` is multiplied by 6 (not by the 3 its reduced form needs) so that the next line,
    ``2a + 4 = 18``, keeps a number for every coefficient — a line like ``a + 2 = 9`` could not be
    re-derived for other constants when this answer is reused from the cache.
    """
    toks = [t for t in tokenize(problem.equation) if t.kind != "sp"]
    written = [number(t.text) for i, t in enumerate(toks) if t.kind == "num" and i and toks[i - 1].text == "/"]
    lcd = math.lcm(*(c.denominator for c in problem.constants), *(c.numerator for c in written if c.denominator == 1))
    (a1, b1), (a2, b2) = problem.left, problem.right
    if any((c * lcd).denominator != 1 for c in (a1, b1, a2, b2)):
        lcd = math.lcm(lcd, *(c.denominator for c in (a1, b1, a2, b2)))
    return lcd


def solve_steps(problem: Problem) -> list[str]:
    var = problem.var
    (a1, b1), (a2, b2) = problem.left, problem.right
    steps = [problem.equation]

    def add(line: str) -> None:
        if line != steps[-1]:
            steps.append(line)

    left, right = problem.sides_text
    lcd = _multiplier(problem)
    if lcd != 1:
        left, right = f"{lcd}({left})", f"{lcd}({right})"
        add(f"{left} = {right}")
        a1, b1, a2, b2 = (c * lcd for c in (a1, b1, a2, b2))
    # Distribute before combining, so that every number written is one operation away from numbers
    # already on the page: that is what lets a cached copy of this answer be adapted to new constants.
    add(f"{_expanded(left, var)} = {_expanded(right, var)}")
    add(f"{_lin((a1, b1), var)} = {_lin((a2, b2), var)}")
    if a2 or b1:
        add(f"{_terms([(a1, var), (-a2, var)])} = {_terms([(b2, ''), (-b1, '')])}")
    coef, rhs = a1 - a2, b2 - b1
    if coef != -1:  # "-x = 1" would hide its coefficient; go straight to "x = -1"
        add(f"{_lin((coef, Fraction(0)), var)} = {_terms([(rhs, '')])}")
    if coef < 0:
        coef, rhs = -coef, -rhs
        add(f"{_lin((coef, Fraction(0)), var)} = {_terms([(rhs, '')])}")
    if coef != 1:
        add(f"{var} = {_terms([(rhs, '')])}/{_number(coef)}")
    add(f"{var} = {render_value(problem.solution, problem.fmt)}")
    return steps
