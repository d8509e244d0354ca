"""Audit sampling in the engine: reused answers asked again upstream, compared, quarantined when wrong."""

from __future__ import annotations

import json
import logging
import random
import threading
from typing import Any

import pytest
from pydantic import ValidationError

from engine_harness import LINEAR_ANSWER, PERSON, user
from stepcache import (
    BackendRequest,
    CacheConfig,
    ConfigurationError,
    Entry,
    MemoryStore,
    Route,
    Scope,
    ScriptedBackend,
    StepCache,
    Store,
    StoreStats,
    TokenUsage,
    UpstreamTimeout,
)
from stepcache._types import Vector

ALICE = json.dumps({"name": "Alice", "age": 34, "city": "Paris"})
BOB = "Return a JSON object for the person Bob, age 40, who lives in Rome. Required keys: name, age, city."
#: The occupation is not in the request, so no verifier can check it: two verified answers may differ.
WITH_JOB = PERSON.replace("city.", "city, occupation.")


def person(occupation: str) -> str:
    return json.dumps({"name": "Alice", "age": 34, "city": "Paris", "occupation": occupation})


LOOKALIKE_LINEAR = "1. 4x + 2 = 30\n2. 4x = 28\n3. x = 7"


def audited(backend: ScriptedBackend, store: Store | None = None, rate: float = 1.0, **config: Any) -> StepCache:
    return StepCache(backend, store=store or MemoryStore(), config=CacheConfig(audit_rate=rate, **config))


def settle(cache: StepCache) -> StoreStats:
    assert cache.audits.join(timeout=10), "audits did not finish"
    return cache.store.stats()


# -- off by default -------------------------------------------------------------------------------


def test_audit_rate_zero_never_calls_the_upstream_extra(backend: ScriptedBackend, cache: StepCache) -> None:
    assert cache.config.audit_rate == 0.0
    backend.enqueue(LINEAR_ANSWER)
    cache.complete(user("Solve 3x + 5 = 20"))
    for c in (2, 4, 6, 8):
        assert cache.complete(user(f"Solve 4x + {c} = 30")).path is Route.REUSE
    assert cache.lookup(user("Solve 3x + 5 = 20")) is not None
    stats = settle(cache)
    assert len(backend.calls) == 1
    assert cache.audits.pending == 0
    assert (stats.audits, stats.audit_tokens, stats.quarantined) == ({}, TokenUsage(), 0)


def test_misses_and_skips_are_never_audited(backend: ScriptedBackend) -> None:
    cache = audited(backend)
    backend.enqueue(LINEAR_ANSWER)
    assert cache.complete(user("Solve 3x + 5 = 20")).path is Route.MISS
    backend.enqueue("1. x = 1")  # a semantic change of the linear request: generated fresh
    cache.complete(user("Evaluate 3x + 5 when x = 4"))
    assert settle(cache).audits == {}
    assert len(backend.calls) == 2


# -- outcomes -------------------------------------------------------------------------------------


def test_an_agreeing_audit_is_counted_and_its_tokens_kept_apart(backend: ScriptedBackend) -> None:
    cache = audited(backend)
    backend.enqueue(LINEAR_ANSWER, prompt_tokens=40, completion_tokens=30)
    cache.complete(user("Solve 3x + 5 = 20"))
    backend.enqueue(LOOKALIKE_LINEAR, prompt_tokens=11, completion_tokens=7)  # the audit's fresh answer
    result = cache.complete(user("Solve 4x + 2 = 30"))
    assert (result.path, result.upstream_tokens.total) == (Route.REUSE, 0)
    stats = settle(cache)
    assert stats.audits == {"linear": {"agree": 1}}
    assert stats.audit_tokens == TokenUsage(11, 7)
    assert stats.tokens_spent == 70  # what serving cost; the audit is reported apart
    assert stats.disagreement_rate() == 0.0 and stats.quarantined == 0
    # Asked exactly as a miss of the same request would be.
    fresh = ScriptedBackend([LOOKALIKE_LINEAR])
    StepCache(fresh).complete(user("Solve 4x + 2 = 30"))
    assert backend.calls[1] == fresh.calls[0]


