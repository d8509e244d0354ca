"""The meaning-changing rewrites of :mod:`stepcache_bench.metamorphic` (see its docstring).

Each mutated item carries the truth of the *new* request, computed with exact fractions by the
benchmark's own expression reader (:mod:`stepcache_bench._expr`), never by StepCache's parsers.
"""

from __future__ import annotations

import random
import re
from fractions import Fraction
from typing import Any

from ._expr import ExprError, as_decimal, format_fraction, parse_expr, quadratic_roots, solve_linear, terminates
from ._rewrite import (
    json_type,
    key_list,
    key_types,
    math_spans,
    mutation,
    schema_format,
    task_of,
    with_task,
)
from .workload import JsonTruth, LinearTruth, QuadraticTruth, WorkloadItem

__all__ = ["swap_key", "variable_once", "square_term", "percent_coefficient", "stale_constant"]

#: A key of another meaning for a key (used by ``swap_key``); keys not listed take the first of
#: ``_OTHER_KEYS`` the item does not already use.
_OTHER_MEANING = {
    "city": "email",
    "age": "phone",
    "in_stock": "sku",
    "email": "city",
    "price": "rating",
    "name": "id",
    "country": "currency",
    "year": "pages",
    "pages": "year",
    "population": "founded",
    "total": "status",
    "status": "total",
    "title": "isbn",
    "author": "publisher",
    "customer": "order_id",
    "items": "paid",
}
_OTHER_KEYS = ("email", "phone", "sku", "website", "rating", "notes")


def _typed(text: str) -> Any:
    """A value as a request writes it (``34``, ``12.5``, ``true``, ``Lisbon``) → the JSON value."""
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    return text


@mutation("swap_key", kinds=("json",), adaptable=False)
def swap_key(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """A required key replaced by a key of another meaning (``city`` → ``email``, ``age`` → ``phone``).

    Truth: the new key is required; its value is expected only when the request states it
    (``email: ...``); otherwise any value passes, since nothing in the request says what it is. The
    old key's expected value is dropped (and, under a schema, the old key is no longer allowed)."""
    truth = item.truth
    if not isinstance(truth, JsonTruth):
        return None
    task = task_of(item)
    where = key_list(task, truth.required_keys)
    if where is None:
        return None
    old = rng.choice(truth.required_keys)
    taken = set(truth.required_keys) | set(truth.expected)
    new = _OTHER_MEANING.get(old)
    if new is None or new in taken:
        new = next(k for k in _OTHER_KEYS if k not in taken)
    listed = re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w-])", new, task[where.list_start : where.list_end], count=1)
    keys = tuple(new if k == old else k for k in truth.required_keys)
    expected = {k: v for k, v in truth.expected.items() if k != old}
    stated = re.search(rf"(?<![\w-]){re.escape(new)}\s*[:=]\s*([^;\n]+?)(?:[;\n]|\.\s|\.$|$)", task)
    if stated:
        expected[new] = _typed(stated.group(1))
    update: dict[str, Any] = {
        "truth": truth.model_copy(update={"required_keys": keys, "expected": expected}),
        "family": "json",
    }
    rf = item.request.response_format
    if rf and rf.get("type") == "json_schema":
        types = key_types(item, truth)
        update["response_format"] = schema_format(
            "record",
            {
                k: json_type(expected[new]) if k == new and new in expected else None if k == new else types[k]
                for k in keys
            },
        )
    return with_task(item, task[: where.list_start] + listed + task[where.list_end :], **update)


_VARIABLE = "(?<![A-Za-z\\\\]){}(?![A-Za-z])"


def _occurrences(equation: str, variable: str) -> list[re.Match[str]]:
    return list(re.finditer(_VARIABLE.format(re.escape(variable)), equation))


def _replace_equation(item: WorkloadItem, old: str, new: str, **update: Any) -> WorkloadItem:
    return with_task(item, task_of(item).replace(old, new, 1), **update)


