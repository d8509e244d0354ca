"""Lookup cost as the cache grows: the engine's in-process fast path with N entries in the store.

:func:`measure_fast_path` fills a fresh SQLite store with ``entries`` synthetic entries
(:mod:`stepcache.store._scale`: clustered vectors, three families) in the namespace and model the
workload uses, caches the workload's base prompts through :class:`~stepcache.StepCache`, then times
``cache.complete()`` for requests that never reach the model: the non-semantic variants (adapted and
verified: path reuse) and exact repeats of the bases. The backend is the scripted model, so nothing
but the engine, the store and the index is timed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from .runner import percentile
from .workload import generate_workload

__all__ = ["ScaleMeasure", "measure_fast_path", "SCALE_TARGET_P50_MS"]

#: The issue's target: fast-path p50 at 100k entries.
SCALE_TARGET_P50_MS = 2.0
_MODEL = "bench-scale"


class ScaleMeasure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: int  # synthetic entries, plus the workload's bases
    fill_s: float
    index_ready_s: float
    reuse_requests: int
    reuse_p50_ms: float | None  # adapted + verified reuse
    reuse_p99_ms: float | None
    exact_p50_ms: float  # exact-key hits
    exact_p99_ms: float
    fast_path_p50_ms: float  # both kinds together: every request answered without the model
    fast_path_p99_ms: float
    excluded_model_calls: int  # requests that reached the model: not fast path, left out of the timings


def measure_fast_path(entries: int, *, seed: int = 42, workdir: str | Path | None = None) -> ScaleMeasure:
    """Fill, warm, time. Takes about a minute per 100k entries on 2 cores (the fill dominates)."""
    from .._engine import StepCache
    from ..backends.scripted import ScriptedBackend
    from ..retrieve.ngram import HashedNgramEmbedder
    from ..store._scale import fill, synthetic_vectors
    from ..store.sqlite import SQLiteStore
    from .imperfect import ImperfectModel

    items = generate_workload(seed)
    bases = [i for i in items if i.perturbation == "base"]
    variants = [i for i in items if i.perturbation != "base" and not i.semantic]
    embedder = HashedNgramEmbedder()
    with tempfile.TemporaryDirectory(prefix="stepcache-scale-", dir=workdir) as tmp:
        store = SQLiteStore(Path(tmp) / "scale.db")
        started = time.perf_counter()
        fill(store, synthetic_vectors(entries, embedder.dim, seed), namespace="default", model=_MODEL)
        fill_s = time.perf_counter() - started
        backend = ScriptedBackend(responder=ImperfectModel(error_rate=0.0, seed=seed))
        with StepCache(backend, store=store, embedder=embedder) as cache:
            for item in bases:  # cache the real entries (these do call the model)
                cache.complete(item.request.chat_request(_MODEL))
            started = time.perf_counter()
            store.wait_ready()
            ready_s = time.perf_counter() - started
            calls = len(backend.calls)
            reuse: list[float] = []
            exact: list[float] = []
            for item, bucket in [(v, reuse) for v in variants] + [(b, exact) for b in bases]:
                request = item.request.chat_request(_MODEL)
                before = len(backend.calls)
                t = time.perf_counter()
                result = cache.complete(request)
                elapsed_ms = (time.perf_counter() - t) * 1e3
                if result.path.value == "reuse" and len(backend.calls) == before:
                    bucket.append(elapsed_ms)
            timed_calls = len(backend.calls) - calls
    both = reuse + exact
    return ScaleMeasure(
        entries=entries,
        fill_s=round(fill_s, 2),
        index_ready_s=round(ready_s, 3),
        reuse_requests=len(reuse),
        reuse_p50_ms=round(percentile(reuse, 0.5), 3) if reuse else None,
        reuse_p99_ms=round(percentile(reuse, 0.99), 3) if reuse else None,
        exact_p50_ms=round(percentile(exact, 0.5), 3),
        exact_p99_ms=round(percentile(exact, 0.99), 3),
        fast_path_p50_ms=round(percentile(both, 0.5), 3),
        fast_path_p99_ms=round(percentile(both, 0.99), 3),
        excluded_model_calls=timed_calls,
    )