def test_a_disagreeing_audit_quarantines_the_entry_and_logs_it(
    backend: ScriptedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    cache = audited(backend)
    backend.enqueue(person("teacher"))
    stored = cache.complete(user(WITH_JOB)).stored
    backend.enqueue(person("pilot"))  # the audit's fresh answer verifies but says otherwise
    with caplog.at_level(logging.WARNING, logger="stepcache"):
        served = cache.complete(user(WITH_JOB))
        stats = settle(cache)
    assert (served.path, served.entry) == (Route.REUSE, stored)
    assert stats.audits == {"json": {"disagree": 1}}
    assert stats.disagreement_rate("json") == 1.0
    assert (stats.entries, stats.quarantined_by_family) == (0, {"json": 1})
    [record] = [r for r in caplog.records if r.name == "stepcache" and "disagreed" in r.getMessage()]
    message = record.getMessage()
    assert f"quarantined entry {stored}" in message and "family json" in message
    assert "teacher" in message and "pilot" in message  # both answers' summary

    # Never served again: the same request is generated fresh and stored as a new entry (the audit's
    # answer was not stored in the quarantined entry's place).
    assert cache.lookup(user(WITH_JOB)) is None
    backend.enqueue(person("teacher"))
    fresh = cache.complete(user(WITH_JOB))
    assert fresh.path is Route.MISS and fresh.stored not in (None, stored)
    backend.enqueue(person("teacher"))  # the audit of the next reuse agrees
    again = cache.complete(user(WITH_JOB))
    assert (again.path, again.entry) == (Route.REUSE, fresh.stored)
    stats = settle(cache)
    assert stats.quarantined == 1 and stats.entries == 1
    assert stats.audits == {"json": {"disagree": 1, "agree": 1}}
    assert stats.disagreement_rate() == 0.5


def test_the_next_look_alike_request_is_not_adapted_from_a_quarantined_entry(backend: ScriptedBackend) -> None:
    cache = audited(backend)
    backend.enqueue(LINEAR_ANSWER)
    entry = cache.complete(user("Solve 3x + 5 = 20")).stored
    assert entry is not None and isinstance(cache.store, MemoryStore)
    assert cache.store.quarantine(entry, "found wrong")  # as a disagreeing audit would
    backend.enqueue(LOOKALIKE_LINEAR)
    assert cache.complete(user("Solve 4x + 2 = 30")).path is Route.MISS
    assert len(backend.calls) == 2


def test_an_audit_answer_that_fails_verification_is_inconclusive(backend: ScriptedBackend) -> None:
    cache = audited(backend)
    backend.enqueue(ALICE)
    cache.complete(user(PERSON))
    backend.enqueue("I would rather not answer in JSON.")
    assert cache.complete(user(PERSON)).path is Route.REUSE
    stats = settle(cache)
    assert stats.audits == {"json": {"inconclusive": 1}}
    assert stats.disagreement_rate() is None and stats.quarantined == 0
    assert cache.lookup(user(PERSON)) is not None  # still served


def test_an_upstream_error_during_the_audit_is_inconclusive(backend: ScriptedBackend) -> None:
    cache = audited(backend)
    backend.enqueue(LINEAR_ANSWER)
    cache.complete(user("Solve 3x + 5 = 20"))
    backend.enqueue_error(UpstreamTimeout("slow"))
    backend.enqueue("1. 4x + 2 = 30\n2. x = 9")  # a wrong value fails verification: inconclusive too
    cache.complete(user("Solve 4x + 2 = 30"))
    cache.complete(user("Solve 4x + 2 = 30"))
    stats = settle(cache)
    assert stats.audits == {"linear": {"inconclusive": 2}}
    assert stats.quarantined == 0


def test_the_generic_family_is_never_audited(backend: ScriptedBackend) -> None:
    cache = audited(backend)
    backend.enqueue("Why did the chicken cross the road?")
    cache.complete(user("Tell me a joke about chickens"))
    assert cache.complete(user("Tell me a joke about chickens")).path is Route.REUSE
    assert settle(cache).audits == {}
    assert len(backend.calls) == 1


def test_answers_served_by_lookup_are_audited_too(backend: ScriptedBackend) -> None:
    cache = audited(backend)
    backend.enqueue(LINEAR_ANSWER)
    cache.complete(user("Solve 3x + 5 = 20"))
    backend.enqueue(LOOKALIKE_LINEAR)
    assert cache.lookup(user("Solve 4x + 2 = 30")) is not None  # the proxy's inline path
    assert settle(cache).audits == {"linear": {"agree": 1}}


def test_a_disagreeing_patch_quarantines_what_was_stored_and_what_it_came_from(backend: ScriptedBackend) -> None:
    cache = audited(backend)
    backend.enqueue(ALICE)
    source = cache.complete(user(PERSON)).stored
    backend.enqueue(json.dumps({"email": "bob@example.com"}))  # the patch: only the new key
    backend.enqueue(json.dumps({"name": "Bob", "age": 40, "city": "Rome", "email": "bob@example.org"}))  # audit
    patched = cache.complete(user(BOB.replace("city.", "city, email.")))
    assert patched.path is Route.PATCH and patched.entry == source
    stats = settle(cache)
    assert stats.audits == {"json": {"disagree": 1}}
    assert stats.quarantined == 2 and stats.entries == 0


# -- sampling, queue and shutdown --------------------------------------------------------------------


def test_sampling_follows_the_injected_rng(backend: ScriptedBackend) -> None:
    backend.responder = lambda request: LOOKALIKE_LINEAR
    backend.enqueue(LINEAR_ANSWER)
    cache = StepCache(backend, config=CacheConfig(audit_rate=0.3), audit_rng=random.Random(7))
    cache.complete(user("Solve 3x + 5 = 20"))
    for _ in range(40):
        cache.complete(user("Solve 4x + 2 = 30"))
    draws = random.Random(7)
    expected = sum(draws.random() < 0.3 for _ in range(40))
    assert 0 < expected < 40
    assert settle(cache).audits == {"linear": {"agree": expected}}
    assert len(backend.calls) == 1 + expected


class Gate:
    """A responder that holds audit calls until released, and says when one has arrived."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: BackendRequest) -> str:
        self.arrived.set()
        assert self.release.wait(10)
        return LOOKALIKE_LINEAR


def test_a_full_queue_drops_audits_and_counts_them(backend: ScriptedBackend) -> None:
    gate = Gate()
    backend.responder = gate
    backend.enqueue(LINEAR_ANSWER)
    cache = audited(backend, audit_queue=1, audit_workers=1)
    cache.complete(user("Solve 3x + 5 = 20"))
    cache.complete(user("Solve 4x + 2 = 30"))
    assert gate.arrived.wait(10)  # the first audit is running, held upstream
    cache.complete(user("Solve 4x + 2 = 30"))  # queued
    cache.complete(user("Solve 4x + 2 = 30"))  # no room: dropped
    assert (cache.audits.pending, cache.audits.dropped) == (2, 1)
    assert not cache.audits.join(timeout=0.05)
    gate.release.set()
    stats = settle(cache)
    assert stats.audits == {"linear": {"agree": 2, "dropped": 1}}
    assert stats.disagreement_rate() == 0.0


def test_close_waits_for_pending_audits(backend: ScriptedBackend) -> None:
    gate = Gate()
    backend.responder = gate
    backend.enqueue(LINEAR_ANSWER)
    store = MemoryStore()
    cache = audited(backend, store)
    cache.complete(user("Solve 3x + 5 = 20"))
    cache.complete(user("Solve 4x + 2 = 30"))
    assert gate.arrived.wait(10)
    threading.Timer(0.1, gate.release.set).start()
    cache.close()
    assert cache.audits.pending == 0
    assert store.stats().audits == {"linear": {"agree": 1}}


def test_close_counts_audits_it_cannot_wait_for_as_dropped(
    backend: ScriptedBackend, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate()
    backend.responder = gate
    backend.enqueue(LINEAR_ANSWER)
    store = MemoryStore()
    cache = audited(backend, store, audit_drain_seconds=0.05)
    cache.complete(user("Solve 3x + 5 = 20"))
    cache.complete(user("Solve 4x + 2 = 30"))
    assert gate.arrived.wait(10)
    cache.complete(user("Solve 4x + 2 = 30"))  # queued behind the held one
    with caplog.at_level(logging.WARNING, logger="stepcache"):
        cache.close()
    assert "still waiting for the upstream" in caplog.text
    assert store.stats().audits == {"linear": {"dropped": 1}}
    gate.release.set()
    assert cache.audits.join(timeout=10)  # the held one still finishes and is counted
    assert store.stats().audits == {"linear": {"agree": 1, "dropped": 1}}


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [-0.1, 1.5, 2])
def test_an_audit_rate_outside_zero_to_one_is_refused(rate: float) -> None:
    with pytest.raises(ValidationError, match="audit_rate"):
        CacheConfig(audit_rate=rate)


class PlainStore(Store):
    """A store that cannot count audits or quarantine entries."""

    def __init__(self) -> None:
        self.inner = MemoryStore()

    def get(self, key: str) -> Entry | None:
        return self.inner.get(key)

    def put(self, entry: Entry) -> Entry:
        return self.inner.put(entry)

    def by_signature(self, scope: Scope, signature: str, limit: int = 8) -> list[Entry]:
        return self.inner.by_signature(scope, signature, limit)

    def nearest(
        self, namespace: str, model: str, vector: Vector, k: int = 4, family: str | None = None
    ) -> list[tuple[Entry, float]]:
        return self.inner.nearest(namespace, model, vector, k, family)

    def record(self, namespace: str, family: str, path: Route, spent: TokenUsage, saved: int) -> None:
        self.inner.record(namespace, family, path, spent, saved)

    def stats(self, namespace: str | None = None) -> StoreStats:
        return self.inner.stats(namespace)


def test_auditing_needs_a_store_that_can_quarantine() -> None:
    with pytest.raises(ConfigurationError, match="record_audit.*quarantine"):
        StepCache(ScriptedBackend(), store=PlainStore(), config=CacheConfig(audit_rate=0.1))
    StepCache(ScriptedBackend(), store=PlainStore()).close()  # fine without audits


# -- the measurement -------------------------------------------------------------------------------


class EveryFourthAuditDisagrees:
    """An upstream right on the request path (the test's thread) that names another occupation (still
    a valid answer) on every fourth call an audit (a background thread) makes."""

    def __init__(self) -> None:
        self.audits = 0
        self.deviated = 0

    def __call__(self, request: BackendRequest) -> str:
        occupation = "teacher"
        if threading.current_thread() is not threading.main_thread():
            self.audits += 1
            if self.audits % 4 == 0:
                self.deviated += 1
                occupation = "pilot"
        return person(occupation)


def test_the_measured_disagreement_rate_is_the_share_the_upstream_disagreed_on() -> None:
    upstream = EveryFourthAuditDisagrees()
    cache = audited(ScriptedBackend(responder=upstream))
    paths = []
    for _ in range(41):
        paths.append(cache.complete(user(WITH_JOB)).path)
        assert cache.audits.join(timeout=10)
    stats = cache.store.stats()
    audits = stats.audits["json"]
    assert audits["agree"] + audits["disagree"] == upstream.audits == paths.count(Route.REUSE)
    assert audits["disagree"] == upstream.deviated == stats.quarantined
    assert stats.disagreement_rate("json") == upstream.deviated / upstream.audits == pytest.approx(0.25, abs=0.03)
    # Each disagreement quarantined the only entry, so the next request was generated fresh.
    assert paths.count(Route.MISS) == 1 + upstream.deviated
