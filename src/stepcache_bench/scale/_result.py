"""The one result type of the scale measures: a store of ``entries`` synthetic entries, the lookups timed on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from ..stats import percentile

__all__ = ["Timing", "ScaleResult"]


class Timing(BaseModel):
    """One kind of lookup, timed ``requests`` times (milliseconds, the bench's one percentile)."""

    model_config = ConfigDict(extra="forbid")

    requests: int
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, ms: Sequence[float], digits: int = 3) -> Timing:
        return cls(
            requests=len(ms), p50_ms=round(percentile(ms, 0.5), digits), p99_ms=round(percentile(ms, 0.99), digits)
        )


class ScaleResult(BaseModel):
    """What :func:`~stepcache_bench.scale.measure_fast_path`, :func:`~stepcache_bench.scale.measure_nearest`
    and :func:`~stepcache_bench.scale.measure_postgres` report, and the bench's report holds.

    ``timings`` names the lookups each measure times: ``fast path`` (every request answered without
    the model), ``reuse`` (adapted and verified) and ``exact`` (exact-key hits) for the engine;
    ``nearest`` and ``nearest (family)`` for a store's vector search. ``settings`` are the measure's
    knobs and side numbers (``k``, ``ef_search``, ``tenants``, ``put_per_second``, ...).
    """

    model_config = ConfigDict(extra="forbid")

    measure: Literal["fast path", "nearest", "postgres"]
    store: str
    entries: int
    dim: int
    fill_s: float
    index_ready_s: float
    timings: dict[str, Timing]
    recall_at_k: float | None = None
    excluded_model_calls: int | None = None  # engine: requests that reached the model, left out of the timings
    settings: dict[str, float] = {}

    @model_validator(mode="before")
    @classmethod
    def _from_report_before_one_type(cls, data: Any) -> Any:
        """Bench reports written before the scale measures shared this type (``docs/bench/scripted``) still load."""
        if not isinstance(data, dict) or "fast_path_p50_ms" not in data:
            return data
        old = dict(data)
        timings = {
            name: {
                "requests": old.get("reuse_requests", 0) if name == "reuse" else 0,
                "p50_ms": old[f"{key}_p50_ms"],
                "p99_ms": old[f"{key}_p99_ms"],
            }
            for name, key in (("fast path", "fast_path"), ("reuse", "reuse"), ("exact", "exact"))
            if old.get(f"{key}_p50_ms") is not None
        }
        return {
            "measure": "fast path",
            "store": "sqlite",
            "entries": old["entries"],
            "dim": 0,
            "fill_s": old["fill_s"],
            "index_ready_s": old["index_ready_s"],
            "timings": timings,
            "excluded_model_calls": old.get("excluded_model_calls"),
        }