@mutation("variable_once", kinds=("linear",), adaptable=False)
def variable_once(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """The equation's variable changed in one place only (``3x + 5 = x + 9`` → ``3x + 5 = y + 9``):
    two unknowns, no longer a one-unknown linear equation. Family ``generic``, no truth."""
    truth = item.truth
    if not isinstance(truth, LinearTruth) or not math_spans(item):
        return None
    task = task_of(item)
    letters = [c for c in "yzwqrs" if c != truth.variable and not re.search(_VARIABLE.format(c), task)]
    hits = _occurrences(truth.equation, truth.variable)
    if not letters or not hits:
        return None
    hit, letter = rng.choice(hits), rng.choice(letters)
    equation = truth.equation[: hit.start()] + letter + truth.equation[hit.end() :]
    return _replace_equation(item, truth.equation, equation, truth=None, family="generic")


def _difference(equation: str) -> Any:
    left, right = equation.split("=")
    return parse_expr(f"({left}) - ({right})")


@mutation("square_term", kinds=("linear",), adaptable=False)
def square_term(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """One occurrence of the variable squared (``3x + 5 = 20`` → ``3x^2 + 5 = 20``): a quadratic,
    family ``generic``; truth: its rational roots, ``None`` when they are irrational or complex (an
    occurrence whose square has rational roots is preferred, so more mutants can be checked)."""
    truth = item.truth
    if not isinstance(truth, LinearTruth) or not math_spans(item):
        return None
    hits = _occurrences(truth.equation, truth.variable)
    if not hits:
        return None
    rng.shuffle(hits)
    squares = [truth.equation[: hit.end()] + "^2" + truth.equation[hit.end() :] for hit in hits]
    truths = [_quadratic_truth(equation, truth.variable) for equation in squares]
    chosen = next((i for i, t in enumerate(truths) if t is not None), 0)
    return _replace_equation(item, truth.equation, squares[chosen], truth=truths[chosen], family="generic")


def _quadratic_truth(equation: str, variable: str) -> QuadraticTruth | None:
    try:
        found = quadratic_roots(_difference(equation), variable)
    except (ExprError, ValueError):
        return None
    if found is None:
        return None
    roots = sorted(set(found))
    return QuadraticTruth(variable=variable, roots=tuple(format_fraction(r) for r in roots), equation=equation)


def _linear_truth(truth: LinearTruth, equation: str, shown: str | None = None) -> LinearTruth | None:
    """The truth of a new one-unknown linear ``equation`` in the old one's format, or ``None`` when
    it has no unique solution or the solution cannot be written in the asked format."""
    try:
        solution = solve_linear(_difference(equation), truth.variable)
    except (ExprError, ValueError):
        return None
    if solution is None:
        return None
    if truth.format == "decimal" and not terminates(solution):
        return None
    return truth.model_copy(update={"solution": format_fraction(solution), "equation": shown or equation})


_TERM = r"(?<![\w.^/])(?P<coef>\d+(?:\.\d+)?)?(?P<var>{v})(?:\s*/\s*(?P<div>\d+(?:\.\d+)?))?(?![\w^])"


@mutation("percent_coefficient", kinds=("linear",), adaptable=True)
def percent_coefficient(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """A coefficient replaced by "n% of x" (``3x + 5 = 20`` → ``25% of x + 5 = 20``): a new linear
    equation with another solution, family ``linear``, with its own truth (whose ``equation`` is
    written ``0.25x + 5 = 20``)."""
    truth = item.truth
    if not isinstance(truth, LinearTruth) or not math_spans(item):
        return None
    terms = list(re.finditer(_TERM.format(v=re.escape(truth.variable)), truth.equation))
    if not terms:
        return None
    term = next((t for t in terms if t["coef"] or t["div"]), terms[0])  # a written coefficient, if any
    old = Fraction(term["coef"] or 1) / Fraction(term["div"] or 1)
    percents = [10, 20, 25, 30, 40, 50, 60, 75, 80, 120, 150, 200, 250]
    rng.shuffle(percents)
    v = truth.variable
    for percent in percents:
        factor = Fraction(percent, 100)
        if factor == old:
            continue
        head, tail = truth.equation[: term.start()], truth.equation[term.end() :]
        plain = f"{head}{as_decimal(factor)}{v}{tail}"
        new_truth = _linear_truth(truth, plain)
        if new_truth is not None and new_truth.solution != truth.solution:  # else the old answer is not stale
            return _replace_equation(
                item, truth.equation, f"{head}{percent}% of {v}{tail}", truth=new_truth, family="linear"
            )
    return None


_NUMBER = re.compile(r"(?<![\w.^])\d+(?:\.\d+)?(?![\d.])")


def _other_numbers(text: str, rng: random.Random) -> list[str]:
    """Other positive numbers of the same shape (integers for an integer, halves for a decimal), in
    ``rng`` order. All of them, so whether one fits never depends on the rng."""
    value, unit = Fraction(text), Fraction(1, 2) if "." in text else Fraction(1)
    steps = [-3, -2, -1, 1, 2, 3, 4, 5]
    rng.shuffle(steps)
    return [as_decimal(value + step * unit) for step in steps if value + step * unit > 0]


@mutation("stale_constant", kinds=("linear", "json"), adaptable=True)
def stale_constant(item: WorkloadItem, rng: random.Random) -> WorkloadItem | None:
    """One constant changed in the text (``3x + 5 = 20`` → ``3x + 5 = 23``; ``age: 34`` → ``age: 36``),
    so the original's answer is stale; the truth is recomputed. The family is the original's."""
    truth = item.truth
    task = task_of(item)
    if isinstance(truth, LinearTruth):
        if not math_spans(item):
            return None
        numbers = list(_NUMBER.finditer(truth.equation))
        rng.shuffle(numbers)
        for number in numbers:
            for other in _other_numbers(number.group(), rng):
                equation = truth.equation[: number.start()] + other + truth.equation[number.end() :]
                new_truth = _linear_truth(truth, equation)
                if new_truth is not None and new_truth.solution != truth.solution:
                    return _replace_equation(item, truth.equation, equation, truth=new_truth)
        return None
    if isinstance(truth, JsonTruth):
        numeric = [(k, v) for k, v in truth.expected.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        rng.shuffle(numeric)
        for key, value in numeric:
            shown = repr(value).removesuffix(".0") if isinstance(value, float) else str(value)
            stated = re.search(rf"(?<![\w-]){re.escape(key)}\s*[:=]\s*{re.escape(shown)}(?!\.?\d)", task)
            if stated is None:
                continue
            new_text = _other_numbers(shown, rng)[0]
            new_value: Any = int(new_text) if isinstance(value, int) else float(new_text)
            rewritten = task[: stated.start()] + stated.group().replace(shown, new_text) + task[stated.end() :]
            expected = {**truth.expected, key: new_value}
            return with_task(item, rewritten, truth=truth.model_copy(update={"expected": expected}))
    return None
