"""The proxy's HTTP layer: routes, error mapping, bypass forwarding, metrics.

The engine is synchronous; every call into it (and into the backend or store) runs in the thread
pool so the event loop never blocks. Translation to and from OpenAI's JSON lives in ``_openai``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from .._exceptions import (
    BackendError,
    ConfigurationError,
    InvalidRequest,
    MissingDependency,
    StepCacheError,
    StoreError,
    UpstreamProtocolError,
    UpstreamStatusError,
)
from .._types import BackendRequest, Completion, Result, TokenUsage
from ..backends._credentials import bind_upstream_key
from . import _openai as oa
from ._auth import RateLimited, TenantLimits, Unauthorized, client_key, namespace_for
from ._coalesce import ClientGone, Coalescer
from ._conversations import Conversations
from ._metrics import Metrics
from ._responses import UPSTREAM_PATH as RESPONSES_PATH
from ._responses import ResponsesWriter, parse_responses, response_object, response_stream
from ._responses import usage_of as responses_usage
from ._settings import ServerSettings

try:
    import anyio
    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency("starlette", "server", "The OpenAI-compatible proxy (stepcache serve)") from exc

if TYPE_CHECKING:
    from .._engine import AnswerStream, StepCache

__all__ = ["create_app", "run"]

log = logging.getLogger("stepcache.server")

PATH_HEADER = "X-StepCache-Path"
_JSON = "application/json"
_SSE = "text/event-stream; charset=utf-8"
_ENDPOINT_PATHS = {"chat": "chat/completions", "text": "completions"}
#: Deeper JSON than this is refused before anything walks it (recursive code would overflow).
MAX_JSON_DEPTH = 64
#: After the store fails, requests skip the cache (answered uncached) for this long.
STORE_COOLDOWN_S = 10.0


class _BodyTooLarge(InvalidRequest):
    error_code = "request_too_large"


def create_app(cache: StepCache, settings: ServerSettings | None = None, *, owns_cache: bool = False) -> Starlette:
    """An OpenAI-compatible ASGI app answering through ``cache``. The caller keeps ownership of
    ``cache`` (close it after the server stops) unless ``owns_cache``: then the app closes it at
    shutdown."""
    settings = settings or ServerSettings()
    if settings.pass_through_keys and not cache.backend.forwards_client_keys:
        raise ConfigurationError(
            f"pass-through keys need an upstream that checks them; the {cache.backend.name} backend does not "
            "(serve an HTTP upstream with --upstream URL, or give clients keys with --api-keys FILE)"
        )
    proxy = _Proxy(cache, settings)
    _configure_protocol(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        try:
            yield
        finally:
            if owns_cache:
                cache.close()

    # A plain Starlette app: the handlers parse bodies themselves (to give OpenAI-style 400s and
    # enforce the size limit), so FastAPI's dependency solving and its extra middleware layers
    # would only add per-request cost.
    routes = [
        Route("/v1/chat/completions", proxy.chat, methods=["POST"]),
        Route("/v1/completions", proxy.text, methods=["POST"]),
        Route("/v1/responses", proxy.responses, methods=["POST"]),
        Route("/v1/models", proxy.models, methods=["GET"]),
        Route("/healthz", proxy.healthz, methods=["GET"]),
        Route("/readyz", proxy.readyz, methods=["GET"]),
        Route("/metrics", proxy.metrics_text, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.stepcache = proxy
    app.add_middleware(_HeaderLimit, limit=settings.max_header_bytes)
    return app


class _HeaderLimit:
    """Requests whose headers together exceed ``limit`` bytes get HTTP 431 before any route runs
    (uvicorn bounds only headers still arriving; a whole oversized head is refused here)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and sum(len(k) + len(v) for k, v in scope.get("headers", ())) > self.limit:
            body = json.dumps(
                oa.error_body(
                    f"the request headers are over this proxy's limit of {self.limit} bytes; send smaller headers",
                    type="invalid_request_error",
                    code="headers_too_large",
                )
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 431,
                    "headers": [(b"content-type", _JSON.encode()), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def run(cache: StepCache, settings: ServerSettings | None = None, *, owns_cache: bool = False) -> None:
    """Serve ``create_app(cache, settings)`` with uvicorn until interrupted.

    With ``owns_cache`` the cache is closed (buffered counters flushed) at shutdown. Closing it after
    this function returns is not enough: uvicorn re-raises SIGTERM once it has shut down.
    """
    import uvicorn

    settings = settings or ServerSettings()
    settings.check_exposure()
    uvicorn.run(create_app(cache, settings, owns_cache=owns_cache), **settings.uvicorn_options())


class _StoreBreaker:
    """After the store fails, the cache is skipped for a cooldown: requests are answered uncached at
    once instead of each waiting on a store that is down."""

    def __init__(self, cooldown_s: float = STORE_COOLDOWN_S) -> None:
        self.cooldown_s = cooldown_s
        self.open_until = 0.0
        self.last_error = ""

    @property
    def open(self) -> bool:
        return time.monotonic() < self.open_until

    def trip(self, error: Exception) -> None:
        self.open_until = time.monotonic() + self.cooldown_s
        self.last_error = str(error)


class _Proxy:
    def __init__(self, cache: StepCache, settings: ServerSettings) -> None:
        self.cache = cache
        self.settings = settings
        self.metrics = Metrics()
        self.coalescer = Coalescer(cache)
        self.inline_lookup = _local_store(cache) if settings.inline_lookup is None else settings.inline_lookup
        self.store_breaker = _StoreBreaker()
        self.tenant_limits = TenantLimits(settings.tenant_limits or {})
        self.conversations = Conversations()

    # -- routes --------------------------------------------------------------------------------
    async def chat(self, request: Request) -> Response:
        return await self._complete(request, "chat")

    async def text(self, request: Request) -> Response:
        return await self._complete(request, "text")

    async def responses(self, request: Request) -> Response:
        return await self._complete(request, "responses")

    async def models(self, request: Request) -> Response:
        try:
            self._namespace(request)
        except Unauthorized as exc:
            status, error = _error(exc)
            return _json(error, status=status, headers={"WWW-Authenticate": 'Bearer realm="stepcache"'})
        try:
            names = await run_in_threadpool(self.cache.backend.models)
        except UpstreamStatusError as exc:
            if self.settings.pass_through_keys and exc.status_code in (401, 403):
                status, error = self._error(exc)
                return _json(error, status=status)
            log.warning("upstream model list unavailable: %s", exc)
            names = []
        except StepCacheError as exc:
            log.warning("upstream model list unavailable: %s", exc)
            names = []
        if not names:
            names = [self.settings.upstream_model or self.cache.backend.name]
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "stepcache"} for n in names]
        return _json({"object": "list", "data": data})

    async def healthz(self, request: Request) -> Response:
        """Liveness, with the store's and (``?deep=1``) the upstream's state: ``degraded`` while the
        store is failing (requests are then answered uncached)."""
        report = await self._health(deep=request.query_params.get("deep") in ("1", "true", "yes"))
        return _json(report)

    async def readyz(self, request: Request) -> Response:
        """Readiness: 503 while the store is failing, so a load balancer can send traffic elsewhere."""
        report = await self._health(deep=True, upstream=False)
        return _json(report, status=200 if report["status"] == "ok" else 503)

    async def _health(self, *, deep: bool, upstream: bool = True) -> dict[str, Any]:
        store: dict[str, Any] = {"type": type(self.cache.store).__name__, "state": "ok"}
        if self.store_breaker.open:
            store.update(state="unavailable", error=_redacted(self.store_breaker.last_error))
        elif deep:
            try:
                await run_in_threadpool(self.cache.store.stats)
            except StepCacheError as exc:
                self.store_breaker.trip(exc)
                store.update(state="unavailable", error=_redacted(str(exc)))
        report: dict[str, Any] = {"status": "ok" if store["state"] == "ok" else "degraded", "store": store}
        backend: dict[str, Any] = {"name": self.cache.backend.name}
        if deep and upstream:
            try:
                await run_in_threadpool(self.cache.backend.models)
                backend["state"] = "ok"
            except StepCacheError as exc:
                backend.update(state="unavailable", error=_redacted(str(exc)))
                report["status"] = "degraded"
        report["backend"] = backend
        return report

    async def metrics_text(self, request: Request) -> Response:
        try:
            stats = await run_in_threadpool(self.cache.store.stats)
        except StepCacheError as exc:
            log.warning("store statistics unavailable for /metrics: %s", exc)
            stats = None
        text = self.metrics.render(stats, audits_pending=self.cache.audits.pending)
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- completions ---------------------------------------------------------------------------
    async def _complete(self, request: Request, endpoint: str) -> Response:
        start = time.perf_counter()
        if self.metrics.in_flight >= self.settings.max_in_flight:
            self.metrics.failed(endpoint, 429, 0.0)
            busy = oa.error_body(
                f"the proxy is answering {self.metrics.in_flight} requests already (its limit); retry shortly",
                type="rate_limit_error",
                code="proxy_busy",
            )
            return _json(busy, status=429, headers={"Retry-After": "1"})
        self.metrics.in_flight += 1
        handed_off = False
        try:
            body = await self._read_json(request)
            namespace = self._namespace(request)
            tenant = namespace.removeprefix("tenant-") if self.settings.api_keys is not None else ""
            self.tenant_limits.admit(tenant)
            if endpoint == "responses":
                body = self.conversations.expand(body)
            inbound = _parse(endpoint, body, namespace, self.settings, request.headers.get("cache-control"))
            if inbound.request is not None and self.store_breaker.open:
                inbound = _uncached(inbound, self.store_breaker.last_error)
            if inbound.request is not None and inbound.stream:
                found = self._inline_lookup(inbound)
                if found is None:
                    try:
                        streamed = await self._stream_answer(inbound, namespace, start)
                    except StoreError as exc:
                        self._store_failed(exc)
                        inbound = _uncached(inbound, str(exc))
                    else:
                        handed_off = True  # the stream counts itself when it ends
                        return streamed
                else:
                    result, response = found, self._render(inbound, found)
            if inbound.request is None:
                if inbound.stream:
                    streamed = await self._bypass_stream(inbound, namespace, start)
                    handed_off = True
                    return streamed
                response, result = await self._bypass(inbound)
                self._count_bypass(namespace, result)
            elif not inbound.stream:
                try:
                    result = await self._answer(inbound, request)
                    response = self._render(inbound, result)
                except StoreError as exc:
                    # The store is down, not the upstream: answer uncached and stop trying it for a while.
                    self._store_failed(exc)
                    response, result = await self._bypass(_uncached(inbound, str(exc)))
        except (ClientDisconnect, ClientGone):
            # The client went away (before sending its whole body, or while its answer was being
            # made, which was then abandoned): nothing to answer, nothing to log.
            self.metrics.failed(endpoint, 499, time.perf_counter() - start)
            return Response(status_code=499)
        except StepCacheError as exc:
            status, error = self._error(exc)
            if status >= 500:
                log.warning("%s request failed with HTTP %d: %s", endpoint, status, exc)
            self.metrics.failed(endpoint, status, time.perf_counter() - start)
            extra = {"WWW-Authenticate": 'Bearer realm="stepcache"'} if status == 401 else None
            if isinstance(exc, RateLimited):
                extra = {"Retry-After": str(exc.retry_after)}
            return _json(error, status=status, headers=extra)
        except Exception:
            log.exception("unexpected error answering a %s request", endpoint)
            self.metrics.failed(endpoint, 500, time.perf_counter() - start)
            body = oa.error_body("internal error in the StepCache proxy; see its log", type="server_error")
            return _json(body, status=500)
        finally:
            if not handed_off:
                self.metrics.in_flight -= 1
        self._served(endpoint, namespace, result, start)
        return response

    def _served(self, endpoint: str, namespace: str, result: Result, start: float, first: float | None = None) -> None:
        elapsed = time.perf_counter() - start
        self.metrics.served(endpoint, result.path.value, elapsed, result.upstream_tokens)
        self.metrics.first_token(result.path.value, elapsed if first is None else first)
        if self.settings.api_keys is not None:
            self.tenant_limits.spent(namespace.removeprefix("tenant-"), result.upstream_tokens.total)

    def _render(self, inbound: oa.Inbound, result: Result) -> Response:
        if inbound.api != "responses":
            return _render(inbound, result)
        response_id = f"resp_{uuid.uuid4().hex}"
        self._remember(inbound, response_id, result)
        return _render(inbound, result, response_id)

    def _remember(self, inbound: oa.Inbound, response_id: str, result: Result) -> None:
        """A Responses answer this proxy wrote: kept so ``previous_response_id`` can continue it."""
        messages = (inbound.chat_body or {}).get("messages")
        if inbound.api == "responses" and isinstance(messages, list):
            self.conversations.remember(response_id, inbound.body, messages, result.text)

    def _keeper(self, inbound: oa.Inbound, writer: _Writer) -> Callable[[Result], None] | None:
        if not isinstance(writer, ResponsesWriter):
            return None
        response_id = writer.events.response_id
        return lambda result: self._remember(inbound, response_id, result)

    def _stream_failed(self, label: str, exc: StepCacheError, start: float) -> dict[str, Any]:
        """The error body for a stream that fails after it began (headers already sent), counted."""
        status, error = self._error(exc)
        log.warning("a streamed %s answer failed after it began (HTTP %d): %s", label, status, exc)
        self.metrics.failed(label, status, time.perf_counter() - start)
        return error

    async def _stream_ended(self, label: str, start: float, done: bool, close: Callable[[], None]) -> None:
        """A stream's end: when the client went away before it, the upstream is stopped (nothing is
        stored) and the request counted as 499."""
        if not done:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(close)
            self.metrics.failed(label, 499, time.perf_counter() - start)
        self.metrics.in_flight -= 1

    def _store_failed(self, exc: StoreError) -> None:
        log.warning("cache store failed; answering uncached for %.0f s: %s", STORE_COOLDOWN_S, exc)
        self.store_breaker.trip(exc)

    # -- streaming -----------------------------------------------------------------------------
    def _inline_lookup(self, inbound: oa.Inbound) -> Result | None:
        request = inbound.request
        if request is None or not inbound.default_controls or not self.inline_lookup or not _small(request):
            return None
        return self.cache.lookup(request)

    async def _stream_answer(self, inbound: oa.Inbound, namespace: str, start: float) -> Response:
        """A streamed answer from the cache: headers go out once the path is known and the model
        (if it is asked) has begun; then each piece as the engine vouches for it (see
        ``StepCache.stream``). Failures before that are HTTP errors; after it, an error event."""
        request = inbound.request
        assert request is not None
        answer = self.cache.stream(
            request, read=inbound.read, write=inbound.write, ttl=inbound.ttl, max_age=inbound.max_age
        )
        try:
            path = await run_in_threadpool(answer.start)
            first = await run_in_threadpool(_pull, answer)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(answer.close)
            raise
        writer = _writer(inbound)
        events = self._relay(answer, writer, first, inbound.label, namespace, start, self._keeper(inbound, writer))
        return StreamingResponse(events, media_type=_SSE, headers={PATH_HEADER: path.value})

    async def _relay(
        self,
        answer: AnswerStream,
        writer: _Writer,
        first: str | None,
        endpoint: str,
        namespace: str,
        start: float,
        on_done: Callable[[Result], None] | None = None,
    ) -> AsyncIterator[str]:
        done = False
        first_at: float | None = None
        try:
            yield writer.start()
            last_sent = time.monotonic()
            piece = first
            while piece is not None:
                if piece:
                    first_at = time.perf_counter() - start if first_at is None else first_at
                    yield writer.piece(piece)
                    last_sent = time.monotonic()
                elif time.monotonic() - last_sent >= _KEEP_ALIVE_S:
                    # The model is writing what cannot be sent yet (a JSON object, a held step):
                    # an SSE comment keeps proxies from timing out and shows whether the client left.
                    yield _KEEP_ALIVE
                    last_sent = time.monotonic()
                piece = await run_in_threadpool(_pull, answer)
            result = answer.result
            assert result is not None
            for event in writer.finish(result):
                yield event
            done = True
            if on_done is not None:
                on_done(result)
            self._served(endpoint, namespace, result, start, first_at)
        except StepCacheError as exc:
            done = True
            yield writer.error(self._stream_failed(endpoint, exc, start))
        finally:
            await self._stream_ended(endpoint, start, done, answer.close)

    async def _bypass_stream(self, inbound: oa.Inbound, namespace: str, start: float) -> Response:
        """A request the cache must not answer, streamed from the upstream as it arrives: relayed
        byte for byte when the backend can forward raw bodies, else the backend's text stream."""
        backend = self.cache.backend
        body = dict(inbound.body)
        if self.settings.upstream_model:
            body["model"] = self.settings.upstream_model
        if isinstance(backend, Forwarding):
            chunks: Iterator[bytes] = backend.forward_stream(_upstream_path(inbound), body)
            first = await run_in_threadpool(_pull, chunks)
            relayed = self._relay_bytes(chunks, first, inbound, namespace, start)
            return StreamingResponse(relayed, media_type=_SSE, headers={PATH_HEADER: "bypass"})
        pieces = backend.stream(_backend_request(inbound, body))
        head = await run_in_threadpool(_pull, pieces)
        writer = _writer(inbound)
        events = self._relay_text(pieces, head, writer, inbound, namespace, start, self._keeper(inbound, writer))
        return StreamingResponse(events, media_type=_SSE, headers={PATH_HEADER: "bypass"})

    async def _relay_bytes(
        self, chunks: Iterator[bytes], first: bytes | None, inbound: oa.Inbound, namespace: str, start: float
    ) -> AsyncIterator[bytes]:
        usage = _StreamUsage(responses_usage if inbound.api == "responses" else _usage_of)
        done = False
        first_at: float | None = None
        try:
            chunk = first
            while chunk is not None:
                first_at = time.perf_counter() - start if first_at is None else first_at
                usage.feed(chunk)
                yield chunk
                chunk = await run_in_threadpool(_pull, chunks)
            done = True
            result = oa.bypass_result("", usage.tokens, inbound.bypass_reason)
            self._served(inbound.label, namespace, result, start, first_at)
            self._count_bypass(namespace, result)
        except StepCacheError as exc:
            done = True
            yield oa.sse(self._stream_failed(inbound.label, exc, start)).encode()
        finally:
            await self._stream_ended(inbound.label, start, done, lambda: _close(chunks))

    async def _relay_text(
        self,
        pieces: Iterator[str | Completion],
        head: str | Completion | None,
        writer: _Writer,
        inbound: oa.Inbound,
        namespace: str,
        start: float,
        on_done: Callable[[Result], None] | None = None,
    ) -> AsyncIterator[str]:
        done = False
        first_at: float | None = None
        try:
            yield writer.start()
            item = head
            while isinstance(item, str):
                first_at = time.perf_counter() - start if first_at is None else first_at
                yield writer.piece(item)
                item = await run_in_threadpool(_pull, pieces)
            if item is None:
                raise UpstreamProtocolError(
                    f"the {self.cache.backend.name} backend's stream ended without its completion"
                )
            result = oa.bypass_result(item.text, TokenUsage.of(item), inbound.bypass_reason)
            for event in writer.finish(result, item.finish_reason):
                yield event
            done = True
            if on_done is not None:
                on_done(result)
            self._served(inbound.label, namespace, result, start, first_at)
            self._count_bypass(namespace, result)
        except StepCacheError as exc:
            done = True
            yield writer.error(self._stream_failed(inbound.label, exc, start))
        finally:
            await self._stream_ended(inbound.label, start, done, lambda: _close(pieces))

    def _namespace(self, request: Request) -> str:
        """The request's cache namespace; in pass-through mode also makes the client's key the
        upstream key for the rest of this request (a context variable: it follows the request into
        worker threads and nowhere else)."""
        settings = self.settings
        namespace = namespace_for(
            request.headers, settings.api_keys, settings.shared_namespace, pass_through=settings.pass_through_keys
        )
        if settings.pass_through_keys:
            bind_upstream_key(client_key(request.headers))
        return namespace

    def _error(self, exc: StepCacheError) -> tuple[int, dict[str, Any]]:
        if self.settings.pass_through_keys and isinstance(exc, UpstreamStatusError) and exc.status_code in (401, 403):
            # The client's own key was refused upstream: its problem to fix, not the proxy's.
            message = f"the upstream refused this API key (HTTP {exc.status_code}); check the key you send"
            code = "invalid_api_key" if exc.status_code == 401 else "permission_denied"
            return exc.status_code, oa.error_body(message, type="invalid_request_error", code=code)
        return _error(exc)

    def _count_bypass(self, namespace: str, result: Result) -> None:
        """Counted in the store too, so ``stepcache stats`` shows the share of uncached traffic —
        best-effort: a store that cannot count must not fail an answered request."""
        if self.store_breaker.open:
            return
        try:
            self.cache.store.record(namespace, "none", result.path, result.upstream_tokens, 0)
        except StepCacheError as exc:
            log.warning("could not count a bypassed request in the store: %s", exc)

    async def _answer(self, inbound: oa.Inbound, client: Request) -> Result:
        request = inbound.request
        assert request is not None
        if not inbound.default_controls:
            # The caller's own cache controls: not shared with anyone else's identical request.
            result, _ = await self.coalescer.complete(None, request, client.is_disconnected, controls=inbound)
            return result
        if self.inline_lookup and _small(request):
            # The reuse path makes no model call and, with an in-process store, no I/O: ~0.4 ms of
            # CPU. Answering it on the loop saves the thread-pool hop, which cost more than that
            # (two thread switches, and GIL hand-offs that wait out the 5 ms switch interval once
            # 32 requests compete). Only a miss or a patch pays the hop, into complete().
            found = self.cache.lookup(request)
            if found is not None:
                return found
        key = inbound.coalesce_key() if self.settings.coalesce else None
        result, waited = await self.coalescer.complete(key, request, client.is_disconnected)
        if waited:
            self.metrics.coalesced += 1
        return result

    async def _bypass(self, inbound: oa.Inbound) -> tuple[Response, Result]:
        """Forward a request the cache must not answer, unchanged but for the operator's model pin."""
        backend = self.cache.backend
        body = dict(inbound.body)
        body.pop("stream", None)  # streamed requests take _bypass_stream; this one may be an uncached retry
        body.pop("stream_options", None)
        if self.settings.upstream_model:
            body["model"] = self.settings.upstream_model
        if isinstance(backend, Forwarding):
            data = await run_in_threadpool(backend.forward, _upstream_path(inbound), body)
            spent = responses_usage(data) if inbound.api == "responses" else _usage_of(data)
            result = oa.bypass_result("", spent, inbound.bypass_reason)
            data["stepcache"] = result.metadata()
        else:  # e.g. the embedded model: no raw API, so answer the plain-text part of the request
            completion = await run_in_threadpool(backend.complete, _backend_request(inbound, body))
            result = oa.bypass_result(completion.text, TokenUsage.of(completion), inbound.bypass_reason)
            if inbound.api == "responses":
                data = response_object(
                    result, model=inbound.model, request_body=inbound.body, finish_reason=completion.finish_reason
                )
                self._remember(inbound, str(data["id"]), result)
            else:
                data = oa.completion_response(
                    inbound.endpoint, completion, model=inbound.model, reason=inbound.bypass_reason
                )
        return _json(data, headers={PATH_HEADER: "bypass"}), result

    async def _read_json(self, request: Request) -> object:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(int(declared), limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit)
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            raise InvalidRequest("the request body is empty; send a JSON object with 'model' and 'messages'")
        try:
            body = json.loads(raw)
        except RecursionError as exc:
            raise _too_deep() from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidRequest(f"the request body is not valid JSON: {exc}") from exc
        _check_json(body)
        return body


