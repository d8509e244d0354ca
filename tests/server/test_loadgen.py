"""The load generator runs and reports; its numbers are not asserted (they depend on the machine)."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest

from proxy_harness import FakeUpstream, MakeProxy

from stepcache.server._loadgen import _cpu_seconds, _solve, run_load


@pytest.mark.parametrize("client", ["raw", "httpx"])
def test_loadgen_smoke(make_proxy: MakeProxy, upstream: FakeUpstream, client: Literal["raw", "httpx"]) -> None:
    proxy = make_proxy()
    report = asyncio.run(run_load(proxy.url, requests=40, concurrency=8, latency_samples=10, client=client))
    assert report["errors"] == {}
    assert report["paths"] == {"reuse": 50}  # every measured request was a cache reuse
    assert len(upstream.calls) == 1  # the warm-up miss
    assert report["throughput"]["requests_per_second"] > 0
    assert report["healthz_throughput"]["requests_per_second"] > 0
    assert report["throughput"]["client_cpu_ms_per_request"] > 0  # the generator's own cost is measured
    assert set(report["reuse_latency_one_client"]) == {"median_ms", "p90_ms", "p99_ms", "mean_ms"}


def test_raw_client_reports_errors_by_status(make_proxy: MakeProxy, upstream: FakeUpstream) -> None:
    proxy = make_proxy()
    upstream.mode = "status500"  # the warm-up miss fails, so every look-alike misses and fails too
    report = asyncio.run(run_load(proxy.url, requests=8, concurrency=2, latency_samples=2))
    assert report["errors"] == {"HTTP 502": 61}  # 1 + 50 warm-up, 2 sequential, 8 loaded
    assert report["paths"] == {"none": 10}  # no path header on errors; counted after warm-up: 2 + 8


def test_cpu_seconds_counts_the_process_and_its_children() -> None:
    import os

    own = _cpu_seconds(os.getpid())
    assert own is not None and own > 0
    assert _cpu_seconds(None) is None


def test_scripted_solver_answers_like_a_good_model() -> None:
    assert _solve("Solve 3x + 5 = 20") == "1. 3x + 5 = 20\n2. 3x = 15\n3. x = 5"
    assert _solve("Solve 4x + 1 = 3").endswith("x = 1/2")
