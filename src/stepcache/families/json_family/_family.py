"""The ``json`` family: requests for a JSON object, cached and verified key by key.

Each top-level key is one step. Verification is the schema (when the request has one), the nesting
the prompt describes, the required keys, and *grounding* (``_ground.py``): every value is checked
against the request text it claims to come from, and a value the text contradicts fails its step.
A failing or missing key is regenerated on its own ("strict structured patching"), with one repair
round by default. There is no fallback: JSON content cannot be invented.

Two severities: invalid JSON, schema or nesting violations and missing keys are proven failures, and
an answer that still has one after the repair is refused (the engine raises
:class:`~stepcache.UnverifiableAnswer`). A grounding conflict is a *doubt* (``StepCheck.doubt``): the
text seems to say otherwise, but the check can be wrong. A model answer whose only failures are
doubts after the repair is served, marked in ``Result.detail``, and never stored.

Keys and values: a cached value moves to another key only when the names mean the same (``_keys.py``:
``name`` → ``full_name``, ``dob`` → ``date_of_birth``, aliases) or the new text labels the value
with the new key; ``JsonFamily(aliases=[{"email", "inbox"}])`` adds alias groups.

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

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..._types import BackendRequest, ChatRequest, Entry, StepCheck, Verification
from .._base import Adaptation, Family, SemanticChange, Task
from ._adapt import NOT_LITERAL, bare_literal, literal_of
from ._carry import Declined, adapt_object, derived
from ._extract import coerce_value, decode_step, dumps, encode_step, extract_object
from ._ground import CONFLICT, GROUNDED, Grounder
from ._keys import BOOLEAN, CODE, DATE, ID, MONEY, NUMBER, PHONE, TIME, KeyNames, key_words
from ._patterns import bool_word, parse_date, parse_number, parse_time
from ._program import MISSING, anchored, describe, learn, programs_from_data, run
from ._spec import JsonSpec, spec_from_request

__all__ = ["JsonFamily"]

_MAX_REASON = 240
#: Spec memo key: the keys the model answered in this request (a patch asks for some keys only).
_MODEL_KEYS = "model_keys"
_SCHEMA_NAME = re.compile(r"[^a-zA-Z0-9_-]")


class JsonFamily(Family[JsonSpec]):
    """Requests for a JSON object: ``response_format`` json_object/json_schema, or "JSON with keys ..."."""

    name = "json"
    priority = 5

    def __init__(
        self, *, max_repairs: int = 1, min_similarity: float = 0.50, aliases: Iterable[Iterable[str]] = ()
    ) -> None:
        """``aliases``: extra groups of key names that mean the same (``[{"email", "inbox"}]``), on
        top of the built-ins in ``_keys.BUILTIN_ALIASES``."""
        if max_repairs < 0:
            raise ValueError(f"max_repairs must be >= 0, got {max_repairs}")
        self.max_repairs = max_repairs
        self.min_similarity = min_similarity
        self.names = KeyNames(aliases)

    # -- recognise -------------------------------------------------------------------------------
    def detect(self, request: ChatRequest) -> Task[JsonSpec] | None:
        spec = spec_from_request(request)
        return None if spec is None else self._task(spec)

    def load_task(self, data: Mapping[str, Any]) -> Task[JsonSpec]:
        return self._task(JsonSpec.from_data(data))

    def _task(self, spec: JsonSpec) -> Task[JsonSpec]:
        return Task(family=self.name, data=spec.to_data(), signature=spec.signature, parsed=spec)

    # -- generate --------------------------------------------------------------------------------
    def fresh_request(self, request: ChatRequest, task: Task[JsonSpec]) -> BackendRequest:
        """The caller's own request, unchanged: it already asks for JSON with these keys (that is how
        the family recognised it), or its ``response_format`` does. A miss costs what the bare request
        costs; answers in prose or code fences are read all the same, and a failing key is repaired."""
        return BackendRequest(
            messages=tuple({"role": m.role, "content": m.content} for m in request.messages),
            model=request.model,
            max_tokens=request.max_tokens,
            response_format=request.response_format,
        )

    def retrieval_text(self, request: ChatRequest, task: Task[JsonSpec]) -> str:
        """A document is found by its template: its text with every value masked (dates, numbers,
        emails, IDs, field values), so a new document of a known layout is near its entry whatever
        its values. Anything else is found by its prompt."""
        spec = _spec(task)
        if not spec.document:
            return request.prompt
        text, index = spec.record_text, spec.index
        spans = sorted(
            {(f.start, f.end) for f in index.fields}
            | {
                (f.start, f.end)
                for f in (*index.dates, *index.times, *index.emails, *index.urls, *index.phones, *index.numbers)
            }
        )
        out, cut = [], 0
        for start, end in spans:
            if start >= cut:
                out.append(text[cut:start])
                out.append("#")
                cut = end
            else:
                cut = max(cut, end)
        out.append(text[cut:])
        return "".join(out)

    def segment(self, task: Task[JsonSpec], text: str) -> list[str]:
        obj = extract_object(text)
        if obj is None:
            return []
        return _steps(_spec(task), obj)

    def render(self, task: Task[JsonSpec], steps: Sequence[str]) -> str:
        spec = _spec(task)
        merged: dict[str, Any] = {}
        for step in steps:
            pair = decode_step(step)
            if pair is not None and pair[0] not in merged:
                merged[pair[0]] = pair[1]
        return json.dumps(_ordered(spec, merged), ensure_ascii=False)

    # -- reuse -----------------------------------------------------------------------------------
    def prepare(self, task: Task[JsonSpec], steps: Sequence[str], source: Entry | None = None) -> dict[str, Any]:
        """Each key's grounding evidence and extraction program (``_program.py``).

        A program is *confirmed* when two independent model answers agree with it: ``source``'s program
        for the key (learned from an earlier document of this layout) reads, from this document, the
        value the model answered for it in this request. A program that served this answer's value is
        kept as it was. Only confirmed programs serve values without the model (:meth:`adapt`).
        """
        spec = _spec(task)
        obj = _object(steps)
        grounder = self._grounder(spec, obj)
        grounding = {k: grounder.check(k, v, spec.property_schema(k), obj) for k, v in obj.items()}
        answered = spec.memo(_MODEL_KEYS)
        from_model = set(obj) if answered is None else set(answered)
        earlier = programs_from_data((source.prepared if source is not None else {}).get("programs"))
        programs: dict[str, dict[str, Any]] = {}
        for key, value in obj.items():
            schema = spec.property_schema(key)
            context = self._readings(grounder, key, schema, obj, value)
            known = earlier.get(key)
            read = MISSING if known is None else run(grounder.index, known, **context)
            if known is not None and read == value and (known.confirmed or key in from_model):
                programs[key] = replace(known, confirmed=True).to_data()
                continue
            if known is not None and known.confirmed and read is MISSING:
                # A document without the line the program reads ("DRIVER" with no email, a branch
                # address of more lines): the program still holds for the layout's other documents,
                # better than one learned from this document alone.
                programs[key] = known.to_data()
                continue
            if value is not None and grounding[key].status != GROUNDED and not isinstance(value, bool):
                continue  # a value the text does not hold where its key points is not learned
            learned = learn(grounder.index, key, value, **context, names_key=_namer(key))
            if learned is not None:
                programs[key] = learned.to_data()
        return {"grounding": {k: e.to_data() for k, e in grounding.items()}, "programs": programs}

    def _readings(
        self, grounder: Grounder, key: str, schema: Any, obj: Mapping[str, Any], value: Any
    ) -> dict[str, Any]:
        """What a program for ``key`` may need from grounding: a visible absence, a yes/no in words."""
        return {
            "absent": value is None and grounder.absent(key, schema, obj),
            "phrased": grounder.phrased(key) if isinstance(value, bool) or value is None else None,
        }

    def adapt(self, entry: Entry, cached: Task[JsonSpec], task: Task[JsonSpec]) -> Adaptation | SemanticChange:
        old, new = _spec(cached), _spec(task)
        if not old.prompt and entry.prompt:  # entries written without the prompt in task data
            old = JsonSpec.from_data({**old.to_data(), "prompt": entry.prompt})
        cached_obj = _object(entry.steps)
        if not cached_obj:
            return SemanticChange("the cached answer holds no JSON object")
        grounders = (self._grounder(old, cached_obj), self._grounder(new, cached_obj))
        carried = adapt_object(cached_obj, old, new, self.names, grounders)
        if isinstance(carried, Declined) and carried.final:
            return SemanticChange(carried.reason)
        values: dict[str, Any] = {} if isinstance(carried, Declined) else dict(carried)
        notes = [] if not isinstance(carried, Declined) else [carried.reason]
        read, located, tried = self._read_programs(entry, new, grounders[1], values, notes)
        if new.document and values and not _same_document(old, new):
            # One model answer's slip (a number where the document's digits are a string, a value
            # off by a field) would be carried into every later document of the layout: there a
            # value is served without the model only where a program two answers agreed on reads it.
            unconfirmed = [k for k in values if k not in read]
            for key in unconfirmed:
                del values[key]
            if unconfirmed:
                notes.append(f"{', '.join(map(repr, unconfirmed))}: carried by one answer only; asked again")
        if isinstance(carried, Declined) and (not tried or located * 2 < tried):
            # The word diff cannot follow the change, and the entry's programs do not find their
            # anchors here: another layout, or another request.
            return SemanticChange(carried.reason)
        values.update(read)
        if not values:
            # Nothing to carry or read (programs not confirmed yet): answered fresh, and the fresh
            # answer confirms the programs that read the same values (prepare with this entry).
            return SemanticChange("; ".join(notes) or "nothing of the cached answer holds here")
        return Adaptation(_steps(new, values), tuple(notes))

    def _read_programs(
        self, entry: Entry, new: JsonSpec, grounder: Grounder, carried: dict[str, Any], notes: list[str]
    ) -> tuple[dict[str, Any], int, int]:
        """The values ``entry``'s confirmed programs read from ``new``'s record, how many anchored
        programs found their anchor, and how many there were. A value the word diff carried and a
        program reads otherwise is dropped: neither is certain then."""
        programs = programs_from_data(entry.prepared.get("programs"))
        read: dict[str, Any] = {}
        located = tried = 0
        for key in new.known_keys:
            program = programs.get(key)
            if program is None:
                continue
            if program.how in ("field", "after"):
                tried += 1
                located += anchored(grounder.index, program)
            context = self._readings(grounder, key, new.property_schema(key), carried, None)
            value = run(grounder.index, program, **context)
            if value is MISSING:
                if key not in carried:
                    notes.append(f"{key!r}: {describe(program)} finds no value here")
            elif key in carried and program.confirmed and not _same_value(carried[key], value):
                del carried[key]  # two ways of reading the document disagree: neither is certain
                notes.append(f"{key!r}: the cached answer's value and {describe(program)} disagree")
            elif program.confirmed:
                read[key] = value
            elif key not in carried:
                notes.append(f"{key!r}: {describe(program)} is confirmed by one answer only; asked again")
        return read, located, tried

    def verify(self, task: Task[JsonSpec], steps: Sequence[str]) -> Verification:
        spec = _spec(task)
        reasons: dict[int, list[str]] = {}  # proven failures
        doubts: dict[int, list[str]] = {}  # grounding conflicts
        index_of: dict[str, int] = {}
        obj: dict[str, Any] = {}
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
        problems: list[str] = []
        if not steps:
            problems.append("no JSON object found in the answer")
        missing = [k for k in spec.required if k not in obj]
        problems.extend(f"missing required key {k!r}" for k in missing)
        for validator in (spec.validator, spec.shape_validator):
            if validator is not None:
                problems.extend(self._schema_errors(spec, validator, obj, index_of, missing, reasons))
        grounder = self._grounder(spec, obj)
        for key, i in index_of.items():
            evidence = grounder.check(key, obj[key], spec.property_schema(key), obj)
            if evidence.status == CONFLICT:
                doubts.setdefault(i, []).append(evidence.reason)
            hint = (spec.hints or {}).get(key)
            if (
                hint == {"type": "boolean"}
                and isinstance(obj[key], (str, int, float))
                and not isinstance(obj[key], bool)
            ):
                # "gift_wrap (true or false)" answered "No": the words the document uses, not the
                # type asked for. A doubt, not a proof: the hint is read from the prompt's words.
                doubts.setdefault(i, []).append(
                    f"{key!r} is {json.dumps(obj[key])}, but the request asks for true or false"
                )
        checks = tuple(
            StepCheck(
                i,
                i not in reasons and i not in doubts,
                "; ".join(reasons.get(i, []) + doubts.get(i, [])),
                doubt=i in doubts and i not in reasons,
            )
            for i in range(len(steps))
        )
        return Verification(steps=checks, problems=tuple(dict.fromkeys(problems)))

    @staticmethod
    def _schema_errors(
        spec: JsonSpec,
        validator: Any,
        obj: Mapping[str, Any],
        index_of: Mapping[str, int],
        missing: Sequence[str],
        reasons: dict[int, list[str]],
    ) -> list[str]:
        """Schema errors pinned to their top-level key where they have one; the rest as problems."""
        problems: list[str] = []
        for error in validator.iter_errors(obj):
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
        return problems

    def _grounder(self, spec: JsonSpec, obj: Mapping[str, Any]) -> Grounder:
        """The grounder of ``spec``'s record text, built once per spec (verify runs per candidate)."""
        keys = spec.known_keys or tuple(obj)
        memo_key = ("grounder", id(self.names), keys)
        grounder = spec.memo(memo_key)
        if not isinstance(grounder, Grounder):
            # Computed values are what the text asks for apart from the key names: "items_count" is a
            # count the record states ("ordered 5 items"), "total including tax" is computed.
            grounder = Grounder(
                spec.record_text, keys, self.names, derived=derived(spec, stated=spec.known_keys), index=spec.index
            )
            spec.remember(memo_key, grounder)
        return grounder

    # -- repair ----------------------------------------------------------------------------------
    def patch_request(
        self, request: ChatRequest, task: Task[JsonSpec], steps: Sequence[str], report: Verification
    ) -> BackendRequest:
        spec = _spec(task)
        keys, kept = _patch_plan(spec, steps, report)
        listed = ", ".join(json.dumps(k, ensure_ascii=False) for k in keys)
        # The caller's messages as they are, then one short turn that asks for the failing keys alone:
        # a patch costs the bare request and a line, not a second set of instructions.
        ask = ""
        errors = [s.reason for s in report.steps if not s.ok and s.reason]
        errors += [p for p in report.problems if not p.startswith("missing required key")]
        if errors:
            ask = "The previous answer was rejected: " + "; ".join(errors) + ". "
        ask += "Reply with only a JSON object" + (
            f" with exactly these keys: {listed}." if keys else ": the whole object."
        )
        nested = {k: v for k, v in spec.shape.items() if k in keys} if isinstance(spec.shape, dict) else {}
        if nested:
            ask += " Nested shape: " + json.dumps(_skeleton(nested), ensure_ascii=False) + "."
        # Outside documents the verified part goes in as the answer so far, so the new keys stay
        # consistent with it; a document's values are read independently of one another.
        so_far = ({"role": "assistant", "content": dumps(kept)},) if kept and not spec.document else ()
        return BackendRequest(
            messages=(
                *({"role": m.role, "content": m.content} for m in request.messages),
                *so_far,
                {"role": "user", "content": ask},
            ),
            model=request.model,
            max_tokens=request.max_tokens,
            response_format=_patch_format(spec, keys),
        )

    def stitch(self, task: Task[JsonSpec], steps: Sequence[str], report: Verification, text: str) -> list[str]:
        spec = _spec(task)
        keys, kept = _patch_plan(spec, steps, report)
        reply = extract_object(text) or {}
        merged = dict(kept)
        for key in keys or reply:  # no keys singled out: the reply is the whole object
            if key in reply:
                merged[key] = reply[key]
        fixed = self._from_labels(spec, merged, keys or list(reply))
        # The keys the model answered in this request, for prepare(): only they can confirm a program
        # (not a key it left out, nor one the last resort filled from the text).
        answered = spec.memo(_MODEL_KEYS)
        spec.remember(
            _MODEL_KEYS,
            (set(answered) if answered is not None else set())
            | {k for k in (keys or reply) if k in reply and _same_value(fixed.get(k), reply[k])},
        )
        return _steps(spec, fixed)

    def _from_labels(self, spec: JsonSpec, obj: dict[str, Any], asked: Sequence[str]) -> dict[str, Any]:
        """The last resort after the model's repair: a key it was asked for whose value miscopies a
        word of the text takes the text's spelling; one still missing, ``null`` or contradicted that
        the text labels with one clear value ("pages: 641") takes that value. Not for requests that
        compute their values ("total including tax")."""
        grounder = self._grounder(spec, obj)
        computed = derived(spec)
        out = dict(obj)
        for key in asked:
            if spec.forbids(key):
                continue
            schema = spec.property_schema(key)
            if isinstance(out.get(key), str):
                # A miscopy of the text ("grenitecapital.com", "68241" of "HC-68241") is copied right,
                # whatever else the request computes: a miscopy is never a computation.
                spelled = grounder.correction(key, out[key], schema, out)
                if spelled is not None:
                    out[key] = spelled
                    continue
            if computed:
                continue
            given = grounder.labelled_value(key)
            if given is None or (self.names.kind(key, schema) in (MONEY, NUMBER) and parse_number(given) is None):
                continue  # nothing labelled, or words ("Competitive") where the key holds a number
            if key in out and grounder.check(key, out[key], schema, out).status != CONFLICT:
                continue  # a value, or a null ("Your copay: pending – ..."), nothing contradicts
            kind = self.names.kind(key, schema)
            if kind in (DATE, TIME):
                # the form asked: in the prompt, or in the key's schema ("format": "date", a description)
                asked = spec.text + ("\n" + json.dumps(schema) if isinstance(schema, dict) else "")
                written = _as_asked(given, kind, asked)
                if written is None:
                    continue  # "March 3" where the request asks YYYY-MM-DD and the text is not one date
                given = written
            out[key] = _typed(given, schema, kind, out.get(key), spec.text)
        return out

    # fallback: inherited ``None``; JSON content cannot be written without the model.

    # -- audit -----------------------------------------------------------------------------------
    def same_answer(self, task: Task[JsonSpec], served: Sequence[str], fresh: Sequence[str]) -> bool | None:
        """The same object once rendered: same keys, strings equal up to case and spacing, numbers equal."""
        objects = [json.loads(self.render(task, steps)) for steps in (served, fresh)]
        return bool(_normal(objects[0]) == _normal(objects[1]))


