"""Translation for OpenAI's Responses API (``POST /v1/responses``). No I/O happens here.

Inbound: a Responses body → :class:`ResponsesInbound`, which wraps the same :class:`Inbound` a chat
body gives (so the engine answers it through the same cache) and the equivalent chat body.
Outbound: a :class:`Result` → a ``response`` object (:func:`response_object`) or the Responses
stream's SSE events (:class:`ResponseEvents`, :func:`response_stream`).

The Responses API is a superset of chat completions: server-side state (``previous_response_id``,
``conversation``, stored ``prompt`` templates), hosted tools, reasoning options. A body that uses
any of it, or sends anything else this module does not know, is forwarded unchanged (bypass),
exactly as :func:`~._openai.parse_chat` does for unknown chat parameters.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._exceptions import InvalidRequest
from .._types import Result, TokenUsage
from ._openai import Inbound, _kind, _object, _opt_int, parse_chat
from ._settings import ServerSettings

__all__ = [
    "ResponsesWriter",
    "UPSTREAM_PATH",
    "ResponsesInbound",
    "parse_responses",
    "response_object",
    "ResponseEvents",
    "response_stream",
    "usage_of",
]

#: Where a bypassed Responses body is forwarded, relative to the upstream's base URL.
UPSTREAM_PATH = "responses"

#: Parameters this module honours, or that cannot change a temperature-0 answer. A key in neither
#: this set nor :data:`_BYPASS` sends the request down the bypass path (the chat policy).
_KNOWN_KEYS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "max_output_tokens",
        "text",
        "metadata",
        "user",
        "store",
        "service_tier",
        "truncation",
        "safety_identifier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "parallel_tool_calls",
        "max_tool_calls",
        "cache",
    }
)
#: Parameters whose answer depends on more than the messages given, or which ask for output the
#: cache does not keep: set (truthy, or ``top_logprobs`` not null), they mean bypass.
_BYPASS = {
    "previous_response_id": "previous_response_id (state kept by the upstream)",
    "conversation": "conversation (state kept by the upstream)",
    "prompt": "prompt (a template stored upstream)",
    "tools": "tools / function calling",
    "tool_choice": "tools / function calling",
    "reasoning": "reasoning options",
    "include": "include (output the cache does not keep)",
    "background": "background mode",
    "top_logprobs": "logprobs",
}
_ROLES = {"user": "user", "system": "system", "developer": "system", "assistant": "assistant"}
_TEXT_PARTS = ("input_text", "output_text")
#: Chat parameter names that :func:`parse_chat` may name in an error, as the client sent them.
_CHAT_NAMES = (
    ("response_format.json_schema", "text.format"),
    ("response_format", "text.format"),
    ("max_tokens", "max_output_tokens"),
    ("messages", "input"),
)
#: Stands in for the messages of a request that is forwarded anyway, so that ``parse_chat`` still
#: checks the parameters both APIs share (model, stream, temperature, cache) when the input holds
#: no user text (only tool outputs, say).
_PLACEHOLDER = ({"role": "user", "content": "(forwarded unchanged)"},)
#: Chat finish reasons that end a response early, and the Responses ``incomplete_details.reason``.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
#: The codes of OpenAI's ``response.error.code`` enum that a proxy's failure can mean; others
#: become ``server_error`` there (the ``error`` event before it keeps the proxy's own code).
_FAILED_CODES = frozenset({"server_error", "rate_limit_exceeded", "invalid_prompt"})


@dataclass(frozen=True, slots=True)
class ResponsesInbound:
    """A validated ``/v1/responses`` request.

    ``inbound`` is what :func:`parse_chat` gives for the equivalent chat body (``endpoint`` is
    ``"chat"``: the engine and the coalescer treat it as a chat request), except that its ``body``
    is the Responses body as received, which a bypass forwards unchanged to ``/responses``.
    ``chat_body`` is that equivalent chat-completions body (text messages only), for backends that
    cannot forward raw bodies.
    """

    inbound: Inbound
    chat_body: Mapping[str, Any]


# -- inbound -----------------------------------------------------------------------------------
def parse_responses(
    body: object, *, namespace: str, settings: ServerSettings, cache_control: str | None = None
) -> ResponsesInbound:
    """Validate a ``/v1/responses`` body. Raises :class:`InvalidRequest` naming the field to fix."""
    body = _object(body)
    reasons = _bypass_reasons(body)
    _check_echoed(body)
    messages = _messages(body, reasons)
    max_tokens = _opt_int(body, "max_output_tokens", 1)
    chat: dict[str, Any] = {
        "model": body.get("model"),
        "messages": messages,
        "stream": body.get("stream"),
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "max_tokens": max_tokens,
        "response_format": _response_format(body.get("text"), reasons),
        "cache": body.get("cache"),
    }
    chat = {k: v for k, v in chat.items() if v is not None}
    if not reasons and not any(m["role"] == "user" and m["content"].strip() for m in messages):
        raise InvalidRequest(
            "'input' holds no user text: send a string, or a list with at least one "
            '{"role": "user", "content": "..."} message',
            param="input",
        )
    checked = {**chat, "messages": list(_PLACEHOLDER)} if reasons else chat
    try:
        inbound = parse_chat(checked, namespace=namespace, settings=settings, cache_control=cache_control)
    except InvalidRequest as exc:
        raise _renamed(exc) from exc
    if reasons:
        reasons += [inbound.bypass_reason] if inbound.bypass_reason else []
        inbound = dataclasses.replace(inbound, request=None, bypass_reason="; ".join(dict.fromkeys(reasons)))
    return ResponsesInbound(dataclasses.replace(inbound, body=body), chat)


def _bypass_reasons(body: Mapping[str, Any]) -> list[str]:
    reasons: list[str] = []
    background = body.get("background")
    if background is not None and not isinstance(background, bool):
        raise InvalidRequest(f"'background' must be true or false, not {background!r}", param="background")
    for key, reason in _BYPASS.items():
        value = body.get(key)
        if (value is not None) if key == "top_logprobs" else bool(value):
            reasons.append(reason)
    unknown = sorted(k for k, v in body.items() if k not in _KNOWN_KEYS and k not in _BYPASS and v is not None)
    if unknown:
        reasons.append(f"parameters the cache does not honour: {', '.join(unknown)}")
    return reasons


def _check_echoed(body: Mapping[str, Any]) -> None:
    """Type checks for the harmless parameters a ``response`` object echoes back."""
    for name in ("instructions", "user", "safety_identifier", "prompt_cache_key", "service_tier"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise InvalidRequest(f"'{name}' must be a string, not {_kind(body[name])}", param=name)
    for name in ("store", "parallel_tool_calls"):
        if body.get(name) is not None and not isinstance(body[name], bool):
            raise InvalidRequest(f"'{name}' must be true or false, not {body[name]!r}", param=name)
    metadata = body.get("metadata")
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise InvalidRequest('\'metadata\' must be an object of string values such as {"run": "7"}', param="metadata")
    if body.get("truncation") not in (None, "auto", "disabled"):
        raise InvalidRequest(
            f"'truncation' must be 'auto' or 'disabled', not {body['truncation']!r}", param="truncation"
        )
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest(
            "'stream_options' must be an object such as {\"include_obfuscation\": false}", param="stream_options"
        )
    _opt_int(body, "max_tool_calls", 1)


def _messages(body: Mapping[str, Any], reasons: list[str]) -> list[dict[str, str]]:
    """The chat messages: ``instructions`` first, then the text of every message item in ``input``.
    Items that are not text messages add a bypass reason and are left out."""
    messages: list[dict[str, str]] = []
    instructions = body.get("instructions")
    if instructions:
        messages.append({"role": "system", "content": instructions})
    items = body.get("input")
    if items is None:
        if reasons:  # e.g. a stored prompt, which may carry the whole input
            return messages
        raise InvalidRequest(
            '\'input\' is required: send a string, or a list such as [{"role": "user", "content": "..."}]',
            param="input",
        )
    if isinstance(items, str):
        return [*messages, {"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise InvalidRequest(
            f"'input' must be a string or a non-empty list of message items, not {_kind(items)}"
            + (" (an empty list)" if items == [] else ""),
            param="input",
        )
    for i, item in enumerate(items):
        converted = _item(i, item, reasons)
        if converted is not None:
            messages.append(converted)
    return messages


def _item(i: int, item: object, reasons: list[str]) -> dict[str, str] | None:
    where = f"input[{i}]"
    if not isinstance(item, dict):
        raise InvalidRequest(f"{where} must be an object with 'role' and 'content', not {_kind(item)}", param=where)
    kind = item.get("type", "message")
    if not isinstance(kind, str):
        raise InvalidRequest(f'{where}.type must be a string such as "message"', param=f"{where}.type")
    if kind != "message":
        reasons.append(f"input items of type {kind}")
        return None
    role = item.get("role")
    if not isinstance(role, str) or role not in _ROLES:
        raise InvalidRequest(
            f"{where}.role must be one of user, system, developer, assistant, not {role!r}", param=f"{where}.role"
        )
    content = item.get("content")
    if isinstance(content, str):
        return {"role": _ROLES[role], "content": content}
    if not isinstance(content, list):
        raise InvalidRequest(
            f"{where}.content must be a string or a list of input_text parts, not {_kind(content)}",
            param=f"{where}.content",
        )
    texts: list[str] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise InvalidRequest(f"{at} must be an object with a 'type' such as \"input_text\"", param=at)
        if part["type"] not in _TEXT_PARTS:
            reasons.append(f"non-text content ({part['type']})")
            return None
        if not isinstance(part.get("text"), str):
            raise InvalidRequest(f"{at}.text must be a string", param=f"{at}.text")
        texts.append(part["text"])
    return {"role": _ROLES[role], "content": "".join(texts)}


def _response_format(text: object, reasons: list[str]) -> dict[str, Any] | None:
    """``text.format`` as chat's ``response_format`` (whose schema ``parse_chat`` then checks)."""
    if text is None:
        return None
    if not isinstance(text, dict):
        raise InvalidRequest(
            f'\'text\' must be an object such as {{"format": {{"type": "text"}}}}, not {_kind(text)}', param="text"
        )
    unknown = sorted(k for k, v in text.items() if k != "format" and v is not None)
    if unknown:
        reasons.append(f"parameters the cache does not honour: {', '.join('text.' + k for k in unknown)}")
    spec = text.get("format")
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise InvalidRequest(f"text.format must be an object, not {_kind(spec)}", param="text.format")
    kind = spec.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise InvalidRequest(
            f"text.format.type must be 'text', 'json_object' or 'json_schema', not {kind!r}", param="text.format.type"
        )
    if not isinstance(spec.get("name"), str) or not isinstance(spec.get("schema"), dict):
        raise InvalidRequest(
            "text.format needs a 'name' string and a 'schema' object, e.g. "
            '{"type": "json_schema", "name": "answer", "schema": {"type": "object", ...}, "strict": true}',
            param="text.format",
        )
    for name, kinds in (("strict", bool), ("description", str)):
        if spec.get(name) is not None and not isinstance(spec[name], kinds):
            raise InvalidRequest(f"text.format.{name} must be a {kinds.__name__}", param=f"text.format.{name}")
    json_schema = {k: spec[k] for k in ("name", "description", "schema", "strict") if spec.get(k) is not None}
    return {"type": "json_schema", "json_schema": json_schema}


