"""The ``generic`` family: every request no other family claims.

Without a task-aware checker nothing can show that a cached answer fits a *different* prompt, so
generic reuse is exact-only: the same prompt and system text (whitespace and case aside). Embedding
neighbours are never adapted (``min_similarity`` above 1.0), and a failing answer is regenerated
whole. Steps are the answer's blank-line separated paragraphs, split so that rendering gives back
the model's text byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from .._types import BackendRequest, ChatRequest, Entry, StepCheck, Verification
from ._base import Family, Task

__all__ = ["GenericFamily"]

_SEPARATOR = "\n\n"


def normalise(prompt: str, system: str = "") -> str:
    """Whitespace-collapsed, lower-cased system text and prompt (the unit of generic reuse)."""
    return " ".join(system.split()).lower() + "\n" + " ".join(prompt.split()).lower()


class GenericFamily(Family[str]):
    """The catch-all: exact-only reuse, no checker beyond "the answer is not empty"."""

    name = "generic"
    priority = 1000
    min_similarity = 2.0  # above 1.0: never adapt from an embedding neighbour

    def __init__(self, *, max_repairs: int = 1) -> None:
        if max_repairs < 0:
            raise ValueError(f"max_repairs must be >= 0, got {max_repairs}")
        self.max_repairs = max_repairs

    def detect(self, request: ChatRequest) -> Task[str]:
        return self.load_task({"prompt": request.prompt, "system": request.system})

    def load_task(self, data: Mapping[str, Any]) -> Task[str]:
        prompt, system = str(data.get("prompt", "")), str(data.get("system", ""))
        normalised = normalise(prompt, system)
        return Task(
            family=self.name,
            data={"prompt": prompt, "system": system},
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

    def verify(self, task: Task[str], steps: Sequence[str]) -> Verification:
        checks = tuple(StepCheck(i, True) for i in range(len(steps)))
        empty = not any(step.strip() for step in steps)
        return Verification(steps=checks, problems=("the answer is empty",) if empty else ())

    # No checker can single out a region: repair keeps the seam's default, regenerate all.


def _normalised(task: Task[str]) -> str:
    return task.parsed
