"""The json family inside the engine: the paths a caller sees, and the model calls they cost."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stepcache._engine import StepCache
from stepcache._exceptions import UnverifiableAnswer
from stepcache._types import Route
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
    assert first.path is Route.MISS and json.loads(first.text) == {"name": "Alice", "age": 34, "city": "Paris"}
    second = ask(cache, "Extract the person: Bob is 28 years old and lives in Rome.")
    assert second.path is Route.REUSE
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
    if result.path is not Route.PATCH:
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


# -- grounding doubts, the caller's system prompt, and the text's own labels ------------------------

CONTACT = "Return JSON with keys name, age, email. Maria Lopez, 34, lives in Seville; reach her at maria@example.org."


def ask_text(cache: StepCache, prompt: str, system: str = "") -> Any:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return cache.complete({"messages": messages})


def test_a_doubted_value_is_repaired_with_a_call_for_that_key(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue('{"name": "Maria Lopez", "age": 34, "email": "Seville"}')
    backend.enqueue('{"email": "maria@example.org"}')
    result = ask_text(cache, CONTACT)
    assert json.loads(result.text)["email"] == "maria@example.org" and result.stored is not None
    ask = backend.calls[1].messages[-1]["content"]
    assert 'exactly these keys: "email"' in ask and "'email' is \"Seville\"" in ask  # the reason goes to the model


def test_an_answer_left_with_only_doubts_is_served_but_never_stored(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue('{"name": "Maria Lopez", "age": 34, "email": "Seville"}')
    backend.enqueue('{"email": "Seville"}')  # the model insists
    result = ask_text(cache, CONTACT)
    assert json.loads(result.text)["email"] == "Seville"  # the model's answer, not an error for the client
    assert result.stored is None and "served unverified, not stored" in result.detail
    assert result.verification is not None and result.verification.only_doubts
    assert cache.store.stats().entries == 0
    backend.enqueue('{"name": "Maria Lopez", "age": 34, "email": "maria@example.org"}')
    again = ask_text(cache, CONTACT)  # nothing was stored, so nothing is reused
    assert again.path is Route.MISS and json.loads(again.text)["email"] == "maria@example.org"


def test_a_missing_key_after_the_repair_is_still_an_error(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue('{"name": "Maria Lopez", "age": 34}')
    backend.enqueue('{"nickname": "Mari"}')
    with pytest.raises(UnverifiableAnswer):
        ask_text(cache, CONTACT)


def test_after_a_failed_repair_the_value_the_text_labels_is_taken(cache: StepCache, backend: ScriptedBackend) -> None:
    prompt = "Return JSON. Required keys: title, pages. title: Dune; pages: 412."
    backend.enqueue('{"title": "Dune", "pages": 978}')
    backend.enqueue('{"pages": 978}')
    result = ask_text(cache, prompt)
    assert json.loads(result.text) == {"title": "Dune", "pages": 412}
    assert result.verification is not None and result.verification.ok and result.stored is not None


def test_the_callers_system_prompt_is_kept_in_fresh_and_patch_requests(
    cache: StepCache, backend: ScriptedBackend
) -> None:
    system = "You work for the Seville office. Answer in Spanish where text is free."
    backend.enqueue('{"name": "Maria Lopez", "age": 34}')
    backend.enqueue('{"email": "maria@example.org"}')
    ask_text(cache, CONTACT, system=system)
    fresh, patch = backend.calls
    assert fresh.messages[0] == {"role": "system", "content": system}  # the caller's, untouched
    systems = [m for m in patch.messages if m["role"] == "system"]
    assert systems == [{"role": "system", "content": system}] and patch.messages[0] == systems[0]
    assert patch.messages[-1]["role"] == "user" and "Reply with only a JSON object" in patch.messages[-1]["content"]
