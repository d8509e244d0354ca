"""What a database store holds in memory until it writes it: served-request counters and last uses.

Counting a request (``Store.record``) and marking the entries a lookup returned as used must not
cost a write each: a cache hit would then wait on the database. Both go into one
:class:`CounterBuffer`, which says when enough has gathered, and the store writes the whole batch
in one transaction (the SQLite and PostgreSQL stores alike). A batch whose write fails is given
back, so nothing counted is lost, and the buffer waits :data:`FLUSH_SECONDS` before the next try
rather than retrying on every request while the database is unavailable.

Chosen once for both stores: a write per :data:`FLUSH_EVERY` records bounds the write load to
1 % of the request rate (a few small transactions a second per process at 1000 requests/s, cheap
on SQLite and one round trip on PostgreSQL), and :data:`FLUSH_SECONDS` bounds how stale another
process's view of the counters (``stepcache stats``, another replica's ``/metrics``) and of last use
(what a size cap evicts) can be. ``stats``, ``evict`` and ``close`` flush first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CounterBuffer", "Batch", "FLUSH_EVERY", "FLUSH_SECONDS", "add_count"]

#: Write after this many records ...
FLUSH_EVERY = 100
#: ... or when this many seconds have passed since the last write, whichever comes first.
FLUSH_SECONDS = 1.0

#: ``(namespace, family, path)`` → ``[requests, tokens spent, tokens saved]``.
Counts = dict[tuple[str, str, str], list[int]]


def add_count(counters: Counts, key: tuple[str, str, str], requests: int, spent: int, saved: int) -> None:
    """Add to the ``[requests, tokens spent, tokens saved]`` counter of ``key``, starting it at zero."""
    counter = counters.setdefault(key, [0, 0, 0])
    counter[0] += requests
    counter[1] += spent
    counter[2] += saved


@dataclass
class Batch:
    """What one write takes from the buffer."""

    counts: Counts = field(default_factory=dict)
    records: int = 0
    #: entry id → the last time a lookup returned it
    uses: dict[int, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.counts or self.uses)

    def rows(self) -> list[tuple[Any, ...]]:
        """``(namespace, family, path, requests, spent, saved)`` in a fixed order, so that two
        processes writing the same counters take their row locks in the same order (no deadlock)."""
        return [(ns, family, path, *self.counts[(ns, family, path)]) for ns, family, path in sorted(self.counts)]


class CounterBuffer:
    """Counters and last-use times, in memory until the store writes them. Thread-safe."""

    def __init__(self, every: int = FLUSH_EVERY, seconds: float = FLUSH_SECONDS) -> None:
        self.every = every
        self.seconds = seconds
        self._lock = threading.Lock()
        self._batch = Batch()
        self._last_write = time.monotonic()
        self._retry_at = 0.0  # after a failed write, no write is due before this (monotonic)

    def record(self, namespace: str, family: str, path: str, spent: int, saved: int) -> bool:
        """Count one served request; ``True`` when a write is due."""
        with self._lock:
            add_count(self._batch.counts, (namespace, family, path), 1, spent, saved)
            self._batch.records += 1
            now = time.monotonic()
            return now >= self._retry_at and (
                self._batch.records >= self.every or now - self._last_write >= self.seconds
            )

    def touch(self, ids: Iterable[str | int]) -> None:
        """Entries a lookup just returned: they were used now."""
        now = time.time()
        with self._lock:
            for row_id in ids:
                self._batch.uses[int(row_id)] = now

    def take(self) -> Batch:
        """Everything buffered, which the buffer forgets (see :meth:`give_back`)."""
        with self._lock:
            taken, self._batch = self._batch, Batch()
            self._last_write = time.monotonic()
        return taken

    def give_back(self, batch: Batch) -> None:
        """A batch whose write failed: kept for the next one (a newer last use wins), and no write
        is due for another :attr:`seconds`."""
        with self._lock:
            for key, (n, spent, saved) in batch.counts.items():
                add_count(self._batch.counts, key, n, spent, saved)
            self._batch.records += batch.records
            uses = self._batch.uses
            for row_id, when in batch.uses.items():
                if uses.get(row_id, 0.0) < when:
                    uses[row_id] = when
            self._retry_at = time.monotonic() + self.seconds

    def __len__(self) -> int:
        """Records and last uses waiting."""
        with self._lock:
            return self._batch.records + len(self._batch.uses)