def _renamed(exc: InvalidRequest) -> InvalidRequest:
    """An error ``parse_chat`` raised, with the chat parameter names put back as the client sent them."""
    message, param = str(exc), exc.param
    for chat_name, name in _CHAT_NAMES:
        if param is not None and param.startswith(chat_name):
            param = name + param[len(chat_name) :]
            message = message.replace(chat_name, name)
            break
    return InvalidRequest(message, param=param)


# -- outbound ----------------------------------------------------------------------------------
def response_object(
    result: Result,
    *,
    model: str,
    request_body: Mapping[str, Any],
    response_id: str | None = None,
    finish_reason: str = "stop",
) -> dict[str, Any]:
    """The whole ``response`` object for ``result``, with the ``stepcache`` metadata.

    ``finish_reason`` is the chat one (a :class:`Result` has none; a forwarded :class:`Completion`
    does): ``"length"`` makes the response ``incomplete`` with reason ``max_output_tokens``.
    """
    shell = _Shell(response_id or _new_id("resp"), _new_id("msg"), int(time.time()), model, request_body)
    return shell.final(result, finish_reason)


@dataclass(frozen=True, slots=True)
class _Shell:
    """What every ``response`` object of one answer shares: ids, creation time, the echoed request."""

    id: str
    message_id: str
    created_at: int
    model: str
    body: Mapping[str, Any]

    def response(self, status: str, output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        body = self.body
        text = body.get("text")
        spec = text.get("format") if isinstance(text, Mapping) else None
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "metadata": body.get("metadata") or {},
            "model": self.model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": None,
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": None,
            "safety_identifier": body.get("safety_identifier"),
            "temperature": body.get("temperature"),
            "text": {"format": spec if isinstance(spec, Mapping) else {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": body.get("top_p"),
            "truncation": body.get("truncation") or "disabled",
            "usage": None,
            "user": body.get("user"),
            **extra,
        }

    def message(self, status: str, texts: list[str]) -> dict[str, Any]:
        content = [_part("".join(texts))] if texts else []
        return {"type": "message", "id": self.message_id, "status": status, "role": "assistant", "content": content}

    def final(self, result: Result, finish_reason: str) -> dict[str, Any]:
        reason = _INCOMPLETE.get(finish_reason)
        status = "incomplete" if reason else "completed"
        extra: dict[str, Any] = {"usage": _usage(result.upstream_tokens), "stepcache": result.metadata()}
        if reason:
            extra["incomplete_details"] = {"reason": reason}
        else:
            extra["completed_at"] = int(time.time())
        return self.response(status, [self.message(status, [result.text])], **extra)


class ResponseEvents:
    """The SSE events of one streamed response, numbered in order (``sequence_number``).

    Call :meth:`start` once, :meth:`delta` for each piece of text, then :meth:`finish` with the
    whole result — or :meth:`error` to end the stream early. Each returns SSE text to send as is
    (one or several ``event: ...\\ndata: ...\\n\\n`` blocks). A Responses stream has no ``[DONE]``:
    the terminal event (``response.completed``, ``.incomplete`` or ``.failed``) ends it.
    """

    def __init__(self, model: str, request_body: Mapping[str, Any], response_id: str | None = None) -> None:
        self._shell = _Shell(response_id or _new_id("resp"), _new_id("msg"), int(time.time()), model, request_body)
        self._sequence = 0
        self._started = False
        self._texts: list[str] = []  # what was sent, for the partial output of a failed response

    @property
    def response_id(self) -> str:
        return self._shell.id

    def start(self) -> str:
        """``response.created``, ``response.in_progress``, then an empty message and text part."""
        self._started = True
        shell = self._shell
        head = shell.response("in_progress", [])
        return "".join(
            [
                self._event("response.created", response=head),
                self._event("response.in_progress", response=head),
                self._event("response.output_item.added", output_index=0, item=shell.message("in_progress", [])),
                self._event("response.content_part.added", **self._at(), part=_part("")),
            ]
        )

    def delta(self, text: str) -> str:
        self._texts.append(text)
        return self._event("response.output_text.delta", **self._at(), delta=text, logprobs=[])

    def finish(self, result: Result, *, finish_reason: str = "stop") -> str:
        """The text, part and message done, then the whole response (with ``stepcache`` metadata)."""
        final = self._shell.final(result, finish_reason)
        message = final["output"][0]
        terminal = "response.completed" if final["status"] == "completed" else "response.incomplete"
        return "".join(
            [
                self._event("response.output_text.done", **self._at(), text=result.text, logprobs=[]),
                self._event("response.content_part.done", **self._at(), part=message["content"][0]),
                self._event("response.output_item.done", output_index=0, item=message),
                self._event(terminal, response=final),
            ]
        )

    def error(self, message: str, code: str = "server_error") -> str:
        """An ``error`` event, then ``response.failed`` holding the text sent so far."""
        shell = self._shell
        # A client must see the response opened before it fails, even when nothing else was sent.
        events = [] if self._started else [self._event("response.created", response=shell.response("in_progress", []))]
        known = code if code in _FAILED_CODES else "rate_limit_exceeded" if "rate_limit" in code else "server_error"
        output = [shell.message("incomplete", self._texts)] if self._started else []
        failed = shell.response("failed", output, error={"code": known, "message": message})
        events.append(self._event("error", code=code, message=message, param=None))
        events.append(self._event("response.failed", response=failed))
        return "".join(events)

    def _at(self) -> dict[str, Any]:
        return {"item_id": self._shell.message_id, "output_index": 0, "content_index": 0}

    def _event(self, kind: str, **fields: Any) -> str:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n"


def response_stream(
    result: Result,
    *,
    model: str,
    request_body: Mapping[str, Any],
    finish_reason: str = "stop",
    response_id: str | None = None,
) -> str:
    """A finished ``result`` as a whole Responses stream, one delta per line of text (as
    :func:`~._openai.chat_chunks` does for chat)."""
    events = ResponseEvents(model, request_body, response_id)
    pieces = [events.start(), *map(events.delta, result.text.splitlines(keepends=True))]
    return "".join([*pieces, events.finish(result, finish_reason=finish_reason)])


def usage_of(response: Mapping[str, Any]) -> TokenUsage:
    """What a forwarded ``response`` object says it cost (Responses names: ``input_tokens``,
    ``output_tokens``); zeros where the upstream reports nothing usable."""
    usage = response.get("usage")
    if not isinstance(usage, Mapping):
        return TokenUsage()
    counts = [usage.get("input_tokens"), usage.get("output_tokens")]
    prompt, completion = (c if isinstance(c, int) and not isinstance(c, bool) else 0 for c in counts)
    return TokenUsage(prompt, completion)


def _part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _usage(tokens: TokenUsage) -> dict[str, Any]:
    """What the *client's* request cost upstream (zero on reuse), as the Responses API counts it."""
    return {
        "input_tokens": tokens.prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": tokens.completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": tokens.total,
    }


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class ResponsesWriter:
    """:class:`ResponseEvents` behind the interface of :class:`~._openai.ChunkWriter`, so the
    proxy streams both APIs with one loop."""

    def __init__(self, model: str, request_body: Mapping[str, Any], response_id: str | None = None) -> None:
        self.events = ResponseEvents(model, request_body, response_id)

    def start(self) -> str:
        return self.events.start()

    def piece(self, text: str) -> str:
        return self.events.delta(text) if text else ""

    def finish(self, result: Result, finish_reason: str = "stop") -> list[str]:
        return [self.events.finish(result, finish_reason=finish_reason)]

    def error(self, body: Mapping[str, Any]) -> str:
        error = body.get("error") if isinstance(body.get("error"), Mapping) else {}
        assert isinstance(error, Mapping)
        return self.events.error(
            str(error.get("message") or "the answer failed"), str(error.get("code") or "server_error")
        )
