"""Single-step extraction of a JSON object from a model's text, and the step encoding.

Models wrap JSON in code fences and prose, leave trailing commas, or answer with a Python ``repr``.
Extraction is strict first and lenient only when the strict parse fails, so a valid object is never
reinterpreted. A step is one top-level ``"key": value`` fragment: the unit that is verified, reused
and patched on its own.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["extract_object", "encode_step", "decode_step", "coerce_value", "dumps"]

_FENCE = re.compile(r"```[ \t]*[\w+.-]*[ \t]*\n?(.*?)```", re.DOTALL)
_MAX_STARTS = 64  # braces tried per text; bounds the work on pathological input
_INT = re.compile(r"[+-]?\d{1,300}")
_NUMBER = re.compile(r"[+-]?(?:\d{1,300}(?:\.\d*)?|\.\d{1,300})(?:[eE][+-]?\d{1,3})?")


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_step(key: str, value: Any) -> str:
    return json.dumps(key, ensure_ascii=False) + ": " + dumps(value)


def decode_step(step: str) -> tuple[str, Any] | None:
    """``(key, value)`` of a step, or ``None`` when it is not exactly one JSON key/value pair."""
    obj = _strict(step.join("{}"))
    if obj is None or len(obj) != 1:
        return None
    ((key, value),) = obj.items()
    return key, value


def extract_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (fenced blocks first), or ``None`` when there is none."""
    # A fenced block counts only when it is one whole object: a fence inside a string value
    # ('{"note": "```"}') ends the block early, and its fragment must not pass for the answer.
    chunks = [(m.group(1), True) for m in _FENCE.finditer(text)] + [(text, False)]
    for chunk, fenced in chunks:
        for candidate in _balanced_objects(chunk):
            if fenced and candidate.strip() != chunk.strip():
                continue
            obj = _strict(candidate)
            if obj is None:
                obj = _lenient(candidate)
            if obj is not None:
                return obj
    return None


def coerce_value(value: Any, prop_schema: Any) -> Any:
    """Trivially safe string → scalar conversions the schema asks for ("34" → 34 for an integer).

    Nothing is coerced when the property also accepts strings: then the string is already valid.
    """
    if not isinstance(value, str) or not isinstance(prop_schema, dict):
        return value
    declared = prop_schema.get("type")
    types = {declared} if isinstance(declared, str) else set(declared) if isinstance(declared, list) else set()
    if not types or "string" in types:
        return value
    s = value.strip()
    if "integer" in types and _INT.fullmatch(s):
        return int(s)
    if "number" in types and _NUMBER.fullmatch(s):
        if _INT.fullmatch(s):
            return int(s)
        number = float(s)
        if math.isfinite(number):
            return number
    if "boolean" in types and s.lower() in ("true", "false", "yes", "no"):
        return s.lower() in ("true", "yes")
    return value


# -- parsing -----------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _strict(text: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _lenient(text: str) -> dict[str, Any] | None:
    """Trailing commas, then Python literals (single quotes, True/False/None)."""
    without_commas = _outside_strings(text, lambda s: re.sub(r",(\s*[}\]])", r"\1", s))
    obj = _strict(without_commas)
    if obj is not None:
        return obj
    pythonic = _outside_strings(
        text, lambda s: re.sub(r"\b(true|false|null)\b", lambda m: _PY_CONSTANTS[m.group(1)], s)
    )
    try:
        value = ast.literal_eval(pythonic)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    try:
        plain = _plain_json(value)
    except ValueError:
        return None
    return plain if isinstance(plain, dict) else None


_PY_CONSTANTS = {"true": "True", "false": "False", "null": "None"}


def _plain_json(value: Any) -> Any:
    """``value`` as JSON data; raises ValueError for sets, bytes, non-string keys, NaN, ..."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("non-finite number")
        return value
    if isinstance(value, (list, tuple)):
        return [_plain_json(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError("non-string key")
        return {k: _plain_json(v) for k, v in value.items()}
    raise ValueError(f"{type(value).__name__} is not JSON data")


def _outside_strings(text: str, transform: Any) -> str:
    """Apply ``transform`` to the parts of ``text`` that are not inside '...' or "..." literals."""
    out: list[str] = []
    plain_start = 0
    for start, end in _string_spans(text):
        out.append(transform(text[plain_start:start]))
        out.append(text[start:end])
        plain_start = end
    out.append(transform(text[plain_start:]))
    return "".join(out)


def _string_spans(text: str) -> Iterator[tuple[int, int]]:
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if _opens_string(text, i):
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            yield i, min(j + 1, n)
            i = j + 1
        else:
            i += 1


def _opens_string(text: str, i: int) -> bool:
    ch = text[i]
    if ch == '"':
        return True
    # An apostrophe between letters ("it's") is prose, not a Python string opener.
    return ch == "'" and not (0 < i < len(text) - 1 and text[i - 1].isalpha() and text[i + 1].isalpha())


def _balanced_objects(text: str) -> Iterator[str]:
    """Candidate ``{...}`` spans, left to right; quotes inside strings do not count as braces."""
    pos = 0
    for _ in range(_MAX_STARTS):
        start = text.find("{", pos)
        if start < 0:
            return
        end = _matching_brace(text, start)
        if end is None:
            pos = start + 1
            continue
        yield text[start : end + 1]
        pos = end + 1


def _matching_brace(text: str, start: int) -> int | None:
    depth = 0
    quote: str | None = None
    i, n = start, len(text)
    while i < n:
        ch = text[i]
        if quote is not None:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif _opens_string(text, i):
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None
