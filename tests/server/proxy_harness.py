"""The harness for the proxy's end-to-end tests (fixtures in conftest.py).

A small OpenAI-compatible fake upstream (answers computed from the request, so linear and JSON
answers are right) and the proxy both run under uvicorn on loopback, each on a socket bound to a free
port, in threads of the test process; tests drive them with the official ``openai`` SDK.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import openai
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from stepcache._engine import StepCache

OPERATOR_KEY = "operator-secret"
_LINEAR = re.compile(r"(-?\d*)\s*([a-z])\s*([+-])\s*(\d+)\s*=\s*(-?\d+)")
_SHOP = re.compile(r"(\w+) buys (\d+) pens at \$(\d+) each and (\d+) notebooks at \$(\d+) each")


def solve_word_problem(prompt: str) -> str | None:
    """One calculation per line, the way the arithmetic family asks, for the pens-and-notebooks problem."""
    m = _SHOP.search(prompt)
    if m is None:
        return None
    name, a, b, c, d = m[1], *(int(g) for g in m.groups()[1:])
    return (
        f"Pens: {a} * ${b} = ${a * b}\nNotebooks: {c} * ${d} = ${c * d}\n"
        f"{name} spends ${a * b} + ${c * d} = ${a * b + c * d}\nThe answer is {a * b + c * d}."
    )


def solve(prompt: str) -> str | None:
    """Numbered steps for ``ax ± b = c`` with an integer answer, the way the linear family asks."""
    m = _LINEAR.search(prompt)
    if m is None:
        return None
    a = int(m[1]) if m[1] not in ("", "-") else (-1 if m[1] == "-" else 1)
    var, sign, b, c = m[2], m[3], int(m[4]), int(m[5])
    rhs = c - b if sign == "+" else c + b
    coef = "" if a == 1 else str(a)
    return f"1. {m[0]}\n2. {coef}{var} = {rhs}\n3. {var} = {rhs // a}"


def instance(schema: dict[str, Any]) -> Any:
    """A value valid against a simple JSON Schema."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: instance(v) for k, v in props.items()}
    return {"string": "Ada", "integer": 36, "number": 1.5, "boolean": True, "array": [], "null": None}[kind]