#: Requests longer than this are looked up in a worker thread, never on the event loop: reading a
#: long prompt (families parse it, the embedder reads it) would stall every other request.
INLINE_LOOKUP_MAX_CHARS = 16_000


def _small(request: Any) -> bool:
    return sum(len(m.content) for m in request.messages) <= INLINE_LOOKUP_MAX_CHARS


def _uncached(inbound: oa.Inbound, error: str) -> oa.Inbound:
    """The request forwarded uncached because the store is unavailable (path ``bypass``)."""
    return dataclasses.replace(inbound, request=None, bypass_reason=f"store_unavailable: {_redacted(error)}")


def _check_json(body: object) -> None:
    """Refuse what would break code further on: nesting deeper than :data:`MAX_JSON_DEPTH`, and
    strings holding a lone UTF-16 surrogate (``\\ud800``), which no encoder can write."""
    stack: list[tuple[object, int, str]] = [(body, 0, "body")]
    while stack:
        value, depth, where = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        if isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, where)
                stack.append((item, depth + 1, f"{where}.{key}" if depth < 4 else where))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, f"{where}[{i}]" if depth < 4 else where) for i, item in enumerate(value))


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(
            f"{where} holds a lone UTF-16 surrogate ({text[exc.start : exc.end].encode('unicode_escape').decode()}), "
            "which is not valid Unicode; send the character's full surrogate pair or remove it",
            param=where,
        ) from exc


