"""How lookups scale with the size of the cache; every measure reports a :class:`ScaleResult`.

* :func:`measure_fast_path` — the engine's ``StepCache.complete()`` on requests answered without the
  model, on a SQLite store of N synthetic entries (``stepcache bench --scale``);
* :func:`measure_nearest` — any store's ``nearest()`` (``stepcache bench scale --store URL``);
* :func:`measure_postgres` — the PostgreSQL store bulk-loaded with ``COPY``, its HNSW index built once,
  searched at several ``ef_search`` (``stepcache bench scale --postgres URL``; needs ``stepcache[postgres]``).
"""

from ._result import ScaleResult, Timing
from .fast_path import SCALE_TARGET_P50_MS, measure_fast_path
from .nearest import measure_nearest
from .postgres import measure_postgres

__all__ = ["SCALE_TARGET_P50_MS", "ScaleResult", "Timing", "measure_fast_path", "measure_nearest", "measure_postgres"]
