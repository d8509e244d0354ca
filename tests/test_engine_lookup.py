"""``StepCache.lookup``: the cache-only half of ``complete`` (no model call, no stored entry)."""

from __future__ import annotations

import json

from engine_harness import LINEAR_ANSWER, PERSON, user
from stepcache import MemoryStore, Route, ScriptedBackend, StepCache


def test_empty_cache_lookup_is_none_and_touches_nothing(
    cache: StepCache, backend: ScriptedBackend, store: MemoryStore
) -> None:
    assert cache.lookup(user("Solve 3x + 5 = 20")) is None
    assert backend.calls == []
    stats = store.stats()
    assert stats.entries == 0 and stats.paths == {}


def test_lookup_serves_exactly_what_complete_would(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue(LINEAR_ANSWER, prompt_tokens=40, completion_tokens=30)
    cache.complete(user("Solve 3x + 5 = 20"))
    for prompt in ("Solve   3x + 5 = 20 ", "Solve 4x + 2 = 30"):
        looked = cache.lookup(user(prompt))
        completed = cache.complete(user(prompt))
        assert looked is not None and looked.path is Route.REUSE
        assert looked == completed  # same text, entry, steps, verification, detail
    assert len(backend.calls) == 1


def test_lookup_records_reuse_like_complete(cache: StepCache, backend: ScriptedBackend, store: MemoryStore) -> None:
    backend.enqueue(LINEAR_ANSWER, prompt_tokens=40, completion_tokens=30)
    cache.complete(user("Solve 3x + 5 = 20"))
    assert cache.lookup(user("Solve 4x + 2 = 30")) is not None
    stats = store.stats()
    assert stats.paths == {"miss": 1, "reuse": 1}
    assert stats.tokens_saved == 70  # the matched entry's cost, as complete() records it
    assert stats.entries == 1  # a reuse stores nothing new


def test_lookup_declines_a_patch_without_calling_the_model(
    cache: StepCache, backend: ScriptedBackend, store: MemoryStore
) -> None:
    backend.enqueue('{"name": "Alice", "age": 34, "city": "Paris"}')
    cache.complete(user(PERSON))
    changed = user(PERSON.replace("city.", "city, country."))
    assert cache.lookup(changed) is None
    assert len(backend.calls) == 1
    assert store.stats().paths == {"miss": 1}  # nothing recorded for the declined lookup
    backend.enqueue('{"country": "France"}')
    result = cache.complete(changed)  # complete() still patches as before
    assert result.path is Route.PATCH
    assert json.loads(result.text)["country"] == "France"


def test_lookup_declines_a_semantic_change(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue(LINEAR_ANSWER)
    cache.complete(user("Solve 3x + 5 = 20"))
    assert cache.lookup(user("Evaluate 3x + 5 when x = 4")) is None
    assert len(backend.calls) == 1


def test_lookup_respects_namespaces(cache: StepCache, backend: ScriptedBackend) -> None:
    backend.enqueue(LINEAR_ANSWER)
    cache.complete(user("Solve 3x + 5 = 20", namespace="a"))
    assert cache.lookup(user("Solve 3x + 5 = 20", namespace="b")) is None
    assert cache.lookup(user("Solve 3x + 5 = 20", namespace="a")) is not None
