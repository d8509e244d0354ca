"""What a JSON request asks for: the required keys, the schema, and where they came from.

Three request styles are recognised, in this order of authority:

* ``response_format={"type": "json_schema", ...}``: the schema's ``required`` and ``properties``;
* ``response_format={"type": "json_object"}``: keys listed in the prompt, if any;
* no ``response_format``: a prompt that names JSON *and* lists its keys ("Required keys: a, b"), or
  writes a JSON skeleton (``{"name": "", "email": ""}``).

How a key list is read, and when it is declined as doubtful, is in ``_keylist.py``: a request whose
key list cannot be read with confidence is left to the next family (generic), never given a guessed
key set. A prompt that asks for prose, or says "not JSON", is left to the next family unless a JSON
``response_format`` overrides it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..._exceptions import InvalidRequest
from ..._types import ChatRequest
from ._keylist import find_keys, shape_hash_input, shape_schema
from ._record import record_ranges
from ._text import TextIndex


def _norm_words(text: str) -> str:
    return " ".join(text.casefold().split())


__all__ = ["JsonSpec", "spec_from_request", "keys_in_text"]


@dataclass(frozen=True)
class JsonSpec:
    """The parsed form of a JSON task (``Task.parsed``); :meth:`to_data` is what the store keeps."""

    required: tuple[str, ...]
    schema: dict[str, Any] | None
    prompt: str
    system: str = ""
    source: str = "prompt"  # "json_schema" | "json_object" | "prompt"
    schema_name: str = "answer"
    strict: bool = False
    response_format: dict[str, Any] | None = None
    #: Nesting the prompt describes (a skeleton, "a list of {name, role} objects"): key → shape.
    shape: dict[str, Any] | None = None
    #: Types the prompt gives its keys ("age (integer)"): key → schema fragment. They guide
    #: coercion and grounding like a schema's properties, but are not validated as one.
    hints: dict[str, Any] | None = None
    # Built once per spec; a Draft 2020-12 validator is not cheap to construct on every verify.
    _validator: Any = field(default=None, init=False, repr=False, compare=False)
    _shape_validator: Any = field(default=None, init=False, repr=False, compare=False)
    # Derived views computed on first use (the record text, the grounder); specs are immutable.
    _memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from jsonschema import Draft202012Validator

        if self.schema is not None:
            object.__setattr__(self, "_validator", Draft202012Validator(self.schema))
        if self.shape:
            object.__setattr__(self, "_shape_validator", Draft202012Validator(shape_schema(self.shape)))

    # -- derived views ---------------------------------------------------------------------------
    @property
    def validator(self) -> Any:
        """The ``Draft202012Validator`` of the schema, or ``None`` without a schema."""
        return self._validator

    @property
    def shape_validator(self) -> Any:
        """Checks the nesting the prompt describes (``None`` when it describes none)."""
        return self._shape_validator

    @property
    def key_spans(self) -> tuple[tuple[int, int], ...]:
        """Where :attr:`text` lists the keys (instruction, not record)."""
        spans = self._memo.get("key_spans")
        if spans is None:
            spans = find_keys(self.text, json_asked=True).spans
            self._memo["key_spans"] = spans
        return tuple(spans)

    @property
    def record_text(self) -> str:
        """:attr:`text` with the key lists blanked out (same length, so spans line up): the part
        answers draw values from. A skeleton's example values are not the record's values. Of a
        document request only the document is kept: "doors_open as HH:MM" in its instruction is no
        field of the ticket.
        """
        record = self._memo.get("record_text")
        if record is None:
            chars = list(self.text)
            for start, end in self.key_spans:
                chars[start:end] = [c if c == "\n" else " " for c in chars[start:end]]
            if self.document:
                keep = [False] * len(chars)
                for start, end in self.record:
                    keep[start:end] = [True] * (end - start)
                chars = [c if kept or c == "\n" else " " for c, kept in zip(chars, keep)]
            record = "".join(chars)
            self._memo["record_text"] = record
        return str(record)

    @property
    def index(self) -> TextIndex:
        """The record text read once (fields, dates, numbers, ...), shared by grounding and layout."""
        found = self._memo.get("index")
        if not isinstance(found, TextIndex):
            found = self._memo["index"] = TextIndex(self.record_text)
        return found

    @property
    def document(self) -> bool:
        """The request carries a document (three or more lines of user text): its free text is
        document, not instruction, and changes from one document of a template to the next."""
        return sum(1 for line in self.prompt.splitlines() if line.strip()) >= 3

    @property
    def record(self) -> tuple[tuple[int, int], ...]:
        """Where :attr:`text` holds the record the values come from (``_record.py``)."""
        found = self._memo.get("record")
        if found is None:
            end = (len(self.system) + 2 if self.system else 0) if self.document else -1
            found = self._memo["record"] = record_ranges(
                self.text, self.key_spans, self.known_keys, instruction_end=end
            )
        return tuple(found)

    @property
    def layout(self) -> str:
        """The record's skeleton with its values masked: the labels of its fields in order ("order #",
        "order date", "total"). Documents of one template share it whatever their values and free
        text; ``""`` for a record with fewer than two labels (a sentence, or prose).
        """
        found = self._memo.get("layout")
        if isinstance(found, str):
            return found
        index, text, ranges = self.index, self.record_text, self.record

        def in_record(at: int) -> bool:
            return any(a <= at < b for a, b in ranges)

        # Only labels the record writes ("Total:"), not an instruction's ("... for: <record>"); the
        # free text between them changes from document to document and is not the template.
        labels = [
            _norm_words(f.label)
            for f in index.fields
            if in_record(f.start) and in_record(max(0, text.rfind(f.label, 0, f.start)))
        ]
        layout = "\n".join(labels) if len(labels) >= 2 else ""
        self._memo["layout"] = layout
        return layout

    def memo(self, key: Any) -> Any:
        """A value cached on this spec by the family (``None`` when absent)."""
        return self._memo.get(key)

    def remember(self, key: Any, value: Any) -> Any:
        self._memo[key] = value
        return value

    @property
    def properties(self) -> dict[str, Any]:
        props = (self.schema or {}).get("properties")
        return dict(props) if isinstance(props, dict) else {}

    @property
    def known_keys(self) -> tuple[str, ...]:
        """Required keys (in the task's order), then the schema's other properties."""
        return self.required + tuple(k for k in self.properties if k not in self.required)

    @property
    def text(self) -> str:
        """Everything the caller wrote that the answer may draw values from."""
        return f"{self.system}\n\n{self.prompt}" if self.system else self.prompt

    def property_schema(self, key: str) -> Any:
        """The schema's property for ``key``, else the prompt's type hint for it, else ``None``."""
        prop = self.properties.get(key)
        return prop if prop is not None or not self.hints else self.hints.get(key)

    def forbids(self, key: str) -> bool:
        """True when the schema rejects ``key`` as an extra property."""
        if self.schema is None or key in self.properties:
            return False
        closed = self.schema.get("additionalProperties") is False or self.schema.get("unevaluatedProperties") is False
        if not closed:
            return False
        patterns = self.schema.get("patternProperties")
        return not (isinstance(patterns, dict) and any(re.search(p, key) for p in patterns))

    @property
    def signature(self) -> str:
        """Keys and schema shape, never values: a renamed or added key changes it, new constants do not."""
        schema_hash = "none"
        if self.schema is not None:
            canonical = json.dumps(self.schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            schema_hash = hashlib.sha256(canonical.encode()).hexdigest()[:12]
        signature = "json|" + ",".join(sorted(self.required)) + "|" + schema_hash
        if self.shape:  # the nesting asked for is part of the template; a flat skeleton adds nothing
            signature += "|" + hashlib.sha256(shape_hash_input(self.shape).encode()).hexdigest()[:12]
        if self.layout:  # a document: its template, found whatever its values
            signature += "|doc:" + hashlib.sha256(self.layout.encode()).hexdigest()[:12]
        return signature

    # -- storage ---------------------------------------------------------------------------------
    def to_data(self) -> dict[str, Any]:
        return {
            "required": list(self.required),
            "schema": self.schema,
            "prompt": self.prompt,
            "system": self.system,
            "source": self.source,
            "schema_name": self.schema_name,
            "strict": self.strict,
            "response_format": self.response_format,
            **({"shape": self.shape} if self.shape else {}),
            **({"hints": self.hints} if self.hints else {}),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> JsonSpec:
        schema = data.get("schema")
        response_format = data.get("response_format")
        return cls(
            required=tuple(str(k) for k in data.get("required") or ()),
            schema=dict(schema) if isinstance(schema, Mapping) else None,
            prompt=str(data.get("prompt", "")),
            system=str(data.get("system", "")),
            source=str(data.get("source", "prompt")),
            schema_name=str(data.get("schema_name", "answer")),
            strict=bool(data.get("strict", False)),
            response_format=dict(response_format) if isinstance(response_format, Mapping) else None,
            shape=dict(data["shape"]) if isinstance(data.get("shape"), Mapping) else None,
            hints=dict(data["hints"]) if isinstance(data.get("hints"), Mapping) else None,
        )


# -- detection -------------------------------------------------------------------------------------

_JSON_WORD = re.compile(r"\bjson\b", re.IGNORECASE)
# Within one line: "Temperature-controlled: no" ending one message is not "no JSON" with the next.
_NOT_JSON = re.compile(
    r"\b(?:not|no|without|instead[ \t]+of|never)[ \t]+(?:as[ \t]+|in[ \t]+|using[ \t]+|use[ \t]+|any[ \t]+|a[ \t]+)*json\b"
    r"|\b(?:don'?t|do\s+not|never)\s+(?:use|return|reply\s+(?:in|with)|respond\s+(?:in|with)|answer\s+in"
    r"|output|give|write|format\s+(?:it\s+)?as)\s+(?:any\s+|a\s+|it\s+as\s+)?json\b",
    re.IGNORECASE,
)
_PROSE = re.compile(
    r"\b(?:in|as)\s+(?:a\s+|an\s+|one\s+|two\s+|three\s+|a\s+short\s+|a\s+single\s+|plain\s+|short\s+)?"
    r"(?:prose|paragraphs?|sentences?|essay|plain\s+text|natural\s+language|bullet\s+points)\b"
    r"|\bwrite\s+(?:a|an|one|two|three|\d+)\s+(?:short\s+|brief\s+)?(?:paragraphs?|sentences?|essay|poem|story)\b",
    re.IGNORECASE,
)


def keys_in_text(text: str) -> tuple[str, ...]:
    """The key names a prompt lists ("keys: a, b", bullets, a skeleton); ``()`` when none or in doubt."""
    found = find_keys(text, json_asked=True)
    return () if found.doubtful else found.keys


#: Work bounds of the JSON family (beyond them a request is left to the generic family).
MAX_TEXT_CHARS = 200_000
MAX_SCHEMA_NODES = 400


def _schema_nodes(value: object, budget: int = MAX_SCHEMA_NODES + 1) -> int:
    """How many objects and arrays ``value`` holds, counting no further than ``budget``."""
    count, stack = 0, [value]
    while stack and count < budget:
        item = stack.pop()
        if isinstance(item, dict):
            count += 1
            stack.extend(item.values())
        elif isinstance(item, list):
            count += 1
            stack.extend(item)
    return count


def spec_from_request(request: ChatRequest) -> JsonSpec | None:
    """The JSON task ``request`` asks for, or ``None`` when it does not ask for a JSON object."""
    if any(m.role == "assistant" and ("{" in m.content or "[" in m.content) for m in request.messages):
        # The assistant has already answered with JSON: a later turn is about that answer ("now do the
        # same for Bob", "why is age a number?"), not an extraction from the text; the generic family
        # answers it. (A clarifying question before the answer is context, as in a first turn.)
        return None
    text = f"{request.system}\n\n{request.prompt}" if request.system else request.prompt
    fmt = request.response_format
    kind = fmt.get("type") if fmt is not None else None
    if len(text) > MAX_TEXT_CHARS or (kind == "json_schema" and _schema_nodes(fmt) > MAX_SCHEMA_NODES):
        # Grounding reads the text once per key: past these bounds the work is not worth a cache
        # (the generic family still reuses the exact request).
        return None
    if kind is None or kind == "text":
        if _NOT_JSON.search(text) or _PROSE.search(text):
            return None
        found = find_keys(text, json_asked=bool(_JSON_WORD.search(text)))
        if found.doubtful or not found.keys or not (found.skeleton or _JSON_WORD.search(text)):
            return None
        return JsonSpec(
            required=found.keys,
            schema=None,
            prompt=request.prompt,
            system=request.system,
            shape=found.shape or None,
            hints=found.hints or None,
        )
    assert fmt is not None
    if kind == "json_object":
        found = find_keys(text, json_asked=True)
        if found.doubtful:
            return None  # JSON, but which keys? Handled as generic (exact reuse only), never guessed
        return JsonSpec(
            required=found.keys,
            schema=None,
            prompt=request.prompt,
            system=request.system,
            source="json_object",
            response_format=dict(fmt),
            shape=found.shape or None,
            hints=found.hints or None,
        )
    if kind == "json_schema":
        name, schema, strict = _checked_schema(fmt)
        required = schema.get("required") or []
        return JsonSpec(
            required=tuple(required),
            schema=schema,
            prompt=request.prompt,
            system=request.system,
            source="json_schema",
            schema_name=name,
            strict=strict,
            response_format=dict(fmt),
        )
    raise InvalidRequest(
        f"response_format.type must be 'text', 'json_object' or 'json_schema', not {kind!r}",
        param="response_format",
    )


@functools.lru_cache(maxsize=1024)
def _schema_problem(canonical: str) -> str | None:
    """Where and why a schema (as canonical JSON) is not valid Draft 2020-12, or ``None``.

    Checking a schema against the meta-schema costs milliseconds, and an application sends the same
    schema with every request: the verdict is remembered by the schema's text.
    """
    from jsonschema import Draft202012Validator, SchemaError

    try:
        Draft202012Validator.check_schema(json.loads(canonical))
    except SchemaError as exc:
        return f"{'/'.join(str(p) for p in exc.path) or '(root)'}: {exc.message}"
    return None


def _checked_schema(fmt: Mapping[str, Any]) -> tuple[str, dict[str, Any], bool]:
    wrapper = fmt.get("json_schema")
    if not isinstance(wrapper, Mapping) or not isinstance(wrapper.get("schema"), Mapping):
        raise InvalidRequest(
            "response_format of type 'json_schema' needs a 'json_schema' object with a 'schema' object, "
            'e.g. {"type": "json_schema", "json_schema": {"name": "person", "schema": {"type": "object", ...}}}',
            param="response_format",
        )
    schema = dict(wrapper["schema"])
    problem = _schema_problem(json.dumps(schema, sort_keys=True, separators=(",", ":"), default=str))
    if problem is not None:
        raise InvalidRequest(
            f"response_format.json_schema.schema is not valid JSON Schema at {problem}. "
            'Fix the schema (Draft 2020-12) or send response_format {"type": "json_object"}',
            param="response_format",
        )
    declared = schema.get("type")
    types = {declared} if isinstance(declared, str) else set(declared or ())
    if "object" not in types and not (declared is None and "properties" in schema):
        raise InvalidRequest(
            f'response_format.json_schema.schema must describe a JSON object ("type": "object"), '
            f"got type {declared!r}; wrap the value in an object property",
            param="response_format",
        )
    name = wrapper.get("name")
    return (str(name) if name else "answer"), schema, bool(wrapper.get("strict", False))
