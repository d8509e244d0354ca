"""Audit sampling behind the proxy: audits never delay a response, and /metrics reports them."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
from proxy_harness import FakeUpstream, MakeProxy
from starlette.testclient import TestClient

from stepcache._engine import CacheConfig, StepCache
from stepcache._types import BackendRequest
from stepcache.backends import ScriptedBackend
from stepcache.server import create_app
from stepcache.store.memory import MemoryStore

#: The occupation is not in the request, so no verifier can check it: two verified answers may differ.
PERSON = (
    "Return a JSON object for the person Alice, age 34, who lives in Paris. Required keys: name, age, city, occupation."
)


def chat(content: str) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": content}]}


def metric_lines(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric in Prometheus text."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            series, value = line.rsplit(" ", 1)
            found[series[len(name) :]] = float(value)
    return found


def test_the_proxy_audits_reused_answers_upstream_and_reports_them(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(config=CacheConfig(audit_rate=1.0))
    client = proxy.client()
    for content in ("Solve 3x + 5 = 20", "Solve 4x + 2 = 30"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": content}])
    assert proxy.cache.audits.join(timeout=10)
    assert upstream.prompts() == ["Solve 3x + 5 = 20", "Solve 4x + 2 = 30"]  # the second is the audit
    upstream.mode = "wrong"  # the next audit's answer fails verification
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "Solve 5x + 1 = 11"}]
    )
    assert raw.headers["x-stepcache-path"] == "reuse"
    assert proxy.cache.audits.join(timeout=10)

    text = httpx.get(proxy.url + "/metrics").text
    assert metric_lines(text, "stepcache_audit_total") == {
        '{family="linear",outcome="agree"}': 1,
        '{family="linear",outcome="disagree"}': 0,
        '{family="linear",outcome="inconclusive"}': 1,
    }
    assert metric_lines(text, "stepcache_audit_dropped_total") == {'{family="linear"}': 0}
    # The fake upstream reports 10 prompt and 5 completion tokens per call.
    assert metric_lines(text, "stepcache_audit_tokens_spent_total") == {
        '{kind="prompt"}': 20,
        '{kind="completion"}': 10,
    }
    assert metric_lines(text, "stepcache_store_quarantined_entries") == {'{family="all"}': 0}
    assert metric_lines(text, "stepcache_audits_pending") == {"": 0}
    # Serving cost one miss; the audits are reported apart.
    assert metric_lines(text, "stepcache_store_tokens_spent_total") == {"": 15}


def test_without_an_audit_rate_the_proxy_calls_the_upstream_only_to_answer(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    proxy = make_proxy()
    client = proxy.client()
    for content in ("Solve 3x + 5 = 20", "Solve 4x + 2 = 30", "Solve 3x + 5 = 20"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": content}])
    assert proxy.cache.audits.join(timeout=10)
    assert len(upstream.calls) == 1
    assert metric_lines(httpx.get(proxy.url + "/metrics").text, "stepcache_audit_total") == {}


def drifting() -> ScriptedBackend:
    """An upstream that names another occupation for Alice on every call (each answer verifies)."""
    jobs = iter(["teacher", "pilot", "baker", "nurse", "judge"])
    return ScriptedBackend(
        responder=lambda request: json.dumps({"name": "Alice", "age": 34, "city": "Paris", "occupation": next(jobs)})
    )


def test_a_disagreement_quarantines_the_entry_and_shows_in_metrics() -> None:
    cache = StepCache(drifting(), store=MemoryStore(), config=CacheConfig(audit_rate=1.0))
    with TestClient(create_app(cache)) as client:
        paths = [client.post("/v1/chat/completions", json=chat(PERSON)).headers["x-stepcache-path"] for _ in range(2)]
        assert cache.audits.join(timeout=10)
        paths.append(client.post("/v1/chat/completions", json=chat(PERSON)).headers["x-stepcache-path"])
        text = client.get("/metrics").text
    assert paths == ["miss", "reuse", "miss"]  # the entry the audit found wrong is not served again
    assert metric_lines(text, "stepcache_audit_total")['{family="json",outcome="disagree"}'] == 1
    assert metric_lines(text, "stepcache_store_quarantined_entries") == {'{family="all"}': 1, '{family="json"}': 1}
    assert metric_lines(text, "stepcache_store_entries") == {'{family="all"}': 1, '{family="json"}': 1}
    cache.close()


class Gate:
    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.first = True

    def __call__(self, request: BackendRequest) -> str:
        if self.first:  # the miss is answered at once
            self.first = False
        else:
            self.arrived.set()
            assert self.release.wait(10)
        return "1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5"


def test_an_audit_held_upstream_does_not_delay_the_response() -> None:
    gate = Gate()
    cache = StepCache(ScriptedBackend(responder=gate), store=MemoryStore(), config=CacheConfig(audit_rate=1.0))
    with TestClient(create_app(cache)) as client:
        client.post("/v1/chat/completions", json=chat("Solve 3x + 5 = 20"))
        for _ in range(3):
            start = time.monotonic()
            reply = client.post("/v1/chat/completions", json=chat("Solve 3x + 5 = 20"))
            assert reply.headers["x-stepcache-path"] == "reuse" and time.monotonic() - start < 2
        assert gate.arrived.wait(10)
        assert metric_lines(client.get("/metrics").text, "stepcache_audits_pending") == {"": 3}
        gate.release.set()
        assert cache.audits.join(timeout=10)
    assert cache.store.stats().audits == {"linear": {"agree": 3}}
    cache.close()


def test_shutdown_waits_for_audits_so_no_count_is_lost() -> None:
    def slow(request: BackendRequest) -> str:
        time.sleep(0.5)
        return "1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5"

    store = MemoryStore()
    cache = StepCache(ScriptedBackend(responder=slow), store=store, config=CacheConfig(audit_rate=1.0))
    with TestClient(create_app(cache, owns_cache=True)) as client:
        for _ in range(3):
            client.post("/v1/chat/completions", json=chat("Solve 3x + 5 = 20"))
        assert cache.audits.pending > 0
    assert cache.audits.pending == 0
    assert store.stats().audits == {"linear": {"agree": 2}}
