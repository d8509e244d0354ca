"""/metrics: the exposition parses, and under ``--workers N`` every worker shows the sum of all workers.

Child processes are started with ``spawn`` (uvicorn starts its workers that way too): prometheus_client
decides when it is first imported whether a process keeps its metrics in files, so a child must start
with ``PROMETHEUS_MULTIPROC_DIR`` already in its environment. The children use only this module's helpers.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from proxy_harness import OPERATOR_KEY, FakeUpstream

from stepcache import ConfigurationError
from stepcache._types import StoreStats, TokenUsage
from stepcache.server._metrics import MULTIPROC_ENV, Metrics
from stepcache.server._workers import METRICS_DIR_ENV, shared_metrics_dir

SPAWN = multiprocessing.get_context("spawn")

STATS = StoreStats(
    entries=7,
    entries_by_family={"linear": 7},
    paths={"miss": 2, "reuse": 5},
    tokens_spent=30,
    tokens_saved=120,
    audits={"linear": {"agree": 3, "disagree": 1, "dropped": 2}},
    audit_tokens=TokenUsage(20, 10),
    quarantined_by_family={"linear": 1},
)


@dataclass(frozen=True, slots=True)
class EvictingStats(StoreStats):
    """Stats of a store that evicts (``StoreStats`` itself may not have the field yet)."""

    evicted: int = 0


def samples(text: str) -> dict[str, float]:
    """``{'name{label="value",...}': value}`` of every sample, labels sorted, as Prometheus parses them."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            key = f"{sample.name}{{{labels}}}" if labels else sample.name
            assert key not in found, f"{key} emitted twice"
            found[key] = sample.value
    return found


def families(text: str) -> dict[str, str]:
    """``{family name: type}``."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}


@pytest.fixture(autouse=True)
def _no_multiproc_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Children and ``stepcache serve`` start from this environment: no stray shared directory."""
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    monkeypatch.delenv(METRICS_DIR_ENV, raising=False)


# -- one process ---------------------------------------------------------------------------------


def traffic(metrics: Metrics) -> None:
    metrics.in_flight += 1
    metrics.served("chat", "miss", 0.8, TokenUsage(10, 5))
    metrics.served("chat", "reuse", 0.002, TokenUsage())
    metrics.served("text", "reuse", 0.003, TokenUsage())
    metrics.failed("chat", 400, 0.0)
    metrics.coalesced += 1


def test_the_exposition_parses_with_the_proxy_and_store_metrics() -> None:
    metrics = Metrics()
    traffic(metrics)
    text = metrics.render(STATS, audits_pending=2)
    assert families(text) == {
        "stepcache_requests": "counter",
        "stepcache_request_errors": "counter",
        "stepcache_upstream_tokens_spent": "counter",
        "stepcache_coalesced_requests": "counter",
        "stepcache_requests_in_flight": "gauge",
        "stepcache_audits_pending": "gauge",
        "stepcache_request_duration_seconds": "histogram",
        "stepcache_time_to_first_token_seconds": "histogram",
        "stepcache_store_entries": "gauge",
        "stepcache_upstream_tokens_saved": "counter",
        "stepcache_store_tokens_spent": "counter",
        "stepcache_store_requests": "counter",
        "stepcache_store_evicted": "counter",
        "stepcache_audit": "counter",
        "stepcache_audit_dropped": "counter",
        "stepcache_audit_tokens_spent": "counter",
        "stepcache_store_quarantined_entries": "gauge",
    }
    found = samples(text)
    assert found['stepcache_requests_total{endpoint="chat",path="miss"}'] == 1
    assert found['stepcache_requests_total{endpoint="text",path="reuse"}'] == 1
    assert found['stepcache_request_errors_total{endpoint="chat",status="400"}'] == 1
    assert found['stepcache_upstream_tokens_spent_total{kind="prompt"}'] == 10
    assert found['stepcache_upstream_tokens_spent_total{kind="completion"}'] == 5
    assert found["stepcache_coalesced_requests_total"] == 1
    assert found["stepcache_requests_in_flight"] == 1
    assert found["stepcache_audits_pending"] == 2
    assert found['stepcache_request_duration_seconds_bucket{le="0.0025",path="reuse"}'] == 1
    assert found['stepcache_request_duration_seconds_bucket{le="+Inf",path="reuse"}'] == 2
    assert found['stepcache_request_duration_seconds_count{path="error"}'] == 1
    assert found['stepcache_store_entries{family="all"}'] == 7
    assert found['stepcache_store_entries{family="linear"}'] == 7
    assert found["stepcache_upstream_tokens_saved_total"] == 120
    assert found['stepcache_store_requests_total{path="reuse"}'] == 5
    assert found["stepcache_store_evicted_total"] == 0
    assert found['stepcache_audit_total{family="linear",outcome="disagree"}'] == 1
    assert found['stepcache_audit_dropped_total{family="linear"}'] == 2
    assert found['stepcache_audit_tokens_spent_total{kind="completion"}'] == 10
    assert found['stepcache_store_quarantined_entries{family="all"}'] == 1
    assert not [name for name in found if "_created" in name]  # the same series with one worker or many
    metrics.in_flight -= 1
    assert samples(metrics.render(None))["stepcache_requests_in_flight"] == 0


