"""A deliberately imperfect "model" for the scripted demo, tests and CI: no weights, no network.

``ImperfectModel`` answers a :class:`~stepcache.BackendRequest` by reading the question (a linear
equation, a quadratic, an evaluation, a two-variable system, a JSON record, a prose request) and
writing a plausible answer, right most of the time. With probability ``error_rate`` — decided by a
hash of the request, so a run is reproducible — it makes the mistakes small models make: an
arithmetic slip in a step, or a JSON object missing a key. Plug it into
``ScriptedBackend(responder=ImperfectModel())``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from fractions import Fraction
from typing import Any

from stepcache import BackendRequest

from ._expr import (
    Expr,
    ExprError,
    coefficient,
    difference,
    find_equation,
    format_fraction,
    linear_coefficients,
    parse_chain,
    quadratic_roots,
    show,
    solve_system,
)

__all__ = ["ImperfectModel"]

_NUM = r"-?\d+(?:\.\d+)?(?:/\d+)?"
_EVALUATE = re.compile(rf"evaluate\s+(?P<expr>.+?)\s+when\s+(?P<var>[A-Za-z])\s*=\s*(?P<value>{_NUM})", re.I)
_SYSTEM = re.compile(r"system\s+(?P<eq1>[^=]+=[^=]+?)\s+and\s+(?P<eq2>[^=]+=\s*-?[\d.]+)", re.I)
_CONTINUE = re.compile(r"continue the solution from step (\d+)", re.I)
_EXACT_KEYS = re.compile(r"exactly these keys:\s*(.+?)\.(?:\s|$)", re.I)
_REQUIRED = re.compile(r"required keys:\s*(.+?)\.?\s*$", re.I | re.M)
_NOT_JSON = re.compile(r"\b(?:not|no)\s+JSON\b|do not use JSON|plain prose|prose", re.I)


class ImperfectModel:
    """Callable ``BackendRequest → str``. ``error_rate`` is the share of answers with a mistake."""

    def __init__(self, error_rate: float = 0.2, seed: int = 0) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1, got {error_rate}")
        self.error_rate = error_rate
        self.seed = seed

    def __call__(self, request: BackendRequest) -> str:
        text = "\n".join(m.get("content", "") for m in request.messages)
        digest = hashlib.sha256(f"{self.seed}\0{text}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        wrong = rng.random() < self.error_rate
        users = [m.get("content", "") for m in request.messages if m.get("role") == "user"]
        problem = users[0] if users else text
        if problem.startswith("Problem:"):  # a patch request wraps the original question
            problem = problem.split("\n\n", 1)[0].removeprefix("Problem:").strip()
        wants_json = request.response_format is not None or (
            "JSON" in problem.upper() and not _NOT_JSON.search(problem)
        )
        if wants_json:
            return _json_answer(request, problem, text, wrong, rng)
        if _NOT_JSON.search(problem):
            return _prose_answer(problem)
        return _math_answer(problem, text, wrong, rng) or "I am not sure how to answer that."


# -- maths ------------------------------------------------------------------------------------------


def _math_answer(problem: str, whole: str, wrong: bool, rng: random.Random) -> str | None:
    if match := _EVALUATE.search(problem):
        try:
            expr = parse_chain(f"{match['expr']} = 0")[0]
            value = expr({match["var"]: Fraction(match["value"])})
        except (ExprError, ZeroDivisionError):
            return None
        value += 1 if wrong else 0
        shown = match["expr"].replace(match["var"], f"({match['value']})")
        return f"1. {shown}\n2. {format_fraction(value)}"
    if match := _SYSTEM.search(problem):
        return _system(match["eq1"], match["eq2"].strip())
    equation = find_equation(problem)
    if equation is None:
        return None
    variable, sides, equation_text = equation
    f = difference(sides)
    linear = linear_coefficients(f, variable)
    if linear is None:
        return _quadratic(f, variable)
    a, b = linear
    if a == 0:
        return None
    rhs = -b + (rng.choice((-1, 1)) if wrong else 0)
    decimal = "decimal" in whole.lower()
    steps = [equation_text]
    if a != 1:
        steps.append(f"{coefficient(a)}{variable} = {show(rhs, decimal=False)}")
    steps.append(f"{variable} = {show(rhs / a, decimal=decimal)}")
    start = 1
    if match := _CONTINUE.search(whole):  # a patch: continue from the first step that failed
        start = int(match[1])
        steps = steps[start - 1 :] or steps[-1:]
    return "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start))


def _quadratic(f: Expr, variable: str) -> str | None:
    roots = quadratic_roots(f, variable)
    if roots is None:
        return None
    r1, r2 = roots
    factors = f"({variable} {_signed(-r1)})({variable} {_signed(-r2)}) = 0"
    return f"1. {factors}\n2. {variable} = {format_fraction(r1)} or {variable} = {format_fraction(r2)}"


def _system(eq1: str, eq2: str) -> str | None:
    try:
        solution = solve_system(parse_chain(eq1), parse_chain(eq2))
    except ExprError:
        return None
    if solution is None:
        return None
    (v, x), (w, y) = solution.items()
    return f"1. {eq1.strip()}\n2. {eq2.strip()}\n3. {v} = {format_fraction(x)}\n4. {w} = {format_fraction(y)}"


def _signed(value: Fraction) -> str:
    return f"+ {format_fraction(value)}" if value >= 0 else f"- {format_fraction(-value)}"


# -- JSON and prose ---------------------------------------------------------------------------------


def _pairs(problem: str) -> dict[str, str]:
    """``'name: Ada; age: 36. Required keys: ...'`` → ``{'name': 'Ada', 'age': '36'}``."""
    body = _REQUIRED.sub("", problem)
    pairs: dict[str, str] = {}
    for part in re.split(r";|\.\s|:\s(?=[A-Za-z_]+:\s)", body):
        match = re.search(r"([A-Za-z_][A-Za-z0-9_]*):\s*(.+?)\s*\.?\s*$", part.strip())
        if match:
            pairs[match[1]] = match[2]
    return pairs


def _typed(raw: str, json_type: str | None) -> Any:
    if json_type == "string":
        return raw
    if raw in ("true", "false"):
        return raw == "true"
    try:
        number = Fraction(raw)
    except (ValueError, ZeroDivisionError):
        return raw
    return int(number) if number.denominator == 1 and "." not in raw else float(raw)


def _json_answer(request: BackendRequest, problem: str, whole: str, wrong: bool, rng: random.Random) -> str:
    schema: dict[str, Any] = {}
    rf = request.response_format or {}
    if rf.get("type") == "json_schema":
        schema = rf.get("json_schema", {}).get("schema", {})
    properties = schema.get("properties", {})
    if match := _EXACT_KEYS.search(whole):
        keys = [k.strip().strip('"') for k in match[1].split(",")]
    elif schema.get("required"):
        keys = list(schema["required"])
    elif match := _REQUIRED.search(problem):
        keys = [k.strip() for k in match[1].split(",")]
    else:
        keys = list(_pairs(problem))
    values = _pairs(problem)
    obj = {k: _typed(values[k], properties.get(k, {}).get("type")) if k in values else "" for k in keys}
    if wrong and len(obj) > 1:
        obj.pop(rng.choice(list(obj)))  # the classic small-model slip: a required key forgotten
    return json.dumps(obj)


def _prose_answer(problem: str) -> str:
    pairs = _pairs(problem)
    if not pairs:
        return "There is not enough information to describe it."
    first_key, first_value = next(iter(pairs.items()))
    rest = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in list(pairs.items())[1:])
    return f"{first_value} is the {first_key.replace('_', ' ')} of this record. It has {rest or 'no other details'}."
