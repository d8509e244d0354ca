"""The reuse fast path (answered on the event loop via ``StepCache.lookup``) and the worker factory."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from proxy_harness import CLOSED_CACHES, FakeUpstream, MakeProxy
from starlette.testclient import TestClient

from stepcache import ConfigurationError
from stepcache._engine import StepCache
from stepcache._types import Entry, Route, Scope, StoreStats, TokenUsage, Vector
from stepcache.backends import ScriptedBackend
from stepcache.server import ServerSettings, app_from_env, create_app, run_workers
from stepcache.server._workers import FACTORY_ENV, FACTORY_KWARGS_ENV, SETTINGS_ENV
from stepcache.store import Store
from stepcache.store.memory import MemoryStore


def ask(proxy_url: str, prompt: str, key: str = "sk-a") -> tuple[str, str]:
    import httpx

    body = {"model": "m", "messages": [{"role": "user", "content": prompt}]}
    response = httpx.post(
        proxy_url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=20
    )
    assert response.status_code == 200, response.text
    return response.headers["x-stepcache-path"], response.json()["choices"][0]["message"]["content"]


def test_reuse_is_answered_while_the_only_worker_thread_waits_upstream(
    make_proxy: MakeProxy, upstream: FakeUpstream
) -> None:
    proxy = make_proxy(worker_threads=1)
    assert ask(proxy.url, "Solve 3x + 5 = 20")[0] == "miss"
    upstream.delay = 2.0
    slow: list[str] = []
    miss = threading.Thread(target=lambda: slow.append(ask(proxy.url, "Tell me about caches")[0]))
    miss.start()
    try:
        while len(upstream.calls) < 2:  # the miss holds the one worker thread, waiting upstream
            threading.Event().wait(0.01)
        # Through the thread pool this would queue behind the miss; on the loop it does not.
        assert ask(proxy.url, "Solve 4x + 2 = 30") == ("reuse", "1. 4x + 2 = 30\n2. 4x = 28\n3. x = 7")
        assert miss.is_alive() and slow == []
    finally:
        miss.join(timeout=20)
    assert slow == ["miss"]


@pytest.mark.parametrize("inline", [True, False])
def test_inline_lookup_on_or_off_serves_the_same(make_proxy: MakeProxy, upstream: FakeUpstream, inline: bool) -> None:
    proxy = make_proxy(inline_lookup=inline)
    assert ask(proxy.url, "Solve 3x + 5 = 20")[0] == "miss"
    assert ask(proxy.url, "Solve 4x + 2 = 30") == ("reuse", "1. 4x + 2 = 30\n2. 4x = 28\n3. x = 7")
    assert ask(proxy.url, "Solve 4x + 2 = 30", key="sk-b")[0] == "miss"  # still per tenant
    assert len(upstream.calls) == 2
    stats = proxy.cache.store.stats()
    assert stats.paths == {"miss": 2, "reuse": 1}


class RemoteStore(Store):
    """Stands in for a store behind a network (PostgreSQL): not known to be in-process."""

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

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize(
    ("store", "setting", "inline"),
    [(MemoryStore, None, True), (RemoteStore, None, False), (RemoteStore, True, True), (MemoryStore, False, False)],
)
def test_inline_lookup_defaults_to_in_process_stores(store: type[Store], setting: bool | None, inline: bool) -> None:
    cache = StepCache(ScriptedBackend(), store=store())
    app = create_app(cache, ServerSettings(inline_lookup=setting))
    assert app.state.stepcache.inline_lookup is inline


@pytest.fixture
def worker_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (FACTORY_ENV, FACTORY_KWARGS_ENV, SETTINGS_ENV):
        monkeypatch.delenv(name, raising=False)
    CLOSED_CACHES.clear()
    yield
    CLOSED_CACHES.clear()


def test_app_from_env_builds_its_own_cache_and_closes_it(worker_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FACTORY_ENV, "proxy_harness:tracked_cache")
    monkeypatch.setenv(FACTORY_KWARGS_ENV, json.dumps({"store": "memory://"}))
    monkeypatch.setenv(SETTINGS_ENV, ServerSettings(shared_namespace="team").model_dump_json())
    app = app_from_env()
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "Solve 3x + 5 = 20"}]}
    with TestClient(app) as client:
        first = client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer one"})
        second = client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer two"})
        assert [first.headers["x-stepcache-path"], second.headers["x-stepcache-path"]] == ["miss", "reuse"]
        assert CLOSED_CACHES == []
    assert [app.state.stepcache.cache] == CLOSED_CACHES


def test_app_from_env_without_a_factory_says_how_to_start_workers(worker_env: None) -> None:
    with pytest.raises(ConfigurationError, match="run_workers"):
        app_from_env()


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        ("proxy_harness:no_such_function", {}, "cannot import"),
        ("proxy_harness", {}, "package.module:function"),
        ("proxy_harness:tracked_cache", {"store": object()}, "must be JSON"),
    ],
)
def test_run_workers_refuses_a_bad_factory_before_starting(
    worker_env: None, factory: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        run_workers(factory, ServerSettings(), workers=2, factory_kwargs=kwargs)


def test_run_workers_needs_a_worker(worker_env: None) -> None:
    with pytest.raises(ConfigurationError, match="at least 1"):
        run_workers("proxy_harness:tracked_cache", ServerSettings(), workers=0)
