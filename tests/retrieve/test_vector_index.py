"""VectorIndex: exact numpy search, faiss HNSW past the threshold, and the fallback without faiss."""

from __future__ import annotations

import logging
import sys
import threading

import numpy as np
import pytest

from stepcache.retrieve import VectorIndex
from stepcache.retrieve.index import exact_search


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Unit vectors in clusters, like embeddings of templated prompts."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 20, 1), dim)).astype(np.float32)
    x = centres[rng.integers(0, centres.shape[0], n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    unit: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return unit


def test_numpy_search_is_exact() -> None:
    x = clustered(500, 32)
    index: VectorIndex[str] = VectorIndex(32, use_faiss=False)
    index.add([f"id{i}" for i in range(500)], x)
    assert len(index) == 500 and index.backend == "numpy"
    for q in x[:20]:
        found = index.search(q, 5)
        expected = exact_search(x, q, 5)
        assert [i for i, _ in found] == [f"id{r}" for r in expected]
        np.testing.assert_allclose([s for _, s in found], x[expected] @ q, rtol=1e-5)
        assert found[0][1] == pytest.approx(1.0, abs=1e-5)


def test_small_and_empty_indexes() -> None:
    index: VectorIndex[int] = VectorIndex(4)
    assert index.search(np.ones(4, dtype=np.float32) / 2, 3) == []
    index.add([7], np.array([[1, 0, 0, 0]], dtype=np.float32))
    index.add([], np.empty((0, 4), dtype=np.float32))
    assert index.search(np.array([1, 0, 0, 0], dtype=np.float32), 10) == [(7, 1.0)]
    assert index.search(np.array([1, 0, 0, 0], dtype=np.float32), 0) == []
    with pytest.raises(ValueError):
        index.add([1, 2], np.ones((1, 4), dtype=np.float32))


def test_one_at_a_time_adds_match_a_bulk_add() -> None:
    x = clustered(300, 16, seed=3)
    bulk: VectorIndex[int] = VectorIndex(16, use_faiss=False)
    bulk.add(list(range(300)), x)
    single: VectorIndex[int] = VectorIndex(16, use_faiss=False)
    for i, v in enumerate(x):
        single.add([i], v)
    for q in x[::37]:
        assert single.search(q, 7) == bulk.search(q, 7)


@pytest.mark.parametrize("dim", [64, 384])
def test_faiss_agrees_with_numpy(dim: int) -> None:
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install 'stepcache[faiss]')")
    x = clustered(3000, dim, seed=dim)
    queries = clustered(3100, dim, seed=dim)[3000:]  # same distribution, new points
    exact: VectorIndex[int] = VectorIndex(dim, use_faiss=False)
    exact.add(list(range(3000)), x)
    approx: VectorIndex[int] = VectorIndex(dim, threshold=1000, background=False)
    approx.add(list(range(2000)), x[:2000])  # crosses the threshold: the graph is built here
    assert approx.backend == "faiss-hnsw"
    approx.add(list(range(2000, 3000)), x[2000:])  # and later vectors are added to it
    hits = 0
    for q in queries:
        truth = exact.search(q, 10)
        found = approx.search(q, 10)
        hits += len({i for i, _ in found} & {i for i, _ in truth})
        # Scores of what HNSW finds are exact cosines, highest first.
        np.testing.assert_allclose([s for _, s in found], [float(x[i] @ q) for i, _ in found], atol=1e-4)
        assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    assert hits / (10 * len(queries)) >= 0.9


def test_background_build_keeps_serving_and_catches_up() -> None:
    pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install 'stepcache[faiss]')")
    x = clustered(2500, 32, seed=5)
    index: VectorIndex[int] = VectorIndex(32, threshold=2000)
    index.add(list(range(2000)), x[:2000])
    index.add(list(range(2000, 2500)), x[2000:])  # may land during the build
    assert index.search(x[2400], 1)[0][0] == 2400  # exact or not, the vector itself is found
    index.wait_ready()
    assert index.backend == "faiss-hnsw"
    assert len(index) == 2500
    for i in (3, 1999, 2000, 2499):
        assert index.search(x[i], 1)[0][0] == i


def test_without_faiss_it_stays_exact_and_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    x = clustered(400, 16)
    index: VectorIndex[int] = VectorIndex(16, threshold=100, background=False)
    with caplog.at_level(logging.WARNING, logger="stepcache.retrieve"):
        index.add(list(range(300)), x[:300])
        index.add(list(range(300, 400)), x[300:])
    assert index.backend == "numpy"
    warnings = [r for r in caplog.records if "faiss" in r.getMessage()]
    assert len(warnings) == 1 and "stepcache[faiss]" in warnings[0].getMessage()
    q = x[17]
    assert [i for i, _ in index.search(q, 5)] == exact_search(x, q, 5).tolist()


def test_concurrent_adds_and_searches() -> None:
    x = clustered(2000, 16, seed=9)
    index: VectorIndex[int] = VectorIndex(16, threshold=800)
    errors: list[BaseException] = []

    def add(start: int) -> None:
        try:
            for i in range(start, 2000, 4):
                index.add([i], x[i])
        except BaseException as exc:
            errors.append(exc)

    def search() -> None:
        try:
            for q in x[:200]:
                for _, score in index.search(q, 3):
                    assert -1.001 <= score <= 1.001
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(s,)) for s in range(4)]
    threads += [threading.Thread(target=search) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    index.wait_ready()
    assert errors == []
    assert len(index) == 2000
    for i in (0, 999, 1999):
        assert index.search(x[i], 1)[0][0] == i
