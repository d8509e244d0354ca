"""The json family inside the engine: the paths a caller sees, and the model calls they cost."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stepcache._engine import StepCache
from stepcache._exceptions import UnverifiableAnswer
from stepcache._types import Path
from stepcache.backends.scripted import ScriptedBackend
from stepcache.families.generic import GenericFamily
from stepcache.families.json_family import JsonFamily

memory = pytest.importorskip("stepcache.store.memory")

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"}},
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}


def fmt(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
def cache(backend: ScriptedBackend) -> StepCache:
    return StepCache(backend, store=memory.MemoryStore(), families=[JsonFamily(), GenericFamily()])


def ask(cache: StepCache, prompt: str, schema: dict[str, Any] = PERSON) -> Any:
    return cache.complete({"messages": [{"role": "user", "content": prompt}], "response_format": fmt(schema)})


def test_values_change_is_served_from_cache_with_no_model_call(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue('Here you go:\n```json\n{"name": "Alice", "age": "34", "city": "Paris"}\n```')
    first = ask(cache, "Extract the person: Alice is 34 years old and lives in Paris.")
    assert first.path is Path.MISS and json.loads(first.text) == {"name": "Alice", "age": 34, "city": "Paris"}
    second = ask(cache, "Extract the person: Bob is 28 years old and lives in Rome.")
    assert second.path is Path.REUSE
    assert json.loads(second.text) == {"name": "Bob", "age": 28, "city": "Rome"}
    assert len(backend.calls) == 1


def test_added_key_is_patched_with_a_call_for_that_key_only(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue('{"name": "Alice", "age": 34, "city": "Paris"}')
    ask(cache, "Extract the person: Alice is 34 years old and lives in Paris.")
    extended = json.loads(json.dumps(PERSON))
    extended["properties"]["email"] = {"type": "string"}
    extended["required"].append("email")
    backend.enqueue('{"email": "alice@example.com"}')
    # a signature change: found through the embedding neighbour
    result = ask(cache, "Extract the person: Alice is 34 years old and lives in Paris.", extended)
    if result.path is not Path.PATCH:
        pytest.skip(f"the embedder did not find the neighbour ({result.detail})")
    sent = backend.calls[-1].response_format
    assert sent is not None and list(sent["json_schema"]["schema"]["properties"]) == ["email"]
    assert json.loads(result.text) == {"name": "Alice", "age": 34, "city": "Paris", "email": "alice@example.com"}
    assert (result.steps.reused, result.steps.patched) == (3, 1)


def test_invalid_json_is_never_served(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue('{"name": "Alice", "age": "old", "city": "Paris"}')
    backend.enqueue('{"age": "still old"}')
    with pytest.raises(UnverifiableAnswer):
        ask(cache, "Extract the person: Alice is old and lives in Paris.")
    assert len(backend.calls) == 2  # the answer, then one repair asking for "age" alone
    sent = backend.calls[1].response_format
    assert sent is not None and list(sent["json_schema"]["schema"]["properties"]) == ["age"]
