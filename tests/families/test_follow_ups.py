"""A turn after the assistant has answered is about that answer: no family that would answer the
original task again claims it (the generic family answers the conversation as a whole)."""

from __future__ import annotations

import pytest

from stepcache import ChatRequest, MemoryStore, ScriptedBackend, StepCache

PERSON = "Return a JSON object for the person Alice, age 34, who lives in Paris. Required keys: name, age, city."


def _family(messages: list[dict[str, str]]) -> str:
    cache = StepCache(ScriptedBackend(), store=MemoryStore())
    request = ChatRequest.model_validate({"messages": messages, "model": "m"})
    return next(f.name for f in cache.families if f.detect(request) is not None)


@pytest.mark.parametrize(
    ("messages", "family"),
    [
        (
            [
                {"role": "user", "content": "Solve 4x + 2 = 30"},
                {"role": "assistant", "content": "1. 4x + 2 = 30\n2. 4x = 28\n3. x = 7"},
                {"role": "user", "content": "Now explain the second step."},
            ],
            "generic",
        ),
        (
            [
                {"role": "user", "content": PERSON},
                {"role": "assistant", "content": '{"name": "Alice", "age": 34, "city": "Paris"}'},
                {"role": "user", "content": "Now do the same for Bob, age 40, from Rome."},
            ],
            "generic",
        ),
        (
            [
                {"role": "user", "content": PERSON},
                {"role": "assistant", "content": '{"name": "Alice", "age": 34, "city": "Paris"}'},
                {"role": "user", "content": "Why is age a number?"},
            ],
            "generic",
        ),
        # a clarifying question before any answer is context: the task is still the first turn's
        (
            [
                {"role": "user", "content": "2x + 3 = 7"},
                {"role": "assistant", "content": "What would you like me to do with it?"},
                {"role": "user", "content": "solve it please"},
            ],
            "linear",
        ),
        (
            [
                {"role": "user", "content": "Alice, 34, lives in Paris."},
                {"role": "assistant", "content": "How should I format it?"},
                {"role": "user", "content": "As JSON with keys name, age and city."},
            ],
            "json",
        ),
    ],
)
def test_a_turn_after_the_answer_is_not_the_original_task(messages: list[dict[str, str]], family: str) -> None:
    assert _family(messages) == family
