"""Fixtures for the proxy's end-to-end tests: the fake upstream and proxies, both on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from proxy_harness import OPERATOR_KEY, FakeUpstream, MakeProxy, Proxy, Served, served_upstream

from stepcache._engine import CacheConfig, StepCache
from stepcache.backends import OpenAIHTTPBackend
from stepcache.server import ServerSettings, create_app
from stepcache.store import Store
from stepcache.store.memory import MemoryStore


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    with served_upstream() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh_upstream(upstream: FakeUpstream) -> None:
    upstream.reset()


@pytest.fixture
def make_proxy(upstream: FakeUpstream) -> Iterator[MakeProxy]:
    """Start a proxy (fresh in-memory store) in front of the fake upstream; stopped after the test."""
    started: list[tuple[Served, StepCache]] = []
    proxies: list[Proxy] = []

    def make(
        *,
        timeout: float = 10.0,
        upstream_url: str | None = None,
        config: CacheConfig | None = None,
        store: Store | None = None,
        **settings: Any,
    ) -> Proxy:
        backend = OpenAIHTTPBackend(upstream_url or upstream.url, api_key=OPERATOR_KEY, timeout=timeout, max_retries=0)
        cache = StepCache(backend, store=store or MemoryStore(), config=config)
        made = ServerSettings(**settings)
        limits = {
            k: v for k, v in made.uvicorn_options().items() if k not in ("host", "port", "log_level", "access_log")
        }
        served = Served(create_app(cache, made), limits)
        started.append((served, cache))
        proxies.append(Proxy(served.url, cache))
        return proxies[-1]

    yield make
    for made in proxies:
        made.close_clients()
    for served, cache in started:
        served.stop()
        cache.close()


@pytest.fixture
def proxy(make_proxy: MakeProxy) -> Proxy:
    return make_proxy()
