"""Running workload items through systems, and the per-system measures: shared by demo and bench.

:func:`run_systems` sends every item to every :class:`~stepcache_bench.systems.System` (in separate
passes over the same item order, or interleaved item by item) and returns one
:class:`RequestRecord` per (system, item), judged by the independent checker.
:func:`summarise` turns one system's records into a :class:`SystemSummary`:

* latency mean / median / p95; upstream tokens (prompt + completion), total and per request;
* ``correct_nonsemantic`` / ``correct_all`` — share of checked answers that are correct *and* intact;
* ``hit_rate`` — share of requests served from the cache (StepCache: reuse or patch);
  ``wrong_hits`` — hits the checker marks wrong; ``wrong_hit_rate = wrong_hits / hits``;
* ``stale_reuse`` — semantic variants served from the cache with a wrong answer;
* ``over_skip`` — non-semantic variants answered by the model (path skip or miss) although the
  answer to their base was in the cache (StepCache-style systems only);
* ``patch_p95_s`` / ``fresh_p95_s`` — p95 of the patch path and of fresh generation (miss, skip).

Each record also keeps the family StepCache detected and the one the item expects (``family`` /
``expected_family``), so a report can say how often each family claimed what it should.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict

from stepcache import Backend, BackendRequest, StepCacheError

from .checker import CheckResult, check
from .stats import percentile
from .systems import Answer, System
from .workload import WorkloadItem

__all__ = [
    "PATHS",
    "RequestRecord",
    "SystemSummary",
    "run_systems",
    "answer_one",
    "summarise",
    "warm_up",
    "model_or_default",
    "machine_info",
    "stepcache_version",
    "progress_bar",
]

PATHS = ("reuse", "patch", "skip", "miss", "bypass")
_FROM_CACHE = ("reuse", "patch")


class RequestRecord(BaseModel):
    """One request as one system answered it (a line of ``requests.jsonl``)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    system: str
    seed: int | None = None
    task: str
    perturbation: str
    base_id: str | None = None
    semantic: bool
    latency_s: float  # wall time, plus modelled model time when the backend models it
    modelled_s: float = 0.0  # the modelled part of latency_s (scripted runs), 0 for real models
    prompt_tokens: int
    completion_tokens: int
    path: str | None  # StepCache's path; None for other systems
    hit: bool | None = None  # served from the cache; None for no cache
    stored: bool | None = None  # the answer is cached after this request
    detail: str = ""  # StepCache's reason for its path
    family: str | None = None  # the family StepCache detected; None for other systems (and older runs)
    expected_family: str | None = None  # the family the item says should claim it, if it says
    correct: bool | None
    integrity: bool
    ok: bool | None  # correct and integrity (None: no ground truth)
    reasons: list[str]
    error: str | None = None
    text: str

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class SystemSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: str
    requests: int
    mean_s: float
    median_s: float
    p95_s: float
    tokens_total: int
    tokens_per_request: float
    correct_nonsemantic: float | None  # share of non-semantic requests answered correctly (and intact)
    correct_all: float | None  # the same over every request with ground truth
    integrity: float
    unchecked: int
    errors: int
    paths: dict[str, int]
    stale_reuse: int  # semantic variants served from cache with a wrong answer
    over_skip: int  # non-semantic variants answered fresh although their base was cached
    hits: int = 0
    hit_rate: float | None = None  # None for a system without a cache
    wrong_hits: int = 0
    wrong_hit_rate: float | None = None
    patch_p95_s: float | None = None
    fresh_p95_s: float | None = None


# -- running ------------------------------------------------------------------------------------


def run_systems(
    systems: Sequence[System],
    items: Sequence[WorkloadItem],
    model: str,
    *,
    seed: int | None = None,
    interleave: bool = False,
    clock: Callable[[], float] | None = None,
    bar: Any = None,
) -> list[RequestRecord]:
    """Every item through every system, in list order; errors are recorded, not raised.

    ``interleave=False`` runs one system over all items, then the next (a model's prompt cache never
    carries one system's request into another's); ``True`` sends each item to every system in turn.
    ``clock`` reads modelled model seconds (:class:`~stepcache_bench.latency.ModelledLatency`).
    ``bar`` is a tqdm-like object advanced once per request.
    """
    records: list[RequestRecord] = []

    def one(system: System, item: WorkloadItem) -> None:
        if bar is not None:
            bar.set_postfix_str(f"{system.name} {item.task}/{item.perturbation}", refresh=False)
        records.append(answer_one(system, item, model, seed=seed, clock=clock))
        if bar is not None:
            bar.update(1)

    if interleave:
        for item in items:
            for system in systems:
                one(system, item)
    else:
        for system in systems:
            for item in items:
                one(system, item)
    return records


