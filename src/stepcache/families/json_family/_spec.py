"""What a JSON request asks for: the required keys, the schema, and where they came from.

Three request styles are recognised, in this order of authority:

* ``response_format={"type": "json_schema", ...}``: the schema's ``required`` and ``properties``;
* ``response_format={"type": "json_object"}``: keys listed in the prompt, if any;
* no ``response_format``: a prompt that names JSON *and* lists its keys ("Required keys: a, b").

A prompt that asks for prose, or says "not JSON", is left to the next family unless a JSON
``response_format`` overrides it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..._exceptions import InvalidRequest
from ..._types import ChatRequest

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
    # Built once per spec; a Draft 2020-12 validator is not cheap to construct on every verify.
    _validator: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.schema is not None:
            from jsonschema import Draft202012Validator

            object.__setattr__(self, "_validator", Draft202012Validator(self.schema))

    # -- derived views ---------------------------------------------------------------------------
    @property
    def validator(self) -> Any:
        """The ``Draft202012Validator`` of the schema, or ``None`` without a schema."""
        return self._validator

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
        return self.properties.get(key)

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
        return "json|" + ",".join(sorted(self.required)) + "|" + schema_hash

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
        )


# -- detection -------------------------------------------------------------------------------------

_JSON_WORD = re.compile(r"\bjson\b", re.IGNORECASE)
_NOT_JSON = re.compile(
    r"\b(?:not|no|without|instead\s+of|never)\s+(?:as\s+|in\s+|using\s+|use\s+|any\s+|a\s+)*json\b"
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
# "Required keys: a, b", "keys: a, b", "fields: a, b", "with keys a, b and c", "with the following fields".
_KEYS_INTRO = re.compile(
    r"\b(?:required\s+)?(?:keys|fields|properties)\s*[:=]"
    r"|\b(?:with|containing|having|including)\s+(?:the\s+)?(?:following\s+)?(?:required\s+)?"
    r"(?:keys|fields|properties)\b(?:\s*[:=])?",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.+?)\s*$")
_QUOTED = re.compile(r"""^["'`\u201c\u2018]([^"'`\u201d\u2019]{1,64})["'`\u201d\u2019]""")
_IDENT = re.compile(r"[A-Za-z_][\w\-]*")
_END_OF_LIST = re.compile(r"\.(?:\s|$)|[;\n]")
_NOT_KEYS = {"and", "or", "the", "of", "with", "keys", "fields", "properties"}


def keys_in_text(text: str) -> tuple[str, ...]:
    """The key names a prompt lists after "keys:", "fields:", "with keys ..." (first list wins)."""
    for intro in _KEYS_INTRO.finditer(text):
        rest = text[intro.end() :]
        line, _, after = rest.partition("\n")
        if line.strip():
            keys = _split_key_list(line)
        else:  # a bulleted list on the following lines
            items: list[str] = []
            for raw in after.splitlines():
                bullet = _BULLET.match(raw)
                if bullet is None:
                    if items or raw.strip():
                        break
                    continue
                items.append(bullet.group(1))
            keys = tuple(k for k in (_first_key(item) for item in items) if k)
        if keys:
            return tuple(dict.fromkeys(keys))
    return ()


def _split_key_list(line: str) -> tuple[str, ...]:
    line = re.sub(r"\([^)]*\)", " ", line)  # "age (integer)" → "age"
    end = _END_OF_LIST.search(line)
    if end is not None:
        line = line[: end.start()]
    keys = []
    for item in re.split(r",|\band\b|&|\s\+\s", line):
        key = _first_key(item)
        if key:
            keys.append(key)
        if len(re.findall(r"\w+", item)) >= 3:  # "city for this person": the list ran into prose
            break
    return tuple(keys)


def _first_key(item: str) -> str:
    item = item.strip()
    quoted = _QUOTED.match(item)
    if quoted:
        return quoted.group(1).strip()
    ident = _IDENT.search(item)
    if ident is None or ident.group(0).lower() in _NOT_KEYS:
        return ""
    return ident.group(0)


def spec_from_request(request: ChatRequest) -> JsonSpec | None:
    """The JSON task ``request`` asks for, or ``None`` when it does not ask for a JSON object."""
    text = f"{request.system}\n\n{request.prompt}" if request.system else request.prompt
    fmt = request.response_format
    kind = fmt.get("type") if fmt is not None else None
    if kind is None or kind == "text":
        if _NOT_JSON.search(text) or _PROSE.search(text) or not _JSON_WORD.search(text):
            return None
        keys = keys_in_text(text)
        if not keys:
            return None
        return JsonSpec(required=keys, schema=None, prompt=request.prompt, system=request.system)
    assert fmt is not None
    if kind == "json_object":
        return JsonSpec(
            required=keys_in_text(text),
            schema=None,
            prompt=request.prompt,
            system=request.system,
            source="json_object",
            response_format=dict(fmt),
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


def _checked_schema(fmt: Mapping[str, Any]) -> tuple[str, dict[str, Any], bool]:
    wrapper = fmt.get("json_schema")
    if not isinstance(wrapper, Mapping) or not isinstance(wrapper.get("schema"), Mapping):
        raise InvalidRequest(
            "response_format of type 'json_schema' needs a 'json_schema' object with a 'schema' object, "
            'e.g. {"type": "json_schema", "json_schema": {"name": "person", "schema": {"type": "object", ...}}}',
            param="response_format",
        )
    schema = dict(wrapper["schema"])
    from jsonschema import Draft202012Validator, SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise InvalidRequest(
            f"response_format.json_schema.schema is not valid JSON Schema at {where}: {exc.message}. "
            "Fix the schema (Draft 2020-12) or send response_format {\"type\": \"json_object\"}",
            param="response_format",
        ) from exc
    declared = schema.get("type")
    types = {declared} if isinstance(declared, str) else set(declared or ())
    if "object" not in types and not (declared is None and "properties" in schema):
        raise InvalidRequest(
            f"response_format.json_schema.schema must describe a JSON object (\"type\": \"object\"), "
            f"got type {declared!r}; wrap the value in an object property",
            param="response_format",
        )
    name = wrapper.get("name")
    return (str(name) if name else "answer"), schema, bool(wrapper.get("strict", False))
