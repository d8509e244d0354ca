"""An in-memory cosine index over L2-normalised vectors.

Small indexes are searched exactly with one numpy matrix-vector product. Past ``threshold``
vectors (default 5 000) the index moves to a faiss HNSW graph (inner product), because a
brute-force scan costs milliseconds once the matrix outgrows the CPU cache (tens of milliseconds
at 100k x 512) while HNSW answers in well under
a millisecond with ~0.95+ recall on embedding data. The exact scores of the candidates HNSW finds
are still true cosines (the vectors are stored flat), only the candidate set is approximate.

faiss is optional (``stepcache[faiss]``): without it the index stays exact and logs once that
large caches will be slow.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from .._types import Vector

__all__ = ["VectorIndex"]

logger = logging.getLogger("stepcache.retrieve")

IdT = TypeVar("IdT", bound=Hashable)

#: Size at which the exact scan gives way to HNSW. Measured on the 2-core machine (busy): the numpy
#: scan's p50 is ~0.7/1.2 ms at 5k x 384/512 but jumps to ~5.5/7 ms at 10k and 13/18 ms at 20k,
#: once the matrix no longer fits in cache; HNSW answers in ~0.5 ms at any of these sizes.
DEFAULT_THRESHOLD = 5_000

#: HNSW graph degree and beam widths. Measured on 2 cores, 100k clustered 384-dim vectors: M=16,
#: efConstruction=40, efSearch=64 builds in ~13 s, answers in ~0.4 ms (p50) with recall@10 ~0.99;
#: M=32/64/96 built 3x slower for no recall gain worth having.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 64
#: Beam width by index size: at 1M entries efSearch=64 found only 0.74 of the exact top-4 (docs/scale.md),
#: so the beam widens with the graph. Below 200k the measured 64 stays.
HNSW_EF_SEARCH_BY_SIZE = ((200_000, HNSW_EF_SEARCH), (600_000, 128), (None, 256))


def ef_search_for(size: int) -> int:
    """The HNSW search beam for an index of ``size`` vectors."""
    for limit, ef in HNSW_EF_SEARCH_BY_SIZE:
        if limit is None or size < limit:
            return ef
    raise AssertionError("unreachable")  # pragma: no cover


class VectorIndex(Generic[IdT]):
    """``add(ids, vectors)`` then ``search(vector, k) -> [(id, cosine)]``, highest first. Thread-safe.

    Vectors must be L2-normalised (cosine is then the inner product). ``threshold`` is the size at
    which the exact numpy scan gives way to faiss HNSW; ``use_faiss=False`` forces the exact scan.

    Building the graph takes seconds (about 13 s for 100k x 384 on 2 cores), so by default it is
    built on a background thread while searches stay exact; ``background=False`` builds it inside
    the ``add`` that crosses the threshold, and :meth:`wait_ready` waits for a build in flight.
    """

    def __init__(
        self,
        dim: int,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        use_faiss: bool = True,
        background: bool = True,
    ) -> None:
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = dim
        self.threshold = threshold
        self._use_faiss = use_faiss
        self._background = background
        self._builder: threading.Thread | None = None
        self._lock = threading.Lock()
        self._ids: list[IdT] = []
        # Grown by doubling so that adding one vector at a time stays amortised O(dim).
        self._matrix: npt.NDArray[np.float32] = np.empty((0, dim), dtype=np.float32)
        self._faiss_index: Any = None

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def backend(self) -> str:
        """``"faiss-hnsw"`` or ``"numpy"``: which search the index is using now."""
        return "numpy" if self._faiss_index is None else "faiss-hnsw"

    def add(self, ids: Sequence[IdT], vectors: npt.ArrayLike) -> None:
        block = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(ids) != block.shape[0]:
            raise ValueError(f"{len(ids)} ids for {block.shape[0]} vectors")
        if not len(ids):
            return
        with self._lock:
            size = len(self._ids)
            needed = size + block.shape[0]
            if needed > self._matrix.shape[0]:
                grown = np.empty((max(needed, 2 * self._matrix.shape[0], 64), self.dim), dtype=np.float32)
                grown[:size] = self._matrix[:size]
                self._matrix = grown
            self._matrix[size:needed] = block
            self._ids.extend(ids)
            if self._faiss_index is not None:
                self._faiss_index.add(block)
            elif self._use_faiss and needed >= self.threshold and self._builder is None:
                if self._background:
                    self._builder = threading.Thread(
                        target=self._build_in_background, args=(needed,), name="stepcache-hnsw", daemon=True
                    )
                    self._builder.start()
                else:
                    self._faiss_index = self._build_faiss(self._matrix[:needed])

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait for a background HNSW build to finish (no-op when none is running)."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)

    def _build_in_background(self, size: int) -> None:
        # The first ``size`` rows never change (rows are only appended, and a grown matrix is a
        # copy), so the build reads a snapshot without holding the lock.
        with self._lock:
            snapshot = self._matrix[:size]
        try:
            index = self._build_faiss(snapshot)
        except Exception:  # a failed build must not take searches down: they stay exact
            logger.exception("building the HNSW index failed; searches stay exact (numpy)")
            index = None
        with self._lock:
            if index is not None:
                current = len(self._ids)
                if current > size:
                    index.add(self._matrix[size:current])
                self._faiss_index = index
            else:
                self._use_faiss = False

    def search(self, vector: npt.ArrayLike, k: int) -> list[tuple[IdT, float]]:
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(self.dim)
        with self._lock:
            size = len(self._ids)
            k = min(k, size)
            if k <= 0:
                return []
            if self._faiss_index is not None:
                hnsw = self._faiss_index.hnsw
                ef = ef_search_for(size)
                if hnsw.efSearch != ef:
                    hnsw.efSearch = ef
                scores, rows = self._faiss_index.search(query.reshape(1, -1), k)
                found = [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]
            else:
                # einsum's own loop, not BLAS: a multi-threaded BLAS matvec was 2x slower and erratic
                # on a busy 2-core machine, and one query is too small to be worth threads.
                all_scores = np.einsum("ij,j->i", self._matrix[:size], query)
                top = np.argpartition(-all_scores, k - 1)[:k] if k < size else np.arange(size)
                top = top[np.argsort(-all_scores[top], kind="stable")]
                found = [(int(r), float(all_scores[r])) for r in top]
            return [(self._ids[r], s) for r, s in found]

    def _build_faiss(self, matrix: npt.NDArray[np.float32]) -> Any:
        try:
            import faiss
        except ImportError:
            logger.warning(
                "faiss is not installed: searching %d vectors by brute force, which slows down as the "
                "cache grows. Install it with: pip install 'stepcache[faiss]'",
                matrix.shape[0],
            )
            self._use_faiss = False
            return None
        index = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = ef_search_for(matrix.shape[0])
        index.add(matrix)
        return index


def exact_search(matrix: npt.NDArray[np.float32], query: Vector, k: int) -> npt.NDArray[np.intp]:
    """Row numbers of the ``k`` best inner products, best first (for tests and recall checks)."""
    scores = matrix @ query
    return np.argsort(-scores, kind="stable")[:k]