def test_without_store_stats_only_the_proxy_counts_are_shown() -> None:
    text = Metrics().render(None)
    assert families(text)["stepcache_requests"] == "counter"
    assert not [name for name in families(text) if name.startswith(("stepcache_store", "stepcache_audit_"))]
    assert samples(text)['stepcache_upstream_tokens_spent_total{kind="prompt"}'] == 0


def test_time_to_first_token_appears_after_first_token() -> None:
    metrics = Metrics()
    assert not [name for name in samples(metrics.render(None)) if "first_token" in name]
    metrics.first_token("reuse", 0.003)
    metrics.first_token("miss", 12.0)
    found = samples(metrics.render(None))
    assert found['stepcache_time_to_first_token_seconds_bucket{le="0.0025",path="reuse"}'] == 0
    assert found['stepcache_time_to_first_token_seconds_bucket{le="0.005",path="reuse"}'] == 1
    assert found['stepcache_time_to_first_token_seconds_bucket{le="10.0",path="miss"}'] == 0
    assert found['stepcache_time_to_first_token_seconds_bucket{le="30.0",path="miss"}'] == 1
    assert found['stepcache_time_to_first_token_seconds_count{path="reuse"}'] == 1
    assert found['stepcache_time_to_first_token_seconds_sum{path="miss"}'] == 12.0


def test_a_store_that_evicts_reports_its_evictions() -> None:
    stats = EvictingStats(entries=1, entries_by_family={}, paths={}, tokens_spent=0, tokens_saved=0, evicted=4)
    assert samples(Metrics().render(stats))["stepcache_store_evicted_total"] == 4


def test_apps_in_one_process_count_apart() -> None:
    first, second = Metrics(), Metrics()
    traffic(first)
    assert samples(second.render(None)).get('stepcache_requests_total{endpoint="chat",path="miss"}') is None
    assert samples(first.render(None))['stepcache_requests_total{endpoint="chat",path="miss"}'] == 1