# -- helpers -------------------------------------------------------------------------------------


def _spec(task: Task[JsonSpec]) -> JsonSpec:
    return task.parsed


def _typed(text: str, schema: Any, kind: str | None, like: Any, prompt: str) -> Any:
    """A value read from the text, typed as the schema, the model's own value or the key's kind says."""
    if isinstance(schema, dict) and "type" in schema:
        value = coerce_value(text, schema)
        number = parse_number(text)
        declared = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if isinstance(value, str) and number is not None and "string" not in declared:
            return int(number) if "integer" in declared and number.is_integer() else number
        return value
    if isinstance(like, bool) or kind == BOOLEAN:
        flag = bool_word(text)
        return text if flag is None else flag
    if isinstance(like, (int, float)) or kind in (MONEY, NUMBER):
        number = parse_number(text)
        if number is not None:
            return int(number) if number.is_integer() and "." not in text else number
        return text
    if kind in (ID, CODE, PHONE):
        return text
    literal = bare_literal(text, prompt)
    return text if literal is NOT_LITERAL else literal


_ISO_ASKED = re.compile(r"YYYY-MM-DD|\bISO\b|\"format\": \"date\"", re.IGNORECASE)
_HHMM_ASKED = re.compile(r"\bHH:MM\b|24-hour|\"format\": \"time\"", re.IGNORECASE)


