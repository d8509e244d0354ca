"""Word problems with known solutions, and a fake model that solves them (for the arithmetic tests).

Each :class:`Problem` is one template: ``question(values, names)`` writes an instance and
``solution(values, names)`` its correct solution, one calculation per line, the way a model asked
by the arithmetic family answers. :func:`responder` is a :class:`~stepcache.ScriptedBackend`
responder that finds the instance a request is about and answers it (``slip`` makes one line's
result wrong and carries it to the answer, as a model's arithmetic slip does); it also continues a
solution from step N when asked to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from stepcache import BackendRequest
from stepcache.families.arithmetic._numbers import format_number

__all__ = ["Problem", "SHOP", "RUNNER", "BAKERY", "Solver"]


def _n(v: Fraction | int) -> str:
    return format_number(Fraction(v))


@dataclass(frozen=True)
class Problem:
    question: Callable[[Sequence[Fraction], Sequence[str]], str]
    solution: Callable[[Sequence[Fraction], Sequence[str]], list[str]]
    answer: Callable[[Sequence[Fraction]], Fraction]


SHOP = Problem(
    question=lambda v, n: (
        f"{n[0]} buys {_n(v[0])} pens at ${_n(v[1])} each and {_n(v[2])} notebooks at ${_n(v[3])} each. "
        f"How much does {n[0]} spend in total?"
    ),
    solution=lambda v, n: [
        f"Pens cost {_n(v[0])} * ${_n(v[1])} = ${_n(v[0] * v[1])}",
        f"Notebooks cost {_n(v[2])} * ${_n(v[3])} = ${_n(v[2] * v[3])}",
        f"In total {n[0]} spends ${_n(v[0] * v[1])} + ${_n(v[2] * v[3])} = ${_n(v[0] * v[1] + v[2] * v[3])}",
        f"The answer is {_n(v[0] * v[1] + v[2] * v[3])}.",
    ],
    answer=lambda v: v[0] * v[1] + v[2] * v[3],
)

RUNNER = Problem(
    question=lambda v, n: (
        f"{n[0]} runs {_n(v[0])} laps of a {_n(v[1])} meter track every day. How many meters does {n[0]} run in a week?"
    ),
    solution=lambda v, n: [
        f"Each day {n[0]} runs {_n(v[0])} * {_n(v[1])} = {_n(v[0] * v[1])} meters",
        f"In a week that is {_n(v[0] * v[1])} * 7 = {_n(v[0] * v[1] * 7)} meters",
        f"The answer is {_n(v[0] * v[1] * 7)}.",
    ],
    answer=lambda v: v[0] * v[1] * 7,
)

BAKERY = Problem(
    question=lambda v, n: (
        f"A bakery makes {_n(v[0])} muffins. It sells {_n(v[1])} in the morning and twice as many in the "
        "afternoon. How many muffins are left?"
    ),
    solution=lambda v, n: [
        f"In the afternoon it sells {_n(v[1])} * 2 = {_n(v[1] * 2)} muffins",
        f"It sells {_n(v[1])} + {_n(v[1] * 2)} = {_n(v[1] * 3)} muffins in all",
        f"So {_n(v[0])} - {_n(v[1] * 3)} = {_n(v[0] - v[1] * 3)} muffins are left",
        f"The answer is {_n(v[0] - v[1] * 3)}.",
    ],
    answer=lambda v: v[0] - v[1] * 3,
)

_CONTINUE = re.compile(r"continue the solution from step (\d+)", re.IGNORECASE)


class Solver:
    """Answers the instances it knows, by their question text, as a fake upstream."""

    def __init__(self) -> None:
        self.known: dict[str, list[str]] = {}
        self.slips: set[str] = set()  # questions answered with an arithmetic slip
        self.calls: list[BackendRequest] = []
        self.unsolved = "I am not sure how to solve this."

    def add(self, problem: Problem, values: Sequence[int | str], names: Sequence[str] = ("Maya",)) -> str:
        exact = [Fraction(str(v)) for v in values]
        text = problem.question(exact, names)
        self.known[text] = problem.solution(exact, names)
        return text

    def __call__(self, request: BackendRequest) -> str:
        self.calls.append(request)
        whole = "\n".join(m.get("content", "") for m in request.messages)
        question = next((q for q in self.known if q in whole), None)
        if question is None:
            return self.unsolved
        lines = list(self.known[question])
        if question in self.slips:
            lines = _slipped(lines)
        continuing = _CONTINUE.search(whole)
        start = int(continuing.group(1)) if continuing else 1
        return "\n".join(f"{i}. {line}" for i, line in enumerate(lines[start - 1 :], start))


def _slipped(lines: list[str]) -> list[str]:
    """The last calculation's result off by one, carried to the stated answer."""
    last = lines[-2]
    right = re.findall(r"= \$?(\d+(?:\.\d+)?)", last)[-1]
    wrong = _n(Fraction(right) + 1)
    head, _, tail = last.rpartition(right)
    return [*lines[:-2], head + wrong + tail, f"The answer is {wrong}."]
