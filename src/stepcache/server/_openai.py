"""Translation between OpenAI's HTTP API and StepCache's types. No I/O happens here.

Inbound: a JSON body → :class:`Inbound` (a :class:`ChatRequest` to answer through the cache, or the
reason the body must be forwarded unchanged). Outbound: a :class:`Result` → ``chat.completion`` /
``text_completion`` JSON or SSE chunks. Errors → OpenAI's ``{"error": {...}}`` shape.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jsonschema

from .._exceptions import InvalidRequest
from .._request import coerce_request
from .._types import ChatRequest, Completion, Result, Route, TokenUsage
from ._settings import ServerSettings

__all__ = [
    "Inbound",
    "parse_chat",
    "parse_text",
    "chat_completion",
    "text_completion",
    "ChunkWriter",
    "chat_chunks",
    "text_chunks",
    "bypass_result",
    "error_body",
    "DONE",
]

Endpoint = Literal["chat", "text"]

DONE = "data: [DONE]\n\n"

#: Parameters the cache honours, or that cannot change a temperature-0 answer. Anything else a
#: client sends (stop, logit_bias, penalties, vendor extensions such as vLLM's ``guided_json``)
#: sends the request down the bypass path, because an answer cached without it might not be one
#: the client would have got with it.
_CHAT_KEYS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "response_format",
        "user",
        "seed",
        "metadata",
        "store",
        "service_tier",
        "parallel_tool_calls",
        "logprobs",
        "top_logprobs",
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "cache",
    }
)
_TEXT_KEYS = frozenset(
    {
        "model",
        "prompt",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "n",
        "max_tokens",
        "user",
        "seed",
        "logprobs",
        "echo",
        "best_of",
        "cache",
    }
)
_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True)
class Inbound:
    """One client request, validated. ``request is None`` means: forward it (``bypass_reason`` says why)."""

    endpoint: Endpoint
    body: Mapping[str, Any]  # as received; forwarded unchanged on bypass
    model: str  # the model named in our responses
    stream: bool
    include_usage: bool
    request: ChatRequest | None
    bypass_reason: str = ""
    #: The caller's cache controls: ``read=False`` for ``no-cache``, ``write=False`` for ``no-store``
    #: (or a ``ttl``, which this cache honours by not storing at all).
    read: bool = True
    write: bool = True
    #: The API the client spoke: ``chat``, ``text`` or ``responses`` (a Responses request is answered
    #: as the equivalent chat request, ``chat_body``, and rendered back in its own shape).
    api: str = ""
    chat_body: Mapping[str, Any] | None = None
    #: Keep this request's answer at most ``ttl`` seconds; serve it only from entries younger than
    #: ``max_age`` seconds (the body's ``cache`` object, ``Cache-Control: max-age``).
    ttl: float | None = None
    max_age: float | None = None

    @property
    def default_controls(self) -> bool:
        """No cache control of the caller's own: the request may share an engine call."""
        return self.read and self.write and self.ttl is None and self.max_age is None

    @property
    def label(self) -> str:
        """The API, for metrics and logs."""
        return self.api or self.endpoint

    def coalesce_key(self) -> str:
        """Identical requests (same namespace, model and canonical body) share one engine call while
        in flight. The body rather than the ``ChatRequest`` is hashed because it is several times
        cheaper, and a stampede is the same client code sending the same body."""
        assert self.request is not None
        canonical = json.dumps(
            [self.endpoint, self.request.namespace, self.request.model, self.body],
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


# -- inbound -----------------------------------------------------------------------------------
def parse_chat(body: object, *, namespace: str, settings: ServerSettings, cache_control: str | None = None) -> Inbound:
    """Validate a ``/v1/chat/completions`` body. Raises :class:`InvalidRequest` saying what is wrong."""
    body = _object(body)
    reasons = _common(body, _CHAT_KEYS, settings)
    if body.get("tools") or body.get("functions") or body.get("tool_choice") or body.get("function_call"):
        reasons.append("tools / function calling")
    if body.get("logprobs") or body.get("top_logprobs") is not None:
        reasons.append("logprobs")
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest(
            '\'messages\' is required: send a list such as [{"role": "user", "content": "..."}]',
            param="messages",
        )
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty list of {role, content} objects", param="messages")
    plain: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        converted = _message(i, message, reasons)
        if converted is not None:
            plain.append(converted)
    max_tokens = _opt_int(body, "max_tokens", 1)
    max_completion = _opt_int(body, "max_completion_tokens", 1)
    response_format = _response_format(body.get("response_format"))
    return _inbound(
        "chat", body, plain, response_format, max_tokens or max_completion, reasons, namespace, settings, cache_control
    )


def parse_text(body: object, *, namespace: str, settings: ServerSettings, cache_control: str | None = None) -> Inbound:
    """Validate a ``/v1/completions`` body; a single prompt becomes one user message."""
    body = _object(body)
    reasons = _common(body, _TEXT_KEYS, settings)
    if body.get("logprobs") is not None:
        reasons.append("logprobs")
    if body.get("echo"):
        reasons.append("echo")
    if (_opt_int(body, "best_of", 1) or 1) > 1:
        reasons.append("best_of > 1")
    prompt = body.get("prompt")
    if prompt is None:
        raise InvalidRequest("'prompt' is required: send a string", param="prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, list):
        reasons.append("a list of prompts or token ids")
        prompt = ""
    elif not isinstance(prompt, str):
        raise InvalidRequest(f"'prompt' must be a string, not {_kind(prompt)}", param="prompt")
    max_tokens = _opt_int(body, "max_tokens", 1)
    messages = [{"role": "user", "content": prompt}]
    return _inbound("text", body, messages, None, max_tokens, reasons, namespace, settings, cache_control)


def _inbound(
    endpoint: Endpoint,
    body: Mapping[str, Any],
    messages: list[dict[str, str]],
    response_format: dict[str, Any] | None,
    max_tokens: int | None,
    reasons: list[str],
    namespace: str,
    settings: ServerSettings,
    cache_control: str | None = None,
) -> Inbound:
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidRequest(f"'model' must be a string, not {_kind(model)}", param="model")
    model = settings.upstream_model or model or "default"
    stream = _opt_bool(body, "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest(
            "'stream_options' must be an object such as {\"include_usage\": true}", param="stream_options"
        )
    include_usage = bool(options and options.get("include_usage"))
    if reasons:
        return Inbound(endpoint, body, model, stream, include_usage, None, "; ".join(reasons))
    temperature = body.get("temperature") or 0
    if temperature > 0:
        # Sampled answers are cached only when the operator opted in, and then only for requests
        # sampled the same way: another temperature, top_p or seed is another distribution.
        sampling = {k: body.get(k) for k in ("temperature", "top_p", "seed") if body.get(k) is not None}
        namespace = f"{namespace}|sampling:{json.dumps(sampling, sort_keys=True, separators=(',', ':'))}"
    request = coerce_request(
        {
            "messages": messages,
            "model": model,
            "namespace": namespace,
            "response_format": response_format,
            "max_tokens": max_tokens,
        }
    )
    controls = _cache_controls(body.get("cache"), cache_control)
    return Inbound(
        endpoint,
        body,
        model,
        stream,
        include_usage,
        request,
        read=controls.read,
        write=controls.write,
        ttl=controls.ttl,
        max_age=controls.max_age,
    )


@dataclass(frozen=True, slots=True)
class CacheControls:
    read: bool = True
    write: bool = True
    ttl: float | None = None  # keep this request's answer this many seconds at most
    max_age: float | None = None  # serve only entries younger than this


def _seconds(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= _MAX_SECONDS:
        raise InvalidRequest(
            f"{where} must be a number of seconds between 1 and {_MAX_SECONDS}, got {value!r}", param=where
        )
    return float(value)


#: Ten years: longer cache lifetimes are certainly mistakes.
_MAX_SECONDS = 315_360_000


def _cache_controls(options: object, header: str | None) -> CacheControls:
    """The caller's cache controls, from the body's ``cache`` object (LiteLLM's: ``{"no-cache": true}``,
    ``{"no-store": true}``, ``{"ttl": 600}`` to keep the answer at most that long, ``{"s-maxage": 60}``
    to accept only entries younger than that) and the ``Cache-Control`` header (``no-cache``,
    ``no-store``, ``max-age=N`` as ``s-maxage``)."""
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest(
            '\'cache\' must be an object such as {"no-cache": true} or {"no-store": true}', param="cache"
        )
    options = options or {}
    unknown = sorted(set(options) - {"no-cache", "no-store", "ttl", "s-maxage", "namespace"})
    if unknown:
        raise InvalidRequest(f"cache: unknown control(s) {unknown}; use no-cache, no-store or ttl", param="cache")
    for name in ("no-cache", "no-store"):
        if name in options and not isinstance(options[name], bool):
            raise InvalidRequest(f"cache.{name} must be true or false", param=f"cache.{name}")
    directives: dict[str, str] = {}
    for directive in (header or "").split(","):
        name, _, value = directive.strip().partition("=")
        if name:
            directives[name.lower()] = value.strip().strip('"')
    read = not (options.get("no-cache") or "no-cache" in directives)
    write = not (options.get("no-store") or "no-store" in directives)
    ttl = _seconds(options["ttl"], "cache.ttl") if options.get("ttl") is not None else None
    max_age = _seconds(options["s-maxage"], "cache.s-maxage") if options.get("s-maxage") is not None else None
    if max_age is None and "max-age" in directives:
        if not directives["max-age"].isdigit():
            raise InvalidRequest("Cache-Control: max-age must be a whole number of seconds", param="cache-control")
        seconds = int(directives["max-age"])
        read = read and seconds > 0  # max-age=0: nothing cached is young enough
        max_age = float(seconds) if seconds > 0 else None
    return CacheControls(read, write, ttl, max_age)


def _common(body: Mapping[str, Any], known: frozenset[str], settings: ServerSettings) -> list[str]:
    """Type checks shared by both endpoints, and the bypass reasons they imply."""
    reasons: list[str] = []
    if not settings.cache_enabled:
        reasons.append("caching is disabled on this proxy")
    temperature = _opt_number(body, "temperature", 0.0, 2.0)
    _opt_number(body, "top_p", 0.0, 1.0)
    _opt_bool(body, "stream")
    if temperature is not None and temperature > 0 and not settings.allow_sampling_cache:
        reasons.append(f"temperature {temperature:g} > 0 (sampling; the operator has not opted in to caching it)")
    if (_opt_int(body, "n", 1) or 1) > 1:
        reasons.append("n > 1")
    unknown = sorted(k for k, v in body.items() if k not in known and v is not None)
    if unknown:
        reasons.append(f"parameters the cache does not honour: {', '.join(unknown)}")
    return reasons


def _message(i: int, message: object, reasons: list[str]) -> dict[str, str] | None:
    where = f"messages[{i}]"
    if not isinstance(message, dict):
        raise InvalidRequest(f"{where} must be an object with 'role' and 'content', not {_kind(message)}", param=where)
    role = message.get("role")
    if not isinstance(role, str):
        raise InvalidRequest(f"{where}.role is required and must be a string", param=f"{where}.role")
    if role in ("tool", "function") or message.get("tool_calls") or message.get("function_call"):
        reasons.append("tools / function calling")
        return None
    if role == "developer":  # OpenAI's newer name for the system role
        role = "system"
    if role not in _ROLES:
        raise InvalidRequest(
            f"{where}.role {role!r} is not one of system, developer, user, assistant, tool", param=f"{where}.role"
        )
    content = message.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if isinstance(content, list):
        texts: list[str] = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise InvalidRequest(
                    f"{where}.content[{j}] must be an object with a 'type'", param=f"{where}.content[{j}]"
                )
            if part["type"] != "text":
                reasons.append(f"non-text content ({part['type']})")
                return None
            if not isinstance(part.get("text"), str):
                raise InvalidRequest(f"{where}.content[{j}].text must be a string", param=f"{where}.content[{j}].text")
            texts.append(part["text"])
        return {"role": role, "content": "".join(texts)}
    raise InvalidRequest(
        f"{where}.content must be a string or a list of text parts, not {_kind(content)}", param=f"{where}.content"
    )


def _response_format(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidRequest(f"'response_format' must be an object, not {_kind(value)}", param="response_format")
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise InvalidRequest(
            f"response_format.type must be 'text', 'json_object' or 'json_schema', not {kind!r}",
            param="response_format.type",
        )
    spec = value.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        raise InvalidRequest(
            "response_format.json_schema must be an object with a 'schema' object, e.g. "
            '{"name": "answer", "schema": {"type": "object", ...}, "strict": true}',
            param="response_format.json_schema",
        )
    if "strict" in spec and not isinstance(spec["strict"], bool | None):
        raise InvalidRequest(
            "response_format.json_schema.strict must be a boolean", param="response_format.json_schema.strict"
        )
    schema = spec["schema"]
    try:
        jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise InvalidRequest(
            f"response_format.json_schema.schema is not a valid JSON Schema at {where}: {exc.message}",
            param="response_format.json_schema.schema",
        ) from exc
    return {"type": "json_schema", "json_schema": spec}


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest(f"the request body must be a JSON object, not {_kind(body)}")
    return body


def _opt_bool(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidRequest(f"'{name}' must be true or false, not {value!r}", param=name)
    return value


def _opt_number(body: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidRequest(f"'{name}' must be a number from {low:g} to {high:g}, not {value!r}", param=name)
    return float(value)


def _opt_int(body: Mapping[str, Any], name: str, low: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidRequest(f"'{name}' must be an integer >= {low}, not {value!r}", param=name)
    return value


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


# -- outbound ----------------------------------------------------------------------------------
def new_id(endpoint: Endpoint) -> str:
    return ("chatcmpl-" if endpoint == "chat" else "cmpl-") + uuid.uuid4().hex[:24]


def usage(tokens: TokenUsage) -> dict[str, int]:
    """What the *client's* request cost upstream (zero on reuse)."""
    return {"prompt_tokens": tokens.prompt, "completion_tokens": tokens.completion, "total_tokens": tokens.total}


def chat_completion(result: Result, *, model: str, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": new_id("chat"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage(result.upstream_tokens),
        "stepcache": result.metadata(),
    }


def text_completion(result: Result, *, model: str, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "id": new_id("text"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": result.text, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage(result.upstream_tokens),
        "stepcache": result.metadata(),
    }


def sse(obj: Mapping[str, Any]) -> str:
    return f"data: {json.dumps(obj, separators=(',', ':'), ensure_ascii=False)}\n\n"


class ChunkWriter:
    """SSE events of one streamed answer, written as its pieces become known: :meth:`start`, a
    :meth:`piece` per text piece, then :meth:`finish` (the finish reason, the ``stepcache`` object,
    usage when asked, ``[DONE]``) or :meth:`error` when the answer cannot be completed."""

    def __init__(self, endpoint: Endpoint, *, model: str, include_usage: bool) -> None:
        self.endpoint = endpoint
        self.include_usage = include_usage
        self.head = {
            "id": new_id(endpoint),
            "object": "chat.completion.chunk" if endpoint == "chat" else "text_completion",
            "created": int(time.time()),
            "model": model,
        }

    def _choice(self, text: str | None, finish: str | None, *, role: bool = False) -> dict[str, Any]:
        if self.endpoint == "chat":
            delta: dict[str, Any] = {} if text is None else {"content": text}
            if role:
                delta["role"] = "assistant"
            return {"index": 0, "delta": delta, "finish_reason": finish}
        return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}

    def start(self) -> str:
        """The opening event (chat's assistant role); empty for text completions."""
        return sse({**self.head, "choices": [self._choice("", None, role=True)]}) if self.endpoint == "chat" else ""

    def piece(self, text: str) -> str:
        return sse({**self.head, "choices": [self._choice(text, None)]}) if text else ""

    def finish(self, result: Result, finish_reason: str = "stop") -> list[str]:
        events = [sse({**self.head, "choices": [self._choice(None, finish_reason)], "stepcache": result.metadata()})]
        if self.include_usage:
            events.append(sse({**self.head, "choices": [], "usage": usage(result.upstream_tokens)}))
        events.append(DONE)
        return events

    def error(self, body: Mapping[str, Any]) -> str:
        """An OpenAI-style error event (SDKs raise it as an API error), then ``[DONE]``."""
        return sse(body) + DONE


def chat_chunks(result: Result, *, model: str, include_usage: bool) -> list[str]:
    """A whole answer (a reuse, a patch) as ``chat.completion.chunk`` events (one per line of
    text), then ``[DONE]``. The last chunk with choices also carries the ``stepcache`` object."""
    return _chunks(ChunkWriter("chat", model=model, include_usage=include_usage), result)


def text_chunks(result: Result, *, model: str, include_usage: bool) -> list[str]:
    return _chunks(ChunkWriter("text", model=model, include_usage=include_usage), result)


def _chunks(writer: ChunkWriter, result: Result) -> list[str]:
    events = [writer.start(), *(writer.piece(p) for p in result.text.splitlines(keepends=True)), *writer.finish(result)]
    return [e for e in events if e]


def bypass_result(text: str, spent: TokenUsage, reason: str) -> Result:
    """The ``stepcache`` metadata of a bypassed request."""
    return Result(text=text, path=Route.BYPASS, family="none", upstream_tokens=spent, detail=f"not cached: {reason}")


def completion_response(endpoint: Endpoint, completion: Completion, *, model: str, reason: str) -> dict[str, Any]:
    """An OpenAI body for a bypassed request answered by a backend that cannot forward raw bodies."""
    result = bypass_result(completion.text, TokenUsage.of(completion), reason)
    build = chat_completion if endpoint == "chat" else text_completion
    return build(result, model=completion.model or model, finish_reason=completion.finish_reason)


def error_body(message: str, *, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}
