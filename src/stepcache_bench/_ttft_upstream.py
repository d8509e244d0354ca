"""The time-to-first-token bench's model: an OpenAI-compatible fake that streams a word at a time.

``POST /v1/chat/completions`` answers from the prompt, so every answer is right (and verifies):

* ``Solve ax + b = c`` → numbered steps, ``1. 3x + 5 = 20`` / ``2. 3x = 15`` / ``3. x = 5``;
* ``response_format`` ``json_object`` → a small object: for "with keys city and year: the city is
  Lyon and the year is 1987" it is ``{"city": "Lyon", "year": 1987}``;
* anything else → about 40 words of prose about the prompt.

With ``stream: true`` the answer goes out as ``chat.completion.chunk`` events, one word (and the
whitespace after it) per chunk, ``token_delay_s`` apart (the first one too: a model's time to its
first token), then the finish chunk, the usage chunk when ``stream_options.include_usage`` asks for
it, and ``[DONE]``.

The fake records every call: its prompt, whether it streamed, and the ``time.monotonic()`` at which
each chunk was handed to the server (on Linux that clock is the same in every process, so the bench
can set it against the moment its client received the same text), and how the stream ended (``done``,
or ``cancelled`` when the reader hung up). ``GET /bench/calls?after=ID`` returns the calls after ID.

``POST /bench/settings {"wrong_step": true}`` makes the *first* answer to each equation (streamed or
not) slip at step 2 (``2. 3x = 16``); later answers to it, such as the proxy's repair call, are right.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from stepcache import MissingDependency

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["StreamingUpstream", "solve", "prose", "json_answer", "serve_upstream"]

_EQUATION = re.compile(r"(\d*)([a-z])\s*\+\s*(\d+)\s*=\s*(\d+)")
_KEYS = re.compile(r"with keys ((?:\w+, )*\w+ and \w+|\w+)")
_WORD = re.compile(r"\s*\S+\s*")
_PROSE = (
    "is a fine subject for a short note. It changes with the light and the season, and anyone who "
    "watches it for an hour will see something new. Here is a plain description, kept short on "
    "purpose, written for a quick read."
)


def solve(prompt: str, *, wrong_step: bool = False) -> str | None:
    """Numbered steps for the first ``ax + b = c`` in ``prompt`` (integer answers), or ``None``."""
    m = _EQUATION.search(prompt)
    if m is None:
        return None
    a = int(m[1]) if m[1] else 1
    var, b, c = m[2], int(m[3]), int(m[4])
    coef = "" if a == 1 else str(a)
    rhs = c - b + (1 if wrong_step else 0)
    value = (c - b) // a if (c - b) % a == 0 else f"{c - b}/{a}"
    return f"1. {coef}{var} + {b} = {c}\n2. {coef}{var} = {rhs}\n3. {var} = {value}"


def prose(prompt: str) -> str:
    """About 40 words about the prompt's last line."""
    topic = prompt.strip().splitlines()[-1].rstrip(".?!") if prompt.strip() else "this"
    return f"{topic} {_PROSE}"


def json_answer(prompt: str) -> str:
    """The object a prompt like "with keys city and year: the city is Lyon and the year is 1987" asks for."""
    m = _KEYS.search(prompt)
    keys = re.split(r", | and ", m[1]) if m else ["answer"]
    out: dict[str, Any] = {}
    for key in keys:
        said = re.search(rf"\bthe {re.escape(key)} is ([\w.-]+?)(?:[,.;]?\s|[,.;]?$)", prompt)
        value = said[1] if said else prompt[:20]
        out[key] = int(value) if value.isdigit() else value
    return json.dumps(out)


@dataclass
class Call:
    """One call to the fake: what it answered and when each chunk went out."""

    id: int
    prompt: str
    stream: bool
    text: str
    #: ``[monotonic seconds, text]`` per chunk handed to the server (non-streamed: the whole answer).
    chunks: list[tuple[float, str]] = field(default_factory=list)
    end: str = "running"  # running | done | cancelled