def test_one_process_keeps_its_counts_in_memory_even_with_a_shared_directory_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``run_workers`` names the directory in its own (already importing) process too."""
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    metrics = Metrics()
    traffic(metrics)
    assert samples(metrics.render(None))['stepcache_requests_total{endpoint="chat",path="miss"}'] == 1
    assert list(tmp_path.iterdir()) == []


def test_a_process_started_without_the_shared_directory_refuses_multiprocess_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # This process imported prometheus_client long ago, without the variable: its values are in memory.
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    with pytest.raises(ConfigurationError, match="before it is first imported"):
        Metrics(multiprocess_dir=str(tmp_path))
    with pytest.raises(ConfigurationError, match="does not exist"):
        Metrics(multiprocess_dir=str(tmp_path / "gone"))


# -- several processes ---------------------------------------------------------------------------


def worker(directory: str, served: list[tuple[str, str]], in_flight: int, commands: Connection) -> None:
    """Child process: count ``served`` requests, leave ``in_flight`` open, then render on request."""
    metrics = Metrics(multiprocess_dir=directory)
    for endpoint, path in served:
        metrics.served(endpoint, path, 0.01, TokenUsage(10, 5))
        if path == "reuse":
            metrics.first_token(path, 0.004)
    metrics.in_flight = in_flight
    commands.send("ready")
    while commands.recv() == "render":
        commands.send(metrics.render(STATS, audits_pending=1))


@dataclass
class Worker:
    process: multiprocessing.process.BaseProcess
    commands: Connection

    def render(self) -> str:
        self.commands.send("render")
        text: str = self.commands.recv()
        return text


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[Worker]]:
    """Two worker processes sharing ``tmp_path`` (A: 3 misses, 2 in flight; B: 4 reuses and a bypass, 1)."""
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))  # inherited by the children as they start
    started: list[Worker] = []
    plans = [([("chat", "miss")] * 3, 2), ([("chat", "reuse")] * 4 + [("text", "bypass")], 1)]
    for served, in_flight in plans:
        ours, theirs = SPAWN.Pipe()
        process = SPAWN.Process(target=worker, args=(str(tmp_path), served, in_flight, theirs), daemon=True)
        process.start()
        started.append(Worker(process, ours))
    for child in started:
        assert child.commands.poll(60), "a worker did not start"
        assert child.commands.recv() == "ready"
    yield started
    for child in started:
        if child.process.is_alive():
            child.commands.send("exit")
        child.process.join(timeout=10)
        child.commands.close()


def test_every_worker_renders_the_sum_of_all_workers(workers: list[Worker]) -> None:
    a, b = workers
    renders = [samples(b.render()), samples(a.render()), samples(b.render())]
    # Each worker updates its audit queue's length when it renders; the rest is the same whichever
    # worker a scrape reaches.
    assert [r.pop("stepcache_audits_pending") for r in renders] == [1, 2, 2]
    assert renders[0] == renders[1] == renders[2]
    found = renders[0]
    assert found['stepcache_requests_total{endpoint="chat",path="miss"}'] == 3
    assert found['stepcache_requests_total{endpoint="chat",path="reuse"}'] == 4
    assert found['stepcache_requests_total{endpoint="text",path="bypass"}'] == 1
    assert found['stepcache_upstream_tokens_spent_total{kind="prompt"}'] == 80
    assert found['stepcache_request_duration_seconds_count{path="reuse"}'] == 4
    assert found['stepcache_request_duration_seconds_bucket{le="0.01",path="miss"}'] == 3
    assert found['stepcache_time_to_first_token_seconds_count{path="reuse"}'] == 4
    assert found["stepcache_requests_in_flight"] == 3
    # The store is shared: read once, never summed.
    assert found['stepcache_store_entries{family="all"}'] == 7
    assert found["stepcache_upstream_tokens_saved_total"] == 120
    assert found['stepcache_audit_total{family="linear",outcome="agree"}'] == 3


def test_a_dead_workers_counts_stay_and_its_requests_in_flight_go(workers: list[Worker]) -> None:
    a, b = workers
    before = samples(b.render())
    a.process.kill()  # SIGKILL: no exit hook runs
    a.process.join(timeout=10)
    after = samples(b.render())
    assert after["stepcache_requests_in_flight"] == 1
    assert after['stepcache_requests_total{endpoint="chat",path="miss"}'] == 3  # a counter never goes down
    assert {k: v for k, v in after.items() if "_total" in k} == {k: v for k, v in before.items() if "_total" in k}


def test_run_workers_gets_a_fresh_directory_and_leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    with shared_metrics_dir(1) as none:
        assert none is None and MULTIPROC_ENV not in os.environ
    monkeypatch.setenv(MULTIPROC_ENV, "/somewhere/else")
    with shared_metrics_dir(2) as directory:
        assert directory is not None and os.path.isdir(directory) and os.listdir(directory) == []
        assert os.environ[MULTIPROC_ENV] == os.environ[METRICS_DIR_ENV] == directory
    assert not os.path.exists(directory)
    assert os.environ[MULTIPROC_ENV] == "/somewhere/else" and METRICS_DIR_ENV not in os.environ


# -- stepcache serve --workers 2 -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def total(found: dict[str, float], name: str) -> float:
    return sum(v for k, v in found.items() if k == name or k.startswith(name + "{"))


def test_stepcache_serve_with_two_workers_never_reports_a_counter_going_down(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPCACHE_") and k != MULTIPROC_ENV}
    env["STEPCACHE_UPSTREAM_API_KEY"] = OPERATOR_KEY
    env["TMPDIR"] = str(tmp_path)  # where run_workers makes its metrics directory
    script = Path(sys.executable).with_name("stepcache")
    serve = [str(script), "serve"] if script.exists() else [sys.executable, "-m", "stepcache.cli", "serve"]
    command = [
        *serve,
        "--port",
        str(port),
        "--workers",
        "2",
        "--upstream",
        upstream.url,
        "--store",
        f"sqlite://{tmp_path / 'cache.db'}",
    ]
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert len(list(tmp_path.glob("stepcache-metrics-*"))) == 1
        body = {"model": "m", "messages": [{"role": "user", "content": ""}]}
        counts: list[float] = []
        for i in range(8):
            body["messages"][0]["content"] = f"Solve {i + 2}x + 5 = {5 + 3 * (i + 2)}"
            # A new connection each time, so the requests and scrapes spread over both workers.
            with httpx.Client(timeout=20) as client:
                answer = client.post(url + "/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-a"})
                assert answer.status_code == 200, answer.text + "\n" + log.read_text()[-4000:]
            for _ in range(2):
                found = samples(httpx.get(url + "/metrics", timeout=10).text)
                counts.append(total(found, "stepcache_requests_total"))
                assert found["stepcache_requests_in_flight"] == 0
                assert 'stepcache_store_entries{family="all"}' in found  # once: samples() refuses repeats
        # Whichever worker answers a scrape, it shows every request answered so far.
        assert counts == [n for n in range(1, 9) for _ in range(2)], counts
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, log.read_text()
    assert list(tmp_path.glob("stepcache-metrics-*")) == []
