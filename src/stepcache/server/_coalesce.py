"""Engine calls for non-streamed requests: shared by identical requests in flight, and abandoned
when every client waiting for one has gone.

Singleflight: without it, 32 clients asking the same new question at once would all miss and all go
upstream. The first becomes the leader; the others wait for its result. If the leader's answer was
stored, a waiter then asks the engine itself, which is now an exact hit (path ``reuse``, no upstream
call), so each response and the store's statistics stay truthful. If nothing was stored, waiters
share the leader's answer, reporting zero upstream tokens of their own.

The engine call runs as a stream (``StepCache.stream``), drained in a worker thread: between its
pieces (at least every half second while the model writes) the thread looks at a cancel flag, set
once no client waits any more, and then closes the stream — the upstream call stops and nothing is
stored, instead of a model generating for minutes for nobody.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from .._types import ChatRequest, Result, TokenUsage

if TYPE_CHECKING:
    from .._engine import StepCache
    from ._openai import Inbound

__all__ = ["Coalescer", "ClientGone"]


#: Seconds between checks of whether a waiting client is still there.
POLL_S = 0.25


class ClientGone(Exception):
    """Every client waiting for this answer hung up; the engine call was abandoned."""


@dataclass(slots=True)
class _Call:
    task: asyncio.Future[Result | None]
    cancel: threading.Event = field(default_factory=threading.Event)
    waiters: int = 0


class Coalescer:
    def __init__(self, cache: StepCache) -> None:
        self.cache = cache
        self._in_flight: dict[str, _Call] = {}

    def __len__(self) -> int:
        return len(self._in_flight)

    async def complete(
        self,
        key: str | None,
        request: ChatRequest,
        gone: Callable[[], Awaitable[bool]],
        *,
        controls: Inbound | None = None,
    ) -> tuple[Result, bool]:
        """The engine's result for ``request`` and whether this call waited for another one.
        ``key=None`` shares nothing (a caller's own cache controls). ``gone`` tells whether this
        client has hung up; raises :class:`ClientGone` when it has."""
        call = self._in_flight.get(key) if key is not None else None
        leader = call is None
        if call is None:
            cancel = threading.Event()
            task = asyncio.ensure_future(run_in_threadpool(self._drain, request, cancel, controls))
            call = _Call(task, cancel)
            if key is not None:
                self._in_flight[key] = call
                task.add_done_callback(lambda done: self._forget(key, call))
        call.waiters += 1
        try:
            result = await self._wait(call, gone)
        finally:
            call.waiters -= 1
        if result is None:
            raise ClientGone()
        if leader:
            return result, False
        if result.stored is not None or result.entry is not None:
            return await run_in_threadpool(self.cache.complete, request), True
        shared = f"{result.detail}; shared the answer of an identical request in flight".lstrip("; ")
        return replace(result, upstream_tokens=TokenUsage(), detail=shared), True

    async def _wait(self, call: _Call, gone: Callable[[], Awaitable[bool]]) -> Result | None:
        while True:
            done, _ = await asyncio.wait({call.task}, timeout=POLL_S)
            if done:
                return call.task.result()
            if await gone():
                if call.waiters == 1:  # the last one waiting: nobody needs the answer any more
                    call.cancel.set()
                return None

    def _drain(self, request: ChatRequest, cancel: threading.Event, controls: Inbound | None) -> Result | None:
        if controls is None:
            answer = self.cache.stream(request)
        else:
            answer = self.cache.stream(
                request, read=controls.read, write=controls.write, ttl=controls.ttl, max_age=controls.max_age
            )
        try:
            for _ in answer:
                if cancel.is_set():
                    return None
            return answer.result
        finally:
            if answer.result is None:
                answer.close()  # abandoned: the upstream stream is closed, nothing is stored

    def _forget(self, key: str, call: _Call) -> None:
        if self._in_flight.get(key) is call:
            del self._in_flight[key]
        if not call.task.cancelled():
            call.task.exception()  # mark it retrieved: every waiter may have gone
