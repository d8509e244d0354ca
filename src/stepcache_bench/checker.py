"""The benchmark's independent checker: is an answer right, and is it a well-formed whole?

Written from the workload's ground truth only; it shares no code with the engine's verifiers
(``stepcache.families``), so an engine bug cannot make its own answers look correct.

Two verdicts per answer:

* ``correct`` — the task check against the ground truth: the final ``v = value`` line equals the exact
  solution in the requested format and presentation (the value alone when the caller asked for only the
  final answer, inside ``\boxed{}`` when asked, rounded to N places and written with N decimals when
  asked); the one JSON object has the required keys and the values the prompt gave; a semantic variant
  states what its truth allows (quadratic roots, an evaluation's value, a system's solution, prose
  instead of JSON). ``None`` when the item carries no truth.
* ``integrity`` — the stitched-output check: numbered steps run 1..n without gaps or repeats, no step
  line is duplicated, no two ``v = value`` lines disagree, and every equation in the body holds for the
  final value (the final line is consistent with the steps). JSON answers must not repeat a key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from ._expr import ExprError, clean_math, format_fraction, parse_chain, parse_number
from .workload import (
    ArithmeticTruth,
    EvaluationTruth,
    JsonTruth,
    LinearTruth,
    ProseTruth,
    QuadraticTruth,
    SystemTruth,
    Truth,
    WorkloadItem,
)

__all__ = ["CheckResult", "check", "check_answer"]

_MATH_KINDS = (LinearTruth, QuadraticTruth, EvaluationTruth, SystemTruth)
_NUM = r"-?\s*\d+(?:\.\d+)?(?:\s*/\s*-?\s*\d+(?:\.\d+)?)?"
_NUMBER = re.compile(_NUM)
_STEP = re.compile(
    r"^\s*(?:[#>*-]+\s*)?(?:\*\*)?(?:step\s*(\d{1,3})\s*[.:)\-–]?|(\d{1,3})[.)])(?:\*\*)?(?=\s|$)\s*(.*)$",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
_BOXED = re.compile(r"\\boxed\s*\{((?:[^{}]|\{[^{}]*\})*)\}")  # one level of nesting: \boxed{\frac{7}{3}}
_APPROX = re.compile(r"\s*(?:≈|\\approx)\s*")
_LEAD = r"(?:(?:the\s+)?(?:final\s+)?answer(?:\s+is)?\s*:?\s*)?"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """``correct`` is ``None`` when nothing could be checked; ``reasons`` say what failed (or why unchecked)."""

    correct: bool | None
    integrity: bool
    reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool | None:
        """End-to-end: correct *and* well-formed (``None`` when unchecked)."""
        return None if self.correct is None else self.correct and self.integrity


def check(item: WorkloadItem, text: str) -> CheckResult:
    """Judge ``text`` as the answer to ``item``."""
    return check_answer(item.truth, text)


def check_answer(truth: Truth | None, text: str) -> CheckResult:
    if truth is None:
        return CheckResult(None, True, ("no ground truth",))
    reasons: list[str] = []
    integrity_problems: list[str] = []
    correct: bool | None
    if isinstance(truth, JsonTruth):
        correct = _check_json(truth, text, reasons, integrity_problems)
    elif isinstance(truth, ProseTruth):
        correct = _check_prose(truth, text, reasons)
    else:
        final = _check_math(truth, text, reasons)
        correct = not reasons
        integrity_problems += _step_integrity(text, truth, final)
    reasons += integrity_problems
    return CheckResult(correct, not integrity_problems, tuple(reasons))


# -- maths ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Statement:
    line: int
    start: int  # offset of the statement in the cleaned line
    value: Fraction
    tokens: tuple[str, ...]  # every number written in the chain ``x = 15/3 = 5``, as written


def _statements(text: str, variable: str, subscripts: bool = False, approx: bool = False) -> list[_Statement]:
    """Every ``v = value`` (or ``v = a = b = value``) statement, in order; with ``approx``, ``≈`` counts as ``=``."""
    if approx:
        text = _APPROX.sub(" = ", text)
    var = re.escape(variable) + (r"(?:_?\{?\d\}?|[₁₂])?" if subscripts else "")
    pattern = re.compile(
        # "-p = 35" and "x + p = 5" say nothing about p alone
        rf"(?<![A-Za-z0-9_\\)^*/.+\-])(?<![\w)]\s[+\-]\s){var}\s*=\s*(?P<chain>(?:[^=\n]*?=\s*)*?)(?P<num>{_NUM})"
        r"(?!\s*(?:[\d=+\-*/^(]|\.\d|[A-Za-z](?![A-Za-z])))"  # the number ends the statement
    )
    found: list[_Statement] = []
    for index, line in enumerate(text.splitlines()):
        for match in pattern.finditer(clean_math(line)):
            value = parse_number(match.group("num"))
            if value is None:
                continue
            parts = [p.strip() for p in match.group("chain").split("=") if p.strip()] + [match.group("num").strip()]
            tokens = tuple(p for p in parts if parse_number(p) == value)
            found.append(_Statement(index, match.start(), value, tokens))
    return found


def _check_math(truth: Truth, text: str, reasons: list[str]) -> Fraction | None:
    """Append what is wrong to ``reasons``; return the final value of a linear answer."""
    if isinstance(truth, LinearTruth):
        return _check_linear(truth, text, reasons)
    if isinstance(truth, QuadraticTruth):
        # "x = 2 or x = 3", "x = -2, -6", "x_1 = 2": every number from the first statement of a line on
        lines = text.splitlines()
        first: dict[int, int] = {}
        for s in _statements(text, truth.variable, subscripts=True):
            first.setdefault(s.line, s.start)
        stated = {n for index, start in first.items() for n in _numbers(clean_math(lines[index])[start:])}
        missing = [r for r in truth.roots if Fraction(r) not in stated]
        if missing:
            reasons.append(f"root(s) {', '.join(missing)} of {truth.equation or 'the quadratic'} not stated")
    elif isinstance(truth, EvaluationTruth):
        lines = [body for body in map(_without_number, text.splitlines()) if _numbers(body)]
        if not lines or Fraction(truth.value) not in _numbers(lines[-1]):
            last = lines[-1].strip() if lines else "(no number)"
            reasons.append(f"expected the value {truth.value}; the last line with a number is {last[:80]!r}")
    elif isinstance(truth, ArithmeticTruth):
        answer = _final_number(text)
        if answer is None:
            reasons.append("no final number stated")
        elif answer != Fraction(truth.answer):
            reasons.append(f"final answer {format_fraction(answer)}, expected {truth.answer}")
    elif isinstance(truth, SystemTruth):
        for name, value in truth.solution.items():
            statements = _statements(text, name)
            if not statements:
                reasons.append(f"no final '{name} = value' line")
            elif statements[-1].value != Fraction(value):
                reasons.append(f"final {name} = {format_fraction(statements[-1].value)}, expected {value}")
    return None


_FINAL_ANSWER = re.compile(
    r"(?:answer\s+is|answer\s*[:=]|####|\\boxed\{)\s*\**\s*[$€£]?\s*(-?\d[\d,]*(?:\.\d+)?)", re.IGNORECASE
)
_ANY_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _final_number(text: str) -> Fraction | None:
    """A word problem's stated answer: the last "answer is N" (or ``#### N``, ``\\boxed{N}``), else
    the last number of the text."""
    found = _FINAL_ANSWER.findall(text) or _ANY_NUMBER.findall(text)
    if not found:
        return None
    try:
        return Fraction(found[-1].replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def _numbers(line: str) -> set[Fraction]:
    values = (parse_number(m.group(0)) for m in _NUMBER.finditer(clean_math(line)))
    return {v for v in values if v is not None}


def _check_linear(truth: LinearTruth, text: str, reasons: list[str]) -> Fraction | None:
    """Judge the final value and its presentation; return the value the steps must hold for."""
    if truth.answer == "final":
        return _check_final_only(truth, text, reasons)
    stated = _statements(text, truth.variable, approx=truth.places is not None)
    boxed = _boxed(text, truth.variable) if truth.boxed else []
    if truth.boxed and not boxed:
        reasons.append(f"asked for the answer in \\boxed{{}}, found no boxed value for {truth.variable}")
        return stated[-1].value if stated else None
    if not stated and not boxed:
        reasons.append(f"no final '{truth.variable} = value' line")
        return None
    value, tokens = boxed[-1] if boxed else (stated[-1].value, stated[-1].tokens)
    return _judge_value(truth, value, tokens, reasons)


def _check_final_only(truth: LinearTruth, text: str, reasons: list[str]) -> Fraction | None:
    """``answer="final"``: one line holding the value, maybe as ``v = value``, maybe boxed; no derivation."""
    lines = [line for line in text.splitlines() if clean_math(line).strip()]
    if len(lines) != 1:
        reasons.append(f"asked for the final value only, got {len(lines)} lines")
        return None
    line = lines[0]
    if truth.boxed and not _BOXED.search(line):
        reasons.append(f"asked for the answer in \\boxed{{}}, got {line.strip()[:40]!r}")
    var = re.escape(truth.variable)
    match = re.fullmatch(
        rf"{_LEAD}(?:{var}\s*(?:=|≈|\\approx)\s*)?(?P<num>{_NUM})",
        clean_math(line).strip().rstrip(".").strip(),
        re.IGNORECASE,
    )
    value = parse_number(match.group("num")) if match else None
    if match is None or value is None:
        reasons.append(f"asked for the final value only, got {line.strip()[:60]!r}")
        return None
    return _judge_value(truth, value, (match.group("num").strip(),), reasons)


def _boxed(text: str, variable: str) -> list[tuple[Fraction, tuple[str, ...]]]:
    """The values written inside ``\\boxed{...}`` (``\\boxed{5}`` or ``\\boxed{x = 5}``), in order."""
    found: list[tuple[Fraction, tuple[str, ...]]] = []
    for match in _BOXED.finditer(text):
        inner = clean_math(match.group(1)).strip()
        inner = re.sub(rf"^{re.escape(variable)}\s*(?:=|≈|\\approx)\s*", "", inner).strip()
        value = parse_number(inner)
        if value is not None:
            found.append((value, (inner,)))
    return found


def _judge_value(truth: LinearTruth, value: Fraction, tokens: tuple[str, ...], reasons: list[str]) -> Fraction:
    expected = Fraction(truth.solution)
    if truth.places is not None:
        roundings = _roundings(expected, truth.places)
        written = [t for t in tokens if _has_places(t, truth.places)]
        if value not in roundings:
            shown = " or ".join(sorted({_decimal(r, truth.places) for r in roundings}))
            reasons.append(f"final {truth.variable} = {tokens[-1]}, expected {shown} ({truth.solution} rounded)")
            return value
        if not written:
            reasons.append(f"asked for {truth.places} decimal place(s), got {tokens[-1]}")
        return expected  # a right rounding: the steps must hold for the exact solution
    if value != expected:
        reasons.append(f"final {truth.variable} = {format_fraction(value)}, expected {truth.solution}")
    elif truth.format == "fraction" and not any(
        "." not in t and ("/" in t or expected.denominator == 1) for t in tokens
    ):
        reasons.append(f"asked for a fraction, got {tokens[-1]}")
    elif truth.format == "decimal" and not any("/" not in t for t in tokens):
        reasons.append(f"asked for a decimal, got {tokens[-1]}")
    return value


def _roundings(value: Fraction, places: int) -> set[Fraction]:
    """``value`` rounded to ``places`` decimals, half up or half to even (they differ only on exact ties)."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    step = Decimal(1).scaleb(-places)
    return {Fraction(exact.quantize(step, rounding=mode)) for mode in (ROUND_HALF_UP, ROUND_HALF_EVEN)}


