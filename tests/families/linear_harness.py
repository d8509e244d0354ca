"""Requests and tasks shared by the linear family's tests (test_linear_*.py).

The module name is unique on purpose: tests/ has no packages, so it is imported by its bare name.
"""

from __future__ import annotations

from stepcache._types import ChatRequest
from stepcache.families import Task
from stepcache.families.linear import LinearFamily


def ask(prompt: str, **kwargs: object) -> ChatRequest:
    return ChatRequest.model_validate({"messages": [{"role": "user", "content": prompt}], **kwargs})


def task_for(family: LinearFamily, prompt: str) -> Task:
    task = family.detect(ask(prompt))
    assert task is not None, prompt
    return task
