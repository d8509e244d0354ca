"""A backend for any OpenAI-compatible HTTP server (OpenAI, vLLM, llama.cpp's server, Ollama, ...).

Translation (``BackendRequest`` → JSON body, JSON answer → ``Completion``) is kept in small
functions apart from the HTTP call, and every httpx error is converted here, at the boundary, into
the :class:`~stepcache.BackendError` tree so nothing above this module ever sees httpx.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx

from .._exceptions import BackendError, UpstreamProtocolError, UpstreamStatusError, UpstreamTimeout
from .._types import BackendRequest, Completion
from ._base import Backend
from ._credentials import current_upstream_key

__all__ = ["OpenAIHTTPBackend"]

#: Upstream statuses worth retrying: rate limits and server-side failures.
_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
#: Never sleep longer than this between attempts, whatever ``Retry-After`` says.
_MAX_BACKOFF = 8.0
_BODY_EXCERPT = 500


class OpenAIHTTPBackend(Backend):
    """Calls ``{base_url}/chat/completions`` (and ``/completions``, ``/models``) over HTTP.

    ``base_url`` is the API root including the version, e.g. ``http://127.0.0.1:8080/v1``.
    ``api_key`` is the *operator's* key for the upstream; a proxy client's key is forwarded only in
    pass-through mode, where the proxy sets it with :func:`~stepcache.backends.upstream_key` and it
    replaces ``api_key`` for that request's calls.
    ``model`` pins the upstream model name, overriding whatever the request names.
    Retries ``max_retries`` times, with exponential backoff from ``retry_backoff`` seconds, on
    429/5xx answers and on failures to connect; a read timeout is not retried (the model may still be
    generating, and a retry would double the wait). ``transport`` lets tests inject
    ``httpx.MockTransport``. Safe to call from several threads (one shared ``httpx.Client``).
    """

    name = "openai-http"
    forwards_client_keys = True

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        retry_backoff: float = 0.25,
        transport: httpx.BaseTransport | None = None,
        deadline: float | None = 600.0,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL such as http://127.0.0.1:8080/v1, got {base_url!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if deadline is not None and deadline <= 0:
            raise ValueError(f"deadline must be > 0 seconds (or None), got {deadline}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        #: Seconds one call may take in all, however the upstream paces its bytes (``timeout`` bounds
        #: each wait; an upstream dripping a byte every few seconds never trips it).
        self.deadline = deadline
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        headers = {"Accept": "application/json", "User-Agent": "stepcache"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            base_url=self.base_url + "/",
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )
        self._closed = threading.Event()
        #: Whether streams ask for usage (``stream_options``); turned off for servers that refuse it.
        self._usage_in_streams = True

    def __repr__(self) -> str:
        return f"OpenAIHTTPBackend({self.base_url!r}, model={self.model!r})"

    # -- the Backend seam --------------------------------------------------------------------
    def complete(self, request: BackendRequest) -> Completion:
        """POST ``/chat/completions`` and return the first choice."""
        data = self._call("POST", "chat/completions", chat_body(request, self.model))
        return parse_chat(data)

    def complete_text(
        self,
        prompt: str,
        *,
        model: str = "default",
        max_tokens: int | None = None,
        temperature: float = 0.0,
        stop: tuple[str, ...] = (),
    ) -> Completion:
        """POST ``/completions`` (the legacy text API) and return the first choice."""
        body: dict[str, Any] = {"model": self.model or model, "prompt": prompt, "temperature": temperature}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if stop:
            body["stop"] = list(stop)
        return parse_text(self._call("POST", "completions", body))

    def models(self) -> list[str]:
        """GET ``/models``: the ids the upstream serves."""
        data = self._call("GET", "models", None)
        items = data.get("data")
        if not isinstance(items, list):
            raise UpstreamProtocolError(f"GET {self.base_url}/models: expected a 'data' list, got {_excerpt(data)}")
        return [str(m["id"]) for m in items if isinstance(m, Mapping) and "id" in m]

    def forward(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``{base_url}/{path}`` unchanged and return the upstream's JSON.

        Used by the proxy for requests it must not cache (sampling, tools, ``n > 1``). The only change
        made to ``body`` is the operator's model override, when one is configured.
        """
        payload = dict(body)
        if self.model:
            payload["model"] = self.model
        return self._call("POST", path.lstrip("/"), payload)

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._client.close()

    # -- streaming -----------------------------------------------------------------------------
    def stream(self, request: BackendRequest) -> Iterator[str | Completion]:
        """POST ``/chat/completions`` with ``stream: true``: text pieces as the upstream sends them,
        then the whole :class:`Completion` (usage from the final chunk, when the upstream reports it).

        A stream that ends without a finish reason or ``[DONE]`` raises :class:`UpstreamProtocolError`,
        so a cut answer is never taken for a whole one. Closing the iterator closes the connection,
        which stops generation on servers that watch for it (vLLM, llama.cpp's server, OpenAI).
        """
        body = chat_body(request, self.model)
        body["stream"] = True
        if self._usage_in_streams:
            body["stream_options"] = {"include_usage": True}
        pieces: list[str] = []
        finish, model, usage = "", "", {}
        with ExitStack() as stack:
            try:
                response = stack.enter_context(self._opened("POST", "chat/completions", body))
            except UpstreamStatusError as exc:
                if "stream_options" not in body or exc.status_code not in (400, 422):
                    raise
                # An older server that refuses stream_options: ask again without (usage is then counted).
                self._usage_in_streams = False
                body.pop("stream_options")
                response = stack.enter_context(self._opened("POST", "chat/completions", body))
            if not _is_event_stream(response):  # a server that ignores "stream": one JSON answer
                completion = parse_chat(self._json(response, "POST", "chat/completions"))
                if completion.text:
                    yield completion.text
                yield completion
                return
            for event in self._events(response, "chat/completions"):
                for choice in event.get("choices") or ():
                    if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                        continue
                    delta = choice.get("delta")
                    piece = delta.get("content") if isinstance(delta, Mapping) else None
                    if isinstance(piece, str) and piece:
                        pieces.append(piece)
                        yield piece
                    finish = str(choice.get("finish_reason") or finish)
                if isinstance(event.get("usage"), Mapping):
                    usage = event["usage"]
                model = str(event.get("model") or model)
        if not finish:
            raise UpstreamProtocolError(
                f"POST {self.base_url}/chat/completions: the stream ended without a finish reason (cut short)"
            )
        yield Completion(
            text="".join(pieces),
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")) or len(pieces),
            model=model,
            finish_reason=finish,
        )

    def forward_stream(self, path: str, body: Mapping[str, Any]) -> Iterator[bytes]:
        """POST ``body`` (which asks for ``stream: true``) to ``{base_url}/{path}`` and yield the
        upstream's bytes as they arrive, unchanged: the proxy relays bypassed streams this way.
        Errors before the first byte raise as :meth:`forward`'s do; closing the iterator closes the
        upstream connection."""
        payload = dict(body)
        if self.model:
            payload["model"] = self.model
        start = time.monotonic()
        with self._opened("POST", path.lstrip("/"), payload) as response:
            for chunk in response.iter_bytes():
                self._check_deadline(start, "POST", f"{self.base_url}/{path.lstrip('/')}")
                yield chunk

    # -- HTTP ----------------------------------------------------------------------------------
    @contextmanager
    def _opened(self, method: str, path: str, body: Mapping[str, Any] | None) -> Iterator[httpx.Response]:
        """An upstream response with a 2xx status, its body not read yet. Failures to connect and
        retryable statuses are retried; an error status raises :class:`UpstreamStatusError`; httpx
        errors while the body is read (in the block) become :class:`BackendError` subclasses."""
        url = f"{self.base_url}/{path}"
        key = current_upstream_key()
        auth = {"Authorization": f"Bearer {key}"} if key else None
        attempt = 0
        with ExitStack() as stack:
            while True:
                stack.close()  # the previous attempt's response, if any
                try:
                    response = stack.enter_context(self._client.stream(method, path, json=body, headers=auth))
                    if response.status_code < 400:
                        break
                    response.read()
                except httpx.TimeoutException as exc:
                    if isinstance(exc, httpx.ConnectTimeout) and attempt < self.max_retries:
                        attempt = self._sleep(attempt, None)
                        continue
                    raise self._timeout(method, url, exc) from exc
                except httpx.ConnectError as exc:
                    if attempt < self.max_retries:
                        attempt = self._sleep(attempt, None)
                        continue
                    error = BackendError(
                        f"{method} {url}: cannot connect ({exc}); check that the upstream server is running "
                        "and that --upstream points at its API root (e.g. http://127.0.0.1:8080/v1)"
                    )
                    error.retryable = True
                    raise error from exc
                except httpx.HTTPError as exc:
                    raise UpstreamProtocolError(f"{method} {url}: the connection failed mid-answer: {exc}") from exc
                if response.status_code in _RETRY_STATUSES and attempt < self.max_retries:
                    attempt = self._sleep(attempt, response.headers.get("retry-after"))
                    continue
                raise UpstreamStatusError(
                    f"{method} {url} answered HTTP {response.status_code}"
                    f"{f' after {attempt + 1} attempts' if attempt else ''}: {_excerpt(response.text)}",
                    status_code=response.status_code,
                    body=response.text[: _BODY_EXCERPT * 4],
                )
            try:
                yield response
            except httpx.TimeoutException as exc:
                raise self._timeout(method, url, exc) from exc
            except httpx.HTTPError as exc:
                raise UpstreamProtocolError(f"{method} {url}: the connection failed mid-answer: {exc}") from exc

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None) -> dict[str, Any]:
        with self._opened(method, path, body) as response:
            return self._json(response, method, path)

    def _json(self, response: httpx.Response, method: str, path: str) -> dict[str, Any]:
        """The whole body as a JSON object, read within :attr:`deadline`."""
        url = f"{self.base_url}/{path}"
        start = time.monotonic()
        received = bytearray()
        for chunk in response.iter_bytes():
            received += chunk
            self._check_deadline(start, method, url)
        try:
            data = json.loads(bytes(received))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UpstreamProtocolError(
                f"{method} {url} answered HTTP {response.status_code} with a body that is not JSON: "
                f"{_excerpt(bytes(received).decode('utf-8', 'replace'))}"
            ) from exc
        if not isinstance(data, dict):
            raise UpstreamProtocolError(f"{method} {url}: expected a JSON object, got {_excerpt(data)}")
        return data

    def _events(self, response: httpx.Response, path: str) -> Iterator[dict[str, Any]]:
        """The JSON objects of an SSE stream's ``data:`` lines, until ``[DONE]``."""
        url = f"{self.base_url}/{path}"
        start = time.monotonic()
        for line in response.iter_lines():
            self._check_deadline(start, "POST", url)
            if not line.startswith("data:"):
                continue  # blank separators, "event:" and ":" comment lines
            payload = line[5:].strip()
            if payload == "[DONE]":
                return
            try:
                event = json.loads(payload)
            except json.JSONDecodeError as exc:
                raise UpstreamProtocolError(f"POST {url}: a stream event is not JSON: {_excerpt(payload)}") from exc
            if not isinstance(event, dict):
                raise UpstreamProtocolError(f"POST {url}: a stream event is not an object: {_excerpt(payload)}")
            if isinstance(event.get("error"), Mapping):
                raise UpstreamStatusError(
                    f"POST {url}: the upstream reported an error mid-stream: {_excerpt(event['error'])}",
                    status_code=502,
                    body=payload[: _BODY_EXCERPT * 4],
                )
            yield event

    def _check_deadline(self, start: float, method: str, url: str) -> None:
        if self.deadline is not None and time.monotonic() - start > self.deadline:
            raise UpstreamTimeout(
                f"{method} {url}: still answering after the {self.deadline:g}s deadline; the upstream is "
                "too slow (raise the backend's deadline if its answers are that long)"
            )

    def _timeout(self, method: str, url: str, exc: httpx.TimeoutException) -> UpstreamTimeout:
        return UpstreamTimeout(
            f"{method} {url}: no answer within {self._client.timeout.read}s ({type(exc).__name__}); "
            "raise the backend timeout or check the upstream's load"
        )

    def _sleep(self, attempt: int, retry_after: str | None) -> int:
        delay = self.retry_backoff * (2**attempt) * (0.5 + random.random() / 2)
        # An HTTP date instead of seconds is rare from model servers; the backoff is a fine substitute.
        with contextlib.suppress(ValueError):
            delay = max(delay, float(retry_after or "-1"))
        time.sleep(min(delay, _MAX_BACKOFF))
        return attempt + 1


