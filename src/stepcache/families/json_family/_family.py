"""The ``json`` family: requests for a JSON object, cached and verified key by key.

Each top-level key is one step. Verification is the schema (when the request has one) plus the
required keys; a failing or missing key is regenerated on its own ("strict structured patching"),
with one repair round by default. There is no fallback: JSON content cannot be invented, so an answer
that still fails is refused (the engine raises :class:`~stepcache.UnverifiableAnswer`).

Extra keys: without a schema, keys beyond the required ones are allowed (the prompt only says what
must be there). With a schema, they fail only when the schema forbids them
(``additionalProperties: false`` or ``unevaluatedProperties: false``). Adaptation is stricter: it
carries over only keys the new task names, since an extra key's value cannot be checked.

Untyped constants: where no schema declares a property's type, a ``true``/``false``/``null`` the
prompt writes bare (``paid: false``) is that JSON constant. Answers are coerced to it, and a string
"false" fails verification; a quoted ``"false"`` in the prompt stays a string. Numbers keep the
type the answer gave them (an ISBN may be a string).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..._types import BackendRequest, ChatRequest, Entry, StepCheck, Verification
from .._base import Family, Task
from ._adapt import NOT_LITERAL, adapt_object, bare_literal, literal_of
from ._extract import coerce_value, decode_step, dumps, encode_step, extract_object
from ._spec import JsonSpec, spec_from_request

__all__ = ["JsonFamily"]

_MAX_REASON = 240
_SCHEMA_NAME = re.compile(r"[^a-zA-Z0-9_-]")


class JsonFamily(Family):
    """Requests for a JSON object: ``response_format`` json_object/json_schema, or "JSON with keys ..."."""

    name = "json"
    priority = 5

    def __init__(self, *, max_repairs: int = 1, min_similarity: float = 0.50) -> None:
        if max_repairs < 0:
            raise ValueError(f"max_repairs must be >= 0, got {max_repairs}")
        self.max_repairs = max_repairs
        self.min_similarity = min_similarity

    # -- recognise -------------------------------------------------------------------------------
    def detect(self, request: ChatRequest) -> Task | None:
        spec = spec_from_request(request)
        return None if spec is None else self._task(spec)

    def load_task(self, data: Mapping[str, Any]) -> Task:
        return self._task(JsonSpec.from_data(data))

    def _task(self, spec: JsonSpec) -> Task:
        return Task(family=self.name, data=spec.to_data(), signature=spec.signature, parsed=spec)

    # -- generate --------------------------------------------------------------------------------
    def fresh_request(self, request: ChatRequest, task: Task) -> BackendRequest:
        spec = _spec(task)
        keys = spec.known_keys
        instruction = "Reply with only a JSON object"
        if keys:
            instruction += " with keys " + ", ".join(keys)
        instruction += ". No prose and no code fences."
        return BackendRequest(
            messages=({"role": "system", "content": instruction}, *_messages(request)),
            model=request.model,
            max_tokens=request.max_tokens,
            response_format=request.response_format,
        )

    def segment(self, task: Task, text: str) -> list[str]:
        obj = extract_object(text)
        if obj is None:
            return []
        return _steps(_spec(task), obj)

    def render(self, task: Task, steps: Sequence[str]) -> str:
        spec = _spec(task)
        merged: dict[str, Any] = {}
        for step in steps:
            pair = decode_step(step)
            if pair is not None and pair[0] not in merged:
                merged[pair[0]] = pair[1]
        return json.dumps(_ordered(spec, merged), ensure_ascii=False)

    # -- reuse -----------------------------------------------------------------------------------
    def adapt(self, entry: Entry, cached: Task, task: Task) -> list[str] | None:
        old, new = _spec(cached), _spec(task)
        if not old.prompt and entry.prompt:  # entries written without the prompt in task data
            old = JsonSpec.from_data({**old.to_data(), "prompt": entry.prompt})
        cached_obj: dict[str, Any] = {}
        for step in entry.steps:
            pair = decode_step(step)
            if pair is not None:
                cached_obj.setdefault(pair[0], pair[1])
        if not cached_obj:
            return None
        adapted = adapt_object(cached_obj, old, new)
        return None if adapted is None else _steps(new, adapted)

    def verify(self, task: Task, steps: Sequence[str]) -> Verification:
        spec = _spec(task)
        reasons: dict[int, list[str]] = {}
        index_of: dict[str, int] = {}
        obj: dict[str, Any] = {}
        request_words = _RequestWords(spec.text)
        for i, step in enumerate(steps):
            pair = decode_step(step)
            if pair is None:
                reasons[i] = [f'not one JSON "key": value pair: {_clip(step)}']
            elif pair[0] in obj:
                reasons[i] = [f"duplicate key {pair[0]!r}"]
            else:
                obj[pair[0]] = pair[1]
                index_of[pair[0]] = i
                if _spelled_constant(spec, pair[0], pair[1]):
                    reasons[i] = [
                        f"{pair[0]!r} is the string {json.dumps(pair[1])} but the prompt gives the JSON "
                        f"constant {pair[1]}: write it without quotes"
                    ]
                near = _miscopied(request_words, pair[1])
                if near is not None:
                    reasons.setdefault(i, []).append(
                        f"{pair[0]!r} is {json.dumps(pair[1], ensure_ascii=False)}, which the request does not "
                        f"contain; it gives {json.dumps(near, ensure_ascii=False)}: copy values exactly"
                    )
        problems: list[str] = []
        if not steps:
            problems.append("no JSON object found in the answer")
        missing = [k for k in spec.required if k not in obj]
        problems.extend(f"missing required key {k!r}" for k in missing)
        if spec.validator is not None:
            for error in spec.validator.iter_errors(obj):
                path = list(error.absolute_path)
                message = _clip(error.message)
                if path and path[0] in index_of:
                    where = "".join(f"[{p!r}]" for p in path[1:])
                    reasons.setdefault(index_of[path[0]], []).append(f"{path[0]!r}{where}: {message}")
                elif error.validator == "required" and not path and _only_missing(error, obj, missing):
                    continue  # already reported as a missing key
                elif error.validator in ("additionalProperties", "unevaluatedProperties") and not path:
                    extras = [k for k in obj if spec.forbids(k)]
                    for key in extras:
                        reasons.setdefault(index_of[key], []).append(f"{key!r} is not allowed by the schema")
                    if not extras:
                        problems.append(message)
                else:
                    problems.append(message)
        checks = tuple(StepCheck(i, i not in reasons, "; ".join(reasons.get(i, []))) for i in range(len(steps)))
        return Verification(steps=checks, problems=tuple(dict.fromkeys(problems)))

    # -- repair ----------------------------------------------------------------------------------
    def patch_request(
        self, request: ChatRequest, task: Task, steps: Sequence[str], report: Verification
    ) -> BackendRequest:
        spec = _spec(task)
        keys, kept = _patch_plan(spec, steps, report)
        listed = ", ".join(json.dumps(k, ensure_ascii=False) for k in keys)
        system = "Reply with only a JSON object" + (f" with the keys {listed}." if keys else ".")
        # The verified part goes in as the answer so far (so the new keys stay consistent with it);
        # the last message asks for the missing keys alone.
        so_far = ({"role": "assistant", "content": dumps(kept)},) if kept else ()
        ask = ""
        errors = [s.reason for s in report.steps if not s.ok and s.reason]
        errors += [p for p in report.problems if not p.startswith("missing required key")]
        if errors:
            ask = "The previous answer was rejected: " + "; ".join(errors) + ". "
        if keys:
            ask += f"Return a JSON object with exactly these keys: {listed}."
        else:
            ask += "Return the whole JSON object."
        return BackendRequest(
            messages=(
                {"role": "system", "content": system},
                *_messages(request),
                *so_far,
                {"role": "user", "content": ask},
            ),
            model=request.model,
            max_tokens=request.max_tokens,
            response_format=_patch_format(spec, keys),
        )

    def stitch(self, task: Task, steps: Sequence[str], report: Verification, text: str) -> list[str]:
        spec = _spec(task)
        keys, kept = _patch_plan(spec, steps, report)
        reply = extract_object(text) or {}
        merged = dict(kept)
        for key in keys or reply:  # no keys singled out: the reply is the whole object
            if key in reply:
                merged[key] = reply[key]
        return _steps(spec, merged)

    # fallback: inherited ``None``; JSON content cannot be written without the model.

    # -- audit -----------------------------------------------------------------------------------
    def same_answer(self, task: Task, served: Sequence[str], fresh: Sequence[str]) -> bool | None:
        """The same object once rendered: same keys, strings equal up to case and spacing, numbers equal."""
        objects = [json.loads(self.render(task, steps)) for steps in (served, fresh)]
        return bool(_normal(objects[0]) == _normal(objects[1]))


# -- helpers -------------------------------------------------------------------------------------


def _spec(task: Task) -> JsonSpec:
    if isinstance(task.parsed, JsonSpec):
        return task.parsed
    return JsonSpec.from_data(task.data)


def _messages(request: ChatRequest) -> tuple[dict[str, str], ...]:
    return tuple({"role": m.role, "content": m.content} for m in request.messages)


def _ordered(spec: JsonSpec, obj: Mapping[str, Any]) -> dict[str, Any]:
    """Required keys first (in the task's order), then schema properties, then the rest as given."""
    order = [k for k in spec.known_keys if k in obj] + [k for k in obj if k not in spec.known_keys]
    return {k: obj[k] for k in order}


def _steps(spec: JsonSpec, obj: Mapping[str, Any]) -> list[str]:
    ordered = _ordered(spec, obj)
    out = []
    for key, value in ordered.items():
        value = coerce_value(value, spec.property_schema(key))
        if _spelled_constant(spec, key, value):
            value = literal_of(value)
        out.append(encode_step(key, value))
    return out


_CONSTANTS = frozenset({"true", "false", "null"})


def _spelled_constant(spec: JsonSpec, key: str, value: Any) -> bool:
    """``value`` is the string "false" where the prompt writes the bare ``false`` and no type is declared.

    The rule for untyped values: a ``true``/``false``/``null`` the prompt writes without quotes is
    that JSON constant, not a string. (Numbers are left as the model wrote them: "ISBN 441172717"
    may well be a string.) A schema that declares the property's type decides instead.
    """
    if not isinstance(value, str) or value not in _CONSTANTS:
        return False
    prop = spec.property_schema(key)
    if isinstance(prop, dict) and "type" in prop:
        return False
    return bare_literal(value, spec.text) is not NOT_LITERAL


_WORD = re.compile(r"\w+(?:[-'.]\w+)*", re.UNICODE)


class _RequestWords:
    """The request text, casefolded, and its distinct words; the words are split only when needed."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.folded = text.casefold()
        self._words: list[str] | None = None

    @property
    def words(self) -> list[str]:
        if self._words is None:
            self._words = [str(w) for w in dict.fromkeys(_WORD.findall(self.text))]
        return self._words


def _miscopied(request: _RequestWords, value: Any) -> str | None:
    """The request's word that a one-word string ``value`` is a near-miss copy of, else ``None``.

    A model that extracts a record sometimes "corrects" what it copies ("Lisbon" → "Lisboa"). A value
    is flagged only when the request does not contain it at all and one request word is almost the
    same: equal length ±1, the same first two letters, and a difflib ratio ≥ 0.8. Values the model
    makes up (an email, an occupation) resemble no request word and are left alone.
    """
    if not isinstance(value, str) or not _WORD.fullmatch(value.strip()) or len(value.strip()) < 4:
        return None
    word = value.strip()
    if not any(c.isalpha() for c in word):
        return None  # numbers written as strings may be computed; only words are checked
    if word.casefold() in request.folded:
        return None
    for candidate in request.words:
        if (abs(len(candidate) - len(word)) <= 1 and candidate[:2].casefold() == word[:2].casefold()
                and difflib.SequenceMatcher(None, candidate.casefold(), word.casefold()).ratio() >= 0.8):
            return candidate
    return None


def _normal(value: Any) -> Any:
    """``value`` compared loosely: strings casefolded and space-collapsed, 3 == 3.0, key order ignored."""
    if isinstance(value, str):
        return " ".join(value.casefold().split())
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


def _patch_plan(spec: JsonSpec, steps: Sequence[str], report: Verification) -> tuple[list[str], dict[str, Any]]:
    """The keys to ask the model for (``[]``: the whole object), and the verified key/values kept.

    Failing keys the schema forbids are dropped, not asked for. When the answer fails as a whole
    (e.g. a ``minProperties`` or ``anyOf`` at the root) nothing can be singled out: ask for every key.
    """
    failing = set(report.failing)
    kept: dict[str, Any] = {}
    wanted: list[str] = []
    for i, step in enumerate(steps):
        pair = decode_step(step)
        if pair is None:
            continue
        key, value = pair
        if i in failing:
            if not spec.forbids(key):
                wanted.append(key)
        else:
            kept.setdefault(key, value)
    wanted += [k for k in spec.required if k not in kept]
    keys = list(dict.fromkeys(wanted))
    if not keys:
        keys = list(spec.known_keys) or list(kept)
        kept = {k: v for k, v in kept.items() if k not in keys}
    order = {k: i for i, k in enumerate(spec.known_keys)}
    keys.sort(key=lambda k: order.get(k, len(order)))
    return keys, kept


def _patch_format(spec: JsonSpec, keys: Sequence[str]) -> dict[str, Any]:
    if spec.schema is None:
        return {"type": "json_object"}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {k: spec.properties.get(k, {}) for k in keys},
        "required": list(keys),
        "additionalProperties": False,
    }
    for defs in ("$defs", "definitions"):  # keep "$ref": "#/$defs/..." resolvable
        if defs in spec.schema:
            schema[defs] = spec.schema[defs]
    name = _SCHEMA_NAME.sub("_", spec.schema_name)[:58] + "_patch"
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": spec.strict}}


def _only_missing(error: Any, obj: Mapping[str, Any], missing: Sequence[str]) -> bool:
    names = error.validator_value if isinstance(error.validator_value, list) else []
    return all(k in obj or k in missing for k in names)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"
