"""Prometheus metrics for the proxy, kept and written by ``prometheus_client``.

One :class:`Metrics` per app, each with its own ``CollectorRegistry`` (never the library's global
one, so one process can hold many apps). Two kinds of series:

* this proxy's own counts (requests, errors, latency, time to first token, tokens spent, requests in
  flight): ``prometheus_client`` metrics, updated as requests are answered;
* the store's counts (entries, requests by path, tokens saved, audits, evictions): read from
  ``StoreStats`` at scrape time. Every worker reads the same store, so they are emitted as read, once.

Under ``stepcache serve --workers N`` every worker process writes its own counts to files in one
directory made by ``run_workers`` (``prometheus_client``'s multiprocess mode), and /metrics in any
worker renders the sum over all workers: successive scrapes that reach different workers no longer
see counters jump between two processes' values, which Prometheus would read as resets. A worker that
died keeps its counts in the sum (a counter must not go down) but its requests in flight drop out.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .._exceptions import ConfigurationError, MissingDependency
from .._types import AuditOutcome, StoreStats, TokenUsage

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependency("prometheus_client", "server", "The proxy's /metrics") from exc

__all__ = ["MULTIPROC_ENV", "Metrics"]

#: Where ``prometheus_client`` writes a process's metric files in multiprocess mode. It reads the
#: variable when it is first imported (to choose in-memory or file-backed values) and again when a
#: metric's file is opened, so it must be set before a worker process starts.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Seconds. Reuse is meant to be ~1 ms; a miss costs a full generation.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Seconds until a streamed answer's first token: ~1 ms when reused, a loaded upstream's queue at worst.
FIRST_TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """This proxy's counts, and the exposition text of them and of the store's.

    With ``multiprocess_dir`` the counts are written to files in that directory and :meth:`render`
    shows the sum over every process writing there; the process must have started with
    ``PROMETHEUS_MULTIPROC_DIR`` naming the same directory (``run_workers`` does this). Without it
    the counts are this object's alone, whatever the environment says.
    """

    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        if multiprocess_dir is not None:
            _check_multiprocess(multiprocess_dir)
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        # Not registered anywhere themselves: the registry gets them through _WithoutCreated, or reads
        # every worker's files through MultiProcessCollector.
        self._requests = Counter(
            "stepcache_requests_total",
            "Completion requests answered, by endpoint and path.",
            ["endpoint", "path"],
            registry=None,
        )
        self._errors = Counter(
            "stepcache_request_errors_total",
            "Completion requests refused or failed, by HTTP status.",
            ["endpoint", "status"],
            registry=None,
        )
        spent = Counter(
            "stepcache_upstream_tokens_spent_total",
            "Upstream tokens spent by this proxy (bypass included).",
            ["kind"],
            registry=None,
        )
        self._spent_prompt = spent.labels(kind="prompt")
        self._spent_completion = spent.labels(kind="completion")
        self._coalesced_total = Counter(
            "stepcache_coalesced_requests_total",
            "Requests that waited for an identical in-flight request.",
            registry=None,
        )
        # livesum: the workers' requests in flight add up, and a dead worker's drop out.
        self._in_flight_now = Gauge(
            "stepcache_requests_in_flight",
            "Completion requests being answered now.",
            registry=None,
            multiprocess_mode="livesum",
        )
        self._audits_pending = Gauge(
            "stepcache_audits_pending",
            "Audits of reused answers queued or running (with several workers: the sum of each worker's "
            "count when it last rendered /metrics).",
            registry=None,
            multiprocess_mode="livesum",
        )
        self._latency = Histogram(
            "stepcache_request_duration_seconds",
            "Time to answer a completion request, by path.",
            ["path"],
            buckets=BUCKETS,
            registry=None,
        )
        self._first_token = Histogram(
            "stepcache_time_to_first_token_seconds",
            "Time until a streamed answer's first token, by path.",
            ["path"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=None,
        )
        if multiprocess_dir is None:
            own = (
                self._requests,
                self._errors,
                spent,
                self._coalesced_total,
                self._in_flight_now,
                self._audits_pending,
                self._latency,
                self._first_token,
            )
            self.registry.register(_WithoutCreated(own))
        else:
            MultiProcessCollector(self.registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
        self._in_flight = 0
        self._coalesced = 0

    # -- what the proxy reports -------------------------------------------------------------------
    def served(self, endpoint: str, path: str, seconds: float, spent: TokenUsage) -> None:
        self._requests.labels(endpoint, path).inc()
        self._latency.labels(path).observe(seconds)
        self._spent_prompt.inc(spent.prompt)
        self._spent_completion.inc(spent.completion)

    def failed(self, endpoint: str, status: int, seconds: float) -> None:
        self._errors.labels(endpoint, str(status)).inc()
        self._latency.labels("error").observe(seconds)

    def first_token(self, path: str, seconds: float) -> None:
        """A streamed answer sent its first token ``seconds`` after the request arrived."""
        self._first_token.labels(path).observe(seconds)

    @property
    def in_flight(self) -> int:
        """Completion requests this process is answering now (the proxy's limit is per process)."""
        return self._in_flight

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        self._in_flight = value
        self._in_flight_now.set(value)

    @property
    def coalesced(self) -> int:
        """Requests this process answered by waiting for an identical one in flight."""
        return self._coalesced

    @coalesced.setter
    def coalesced(self, value: int) -> None:
        # The proxy counts with ``metrics.coalesced += 1``; the counter takes the difference.
        self._coalesced_total.inc(value - self._coalesced)
        self._coalesced = value

    # -- exposition -------------------------------------------------------------------------------
    def render(self, stats: StoreStats | None, audits_pending: int = 0) -> str:
        """The exposition text; ``audits_pending`` is this process's queued and running audits."""
        self._audits_pending.set(audits_pending)
        if self.multiprocess_dir is not None:
            _forget_dead_workers(self.multiprocess_dir)
        text = generate_latest(self.registry)
        if stats is not None:
            text += generate_latest(_StoreSeries(stats))
        return text.decode()


class _WithoutCreated:
    """This process's metrics without their ``_created`` series, which ``prometheus_client`` adds in
    one process but not when it sums workers' files: /metrics reads the same either way."""

    def __init__(self, metrics: Iterable[Counter | Gauge | Histogram]) -> None:
        self.metrics = tuple(metrics)

    def collect(self) -> Iterator[Metric]:
        for metric in self.metrics:
            for family in metric.collect():
                family.samples = [s for s in family.samples if not s.name.endswith("_created")]
                yield family


class _StoreSeries:
    """The store's counts at scrape time. All workers share the store, so these are never summed."""

    def __init__(self, stats: StoreStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self.stats
        entries = GaugeMetricFamily(
            "stepcache_store_entries", "Verified entries in the cache store, by task family.", labels=["family"]
        )
        entries.add_metric(["all"], stats.entries)
        for name, n in sorted(stats.entries_by_family.items()):
            entries.add_metric([name], n)
        yield entries
        yield CounterMetricFamily(
            "stepcache_upstream_tokens_saved_total",
            "Upstream tokens saved by reuse, as recorded by the store (all proxies sharing it).",
            value=stats.tokens_saved,
        )
        yield CounterMetricFamily(
            "stepcache_store_tokens_spent_total",
            "Upstream tokens spent, as recorded by the store.",
            value=stats.tokens_spent,
        )
        requests = CounterMetricFamily(
            "stepcache_store_requests_total", "Requests recorded by the store, by path.", labels=["path"]
        )
        for path, n in sorted(stats.paths.items()):
            requests.add_metric([path], n)
        yield requests
        yield CounterMetricFamily(
            "stepcache_store_evicted_total",
            "Entries the store removed to stay within its size caps or because they expired.",
            value=stats.evicted,
        )
        yield from self._audits()

    def _audits(self) -> Iterator[Metric]:
        stats = self.stats
        ran = (AuditOutcome.AGREE.value, AuditOutcome.DISAGREE.value, AuditOutcome.INCONCLUSIVE.value)
        audits = CounterMetricFamily(
            "stepcache_audit_total",
            "Reused or patched answers asked again upstream and compared, by family and outcome "
            "(wrong-reuse rate: disagree / (agree + disagree)), as recorded by the store.",
            labels=["family", "outcome"],
        )
        dropped = CounterMetricFamily(
            "stepcache_audit_dropped_total",
            "Sampled answers not audited because the audit queue was full.",
            labels=["family"],
        )
        for name, outcomes in sorted(stats.audits.items()):
            for outcome in ran:
                audits.add_metric([name, outcome], outcomes.get(outcome, 0))
            dropped.add_metric([name], outcomes.get(AuditOutcome.DROPPED.value, 0))
        yield audits
        yield dropped
        tokens = CounterMetricFamily(
            "stepcache_audit_tokens_spent_total",
            "Upstream tokens the audits cost, as recorded by the store.",
            labels=["kind"],
        )
        tokens.add_metric(["prompt"], stats.audit_tokens.prompt)
        tokens.add_metric(["completion"], stats.audit_tokens.completion)
        yield tokens
        quarantined = GaugeMetricFamily(
            "stepcache_store_quarantined_entries",
            "Entries quarantined after an audit disagreed (kept, never served).",
            labels=["family"],
        )
        quarantined.add_metric(["all"], stats.quarantined)
        for name, n in sorted(stats.quarantined_by_family.items()):
            quarantined.add_metric([name], n)
        yield quarantined


def _check_multiprocess(directory: str) -> None:
    """Refuse a multiprocess :class:`Metrics` whose counts other workers would never see."""
    if not os.path.isdir(directory):
        raise ConfigurationError(
            f"the metrics directory {directory!r} does not exist; run_workers makes one for its workers"
        )
    named = os.environ.get(MULTIPROC_ENV)
    if not values.ValueClass._multiprocess or named is None or not os.path.samefile(named, directory):
        raise ConfigurationError(
            f"this process keeps its metrics in memory, where other workers cannot add them up: prometheus_client "
            f"writes them to files only if {MULTIPROC_ENV} names the directory before it is first imported. "
            f"Start the process with {MULTIPROC_ENV}={directory} in its environment (run_workers does)"
        )


def _forget_dead_workers(directory: str) -> None:
    """Drop the in-flight and audit gauges of workers that are gone (killed, or replaced by uvicorn)
    from the sum. Their counters stay: the sum of a counter must never go down. A worker cannot do
    this itself as it exits: uvicorn's workers end by re-raising SIGTERM, which skips exit hooks."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return
    for file in Path(directory).glob("gauge_live*_*.db"):
        pid = file.stem.rpartition("_")[2]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):  # another worker forgot it first
                mark_process_dead(int(pid), directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:  # no such process, or another user's: the id was reused, our worker is gone
        return False
    return True
