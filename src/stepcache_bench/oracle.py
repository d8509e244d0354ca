"""A scripted "model" that answers from the workload's ground truth: right, or wrong the way models are.

``Oracle(items)`` is a responder for :class:`~stepcache.ScriptedBackend`::

    backend = ScriptedBackend(responder=Oracle(items, error_rate=0.0, seed=0))

It finds the workload item a :class:`~stepcache.BackendRequest` is about — StepCache's own model calls
wrap the caller's messages (an added system message, a ``Problem:`` quote, an extra turn asking for
particular keys), so it looks for the item whose user turns all occur in the request, preferring the
longest match — and answers from that item's truth:

* linear — a short numbered derivation (the equation, the collected form ``ax = b``, the value), every
  line a true equation; the value exact (integer or reduced fraction), a decimal when the caller asked
  for one, rounded / boxed / alone when the caller asked for that. "Continue the solution from step N"
  continues from step N.
* JSON — the expected object; only the keys a repair call asks for ("exactly these keys: ...", or the
  properties of its ``json_schema``).
* evaluation, quadratic, system, prose — a short answer the checker accepts.
* arithmetic (word problems) — the reference solution, numbered; "Continue the solution from step N"
  continues from its N-th line.

With ``error_rate > 0`` it errs on that share of calls, chosen by a hash of ``(seed, request text)`` so
a run is reproducible, making the mistakes real models make: an arithmetic slip carried to the final
value, or a wrong final value (a word problem: its last calculation's result off, carried to the
answer, or only the answer misstated); a JSON value taken from a neighbouring field, a number off by a digit,
a date or time shifted (or a date where a time belongs), a boolean flipped, a truncated ID, a one-letter
typo, a required key missing, null for a value the text contains; a wrong number elsewhere.

A request that matches no item raises :class:`UnknownRequest` rather than guessing.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from stepcache import BackendError, BackendRequest

from ._expr import coefficient, difference, format_fraction, linear_coefficients, parse_chain, show
from .workload import (
    ArithmeticTruth,
    EvaluationTruth,
    JsonTruth,
    LinearTruth,
    ProseTruth,
    QuadraticTruth,
    SystemTruth,
    WorkloadItem,
)

__all__ = ["Oracle", "UnknownRequest"]

_SPACE = re.compile(r"\s+")
_CONTINUE = re.compile(r"continue the solution from step (\d+)", re.IGNORECASE)
_EXACT_KEYS = re.compile(r"exactly these keys:\s*(.+?)(?:\.\s|\.?$)", re.IGNORECASE | re.MULTILINE)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ID = re.compile(r"^[A-Za-z]{1,5}-(?=.*\d)([A-Za-z0-9-]+)$")
_NUMBER_IN_TEXT = re.compile(r"(?<![\w.-])\d[\d,]*(?:\.\d+)?")


class UnknownRequest(BackendError):
    """The oracle was asked about something that is none of its workload items."""


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


class Oracle:
    """Callable ``BackendRequest → str`` that answers the workload ``items`` from their truth.

    ``error_rate`` is the share of calls answered wrong (0 = always right, 1 = always wrong).
    """

    #: What it says about an item without a truth (a mutation whose answer nothing determines).
    REFUSAL = "I cannot give a single answer: the question as stated does not determine one."

    def __init__(self, items: Iterable[WorkloadItem], error_rate: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1, got {error_rate}")
        self.error_rate = error_rate
        self.seed = seed
        self._items: list[tuple[WorkloadItem, tuple[str, ...], tuple[str, ...]]] = []
        for item in items:
            users = tuple(_normal(m.get("content", "")) for m in item.request.messages if m.get("role") == "user")
            others = tuple(_normal(m.get("content", "")) for m in item.request.messages if m.get("role") != "user")
            self._items.append((item, tuple(u for u in users if u), tuple(o for o in others if o)))
        if not self._items:
            raise ValueError("Oracle needs at least one workload item")
        if all(item.truth is None for item, _, _ in self._items):
            raise ValueError("no item has a truth; the oracle answers only from ground truth")

    # -- which item -------------------------------------------------------------------------------
    def items_for(self, request: BackendRequest) -> list[WorkloadItem]:
        """The items ``request`` may be about, best first; more than one only when they tie.

        An item fits when all its user turns occur in the request. Of those, items whose system turns
        occur too win (a wrapping that changed only the caller's system prompt keeps the user text),
        then items that have every key the call asks for (a repair asks for the keys that failed;
        only the item whose keys they are can be meant), then the longest match, then the same
        ``response_format``.
        """
        text = _normal("\n".join(m.get("content", "") for m in request.messages))
        matching = [k for k in self._items if k[1] and all(u in text for u in k[1])]
        if not matching:
            last = next((m.get("content", "") for m in reversed(request.messages) if m.get("role") == "user"), "")
            raise UnknownRequest(
                f"no workload item's user text occurs in this request (last user turn: {last[:80]!r}); "
                "the oracle answers only the items it was built with: pass them to Oracle(items)"
            )
        fitting = [k for k in matching if all(o in text for o in k[2])] or matching
        asked = _keys_asked(request, text)

        def score(known: tuple[WorkloadItem, tuple[str, ...], tuple[str, ...]]) -> tuple[bool, int, bool]:
            item, users, others = known
            return (
                asked <= _keys_of(item),
                sum(map(len, users + others)),
                item.request.response_format == request.response_format,
            )

        best = max(map(score, fitting))
        return [k[0] for k in fitting if score(k) == best]

    def item_for(self, request: BackendRequest) -> WorkloadItem:
        """The one item ``request`` is about; :class:`UnknownRequest` when items with different truths tie."""
        best = self.items_for(request)
        if any(other.truth != best[0].truth for other in best[1:]):
            raise UnknownRequest(
                "the request matches items with different truths equally well: "
                f"{', '.join(i.id for i in best)}; give them distinct user text"
            )
        return best[0]

    # -- answer -----------------------------------------------------------------------------------
    def __call__(self, request: BackendRequest) -> str:
        item = self.item_for(request)
        if item.truth is None:
            return self.REFUSAL
        whole = "\n".join(m.get("content", "") for m in request.messages)
        digest = hashlib.sha256(f"{self.seed}\0{whole}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        wrong = rng.random() < self.error_rate
        truth = item.truth
        if isinstance(truth, LinearTruth):
            return _linear(truth, whole, wrong, rng)
        if isinstance(truth, JsonTruth):
            return _json(truth, request, item.prompt, whole, wrong, rng)
        if isinstance(truth, EvaluationTruth):
            value = Fraction(truth.value) + (rng.choice((-1, 1)) if wrong else 0)
            shown = f" {truth.expression}" if truth.expression else ""
            return f"1. Evaluate{shown} with the given numbers.\n2. The result is {show(value, decimal=True)}."
        if isinstance(truth, QuadraticTruth):
            return _quadratic(truth, wrong, rng)
        if isinstance(truth, SystemTruth):
            return _system(truth, wrong, rng)
        if isinstance(truth, ArithmeticTruth):
            return _arithmetic(truth, whole, wrong, rng)
        assert isinstance(truth, ProseTruth)
        return _prose(truth, wrong, rng)


# -- word problems ----------------------------------------------------------------------------------

_RESULT = re.compile(r"=\s*([$€£]?\s?)(\d[\d,]*(?:\.\d+)?)")
_ANSWER_LINE = re.compile(r"^The answer is\s+(.+?)\.?$")


def _arithmetic(truth: ArithmeticTruth, whole: str, wrong: bool, rng: random.Random) -> str:
    lines = [line.strip() for line in truth.solution.splitlines() if line.strip()]
    if not lines:
        return f"The answer is {truth.answer}."
    if wrong:
        lines = _slip(lines, Fraction(truth.answer), rng)
    continuing = _CONTINUE.search(whole)
    start = int(continuing.group(1)) if continuing else 1
    shown = lines[start - 1 :] or lines[-1:]
    return "\n".join(f"{n}. {line}" for n, line in enumerate(shown, start))


def _slip(lines: list[str], answer: Fraction, rng: random.Random) -> list[str]:
    """A wrong solution: the last calculation's result off by a little and the answer following it
    (an arithmetic slip carried to the end), or only the stated answer off."""
    out = list(lines)
    off = Fraction(rng.choice((-10, -2, -1, 1, 2, 10)))
    wrong = answer + off if answer + off >= 0 else answer + abs(off)
    last_calc = next((i for i in range(len(out) - 1, -1, -1) if _RESULT.search(out[i])), None)
    if last_calc is not None and rng.random() < 0.6:
        matches = list(_RESULT.finditer(out[last_calc]))
        m = matches[-1]
        value = Fraction(m.group(2).replace(",", ""))
        if value == answer:
            out[last_calc] = out[last_calc][: m.start(2)] + show(wrong, decimal=True) + out[last_calc][m.end(2) :]
    for i, line in enumerate(out):
        if _ANSWER_LINE.match(line):
            out[i] = f"The answer is {show(wrong, decimal=True)}."
    return out


# -- linear -----------------------------------------------------------------------------------------


def _linear(truth: LinearTruth, whole: str, wrong: bool, rng: random.Random) -> str:
    v = truth.variable
    solution = Fraction(truth.solution)
    sides = parse_chain(truth.equation) if truth.equation else []
    coefficients = linear_coefficients(difference(sides), v) if len(sides) == 2 else None
    a, rhs = (Fraction(1), solution) if coefficients is None else (coefficients[0], -coefficients[1])
    if a < 0:
        a, rhs = -a, -rhs
    value = solution
    slip = wrong and rng.random() < 0.5 and a != 1  # an arithmetic slip in the collected form, carried on
    if wrong:
        value = solution + rng.choice((-2, -1, 1, 2))
    steps = [truth.equation] if truth.equation else []
    collected = f"{coefficient(a)}{v} = {show(a * value if slip else rhs, decimal=True)}"
    if a != 1 and _normal(collected) not in map(_normal, steps):
        steps.append(collected)
    steps.append(_final_line(truth, value))
    continuing = _CONTINUE.search(whole)
    if truth.answer == "final" and not continuing:
        return steps[-1]
    start = int(continuing.group(1)) if continuing else 1
    steps = steps[start - 1 :] or steps[-1:]
    return "\n".join(f"{n}. {step}" for n, step in enumerate(steps, start))


def _final_line(truth: LinearTruth, value: Fraction) -> str:
    """``x = 5``, ``x = \\boxed{5}``, ``x = 7/3 ≈ 2.33``: the value as the caller asked for it."""
    v = truth.variable
    if truth.places is None:
        number = show(value, decimal=truth.format == "decimal")
        return f"{v} = \\boxed{{{number}}}" if truth.boxed else f"{v} = {number}"
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    rounded = f"{exact.quantize(Decimal(1).scaleb(-truth.places), rounding=ROUND_HALF_UP):f}"
    shown = f"\\boxed{{{rounded}}}" if truth.boxed else rounded
    if Fraction(rounded) == value:
        return f"{v} = {shown}"
    return f"{v} ≈ {shown}" if truth.answer == "final" else f"{v} = {format_fraction(value)} ≈ {shown}"


# -- JSON -------------------------------------------------------------------------------------------


def _keys_asked(request: BackendRequest, text: str) -> set[str]:
    """The JSON keys a call names: the keys it asks for (a repair's "exactly these keys", a
    json_schema's properties) and the keys of the answer so far that a repair shows as an
    assistant turn."""
    keys: set[str] = set()
    for message in request.messages:
        if message.get("role") == "assistant":
            try:
                so_far = json.loads(message.get("content", ""))
            except ValueError:
                continue
            if isinstance(so_far, dict):
                keys |= set(so_far)
    if match := _EXACT_KEYS.search(text):
        return keys | {k.strip().strip("\"'`") for k in match.group(1).split(",") if k.strip().strip("\"'`")}
    rf = request.response_format or {}
    if rf.get("type") == "json_schema":
        properties = (rf.get("json_schema") or {}).get("schema", {}).get("properties")
        if isinstance(properties, dict):
            keys |= set(properties)
    return keys


def _keys_of(item: WorkloadItem) -> set[str]:
    """Every key the item's answer may hold: its truth's keys and its own schema's properties."""
    keys: set[str] = set()
    if isinstance(item.truth, JsonTruth):
        keys |= set(item.truth.required_keys) | set(item.truth.expected)
    rf = item.request.response_format or {}
    if rf.get("type") == "json_schema":
        properties = (rf.get("json_schema") or {}).get("schema", {}).get("properties")
        if isinstance(properties, dict):
            keys |= set(properties)
    return keys


def _asked_keys(truth: JsonTruth, request: BackendRequest, whole: str) -> list[str]:
    """The keys this call asks for: a repair's "exactly these keys", a json_schema's properties, else all."""
    if match := _EXACT_KEYS.search(whole):
        return [k.strip().strip("\"'`") for k in match.group(1).split(",") if k.strip().strip("\"'`")]
    rf = request.response_format or {}
    if rf.get("type") == "json_schema":
        properties = (rf.get("json_schema") or {}).get("schema", {}).get("properties")
        if isinstance(properties, dict) and properties:
            return list(properties)
    return list(truth.required_keys) + [k for k in truth.expected if k not in truth.required_keys]


def _json(truth: JsonTruth, request: BackendRequest, prompt: str, whole: str, wrong: bool, rng: random.Random) -> str:
    obj: dict[str, Any] = {k: truth.expected.get(k) for k in _asked_keys(truth, request, whole)}
    if wrong:
        _json_mistake(obj, truth, prompt, rng)
    return json.dumps(obj, ensure_ascii=False)


def _json_mistake(obj: dict[str, Any], truth: JsonTruth, prompt: str, rng: random.Random) -> None:
    """Change ``obj`` the way a model gets a record wrong; the checker must notice every one."""
    mistakes: list[Callable[[], None]] = []
    for key, value in obj.items():
        for make in (_neighbour, _off_by_digit, _shifted, _flipped, _truncated, _typo, _nulled):
            fix = make(obj, key, value, prompt)
            if fix is not None:
                mistakes.append(fix)
    required = [k for k in obj if k in truth.required_keys] or list(obj)
    if required:
        key = rng.choice(required)
        mistakes.append(lambda: obj.pop(key))
    if mistakes:
        rng.choice(mistakes)()
    else:  # nothing was asked for: answer with a key nobody wanted
        obj["note"] = "n/a"


_Mistake = Callable[[], None] | None


def _set(obj: dict[str, Any], key: str, value: Any) -> Callable[[], None]:
    def apply() -> None:
        obj[key] = value

    return apply


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().casefold() != b.strip().casefold()
    return type(a) is not type(b) or a != b


def _neighbour(obj: dict[str, Any], key: str, value: Any, prompt: str) -> _Mistake:
    """A value from the next field over: the subtotal for the total, the city for the email."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        found = [m.group(0) for m in _NUMBER_IN_TEXT.finditer(prompt)]
        alike = [t for t in found if ("." in t) == isinstance(value, float)] + found  # 79.90 for 87.40 first
        other = next((n for n in map(_number, alike) if n is not None and n != value), None)
        return None if other is None else _set(obj, key, int(other) if isinstance(value, int) else float(other))
    if isinstance(value, str):
        keys = list(obj)
        others = [k for k in keys if k != key and isinstance(obj[k], str) and _differs(obj[k], value)]
        # the nearest field of the same shape (another date for a date), else the nearest string field
        others.sort(key=lambda k: (_shape(obj[k]) != _shape(value), abs(keys.index(k) - keys.index(key))))
        return _set(obj, key, obj[others[0]]) if others else None
    return None


def _shape(value: str) -> str:
    return "date" if _DATE.match(value) else "time" if _TIME.match(value) else "@" if "@" in value else "text"


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _off_by_digit(obj: dict[str, Any], key: str, value: Any, prompt: str) -> _Mistake:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    text = str(value)
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    i = digits[-1]
    changed = text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1 :]
    return _set(obj, key, int(changed) if isinstance(value, int) else float(changed))


def _shifted(obj: dict[str, Any], key: str, value: Any, prompt: str) -> _Mistake:
    """A date a day off, a time an hour off, or a date where a time belongs."""
    if not isinstance(value, str):
        return None
    if match := _DATE.match(value):
        year, month, day = (int(g) for g in match.groups())
        return _set(obj, key, f"{year:04d}-{month:02d}-{day % 28 + 1:02d}")
    if match := _TIME.match(value):
        date = next((o for o in obj.values() if isinstance(o, str) and _DATE.match(o)), None)
        if date is not None:
            return _set(obj, key, date)
        return _set(obj, key, f"{(int(match.group(1)) + 1) % 24:02d}:{match.group(2)}")
    return None


def _flipped(obj: dict[str, Any], key: str, value: Any, prompt: str) -> _Mistake:
    return _set(obj, key, not value) if isinstance(value, bool) else None


def _truncated(obj: dict[str, Any], key: str, value: Any, prompt: str) -> _Mistake:
    """``"68241"`` for ``"HC-68241"``."""
    if isinstance(value, str) and (match := _ID.match(value)):
        return _set(obj, key, match.group(1))
    return None


def _typo(obj: dict[str, Any], key: str, value: Any, prompt: str) -> _Mistake:
    if not isinstance(value, str):
        return None
    letters = [i for i, c in enumerate(value) if c.isascii() and c.isalpha()]
    if not letters:
        return None
    i = letters[len(letters) // 2]
    swapped = "a" if value[i].lower() != "a" else "e"
    swapped = swapped.upper() if value[i].isupper() else swapped
    return _set(obj, key, value[:i] + swapped + value[i + 1 :])


def _nulled(obj: dict[str, Any], key: str, value: Any, prompt: str) -> _Mistake:
    return None if value is None else _set(obj, key, None)


# -- the other truths -------------------------------------------------------------------------------


def _quadratic(truth: QuadraticTruth, wrong: bool, rng: random.Random) -> str:
    v = truth.variable
    roots = [Fraction(r) for r in dict.fromkeys(truth.roots)]
    factors = "".join(f"({v} {'-' if r >= 0 else '+'} {format_fraction(abs(r))})" for r in roots)
    if wrong:
        i = rng.randrange(len(roots))
        roots[i] += 2 * max(abs(r) for r in roots) + 1  # above every root: never lands on another one
    stated = " or ".join(f"{v} = {format_fraction(r)}" for r in roots)
    return f"1. Rearrange and factor: {factors} = 0\n2. {stated}"


def _system(truth: SystemTruth, wrong: bool, rng: random.Random) -> str:
    values = {name: Fraction(value) for name, value in truth.solution.items()}
    if wrong:
        name = rng.choice(sorted(values))
        values[name] += rng.choice((-1, 1))
    lines = list(truth.equations) + [f"{name} = {format_fraction(value)}" for name, value in values.items()]
    return "\n".join(f"{n}. {line}" for n, line in enumerate(lines, 1))


def _prose(truth: ProseTruth, wrong: bool, rng: random.Random) -> str:
    mentions = list(truth.mentions)
    if wrong:
        with_digits = [i for i, m in enumerate(mentions) if any(c.isdigit() for c in m)]
        if not with_digits:
            return json.dumps({"answer": ", ".join(mentions) or "n/a"})  # JSON where prose was asked for
        i = rng.choice(with_digits)
        j = max(k for k, c in enumerate(mentions[i]) if c.isdigit())
        mentions[i] = mentions[i][:j] + str((int(mentions[i][j]) + 1) % 10) + mentions[i][j + 1 :]
    return f"In short: {'; '.join(mentions)}." if mentions else "There is not much more to say about it."