def _too_deep() -> InvalidRequest:
    return InvalidRequest(
        f"the request body nests objects or arrays deeper than {MAX_JSON_DEPTH} levels; flatten it "
        "(a json_schema this deep is also refused)"
    )


def _redacted(text: str) -> str:
    """An error message without credentials or internal URLs (``postgresql://user:pw@host/db``)."""
    text = re.sub(r"\b[a-z][a-z0-9+.-]*://\S+", "<url>", text)
    return re.sub(r"(?i)(bearer\s+|api[-_]?key[=:\s]+|password[=:\s]+)\S+", r"\1<redacted>", text)


async def _http_error(request: Request, exc: Exception) -> Response:
    """404, 405 and other routing errors as OpenAI-style JSON."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        message = f"no such endpoint: {request.method} {request.url.path}; this proxy serves /v1/chat/completions, /v1/completions, /v1/responses and /v1/models"
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = exc.detail if isinstance(exc, HTTPException) else "internal error"
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    body = oa.error_body(
        message, type="invalid_request_error", code="not_found" if status == 404 else "method_not_allowed"
    )
    return _json(body, status=status, headers=headers)


def _local_store(cache: StepCache) -> bool:
    """Whether the store answers without network round trips, so a lookup may run on the event loop."""
    return cache.store.in_process


def _render(inbound: oa.Inbound, result: Result, response_id: str | None = None) -> Response:
    headers = {PATH_HEADER: result.path.value}
    if inbound.api == "responses":
        if inbound.stream:
            text = response_stream(result, model=inbound.model, request_body=inbound.body, response_id=response_id)
            return Response(text, media_type=_SSE, headers=headers)
        return _json(
            response_object(result, model=inbound.model, request_body=inbound.body, response_id=response_id),
            headers=headers,
        )
    if inbound.stream:
        chunker = oa.chat_chunks if inbound.endpoint == "chat" else oa.text_chunks
        events = chunker(result, model=inbound.model, include_usage=inbound.include_usage)
        return Response("".join(events), media_type=_SSE, headers=headers)
    build = oa.chat_completion if inbound.endpoint == "chat" else oa.text_completion
    return _json(build(result, model=inbound.model), headers=headers)


def _json(data: Mapping[str, Any], *, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    content = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(content, status_code=status, media_type=_JSON, headers=dict(headers or {}))


def _error(exc: StepCacheError) -> tuple[int, dict[str, Any]]:
    """HTTP status and OpenAI-style body for an error from the engine or the backend. What comes
    from the upstream or the store is summarised: credentials and internal URLs never reach a
    client."""
    status, body = _error_body(exc)
    if status >= 500 or isinstance(exc, BackendError):
        error = body["error"]
        message = _redacted(str(error.get("message", "")))
        error["message"] = message if len(message) <= 400 else message[:397] + "..."
    return status, body


def _error_body(exc: StepCacheError) -> tuple[int, dict[str, Any]]:
    param = exc.param if isinstance(exc, InvalidRequest) else None
    return exc.http_status, oa.error_body(exc.client_message(), type=exc.error_type, param=param, code=exc.error_code)


def _too_large(size: int, limit: int) -> InvalidRequest:
    return _BodyTooLarge(
        f"the request body is {size} bytes, over this proxy's limit of {limit} bytes; send a smaller "
        "request or ask the operator to raise ServerSettings.max_body_bytes"
    )


def _usage_of(data: Mapping[str, Any]) -> TokenUsage:
    usage = data.get("usage")
    if not isinstance(usage, Mapping):
        return TokenUsage()
    counts = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
    prompt, completion = (c if isinstance(c, int) and not isinstance(c, bool) else 0 for c in counts)
    return TokenUsage(prompt, completion)


def _backend_request(inbound: oa.Inbound, body: Mapping[str, Any]) -> BackendRequest:
    """The text-only core of a bypassed request, for backends that cannot forward raw bodies."""
    if inbound.chat_body is not None:  # a Responses request: its chat equivalent
        body = {**inbound.chat_body, **({"model": body["model"]} if "model" in body else {})}
    if inbound.endpoint == "text":
        prompt = body.get("prompt")
        messages: list[dict[str, str]] = [
            {"role": "user", "content": prompt if isinstance(prompt, str) else str(prompt)}
        ]
    else:
        messages = []
        for m in body.get("messages") or []:
            content = m.get("content")
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
            if isinstance(content, str) and content:
                role = {"developer": "system", "tool": "user", "function": "user"}.get(m.get("role"), m.get("role"))
                messages.append({"role": str(role), "content": content})
    temperature = body.get("temperature")
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
    stop = body.get("stop")
    fmt = body.get("response_format")
    return BackendRequest(
        messages=tuple(messages),
        model=inbound.model,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        temperature=float(temperature) if isinstance(temperature, int | float) else 0.0,
        response_format=fmt if isinstance(fmt, dict) and fmt.get("type") != "text" else None,
        stop=(stop,) if isinstance(stop, str) else tuple(s for s in stop or () if isinstance(s, str)),
    )


_KEEP_ALIVE = ": keep-alive\n\n"
#: Seconds without a piece to send before a keep-alive comment goes out.
_KEEP_ALIVE_S = 1.0


@runtime_checkable
class Forwarding(Protocol):
    """A backend that can forward a raw OpenAI body (what the proxy cannot cache) unchanged."""

    def forward(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def forward_stream(self, path: str, body: Mapping[str, Any]) -> Iterator[bytes]: ...


_T = TypeVar("_T")


def _pull(items: Iterator[_T]) -> _T | None:
    """The next item, or ``None`` at the end (run in a worker thread: it may wait on the model)."""
    return next(items, None)


def _close(items: Iterator[Any]) -> None:
    close = getattr(items, "close", None)
    if callable(close):
        close()


class _StreamUsage:
    """The ``usage`` object of a relayed SSE stream (chat: sent when the client asked for it with
    ``stream_options.include_usage``; Responses: in ``response.completed``), read from the bytes as
    they pass, with ``read`` (chat's or the Responses API's field names)."""

    def __init__(self, read: Callable[[Mapping[str, Any]], TokenUsage]) -> None:
        self.read = read
        self.pending = b""
        self.tokens = TokenUsage()

    def feed(self, chunk: bytes) -> None:
        lines = (self.pending + chunk).split(b"\n")
        self.pending = lines.pop()
        if len(self.pending) > 1_000_000:
            self.pending = b""  # not SSE as we know it; stop looking
        for line in lines:
            if line.startswith(b"data:") and b'"usage"' in line:
                try:
                    event = json.loads(line[5:])
                except ValueError:
                    continue
                if not isinstance(event, dict):
                    continue
                if isinstance(event.get("response"), Mapping):
                    event = event["response"]  # Responses: response.completed carries the response
                if isinstance(event.get("usage"), Mapping):
                    self.tokens = self.read(event)


_Writer = oa.ChunkWriter | ResponsesWriter


def _writer(inbound: oa.Inbound) -> _Writer:
    if inbound.api == "responses":
        return ResponsesWriter(inbound.model, inbound.body)
    return oa.ChunkWriter(inbound.endpoint, model=inbound.model, include_usage=inbound.include_usage)


def _upstream_path(inbound: oa.Inbound) -> str:
    return RESPONSES_PATH if inbound.api == "responses" else _ENDPOINT_PATHS[inbound.endpoint]


def _parse(api: str, body: object, namespace: str, settings: ServerSettings, cache_control: str | None) -> oa.Inbound:
    if api == "responses":
        parsed = parse_responses(body, namespace=namespace, settings=settings, cache_control=cache_control)
        return dataclasses.replace(parsed.inbound, api="responses", chat_body=parsed.chat_body)
    parse = oa.parse_chat if api == "chat" else oa.parse_text
    return parse(body, namespace=namespace, settings=settings, cache_control=cache_control)


def _configure_protocol(settings: ServerSettings) -> None:
    try:
        from ._http import configure
    except ImportError:  # no httptools: uvicorn's h11 and its own size limit
        return
    configure(settings.header_timeout_s, settings.max_header_bytes)
