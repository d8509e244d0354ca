"""Turning caller input into a validated :class:`ChatRequest`, and the exact-match key."""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ._exceptions import InvalidRequest
from ._types import FORMAT_VERSION, ChatRequest, Scope

__all__ = ["coerce_request", "exact_key", "normalise_text"]

_INNER_SPACE = re.compile(r"[ \t\f\v]+")
_INDENT = re.compile(r"^ *")


def normalise_text(text: str) -> str:
    """A prompt with the whitespace that means nothing taken out: runs of spaces inside a line,
    trailing spaces, blank lines at the ends and indentation common to every line. Line breaks and
    relative indentation stay (code, poems and tables differ by them), and so does case."""
    lines = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4).split("\n"):
        indent = _INDENT.match(line)
        lead = indent.group(0) if indent else ""
        lines.append(lead + _INNER_SPACE.sub(" ", line[len(lead) :]).rstrip())
    return textwrap.dedent("\n".join(lines)).strip("\n")


def coerce_request(request: ChatRequest | Mapping[str, Any]) -> ChatRequest:
    """Validate ``request``; raise :class:`InvalidRequest` naming the field and the fix."""
    if isinstance(request, ChatRequest):
        return request
    if not isinstance(request, Mapping):
        raise InvalidRequest(
            f"a request must be a ChatRequest or a mapping with 'messages', not {type(request).__name__}"
        )
    try:
        return ChatRequest.model_validate(dict(request))
    except ValidationError as exc:
        raise _explain(exc) from exc


def _explain(exc: ValidationError) -> InvalidRequest:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "request"
    kind = first["type"]
    if kind == "literal_error" and where.endswith("role"):
        message = (
            f"{where}: unsupported role {first.get('input')!r}; StepCache caches 'system', 'user' and "
            "'assistant' messages (requests with tools go through the proxy's bypass path)"
        )
    elif kind == "too_short" and where == "messages":
        message = "messages: the list is empty; send at least one {'role': 'user', 'content': '...'} message"
    elif kind == "missing":
        message = f"{where}: this field is required"
    elif kind == "extra_forbidden":
        message = f"{where}: unknown field; remove it (known fields: {', '.join(ChatRequest.model_fields)})"
    else:
        message = f"{where}: {first['msg']}"
    return InvalidRequest(message, param=where)


def exact_key(scope: Scope, request: ChatRequest) -> str:
    """The exact-match key: same tenant, model, family, the whole conversation (every role) up to
    meaningless whitespace, the response format and the token limit — an answer cut at 2 tokens is
    never the answer to a request without a limit."""
    canonical = json.dumps(
        {
            "v": FORMAT_VERSION,
            "ns": scope.namespace,
            "model": scope.model,
            "family": scope.family,
            "messages": [[m.role, normalise_text(m.content)] for m in request.messages],
            "response_format": request.response_format,
            "max_tokens": request.max_tokens,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
