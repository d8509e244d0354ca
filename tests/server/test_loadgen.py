"""The load generator runs and reports; its numbers are not asserted (they depend on the machine)."""

from __future__ import annotations

import asyncio

from proxy_harness import FakeUpstream, MakeProxy

from stepcache.server._loadgen import _solve, run_load


def test_loadgen_smoke(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    proxy = make_proxy()
    report = asyncio.run(run_load(proxy.url, requests=40, concurrency=8, latency_samples=10))
    assert report["errors"] == {}
    assert report["paths"] == {"reuse": 50}  # every measured request was a cache reuse
    assert len(upstream.calls) == 1  # the warm-up miss
    assert report["throughput"]["requests_per_second"] > 0
    assert set(report["reuse_latency_one_client"]) == {"median_ms", "p90_ms", "p99_ms", "mean_ms"}


def test_scripted_solver_answers_like_a_good_model() -> None:
    assert _solve("Solve 3x + 5 = 20") == "1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5"
    assert _solve("Solve 4x + 1 = 3").endswith("x = 1/2")