def answer_one(
    system: System,
    item: WorkloadItem,
    model: str,
    *,
    seed: int | None = None,
    clock: Callable[[], float] | None = None,
) -> RequestRecord:
    """One timed, checked request."""
    modelled_before = clock() if clock else 0.0
    start = time.perf_counter()
    error: Exception | None = None
    try:
        answer = system.answer(item, model)
    except StepCacheError as exc:
        error, answer = exc, Answer("")
    elapsed = time.perf_counter() - start
    modelled = (clock() - modelled_before) if clock else 0.0
    verdict = CheckResult(False, False, (f"error: {error}",)) if error else check(item, answer.text)
    if error is None and item.truth is None:
        verdict = CheckResult(None, verdict.integrity, verdict.reasons)
    return RequestRecord(
        id=item.id,
        system=system.name,
        seed=item.seed if seed is None else seed,
        task=item.task,
        perturbation=item.perturbation,
        base_id=item.base_id,
        semantic=item.semantic,
        latency_s=elapsed + modelled,
        modelled_s=modelled,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        path=answer.path,
        hit=answer.hit,
        stored=answer.stored,
        detail=answer.detail,
        family=answer.family,
        expected_family=item.family,
        correct=verdict.correct,
        integrity=verdict.integrity,
        ok=verdict.ok,
        reasons=list(verdict.reasons),
        error=None if error is None else f"{type(error).__name__}: {error}",
        text=answer.text,
    )


def model_or_default(backend: Backend, model: str | None) -> str:
    """``model``, else the backend's first model, else ``"default"``."""
    if model is None:
        try:  # an HTTP upstream lists its models; a failure here is not worth stopping a run for
            model = next(iter(backend.models()), None)
        except StepCacheError:
            model = None
    return model or "default"


def warm_up(backend: Backend, model: str) -> float:
    """One tiny call: the first pays for loading and compiling, and no system should be charged for it."""
    start = time.perf_counter()
    backend.complete(BackendRequest(messages=({"role": "user", "content": "Say OK."},), model=model, max_tokens=4))
    return time.perf_counter() - start


@contextmanager
def progress_bar(total: int, enabled: bool, desc: str) -> Iterator[Any]:
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="req", disable=not enabled, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


# -- measures -----------------------------------------------------------------------------------


def _share(records: Sequence[RequestRecord]) -> float | None:
    checked = [r for r in records if r.ok is not None]
    return None if not checked else sum(bool(r.ok) for r in checked) / len(checked)


def _p95(records: Sequence[RequestRecord]) -> float | None:
    return percentile([r.latency_s for r in records], 0.95) if records else None


def over_skipped(records: Sequence[RequestRecord]) -> list[RequestRecord]:
    """Non-semantic variants answered fresh (skip / miss) whose base's answer was in the cache.

    ``records`` are one system's records; bases are matched within the same seed.
    """
    cached_bases = {(r.seed, r.id) for r in records if r.perturbation == "base" and (r.stored or r.hit)}
    return [
        r
        for r in records
        if not r.semantic
        and r.perturbation != "base"
        and r.path in ("skip", "miss")
        and (r.seed, r.base_id) in cached_bases
    ]


def summarise(system: str, records: Sequence[RequestRecord]) -> SystemSummary:
    """The measures of one system's records (one seed, or several pooled)."""
    if not records:
        raise ValueError(f"no records for {system}")
    latencies = [r.latency_s for r in records]
    tokens = sum(r.tokens for r in records)
    paths = Counter(r.path for r in records if r.path is not None)
    has_cache = any(r.hit is not None for r in records)
    hits = [r for r in records if r.hit]
    wrong = [r for r in hits if r.ok is False]
    return SystemSummary(
        system=system,
        requests=len(records),
        mean_s=statistics.fmean(latencies),
        median_s=statistics.median(latencies),
        p95_s=percentile(latencies, 0.95),
        tokens_total=tokens,
        tokens_per_request=tokens / len(records),
        correct_nonsemantic=_share([r for r in records if not r.semantic]),
        correct_all=_share(records),
        integrity=sum(r.integrity for r in records) / len(records),
        unchecked=sum(r.ok is None for r in records),
        errors=sum(r.error is not None for r in records),
        paths={p: paths[p] for p in PATHS if paths[p]},
        stale_reuse=sum(r.semantic for r in wrong),
        over_skip=len(over_skipped(records)),
        hits=len(hits),
        hit_rate=len(hits) / len(records) if has_cache else None,
        wrong_hits=len(wrong),
        wrong_hit_rate=(len(wrong) / len(hits) if hits else 0.0) if has_cache else None,
        patch_p95_s=_p95([r for r in records if r.path == "patch"]),
        fresh_p95_s=_p95([r for r in records if r.path in ("miss", "skip")]),
    )


def stepcache_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stepcache")
    except PackageNotFoundError:  # running from a source tree
        return "unknown"


def machine_info() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