def _decimal(value: Fraction, places: int) -> str:
    return f"{Decimal(value.numerator) / Decimal(value.denominator):.{places}f}"


def _has_places(token: str, places: int) -> bool:
    token = clean_math(token).replace(" ", "")
    return re.fullmatch(rf"-?\d+\.\d{{{places}}}" if places else r"-?\d+", token) is not None


def _step_integrity(text: str, truth: Truth, final: Fraction | None) -> list[str]:
    problems: list[str] = []
    steps = _numbered_steps(text)
    numbers = [n for n, _ in steps]
    if numbers and numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"steps are numbered {_short(numbers)}, not 1..{len(numbers)}")
    seen: set[str] = set()
    for n, body in steps:
        key = " ".join(body.lower().split())
        if key and key in seen:
            problems.append(f"step {n} repeats an earlier step: {body[:60]!r}")
        seen.add(key)
    if isinstance(truth, LinearTruth):
        # a right rounding of the solution ("x = 7/3 ≈ 2.33") is the same value written to N places
        rounded = _roundings(Fraction(truth.solution), truth.places) if truth.places is not None else set()
        alias = {r: Fraction(truth.solution) for r in rounded} if final == Fraction(truth.solution) else {}
        statements = _statements(text, truth.variable, approx=truth.places is not None)
        values = {alias.get(s.value, s.value) for s in statements}
        if len(values) > 1:
            shown = ", ".join(sorted(format_fraction(v) for v in values))
            problems.append(f"contradictory final lines: {truth.variable} = {shown}")
        if final is not None:
            bodies = [(n, b) for n, b in steps] or list(enumerate(text.splitlines(), start=1))
            if truth.places is not None:
                bodies = [(n, _APPROX.sub(" = ", b)) for n, b in bodies]
            problems += _inconsistent_steps(bodies, truth.variable, final, alias)
    return problems


