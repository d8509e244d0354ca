"""The ``generic`` family: every request no other family claims.

Without a task-aware checker nothing can show that a cached answer fits a *different* prompt, so
generic reuse is exact-only: the same conversation — every turn, the assistant's too — with the same
case and the same line structure and indentation (only meaningless whitespace aside), and the same
token limit (an answer cut short is never served to a request without one). Embedding
neighbours are never adapted (``min_similarity`` above 1.0), and a failing answer is regenerated
whole. Steps are the answer's blank-line separated paragraphs, split so that rendering gives back
the model's text byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .._request import normalise_text
from .._types import BackendRequest, ChatRequest, Entry, StepCheck, Verification
from ._base import Family, Prefix, Task

__all__ = ["GenericFamily"]

_SEPARATOR = "\n\n"


def normalise(turns: Sequence[tuple[str, str]], max_tokens: int | None = None) -> str:
    """The unit of generic reuse: every turn's role and text (meaningless whitespace aside), and
    the token limit."""
    return json.dumps([[role, normalise_text(text)] for role, text in turns] + [max_tokens], ensure_ascii=False)


class GenericFamily(Family[str]):
    """The catch-all: exact-only reuse, no checker beyond "the answer is not empty"."""

    name = "generic"
    priority = 1000
    prefix_unit = "text"
    min_similarity = 2.0  # above 1.0: never adapt from an embedding neighbour

    def __init__(self, *, max_repairs: int = 1) -> None:
        if max_repairs < 0:
            raise ValueError(f"max_repairs must be >= 0, got {max_repairs}")
        self.max_repairs = max_repairs

    def detect(self, request: ChatRequest) -> Task[str]:
        turns = [[m.role, m.content] for m in request.messages]
        return self.load_task({"turns": turns, "max_tokens": request.max_tokens})

    def load_task(self, data: Mapping[str, Any]) -> Task[str]:
        turns = data.get("turns")
        if not isinstance(turns, list):  # an entry stored before whole conversations were kept
            turns = [["system", str(data.get("system", ""))], ["user", str(data.get("prompt", ""))]]
        pairs = [(str(role), str(text)) for role, text in turns]
        limit = data.get("max_tokens")
        max_tokens = limit if isinstance(limit, int) else None
        normalised = normalise(pairs, max_tokens)
        return Task(
            family=self.name,
            data={"turns": [list(p) for p in pairs], "max_tokens": max_tokens},
            signature="generic|" + hashlib.sha256(normalised.encode()).hexdigest(),
            parsed=normalised,
        )

    def fresh_request(self, request: ChatRequest, task: Task[str]) -> BackendRequest:
        return BackendRequest(
            messages=tuple({"role": m.role, "content": m.content} for m in request.messages),
            model=request.model,
            max_tokens=request.max_tokens,
            response_format=request.response_format,
        )

    def segment(self, task: Task[str], text: str) -> list[str]:
        # Splitting on the exact separator (not on "blank-ish" lines) is what makes
        # "\n\n".join(segment(t)) == t hold for every text.
        return text.split(_SEPARATOR) if text else []

    def render(self, task: Task[str], steps: Sequence[str]) -> str:
        return _SEPARATOR.join(steps)

    def adapt(self, entry: Entry, cached: Task[str], task: Task[str]) -> list[str] | None:
        if _normalised(cached) != _normalised(task):
            return None
        return list(entry.steps)

    def verify_prefix(self, task: Task[str], text: str) -> Prefix:
        """Any text is served as the model wrote it (only an empty answer is repaired), so all of it
        can be sent as it comes once it holds more than white space."""
        return Prefix(text if text.strip() else "")

    def verify(self, task: Task[str], steps: Sequence[str]) -> Verification:
        checks = tuple(StepCheck(i, True) for i in range(len(steps)))
        empty = not any(step.strip() for step in steps)
        return Verification(steps=checks, problems=("the answer is empty",) if empty else ())

    # No checker can single out a region: repair keeps the seam's default, regenerate all.


def _normalised(task: Task[str]) -> str:
    return task.parsed