# -- translation (no I/O) ----------------------------------------------------------------------
def chat_body(request: BackendRequest, model_override: str | None = None) -> dict[str, Any]:
    """The ``/chat/completions`` JSON body for ``request``."""
    body: dict[str, Any] = {
        "model": model_override or request.model,
        "messages": [dict(m) for m in request.messages],
        "temperature": request.temperature,
    }
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.response_format is not None:
        body["response_format"] = request.response_format
    if request.stop:
        body["stop"] = list(request.stop)
    return body


def parse_chat(data: Mapping[str, Any]) -> Completion:
    """The first choice of a ``chat.completion`` object."""
    choice = _first_choice(data)
    message = choice.get("message")
    content = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(content, str):
        raise UpstreamProtocolError(
            f"the upstream's chat completion has no text in choices[0].message.content: {_excerpt(data)}"
        )
    return _completion(data, choice, content)


def parse_text(data: Mapping[str, Any]) -> Completion:
    """The first choice of a ``text_completion`` object."""
    choice = _first_choice(data)
    text = choice.get("text")
    if not isinstance(text, str):
        raise UpstreamProtocolError(f"the upstream's text completion has no choices[0].text: {_excerpt(data)}")
    return _completion(data, choice, text)


def _first_choice(data: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise UpstreamProtocolError(f"the upstream's answer has no 'choices': {_excerpt(data)}")
    return choices[0]


def _completion(data: Mapping[str, Any], choice: Mapping[str, Any], text: str) -> Completion:
    usage = data.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    return Completion(
        text=text,
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        model=str(data.get("model") or ""),
        finish_reason=str(choice.get("finish_reason") or "stop"),
    )


def _is_event_stream(response: httpx.Response) -> bool:
    content_type = str(response.headers.get("content-type", ""))
    return content_type.split(";")[0].strip().lower() == "text/event-stream"


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _excerpt(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.strip() or "(empty body)"
    return text if len(text) <= _BODY_EXCERPT else text[:_BODY_EXCERPT] + "…"
