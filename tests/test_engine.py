"""Engine-level behaviour with the scripted backend: which path each kind of change takes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine_harness import LINEAR_ANSWER, PERSON, user
from stepcache import (
    InvalidRequest,
    MemoryStore,
    Route,
    ScriptedBackend,
    StepCache,
    UnverifiableAnswer,
)
from stepcache.backends.scripted import estimate_tokens
from stepcache.families.linear import LinearFamily


def final_value(text: str) -> str:
    return text.strip().splitlines()[-1].split("=")[-1].strip()


# -- linear ------------------------------------------------------------------------------------


def test_miss_then_exact_repeat_is_reuse(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue(LINEAR_ANSWER, prompt_tokens=40, completion_tokens=30)
    first = cache.complete(user("Solve 3x + 5 = 20"))
    assert first.path is Route.MISS
    assert first.upstream_tokens.total == 70
    again = cache.complete(user("Solve   3x + 5 = 20 "))
    assert again.path is Route.REUSE
    assert again.upstream_tokens.total == 0
    assert again.text == first.text
    assert len(backend.calls) == 1


def test_constants_change_is_reused_after_adaptation_without_model_call(
    cache: StepCache, backend: ScriptedBackend
) -> None:
    backend.enqueue(LINEAR_ANSWER)
    cache.complete(user("Solve 3x + 5 = 20"))
    result = cache.complete(user("Solve 4x + 2 = 30"))
    assert result.path is Route.REUSE
    assert len(backend.calls) == 1
    assert final_value(result.text) == "7"
    assert "4x" in result.text and "20" not in result.text
    assert result.steps.reused == result.steps.total > 0
    assert result.verification is not None and result.verification.ok


def test_variable_rename_is_reused(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue(LINEAR_ANSWER)
    cache.complete(user("Solve 3x + 5 = 20"))
    result = cache.complete(user("Solve 3y + 5 = 20"))
    assert result.path is Route.REUSE
    assert result.text.strip().splitlines()[-1].endswith("y = 5")
    assert "x" not in result.text
    assert len(backend.calls) == 1


def test_paraphrase_is_reused(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue(LINEAR_ANSWER)
    cache.complete(user("Solve 3x + 5 = 20"))
    result = cache.complete(user("Find the value of x that satisfies 3x + 5 = 20."))
    assert result.path is Route.REUSE
    assert final_value(result.text) == "5"
    assert len(backend.calls) == 1


def test_wrong_arithmetic_forever_ends_in_the_deterministic_fallback(
    cache: StepCache, backend: ScriptedBackend
) -> None:
    for _ in range(5):
        backend.enqueue("1. 2x + 3 = 11\n2. 2x = 9\n3. x = 4.5")
    result = cache.complete(user("Solve 2x + 3 = 11"))
    assert result.fallback is True
    assert final_value(result.text) == "4"
    assert result.verification is not None and result.verification.ok
    # one fresh call plus the bounded repair loop (LinearFamily.max_repairs, default 1), no more
    assert len(backend.calls) == 1 + LinearFamily().max_repairs


def test_structure_change_is_answered_correctly(cache: StepCache, backend: ScriptedBackend) -> None:
    # A different equation form has another signature and is not near enough to adapt: it is
    # answered fresh, verifies, and costs exactly one model call.
    backend.enqueue("1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5")
    cache.complete(user("Solve 3x + 5 = 20"))
    backend.enqueue("1. 3(x - 1) + 5 = 11\n2. 3x - 3 + 5 = 11\n3. 3x = 9\n4. x = 3")
    result = cache.complete(user("Solve 3(x - 1) + 5 = 11"))
    assert result.path is Route.MISS
    assert result.verification is not None and result.verification.ok
    assert final_value(result.text) == "3"
    assert len(backend.calls) == 2


# -- semantic changes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "semantic",
    [
        "Solve x^2 + 5 = 21",
        "Evaluate 3x + 5 when x = 4",
        "Solve the system 3x + 5y = 20 and x - y = 1",
    ],
)
def test_semantic_change_from_linear_is_skip(cache: StepCache, backend: ScriptedBackend, semantic: str) -> None:
    backend.enqueue(LINEAR_ANSWER)
    cache.complete(user("Solve 3x + 5 = 20"))
    backend.enqueue("The answer is 17.")
    result = cache.complete(user(semantic))
    assert result.path is Route.SKIP
    assert result.text == "The answer is 17."
    assert len(backend.calls) == 2


# -- json --------------------------------------------------------------------------------------


def test_json_values_change_is_reused(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue('{"name": "Alice", "age": 34, "city": "Paris"}')
    cache.complete(user(PERSON))
    result = cache.complete(user(PERSON.replace("Alice", "Bob").replace("34", "28").replace("Paris", "Rome")))
    assert result.path is Route.REUSE
    assert json.loads(result.text) == {"name": "Bob", "age": 28, "city": "Rome"}
    assert len(backend.calls) == 1


def test_json_added_key_is_patched_asking_only_for_that_key(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue('{"name": "Alice", "age": 34, "city": "Paris"}')
    cache.complete(user(PERSON))
    backend.enqueue('{"country": "France"}')
    result = cache.complete(user(PERSON.replace("city.", "city, country.")))
    assert result.path is Route.PATCH
    assert json.loads(result.text) == {"name": "Alice", "age": 34, "city": "Paris", "country": "France"}
    asked = json.dumps([dict(m) for m in backend.calls[-1].messages]) + json.dumps(backend.calls[-1].response_format)
    assert "country" in asked
    # the patch call must not ask for keys that were already verified
    last_instruction = backend.calls[-1].messages[-1]["content"]
    assert "country" in last_instruction and "age" not in last_instruction.split("keys")[-1]
    assert result.steps.reused == 3 and result.steps.patched == 1


def test_a_patch_that_still_fails_is_answered_fresh_not_refused(
    cache: StepCache, backend: ScriptedBackend, store: MemoryStore
) -> None:
    backend.enqueue('{"name": "Alice", "age": 34, "city": "Paris"}')
    cache.complete(user(PERSON))
    backend.enqueue('{"nation": "France"}')  # the patch never gives the key it asks for
    backend.enqueue('{"name": "Alice", "age": 34, "city": "Paris", "country": "France"}')
    result = cache.complete(user(PERSON.replace("city.", "city, country.")))
    assert json.loads(result.text) == {"name": "Alice", "age": 34, "city": "Paris", "country": "France"}
    assert result.path is Route.SKIP and "patch still failed" in result.detail
    assert len(backend.calls) == 3 and '"country"' in backend.calls[1].messages[-1]["content"]
    assert backend.calls[2].messages[-1]["content"].endswith("city, country.")  # the caller's request, as written
    prompts = sum(estimate_tokens(" ".join(m["content"] for m in c.messages)) for c in backend.calls[1:])
    assert result.upstream_tokens.prompt == prompts  # the failed patch's calls are counted too
    assert store.stats().entries == 2  # the fresh answer is stored


def test_json_schema_request(cache: StepCache, backend: ScriptedBackend) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "pages": {"type": "integer"}},
        "required": ["title", "pages"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "book", "schema": schema, "strict": True}}
    backend.enqueue('```json\n{"title": "Dune", "pages": "412",}\n```')
    result = cache.complete(user("Describe the book Dune, 412 pages.", response_format=fmt))
    assert json.loads(result.text) == {"title": "Dune", "pages": 412}


@pytest.mark.parametrize(
    "reply",
    [
        '```json\n{"name": "Alice", "age": 34, "city": "Paris"}\n```',
        'Sure! Here is the object: {"name": "Alice", "age": 34, "city": "Paris"} Hope it helps.',
        '{"name": "Alice", "age": 34, "city": "Paris",}',
    ],
)
def test_messy_json_is_extracted(cache: StepCache, backend: ScriptedBackend, reply: str) -> None:
    backend.enqueue(reply)
    result = cache.complete(user(PERSON))
    assert json.loads(result.text) == {"name": "Alice", "age": 34, "city": "Paris"}
    assert len(backend.calls) == 1


def test_json_missing_key_is_repaired_once(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue('{"name": "Alice", "age": 34}')
    backend.enqueue('{"city": "Paris"}')
    result = cache.complete(user(PERSON))
    assert json.loads(result.text) == {"name": "Alice", "age": 34, "city": "Paris"}
    assert len(backend.calls) == 2


def test_json_that_stays_invalid_is_an_error_and_stores_nothing(
    cache: StepCache, backend: ScriptedBackend, store: MemoryStore
) -> None:
    backend.enqueue('{"name": "Alice", "age": 34}')
    backend.enqueue("I cannot do that.")
    with pytest.raises(UnverifiableAnswer, match="city"):
        cache.complete(user(PERSON))
    assert store.stats().entries == 0


def test_prose_instead_of_json_is_skip(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue('{"name": "Alice", "age": 34, "city": "Paris"}')
    cache.complete(user(PERSON))
    backend.enqueue("Alice is 34 and lives in Paris.")
    result = cache.complete(user("Write a short paragraph about the person Alice, age 34, who lives in Paris."))
    assert result.path is Route.SKIP
    assert result.text == "Alice is 34 and lives in Paris."


# -- tenancy and bad input ---------------------------------------------------------------------


def test_namespaces_never_share_entries(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue(LINEAR_ANSWER)
    cache.complete(user("Solve 3x + 5 = 20", namespace="tenant-a"))
    backend.enqueue("1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5")
    result = cache.complete(user("Solve 3x + 5 = 20", namespace="tenant-b"))
    assert result.path is Route.MISS
    assert len(backend.calls) == 2


def test_models_never_share_entries(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue(LINEAR_ANSWER)
    cache.complete(user("Solve 3x + 5 = 20", model="small"))
    backend.enqueue(LINEAR_ANSWER)
    assert cache.complete(user("Solve 3x + 5 = 20", model="large")).path is Route.MISS


@pytest.mark.parametrize(
    ("request_body", "match"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "role"),
        ({"messages": [{"role": "system", "content": "be brief"}]}, "user"),
        ({}, "messages"),
        (
            user(
                "Give me JSON",
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 12}}},
            ),
            "schema",
        ),
    ],
)
def test_malformed_requests_raise_and_store_nothing(
    cache: StepCache, backend: ScriptedBackend, store: MemoryStore, request_body: dict[str, Any], match: str
) -> None:
    backend.enqueue(LINEAR_ANSWER)
    cache.complete(user("Solve 3x + 5 = 20"))
    with pytest.raises(InvalidRequest, match=match):
        cache.complete(request_body)
    assert store.stats().entries == 1
    assert len(backend.calls) == 1


def test_stats_count_paths(cache: StepCache, backend: ScriptedBackend, store: MemoryStore) -> None:
    backend.enqueue(LINEAR_ANSWER, prompt_tokens=50, completion_tokens=50)
    cache.complete(user("Solve 3x + 5 = 20"))
    cache.complete(user("Solve 6x + 1 = 19"))
    cache.complete(user("Solve 2x + 7 = 15"))
    stats = store.stats()
    assert stats.paths == {"miss": 1, "reuse": 2}
    assert stats.tokens_spent == 100
    assert stats.tokens_saved == 200


def test_a_callers_ttl_and_max_age(cache: StepCache, backend: ScriptedBackend, store: MemoryStore) -> None:
    import time

    backend.enqueue(LINEAR_ANSWER)
    stored = cache.complete(user("Solve 3x + 5 = 20"), ttl=3600)
    assert stored.stored is not None
    (entry,) = store.entries(ids=[stored.stored])
    assert entry.expires_at is not None and 3590 < entry.expires_at - entry.created_at <= 3600
    assert cache.complete(user("Solve 4x + 2 = 30"), max_age=3600).path is Route.REUSE
    time.sleep(0.05)
    backend.enqueue("1. 4x + 2 = 30\n2. 4x = 28\n3. x = 7")
    assert cache.complete(user("Solve 4x + 2 = 30"), max_age=0.01).path is Route.MISS  # the entry is too old


def test_entries_record_their_embedder_and_neighbours_are_searched_among_its_vectors(
    cache: StepCache, backend: ScriptedBackend, store: MemoryStore
) -> None:
    backend.enqueue(LINEAR_ANSWER)
    stored = cache.complete(user("Solve 3x + 5 = 20"))
    assert stored.stored is not None
    (entry,) = store.entries(ids=[stored.stored])
    assert entry.embedder == cache.embedder.name
    vector = cache.embedder.embed("Solve 3x + 5 = 20")
    assert store.nearest("default", entry.scope.model, vector, 4, embedder=cache.embedder.name)
    assert not store.nearest("default", entry.scope.model, vector, 4, embedder="another-embedder")
