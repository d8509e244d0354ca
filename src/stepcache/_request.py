"""Turning caller input into a validated :class:`ChatRequest`, and the exact-match key."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ._exceptions import InvalidRequest
from ._types import FORMAT_VERSION, ChatRequest, Scope

__all__ = ["coerce_request", "exact_key", "normalise_text"]

_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Whitespace-insensitive form of a prompt. Case is kept: names and units are case-sensitive."""
    return _SPACE.sub(" ", text).strip()


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
    """The exact-match key: same tenant, model, family and the same request up to whitespace."""
    canonical = json.dumps(
        {
            "v": FORMAT_VERSION,
            "ns": scope.namespace,
            "model": scope.model,
            "family": scope.family,
            "messages": [[m.role, normalise_text(m.content)] for m in request.messages],
            "response_format": request.response_format,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
