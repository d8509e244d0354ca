"""Responses this proxy wrote itself, remembered so a client can continue them.

A response answered from the cache (or by a backend without a Responses API) gets an id the
upstream never saw. A client that continues the conversation with ``previous_response_id`` set to
that id would be refused upstream; instead the proxy expands the request here: the remembered
conversation (input and answer) goes in front of the new input, ``previous_response_id`` goes, and
the request is answered like any other. Ids the proxy did not write (the upstream's own) are left
for the upstream. The memory is this process's (bounded, entries expire): behind several
``--workers`` a continuation that reaches another process is forwarded as it came.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["Conversations"]


class Conversations:
    def __init__(
        self, capacity: int = 10_000, ttl_s: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = capacity
        self.ttl_s = ttl_s
        self.clock = clock
        self._kept: OrderedDict[str, tuple[float, tuple[dict[str, str], ...]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._kept)

    def remember(
        self, response_id: str, body: Mapping[str, Any], chat_messages: Sequence[Mapping[str, str]], answer: str
    ) -> None:
        """Keep the conversation that ``response_id`` ends: the request's messages (without its
        ``instructions``, which a continuation does not inherit) and the answer. A request with
        ``store: false`` is not kept."""
        if body.get("store") is False:
            return
        messages = [dict(m) for m in chat_messages]
        instructions = body.get("instructions")
        if messages and isinstance(instructions, str) and messages[0] == {"role": "system", "content": instructions}:
            messages = messages[1:]
        messages.append({"role": "assistant", "content": answer})
        self._kept[response_id] = (self.clock(), tuple(messages))
        self._kept.move_to_end(response_id)
        while len(self._kept) > self.capacity:
            self._kept.popitem(last=False)

    def expand(self, body: object) -> object:
        """``body`` with a ``previous_response_id`` this proxy wrote replaced by the conversation it
        ends; any other body unchanged."""
        if not isinstance(body, dict):
            return body
        previous = body.get("previous_response_id")
        if not isinstance(previous, str) or previous not in self._kept:
            return body
        at, messages = self._kept[previous]
        if self.clock() - at > self.ttl_s:
            del self._kept[previous]
            return body
        new = body.get("input")
        items = (
            [{"role": "user", "content": new}] if isinstance(new, str) else list(new) if isinstance(new, list) else []
        )
        expanded = {k: v for k, v in body.items() if k != "previous_response_id"}
        expanded["input"] = [dict(m) for m in messages] + items
        return expanded