def _without_number(line: str) -> str:
    match = _STEP.match(line)
    return match.group(3) if match else line


def _numbered_steps(text: str) -> list[tuple[int, str]]:
    steps = []
    for line in text.splitlines():
        match = _STEP.match(line)
        if match:
            steps.append((int(match.group(1) or match.group(2)), match.group(3).strip()))
    return steps


def _inconsistent_steps(
    bodies: Sequence[tuple[int, str]], variable: str, final: Fraction, alias: Mapping[Fraction, Fraction] = {}
) -> list[str]:
    """Steps whose equation does not hold for the final value: the body and the last line disagree.

    ``alias`` maps a constant side to the value it stands for (a rounding of the final value)."""
    problems = []
    for n, body in bodies:
        math = body.rsplit(":", 1)[-1] if "=" in body.rsplit(":", 1)[-1] else body
        math = re.sub(r"\([^()]*[A-Za-z]{2,}[^()]*\)\s*\.?\s*$", "", math).strip().rstrip(".").strip()
        try:
            sides = parse_chain(math)
        except ExprError:
            continue  # prose, or notation this checker does not read: not evidence either way
        if any(side.variables - {variable} for side in sides):
            continue
        try:
            values = {side({variable: final}) for side in sides if side.variables or not alias}
            values |= {alias.get(c, c) for c in (side({}) for side in sides if alias and not side.variables)}
        except (ZeroDivisionError, ExprError):
            continue
        if len(values) > 1:
            problems.append(f"step {n} ({body[:50]!r}) does not hold for {variable} = {format_fraction(final)}")
    return problems


