"""The exact-match cache and the systems' contract: same backend, hits cost no model call."""

from __future__ import annotations

from pathlib import Path

from stepcache import BackendRequest, HashedNgramEmbedder, ScriptedBackend
from stepcache_bench.imperfect import ImperfectModel
from stepcache_bench.systems import (
    SYSTEMS,
    ExactCacheSystem,
    ExactMatchCache,
    GPTCacheSystem,
    NoCache,
)
from stepcache_bench.workload import generate_workload


def _req(content: str, *, model: str = "m", rf: dict[str, object] | None = None, role: str = "user") -> BackendRequest:
    return BackendRequest(messages=({"role": role, "content": content},), model=model, response_format=rf)


def test_exact_cache_normalises_whitespace_only() -> None:
    cache = ExactMatchCache()
    cache.put(_req("Solve  3x + 5 = 20.\n"), "x = 5")
    assert cache.get(_req(" Solve 3x + 5\t= 20.")) == "x = 5"  # runs of whitespace collapse, ends trim
    assert cache.get(_req("Solve 3x + 5 = 20.")) == "x = 5"
    assert cache.get(_req("Solve 3x+5 = 20.")) is None  # but whitespace never disappears
    assert cache.get(_req("solve 3x + 5 = 20.")) is None  # case can change a task (variable names)
    assert cache.get(_req("Solve 3x + 5 = 20.", model="other")) is None
    assert cache.get(_req("Solve 3x + 5 = 20.", role="system")) is None
    assert len(cache) == 1


def test_exact_cache_keys_on_response_format_canonically() -> None:
    cache = ExactMatchCache()
    cache.put(_req("Describe Ada.", rf={"type": "json_object", "x": [1, 2]}), "{}")
    assert cache.get(_req("Describe Ada.")) is None
    assert cache.get(_req("Describe Ada.", rf={"x": [1, 2], "type": "json_object"})) == "{}"  # key order irrelevant


def test_exact_system_calls_the_model_once_per_distinct_request() -> None:
    item = generate_workload(3, bases_per_task=1, variants_per_perturbation=0, tasks=("linear",))[0]
    backend = ScriptedBackend(responder=ImperfectModel(error_rate=0.0))
    system = ExactCacheSystem(backend)
    first, second = system.answer(item, "m"), system.answer(item, "m")
    assert (first.hit, second.hit) == (False, True)
    assert second.text == first.text and second.prompt_tokens == second.completion_tokens == 0
    assert first.completion_tokens > 0 and len(backend.calls) == 1


def test_no_cache_sends_the_item_request() -> None:
    item = generate_workload(3, bases_per_task=1, variants_per_perturbation=0, tasks=("json",))[0]
    backend = ScriptedBackend(["{}"])
    answer = NoCache(backend).answer(item, "m")
    assert answer.hit is None and answer.text == "{}"
    assert backend.calls[0] == item.request.backend_request("m")


def test_gptcache_hits_a_near_duplicate_and_misses_an_unrelated_prompt(tmp_path: Path) -> None:
    items = generate_workload(4, bases_per_task=1, variants_per_perturbation=1, tasks=("linear",))
    base = items[0]
    backend = ScriptedBackend(responder=ImperfectModel(error_rate=0.0))
    system = GPTCacheSystem(backend, HashedNgramEmbedder(), tmp_path, threshold=0.8)
    try:
        miss = system.answer(base, "m")
        again = system.answer(base, "m")
    finally:
        system.close()
        system.close()  # idempotent
    assert miss.hit is False and miss.completion_tokens > 0
    assert again.hit is True and again.text == miss.text and again.completion_tokens == 0
    assert len(backend.calls) == 1
    assert system.name == "GPTCache (0.8)"


def test_every_registered_system_builds_fresh(tmp_path: Path) -> None:
    backend = ScriptedBackend(responder=ImperfectModel(error_rate=0.0))
    item = generate_workload(5, bases_per_task=1, variants_per_perturbation=0, tasks=("linear",))[0]
    for key, factory in SYSTEMS.items():
        workdir = tmp_path / key
        workdir.mkdir()
        system = factory(backend, workdir)
        try:
            answer = system.answer(item, "m")
        finally:
            system.close()
        assert answer.text, key
        assert answer.hit in (None, False), key  # an empty cache cannot hit