@dataclass
class StreamingUpstream:
    """The fake model's state: its pace, its slip mode and the calls it answered."""

    token_delay_s: float = 0.02
    wrong_step: bool = False
    calls: list[Call] = field(default_factory=list)
    slipped: set[str] = field(default_factory=set)  # equations already answered in wrong-step mode

    def answer(self, body: dict[str, Any]) -> tuple[str, str]:
        """(the user's text, the answer) for a chat completions body."""
        messages = body.get("messages") or []
        user = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")
        if ((body.get("response_format") or {}).get("type")) == "json_object":
            return user, json_answer(user)
        equation = _EQUATION.search(user)
        if equation is not None:
            slip = self.wrong_step and equation[0] not in self.slipped
            self.slipped.add(equation[0])
            return user, solve(user, wrong_step=slip) or ""
        return user, prose(user)

    async def _chunks(self, body: dict[str, Any], call: Call) -> AsyncIterator[str]:
        head = {
            "id": f"chatcmpl-ttft-{call.id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model") or "fake-model",
        }
        pieces = _WORD.findall(call.text)
        try:
            yield _sse(
                {
                    **head,
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                }
            )
            for piece in pieces:
                await asyncio.sleep(self.token_delay_s)
                call.chunks.append((time.monotonic(), piece))
                yield _sse({**head, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
            yield _sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                yield _sse({**head, "choices": [], "usage": _usage(call.prompt, len(pieces))})
            yield "data: [DONE]\n\n"
            call.end = "done"
        except BaseException:
            call.end = "cancelled"
            raise

    def app(self) -> Starlette:
        try:
            from starlette.applications import Starlette
            from starlette.requests import Request
            from starlette.responses import JSONResponse, Response, StreamingResponse
            from starlette.routing import Route
        except ImportError as exc:  # pragma: no cover - the server extra is missing
            raise MissingDependency("starlette", "server", "the time-to-first-token bench") from exc

        async def chat(request: Request) -> Response:
            body = await request.json()
            user, text = self.answer(body)
            call = Call(id=len(self.calls) + 1, prompt=user, stream=bool(body.get("stream")), text=text)
            self.calls.append(call)
            if call.stream:
                return StreamingResponse(self._chunks(body, call), media_type="text/event-stream")
            await asyncio.sleep(self.token_delay_s * len(_WORD.findall(text)))
            call.chunks.append((time.monotonic(), text))
            call.end = "done"
            message = {"role": "assistant", "content": text}
            return JSONResponse(
                {
                    "id": f"chatcmpl-ttft-{call.id}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model") or "fake-model",
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": _usage(user, len(_WORD.findall(text))),
                }
            )

        async def models(request: Request) -> Response:
            return JSONResponse({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

        async def calls(request: Request) -> Response:
            after = int(request.query_params.get("after", "0"))
            return JSONResponse([asdict(c) for c in self.calls if c.id > after])

        async def settings(request: Request) -> Response:
            body = await request.json()
            self.wrong_step = bool(body.get("wrong_step"))
            self.slipped.clear()
            return JSONResponse({"wrong_step": self.wrong_step, "token_delay_s": self.token_delay_s})

        return Starlette(
            routes=[
                Route("/v1/chat/completions", chat, methods=["POST"]),
                Route("/v1/models", models),
                Route("/bench/calls", calls),
                Route("/bench/settings", settings, methods=["POST"]),
            ]
        )


def _sse(event: dict[str, Any]) -> str:
    return f"data: {json.dumps(event)}\n\n"


def _usage(prompt: str, completion_tokens: int) -> dict[str, int]:
    prompt_tokens = len(prompt.split())
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def serve_upstream(port: int, token_delay_s: float) -> None:  # pragma: no cover - runs in a subprocess
    """Serve the fake on 127.0.0.1:``port`` until terminated (one process, one event loop)."""
    import uvicorn

    upstream = StreamingUpstream(token_delay_s=token_delay_s)
    uvicorn.run(upstream.app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)
