"""The public fake backend: queue the replies, then inspect the calls.

Like ``httpx.MockTransport`` or simonw/llm's ``MockModel.enqueue``, it is meant for tests and docs,
so callers test StepCache (and their own code around it) without a model or a network.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from .._exceptions import BackendError
from .._types import BackendRequest, Completion
from ._base import Backend

__all__ = ["ScriptedBackend"]


@dataclass(frozen=True, slots=True)
class _Error:
    exc: BaseException


class ScriptedBackend(Backend):
    """Answers with queued replies, in order.

    >>> backend = ScriptedBackend(["x = 5"])
    >>> backend.enqueue("y = 2", prompt_tokens=10, completion_tokens=3)
    >>> backend.complete(BackendRequest(messages=({"role": "user", "content": "hi"},), model="m")).text
    'x = 5'

    ``responder`` (optional) computes a reply from the request once the queue is empty, for tests
    whose answers depend on the question. Every call is recorded in :attr:`calls`, including calls
    that raised. Thread-safe.
    """

    name = "scripted"

    def __init__(
        self,
        replies: Iterable[str] = (),
        *,
        responder: Callable[[BackendRequest], str] | None = None,
        model_names: Iterable[str] = ("scripted",),
    ) -> None:
        self._queue: deque[Completion | _Error] = deque()
        self._lock = threading.Lock()
        self.responder = responder
        self.model_names = list(model_names)
        self.calls: list[BackendRequest] = []
        #: Streams the caller closed before their last piece (see :meth:`stream`).
        self.abandoned = 0
        for text in replies:
            self.enqueue(text)

    def enqueue(self, text: str, *, prompt_tokens: int | None = None, completion_tokens: int | None = None) -> None:
        """Queue one reply. Token counts default to a word-count estimate of the prompt and ``text``."""
        completion = Completion(
            text=text,
            prompt_tokens=-1 if prompt_tokens is None else prompt_tokens,  # estimated per call
            completion_tokens=estimate_tokens(text) if completion_tokens is None else completion_tokens,
        )
        with self._lock:
            self._queue.append(completion)

    def enqueue_error(self, exc: BaseException) -> None:
        """Make the next call raise ``exc`` (e.g. ``UpstreamTimeout("slow")``)."""
        with self._lock:
            self._queue.append(_Error(exc))

    @property
    def pending(self) -> int:
        """Replies and errors still queued."""
        with self._lock:
            return len(self._queue)

    def complete(self, request: BackendRequest) -> Completion:
        with self._lock:
            self.calls.append(request)
            item = self._queue.popleft() if self._queue else None
        if isinstance(item, _Error):
            raise item.exc
        prompt_tokens = estimate_tokens(" ".join(m.get("content", "") for m in request.messages))
        if item is None:
            if self.responder is None:
                raise BackendError(
                    f"ScriptedBackend has no reply queued for call #{len(self.calls)} "
                    f"(last message: {_last_content(request)!r}); queue one with backend.enqueue('...') "
                    "or pass responder=..."
                )
            text = self.responder(request)
            return Completion(text, prompt_tokens, estimate_tokens(text), request.model, "stop")
        return Completion(
            text=item.text,
            prompt_tokens=prompt_tokens if item.prompt_tokens < 0 else item.prompt_tokens,
            completion_tokens=item.completion_tokens,
            model=request.model,
            finish_reason="stop",
        )

    def stream(self, request: BackendRequest) -> Iterator[str | Completion]:
        """The reply :meth:`complete` would give, a word at a time (with its following whitespace).
        A stream closed before its end counts in :attr:`abandoned`."""
        completion = self.complete(request)
        try:
            yield from re.findall(r"\s*\S+\s*|\s+", completion.text)
        except GeneratorExit:
            with self._lock:
                self.abandoned += 1
            raise
        yield completion

    def models(self) -> list[str]:
        return list(self.model_names)


def estimate_tokens(text: str) -> int:
    """A rough token count (whitespace-separated words, at least 1 for non-empty text)."""
    return len(text.split()) or (1 if text else 0)


def _last_content(request: BackendRequest) -> str:
    content = request.messages[-1].get("content", "") if request.messages else ""
    return content if len(content) <= 80 else content[:80] + "…"
