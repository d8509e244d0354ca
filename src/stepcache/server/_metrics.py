"""Prometheus metrics for the proxy, in the text exposition format, without a client library.

One :class:`Metrics` per app (no module-level registry). Updated only from the event loop thread,
so plain counters need no lock.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable

from .._types import AuditOutcome, StoreStats, TokenUsage

__all__ = ["Metrics"]

#: Seconds. Reuse is meant to be ~1 ms; a miss costs a full generation.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _Histogram:
    __slots__ = ("counts", "total", "count")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        i = bisect_left(BUCKETS, seconds)
        if i < len(BUCKETS):
            self.counts[i] += 1
        self.total += seconds
        self.count += 1


class Metrics:
    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str], int] = defaultdict(int)  # (endpoint, path)
        self.errors: defaultdict[tuple[str, int], int] = defaultdict(int)  # (endpoint, status)
        self.latency: defaultdict[str, _Histogram] = defaultdict(_Histogram)  # path
        self.spent = TokenUsage()
        self.coalesced = 0
        self.in_flight = 0

    def served(self, endpoint: str, path: str, seconds: float, spent: TokenUsage) -> None:
        self.requests[(endpoint, path)] += 1
        self.latency[path].observe(seconds)
        self.spent = self.spent + spent

    def failed(self, endpoint: str, status: int, seconds: float) -> None:
        self.errors[(endpoint, status)] += 1
        self.latency["error"].observe(seconds)

    def render(self, stats: StoreStats | None, audits_pending: int = 0) -> str:
        """The exposition text; ``audits_pending`` is this process's queued and running audits."""
        out: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        family("stepcache_requests_total", "counter", "Completion requests answered, by endpoint and path.")
        for (endpoint, path), n in sorted(self.requests.items()):
            out.append(f'stepcache_requests_total{{endpoint="{endpoint}",path="{path}"}} {n}')
        family("stepcache_request_errors_total", "counter", "Completion requests refused or failed, by HTTP status.")
        for (endpoint, status), n in sorted(self.errors.items()):
            out.append(f'stepcache_request_errors_total{{endpoint="{endpoint}",status="{status}"}} {n}')
        family(
            "stepcache_upstream_tokens_spent_total", "counter", "Upstream tokens spent by this proxy process (bypass included)."
        )
        out.append(f'stepcache_upstream_tokens_spent_total{{kind="prompt"}} {self.spent.prompt}')
        out.append(f'stepcache_upstream_tokens_spent_total{{kind="completion"}} {self.spent.completion}')
        family("stepcache_coalesced_requests_total", "counter", "Requests that waited for an identical in-flight request.")
        out.append(f"stepcache_coalesced_requests_total {self.coalesced}")
        family("stepcache_requests_in_flight", "gauge", "Completion requests being answered now.")
        out.append(f"stepcache_requests_in_flight {self.in_flight}")
        family("stepcache_audits_pending", "gauge", "Audits of reused answers queued or running in this process.")
        out.append(f"stepcache_audits_pending {audits_pending}")

        family("stepcache_request_duration_seconds", "histogram", "Time to answer a completion request, by path.")
        for path, hist in sorted(self.latency.items()):
            cumulative = 0
            for bound, n in zip(BUCKETS, hist.counts, strict=True):
                cumulative += n
                out.append(f'stepcache_request_duration_seconds_bucket{{path="{path}",le="{bound:g}"}} {cumulative}')
            out.append(f'stepcache_request_duration_seconds_bucket{{path="{path}",le="+Inf"}} {hist.count}')
            out.append(f'stepcache_request_duration_seconds_sum{{path="{path}"}} {hist.total:.6f}')
            out.append(f'stepcache_request_duration_seconds_count{{path="{path}"}} {hist.count}')

        if stats is not None:
            family("stepcache_store_entries", "gauge", "Verified entries in the cache store, by task family.")
            out.append(f'stepcache_store_entries{{family="all"}} {stats.entries}')
            for name, n in sorted(stats.entries_by_family.items()):
                out.append(f'stepcache_store_entries{{family="{_label(name)}"}} {n}')
            family(
                "stepcache_upstream_tokens_saved_total",
                "counter",
                "Upstream tokens saved by reuse, as recorded by the store (all proxies sharing it).",
            )
            out.append(f"stepcache_upstream_tokens_saved_total {stats.tokens_saved}")
            family("stepcache_store_tokens_spent_total", "counter", "Upstream tokens spent, as recorded by the store.")
            out.append(f"stepcache_store_tokens_spent_total {stats.tokens_spent}")
            family("stepcache_store_requests_total", "counter", "Requests recorded by the store, by path.")
            for path, n in sorted(stats.paths.items()):
                out.append(f'stepcache_store_requests_total{{path="{_label(path)}"}} {n}')
            self._render_audits(stats, family, out)
        return "\n".join(out) + "\n"


    @staticmethod
    def _render_audits(stats: StoreStats, family: Callable[[str, str, str], None], out: list[str]) -> None:
        ran = (AuditOutcome.AGREE.value, AuditOutcome.DISAGREE.value, AuditOutcome.INCONCLUSIVE.value)
        family(
            "stepcache_audit_total",
            "counter",
            "Reused or patched answers asked again upstream and compared, by family and outcome "
            "(wrong-reuse rate: disagree / (agree + disagree)), as recorded by the store.",
        )
        for name, outcomes in sorted(stats.audits.items()):
            for outcome in ran:
                out.append(f'stepcache_audit_total{{family="{_label(name)}",outcome="{outcome}"}} {outcomes.get(outcome, 0)}')
        family("stepcache_audit_dropped_total", "counter", "Sampled answers not audited because the audit queue was full.")
        for name, outcomes in sorted(stats.audits.items()):
            dropped = outcomes.get(AuditOutcome.DROPPED.value, 0)
            out.append(f'stepcache_audit_dropped_total{{family="{_label(name)}"}} {dropped}')
        family("stepcache_audit_tokens_spent_total", "counter", "Upstream tokens the audits cost, as recorded by the store.")
        out.append(f'stepcache_audit_tokens_spent_total{{kind="prompt"}} {stats.audit_tokens.prompt}')
        out.append(f'stepcache_audit_tokens_spent_total{{kind="completion"}} {stats.audit_tokens.completion}')
        family("stepcache_store_quarantined_entries", "gauge", "Entries quarantined after an audit disagreed (kept, never served).")
        out.append(f'stepcache_store_quarantined_entries{{family="all"}} {stats.quarantined}')
        for name, n in sorted(stats.quarantined_by_family.items()):
            out.append(f'stepcache_store_quarantined_entries{{family="{_label(name)}"}} {n}')


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
