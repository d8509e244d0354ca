"""Singleflight: concurrent identical requests share one engine call.

Without it, 32 clients asking the same new question at once would all miss and all go upstream.
The first becomes the leader; the others wait for its result. If the leader's answer was stored, a
waiter then asks the engine itself, which is now an exact hit (path ``reuse``, no upstream call), so
each response and the store's statistics stay truthful. If nothing was stored, waiters share the
leader's answer, reporting zero upstream tokens of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from starlette.concurrency import run_in_threadpool

from .._types import ChatRequest, Result, TokenUsage

__all__ = ["Coalescer"]


class Coalescer:
    def __init__(self, complete: Callable[[ChatRequest], Result]) -> None:
        self._complete = complete
        self._in_flight: dict[str, asyncio.Future[Result]] = {}

    def __len__(self) -> int:
        return len(self._in_flight)

    async def complete(self, key: str, request: ChatRequest) -> tuple[Result, bool]:
        """The engine's result for ``request`` and whether this call waited for another one."""
        leader = self._in_flight.get(key)
        if leader is None:
            # A task of its own, so a client hanging up cancels only its wait, not the shared call.
            task: asyncio.Future[Result] = asyncio.ensure_future(run_in_threadpool(self._complete, request))
            self._in_flight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
            return await asyncio.shield(task), False
        result = await asyncio.shield(leader)
        if result.stored is not None or result.entry is not None:
            return await run_in_threadpool(self._complete, request), True
        return (
            replace(
                result,
                upstream_tokens=TokenUsage(),
                detail=f"{result.detail}; shared the answer of an identical request in flight".lstrip("; "),
            ),
            True,
        )

    def _forget(self, key: str, done: asyncio.Future[Result]) -> None:
        if self._in_flight.get(key) is done:
            del self._in_flight[key]
        if not done.cancelled():
            done.exception()  # mark it retrieved: every waiter may have gone