@dataclass
class FakeUpstream:
    """What the fake upstream received, and how it should misbehave."""

    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)  # bodies, in arrival order
    auth: list[str] = field(default_factory=list)  # Authorization headers received
    mode: str = "ok"  # ok | status500 | garbage | slow | wrong
    delay: float = 0.0
    #: When set, only ``Authorization: Bearer KEY`` with one of these keys is answered (else 401,
    #: whose message repeats the key, as real upstreams' do).
    accepted: frozenset[str] | None = None
    #: Seconds between streamed chunks (``stream: true`` answers come a word at a time).
    token_delay: float = 0.0
    #: The line of a linear answer (1-based) replaced with a wrong one, in every mode.
    wrong_line: int | None = None
    #: Per streamed answer: how many chunks it sent, and how it ended ("done" | "cancelled").
    streams: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.auth.clear()
            self.streams.clear()
        self.mode, self.delay, self.accepted = "ok", 0.0, None
        self.token_delay, self.wrong_line = 0.0, None

    def refused(self, request: Request) -> Response | None:
        if self.accepted is None:
            return None
        sent = request.headers.get("authorization", "").removeprefix("Bearer ")
        if sent in self.accepted:
            return None
        return JSONResponse({"error": {"message": f"Incorrect API key provided: {sent}"}}, status_code=401)

    def prompts(self) -> list[str]:
        with self.lock:
            return [m["content"] for body in self.calls for m in body.get("messages", []) if m["role"] == "user"]

    def answer(self, body: dict[str, Any]) -> str:
        user = "\n".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user")
        fmt = body.get("response_format") or {}
        if self.mode == "wrong":
            return "I would rather not answer in JSON."
        if self.wrong_line is not None and (solved := solve(user)):
            lines = solved.splitlines()  # one wrong answer; the repair that follows is answered right
            wrong, self.wrong_line = self.wrong_line, None
            lines[wrong - 1] = re.sub(r"\d+$", lambda m: str(int(m[0]) + 1), lines[wrong - 1])
            return "\n".join(lines)
        if fmt.get("type") == "json_schema":
            return json.dumps(instance(fmt["json_schema"]["schema"]))
        if fmt.get("type") == "json_object":
            return json.dumps({"answer": user[:20]})
        return solve_word_problem(user) or solve(user) or f"Echo: {user}"

    async def chunks(self, body: dict[str, Any]) -> AsyncIterator[str]:
        """The answer as ``chat.completion.chunk`` events, a word at a time, ``token_delay`` apart."""
        record: dict[str, Any] = {"sent": 0, "end": "running", "last_at": 0.0}
        with self.lock:
            self.streams.append(record)
        head = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": body.get("model", "fake"),
        }
        try:
            for piece in re.findall(r"\s*\S+\s*", self.answer(body)):
                if self.token_delay:
                    await asyncio.sleep(self.token_delay)
                record["sent"] += 1
                record["last_at"] = time.monotonic()
                delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                yield f"data: {json.dumps({**head, 'choices': [delta]})}\n\n"
            yield f"data: {json.dumps({**head, 'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'stop'}]})}\n\n"
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                yield f"data: {json.dumps({**head, 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"
            record["end"] = "done"
        except BaseException:
            record["end"] = "cancelled"
            raise

    def app(self) -> Starlette:
        async def chat(request: Request) -> Response:
            body = await request.json()
            with self.lock:
                self.calls.append(body)
                self.auth.append(request.headers.get("authorization", ""))
            if (refusal := self.refused(request)) is not None:
                return refusal
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.mode == "status500":
                return JSONResponse({"error": {"message": "model crashed"}}, status_code=500)
            if self.mode == "garbage":
                return PlainTextResponse("<html>bad gateway</html>")
            if self.mode == "slow":
                await asyncio.sleep(3)
            if body.get("stream"):
                return StreamingResponse(self.chunks(body), media_type="text/event-stream")
            choices: list[dict[str, Any]] = []
            for i in range(body.get("n") or 1):
                if body.get("tools"):
                    call = {"id": f"call_{i}", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
                    message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
                    choices.append({"index": i, "message": message, "finish_reason": "tool_calls"})
                else:
                    message = {"role": "assistant", "content": self.answer(body)}
                    choices.append({"index": i, "message": message, "finish_reason": "stop"})
            return JSONResponse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 1,
                    "model": body.get("model", "fake"),
                    "choices": choices,
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                }
            )

        async def models(request: Request) -> Response:
            if (refusal := self.refused(request)) is not None:
                return refusal
            return JSONResponse({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

        async def responses(request: Request) -> Response:
            """A minimal /v1/responses: echoes the input's text (a bypassed Responses request lands here)."""
            body = await request.json()
            with self.lock:
                self.calls.append(body)
                self.auth.append(request.headers.get("authorization", ""))
            text = body["input"] if isinstance(body.get("input"), str) else "items"
            usage = {
                "input_tokens": 7,
                "output_tokens": 3,
                "total_tokens": 10,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            }
            response = {
                "id": "resp_fake",
                "object": "response",
                "created_at": 1,
                "status": "completed",
                "model": body.get("model"),
                "output": [
                    {
                        "type": "message",
                        "id": "msg_fake",
                        "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": f"Echo: {text}", "annotations": []}],
                    }
                ],
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": [],
                "usage": usage,
            }
            if not body.get("stream"):
                return JSONResponse(response)

            async def events() -> AsyncIterator[str]:
                yield f"event: response.output_text.delta\ndata: {json.dumps({'type': 'response.output_text.delta', 'delta': 'Echo', 'sequence_number': 0})}\n\n"
                done = {"type": "response.completed", "response": response, "sequence_number": 1}
                yield f"event: response.completed\ndata: {json.dumps(done)}\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        return Starlette(
            routes=[
                Route("/v1/chat/completions", chat, methods=["POST"]),
                Route("/v1/responses", responses, methods=["POST"]),
                Route("/v1/models", models),
            ]
        )


class Served:
    """An ASGI app under uvicorn in a daemon thread, on a socket bound to a free loopback port."""

    def __init__(self, app: Any, limits: dict[str, Any] | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="error", ws="none", lifespan="on", access_log=False, **(limits or {}))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@contextmanager
def served_upstream() -> Iterator[FakeUpstream]:
    """A :class:`FakeUpstream` on loopback (``.url`` ends in ``/v1``) until the block ends."""
    fake = FakeUpstream()
    served = Served(fake.app())
    fake.url = served.url + "/v1"
    try:
        yield fake
    finally:
        served.stop()


@dataclass
class Proxy:
    url: str
    cache: StepCache
    clients: list[openai.OpenAI] = field(default_factory=list)

    def client(self, key: str = "sk-tenant-a", **kwargs: Any) -> openai.OpenAI:
        """An SDK client for this proxy, closed when the proxy stops (an unclosed client's socket would
        surface as a ResourceWarning in whichever later test the garbage collector happens to run)."""
        client = openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, timeout=20, **kwargs)
        self.clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self.clients:
            client.close()


MakeProxy = Callable[..., Proxy]


#: Caches built by :func:`tracked_cache` and then closed, in order (for the worker-factory tests).
CLOSED_CACHES: list[StepCache] = []


class _TrackedCache(StepCache):
    def close(self) -> None:
        CLOSED_CACHES.append(self)
        super().close()


def tracked_cache(store: str = "memory://") -> StepCache:
    """A cache factory for ``run_workers`` / ``app_from_env`` that records when it is closed."""
    from stepcache.backends import ScriptedBackend
    from stepcache.store import open_store

    backend = ScriptedBackend(responder=lambda request: solve(request.messages[-1]["content"]) or "no answer")
    return _TrackedCache(backend, store=open_store(store))
