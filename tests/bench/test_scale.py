"""The scale measures run and report one result type; their timings are not asserted (they depend on the machine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pg_helpers import require_postgres

from stepcache import MemoryStore
from stepcache_bench.scale import ScaleResult, measure_fast_path, measure_nearest, measure_postgres

DOCS = Path(__file__).resolve().parents[2] / "docs" / "bench"


def test_fast_path_is_timed_without_model_calls() -> None:
    result = measure_fast_path(300)
    assert result.measure == "fast path" and result.entries == 300
    reuse, fast = result.timings["reuse"], result.timings["fast path"]
    assert reuse.requests > 0 and fast.requests == reuse.requests + result.timings["exact"].requests
    # Requests that needed the model are left out of the timings, and they are the exception.
    assert result.excluded_model_calls is not None and result.excluded_model_calls <= reuse.requests / 4
    assert 0 < fast.p50_ms <= fast.p99_ms


def test_nearest_measures_a_small_store() -> None:
    result = measure_nearest(MemoryStore(), 300, dim=16, queries=20, k=4)
    assert result.measure == "nearest" and result.entries == 300 and result.dim == 16
    assert result.recall_at_k == 1.0  # below the HNSW threshold the search is exact
    assert 0 < result.timings["nearest"].p50_ms <= result.timings["nearest"].p99_ms
    assert result.timings["nearest (family)"].requests == 20


@pytest.mark.postgres
def test_postgres_bulk_load_is_what_the_store_reads() -> None:
    url = require_postgres()
    # found by the store's own nearest(): the rows the bench wrote with COPY are entries it reads
    results = measure_postgres(url, 400, dim=8, queries=10, ef_search=(40, 100), puts=5)
    assert [r.settings["ef_search"] for r in results] == [40, 100]
    assert all(r.measure == "postgres" and r.entries == 400 for r in results)
    assert results[-1].recall_at_k is not None and results[-1].recall_at_k >= 0.9
    assert results[-1].settings["put_per_second"] > 0


#: A scale measure as reports written before the one result type kept it (docs/bench/scripted until
#: it was re-made): ``stepcache bench --rebuild`` must still read such reports.
OLD_SCALE = [
    {"entries": 10000, "fill_s": 2.1, "index_ready_s": 0.545, "reuse_requests": 216, "reuse_p50_ms": 0.887,
     "reuse_p99_ms": 6.601, "exact_p50_ms": 0.378, "exact_p99_ms": 2.386, "fast_path_p50_ms": 0.854,
     "fast_path_p99_ms": 6.543, "excluded_model_calls": 24},
    {"entries": 100000, "fill_s": 22.13, "index_ready_s": 6.272, "reuse_requests": 192, "reuse_p50_ms": 1.073,
     "reuse_p99_ms": 5.665, "exact_p50_ms": 0.521, "exact_p99_ms": 3.589, "fast_path_p50_ms": 1.051,
     "fast_path_p99_ms": 5.654, "excluded_model_calls": 48},
]  # fmt: skip


def test_reports_from_before_the_one_result_type_still_load() -> None:
    results = [ScaleResult.model_validate(m) for m in OLD_SCALE]
    assert [r.entries for r in results] == [10_000, 100_000]
    assert results[1].timings["fast path"].p50_ms == OLD_SCALE[1]["fast_path_p50_ms"]
    assert results[1].timings["reuse"].requests == OLD_SCALE[1]["reuse_requests"]


def test_the_kept_scripted_report_loads() -> None:
    kept = json.loads((DOCS / "scripted" / "report.json").read_text(encoding="utf-8"))["scale"]
    results = [ScaleResult.model_validate(m) for m in kept]
    assert [r.entries for r in results] == [10_000, 100_000]
    assert all(r.timings["fast path"].p50_ms > 0 for r in results)