def _short(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:12])) + (", ..." if len(numbers) > 12 else "")


# -- JSON and prose ---------------------------------------------------------------------------------


class _DuplicateKeys(dict[str, Any]):
    """A JSON object that remembers which keys appeared more than once."""

    duplicates: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> _DuplicateKeys:
    obj = _DuplicateKeys()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def _json_objects(text: str) -> list[_DuplicateKeys]:
    """Every top-level JSON object in ``text`` (inside a code fence if there is one)."""
    fenced = _FENCE.findall(text)
    candidates = fenced if fenced else [text]
    decoder = json.JSONDecoder(object_pairs_hook=_pairs)
    found: list[_DuplicateKeys] = []
    for chunk in candidates:
        pos = chunk.find("{")
        while pos != -1:
            try:
                obj, end = decoder.raw_decode(chunk, pos)
            except json.JSONDecodeError:
                pos = chunk.find("{", pos + 1)
                continue
            if isinstance(obj, _DuplicateKeys):
                found.append(obj)
            pos = chunk.find("{", end)
    return found


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(expected, (int, float)):
        return isinstance(actual, (int, float)) and Fraction(str(actual)) == Fraction(str(expected))
    if isinstance(expected, str):
        return isinstance(actual, str) and actual.strip().casefold() == expected.strip().casefold()
    return bool(expected == actual)


def _check_json(truth: JsonTruth, text: str, reasons: list[str], integrity: list[str]) -> bool:
    objects = _json_objects(text)
    if not objects:
        reasons.append("no JSON object in the answer")
        return False
    if len(objects) > 1 and any(o != objects[0] for o in objects[1:]):
        reasons.append(f"{len(objects)} different JSON objects in the answer; expected exactly one")
        return False
    obj = objects[0]
    if obj.duplicates:
        integrity.append(f"JSON key(s) repeated: {', '.join(obj.duplicates)}")
    missing = [k for k in truth.required_keys if k not in obj]
    if missing:
        reasons.append(f"missing required key(s): {', '.join(missing)}")
    for key, value in truth.expected.items():
        if key in obj and not _same(value, obj[key]):
            reasons.append(f"{key} = {json.dumps(obj[key])}, expected {json.dumps(value)}")
    if not truth.additional_keys:
        extra = [k for k in obj if k not in truth.required_keys]
        if extra:
            reasons.append(f"keys not allowed by the schema: {', '.join(extra)}")
    return not reasons


def _check_prose(truth: ProseTruth, text: str, reasons: list[str]) -> bool:
    stripped = text.strip()
    if stripped.startswith(("{", "```")) or (_json_objects(text) and len(stripped) < 400 and stripped.endswith("}")):
        reasons.append("answered with JSON; prose was requested")
        return False
    lowered = " ".join(text.casefold().split())
    missing = [m for m in truth.mentions if " ".join(m.casefold().split()) not in lowered]
    if missing:
        reasons.append(f"prose does not mention {', '.join(missing)}")
    return not reasons