def _as_asked(given: str, kind: str, prompt: str) -> str | None:
    """A date or time the text writes, in the form the request asks for (ISO dates, 24-hour times);
    as written when the request asks no form; ``None`` when it is not one date or time read for
    certain ("25-04-2025 (all dates dd-mm-yyyy)" is a date and a remark, not a value to copy)."""
    if kind == DATE:
        readings = parse_date(given.strip(" \t.,"))
        if len(readings) != 1 or readings[0][0] is None or readings[0][2] is None:
            return None
        year, month, day = readings[0]
        return f"{year:04d}-{month:02d}-{day:02d}" if _ISO_ASKED.search(prompt) else given.strip(" \t.,")
    minutes = parse_time(given.strip(" \t.,"))
    if minutes is None:
        return None
    return f"{minutes // 60:02d}:{minutes % 60:02d}" if _HHMM_ASKED.search(prompt) else given.strip(" \t.,")


def _namer(key: str) -> Callable[[str], bool]:
    """Whether an anchor's words name ``key``: a word in common, or one the stem of the other
    ("Shipping address" names ship_to_city, "Order date" names order_date)."""
    wanted = [w for w in key_words(key) if len(w) > 2]

    def names(anchor: str) -> bool:
        said = [w for w in key_words(anchor) if len(w) > 2]
        return any(
            a == w or (min(len(a), len(w)) >= 4 and (a.startswith(w) or w.startswith(a))) for a in said for w in wanted
        )

    return names


def _same_value(a: Any, b: Any) -> bool:
    return bool(_normal(a) == _normal(b))


def _object(steps: Sequence[str]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for step in steps:
        pair = decode_step(step)
        if pair is not None:
            obj.setdefault(pair[0], pair[1])
    return obj


def _skeleton(shape: Any) -> Any:
    """``{"members": [{"name": None}]}`` → ``{"members": [{"name": "..."}]}`` for the instruction."""
    if isinstance(shape, dict):
        return {k: _skeleton(v) for k, v in shape.items()}
    if isinstance(shape, list):
        return [_skeleton(shape[0])] if shape else []
    return "..."


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


def _same_document(old: JsonSpec, new: JsonSpec) -> bool:
    """The same document under another instruction (a paraphrase, a format line): every value it
    holds is the same, so the cached answer's values are its own, carried without a program."""
    return _values_of(old) == _values_of(new)


def _values_of(spec: JsonSpec) -> list[str]:
    index, text = spec.index, spec.record_text
    spans = [
        (f.start, f.end)
        for f in (*index.dates, *index.times, *index.emails, *index.urls, *index.phones, *index.numbers)
    ] + [(f.start, f.end) for f in index.fields]
    return sorted(" ".join(text[a:b].split()) for a, b in spans)
