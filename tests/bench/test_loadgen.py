"""The load generator runs and reports; its numbers are not asserted (they depend on the machine)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from typing import Literal

import pytest
from proxy_harness import Served

from stepcache import BackendRequest, ScriptedBackend, StepCache, UpstreamStatusError
from stepcache.server import ServerSettings, create_app
from stepcache_bench.loadgen import _cpu_seconds, loadgen_cache, run_load

Serve = Callable[[StepCache], str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve a cache through the proxy on loopback (its URL); stopped and closed after the test."""
    started: list[tuple[Served, StepCache]] = []

    def make(cache: StepCache) -> str:
        served = Served(create_app(cache, ServerSettings()))
        started.append((served, cache))
        return served.url

    yield make
    for served, cache in started:
        served.stop()
        cache.close()


@pytest.mark.parametrize("client", ["raw", "httpx"])
def test_loadgen_smoke(serve: Serve, client: Literal["raw", "httpx"]) -> None:
    cache = loadgen_cache()
    url = serve(cache)
    report = asyncio.run(run_load(url, requests=40, concurrency=8, latency_samples=10, client=client))
    assert report["errors"] == {}
    assert report["paths"] == {"reuse": 50}  # every measured request was a cache reuse
    assert len(cache.backend.calls) == 1  # the warm-up miss
    assert report["throughput"]["requests_per_second"] > 0
    assert report["healthz_throughput"]["requests_per_second"] > 0
    assert report["throughput"]["client_cpu_ms_per_request"] > 0  # the generator's own cost is measured
    assert set(report["reuse_latency_one_client"]) == {"median_ms", "p90_ms", "p99_ms", "mean_ms"}


def _failing(request: BackendRequest) -> str:
    raise UpstreamStatusError("the upstream answered HTTP 500", status_code=500)


def test_raw_client_reports_errors_by_status(serve: Serve) -> None:
    # The warm-up miss fails, so every look-alike misses and fails too.
    url = serve(StepCache(ScriptedBackend(responder=_failing)))
    report = asyncio.run(run_load(url, requests=8, concurrency=2, latency_samples=2))
    assert report["errors"] == {"HTTP 502": 61}  # 1 + 50 warm-up, 2 sequential, 8 loaded
    assert report["paths"] == {"none": 10}  # no path header on errors; counted after warm-up: 2 + 8


def test_cpu_seconds_counts_the_process_and_its_children() -> None:
    own = _cpu_seconds(os.getpid())
    assert own is not None and own > 0
    assert _cpu_seconds(None) is None


def test_the_self_hosted_model_answers_like_a_good_one() -> None:
    backend = loadgen_cache().backend
    for prompt, last in (("Solve 3x + 5 = 20", "3. x = 5"), ("Solve 4x + 1 = 3", "3. x = 1/2")):
        text = backend.complete(BackendRequest(messages=({"role": "user", "content": prompt},), model="m")).text
        assert text.splitlines()[-1] == last
    assert (
        backend.complete(BackendRequest(messages=({"role": "user", "content": "Solve 3x + 5 = 20"},), model="m")).text
        == "1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5"
    )
