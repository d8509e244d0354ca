"""Bounds an operator can put on a store: a size cap with least-recently-used eviction, and expiry.

Shared by the memory, SQLite and PostgreSQL stores:

* :class:`Limits`: ``max_entries``, ``max_bytes`` (stored payload, measured by
  ``_codec.payload_size``) and ``ttl`` (seconds an entry is served after it is stored), given to a
  store's constructor or in its URL (``sqlite:///srv/cache.db?max_entries=100000&ttl=7d``); every
  store's settings (``_settings``) start with them.
* :class:`CapCheck`: when a store counts itself against its cap. Counting scans an index, so it
  is not done per put but once the store's own puts could have filled the room left at the last
  count, and every :data:`CHECK_SECONDS` while it keeps storing (for other processes' puts).
* :func:`maintain`: the check itself, for the database stores. Last-use times are buffered with
  the counters (``_counters``), so that a cache hit never writes on its own.

A check deletes expired entries, then, when the store is over a cap, the least recently used
entries (last written, or last returned by ``get``, ``by_signature`` or ``nearest``) until it is
down to :data:`LOW_WATER` of every cap: eviction runs about once per 10 % of the cap's puts, in
batches, not per put. Quarantined entries and entries of an older format count toward the cap and
age out in the same order (nothing serves them, so nothing refreshes their last use).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, urlencode

from pydantic import BaseModel, ConfigDict, Field

from .._exceptions import StoreError

__all__ = [
    "Limits",
    "CapCheck",
    "Bounded",
    "maintain",
    "evict",
    "LOW_WATER",
    "CHECK_SECONDS",
    "CAPACITY",
    "EXPIRED",
    "PURGED",
    "EVICTION_REASONS",
    "with_limits",
    "parse_bytes",
    "parse_seconds",
    "excess",
    "pick",
]

#: A store over a cap evicts down to this share of it.
LOW_WATER = 0.9
#: How often (seconds) a store that keeps storing counts itself and deletes expired entries, at most.
CHECK_SECONDS = 5.0
#: Rows deleted per transaction: other writers get the lock between batches.
BATCH = 500

#: Why entries were deleted, as counted in each store's ``deletions``; the first two are evictions.
CAPACITY, EXPIRED, PURGED = "capacity", "expired", "purged"
EVICTION_REASONS = (CAPACITY, EXPIRED)

logger = logging.getLogger("stepcache.store")

_BYTE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SECOND_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Limits(BaseModel):
    """A store's bounds; ``None`` is unbounded (the default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_entries: int | None = Field(default=None, ge=1, description="the most entries kept: a positive whole number")
    max_bytes: int | None = Field(
        default=None, ge=1, description="the most payload bytes kept: a positive number of bytes, or e.g. 500M, 2G"
    )
    ttl: float | None = Field(
        default=None, gt=0, description="how long an entry is served: positive seconds, or e.g. 90m, 12h, 7d"
    )

    @property
    def capped(self) -> bool:
        return self.max_entries is not None or self.max_bytes is not None

    def expiry(self, created_at: float, given: float | None) -> float | None:
        """When an entry stored at ``created_at`` expires: its own expiry if it has one, else after ``ttl``."""
        if given is not None:
            return given
        return None if self.ttl is None else created_at + self.ttl

    def low_water(self) -> tuple[int | None, int | None]:
        """The ``(entries, bytes)`` a check evicts down to once the store is over a cap."""
        entries = None if self.max_entries is None else max(1, int(self.max_entries * LOW_WATER))
        size = None if self.max_bytes is None else int(self.max_bytes * LOW_WATER)
        return entries, size

    def over(self, entries: int, size: int) -> bool:
        return (self.max_entries is not None and entries > self.max_entries) or (
            self.max_bytes is not None and size > self.max_bytes
        )


def parse_bytes(text: str) -> int:
    """``"500M"`` → 524288000: a byte count with an optional K/M/G/T suffix (powers of 1024, a
    trailing ``B`` or ``iB`` allowed). Raises ``ValueError``."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if found is None:
        raise ValueError(f"{text!r} is not a size; write bytes, or e.g. 500M, 2G")
    return int(float(found.group(1)) * _BYTE_UNITS[found.group(2).lower()])


def parse_seconds(text: str) -> float:
    """``"7d"`` → 604800.0: seconds, or a number with an s/m/h/d/w suffix. Raises ``ValueError``."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text, re.IGNORECASE)
    if found is None:
        raise ValueError(f"{text!r} is not a duration; write seconds, or e.g. 90m, 12h, 7d")
    return float(found.group(1)) * _SECOND_UNITS[found.group(2).lower()]


def with_limits(url: str, *, max_entries: int | None, max_bytes: int | None, ttl: float | None) -> str:
    """``url`` with these options set in its query (those given replace the URL's own)."""
    given = {"max_entries": max_entries, "max_bytes": max_bytes, "ttl": ttl}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return url
    base, _, query = url.partition("?")
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in given]
    pairs += [(k, f"{v:g}" if isinstance(v, float) else str(v)) for k, v in given.items()]
    return f"{base}?{urlencode(pairs, quote_via=quote)}"


def excess(bound_entries: int | None, bound_bytes: int | None, entries: int, size: int) -> tuple[int, int]:
    """How many entries and bytes must go for ``entries`` entries of ``size`` bytes to fit the bounds."""
    return (
        0 if bound_entries is None else max(0, entries - bound_entries),
        0 if bound_bytes is None else max(0, size - bound_bytes),
    )


def pick(rows: Sequence[Sequence[Any]], entries: int, size: int) -> list[Sequence[Any]]:
    """The first of ``rows`` (``(id, size, ...)`` in eviction order) whose deletion frees at least
    ``entries`` entries and ``size`` bytes; all of them when that is not enough."""
    chosen: list[Sequence[Any]] = []
    for row in rows:
        if entries <= 0 and size <= 0:
            break
        chosen.append(row)
        entries -= 1
        size -= int(row[1])
    return chosen


class CapCheck:
    """Decides when a store counts itself and deletes what is expired or over its cap.

    :meth:`stored` is called after each put that added an entry; when it returns ``True`` the store
    runs its check and then reports the totals it counted with :meth:`checked` (one check at a time).
    """

    def __init__(self, limits: Limits, interval: float | None = None) -> None:
        self.limits = limits
        self._interval = CHECK_SECONDS if interval is None else interval
        self._lock = threading.Lock()
        # Own puts (and bytes) that fit before the cap could be reached; the first put counts.
        self._entries_left = 0
        self._bytes_left = 0
        self._next = 0.0  # monotonic time of the next periodic check
        self._running = False

    def stored(self, size: int) -> bool:
        with self._lock:
            self._entries_left -= 1
            self._bytes_left -= size
            full = self.limits.capped and (self._entries_left < 0 or self._bytes_left < 0)
            if self._running or not (full or time.monotonic() >= self._next):
                return False
            self._running = True
            return True

    def checked(self, entries: int | None = None, size: int | None = None) -> None:
        """The check is over; ``entries`` and ``size`` are the store's totals after it (``None`` when
        it failed: it is then retried after the interval, not at the next put)."""
        unknown = sys.maxsize
        with self._lock:
            self._running = False
            self._next = time.monotonic() + self._interval
            limits = self.limits
            self._entries_left = (
                limits.max_entries - entries if limits.max_entries is not None and entries is not None else unknown
            )
            self._bytes_left = limits.max_bytes - size if limits.max_bytes is not None and size is not None else unknown


class Bounded(Protocol):
    """What :func:`maintain` and :func:`evict` need of a database store."""

    @property
    def limits(self) -> Limits: ...

    def flush(self) -> None: ...

    def _delete_expired(self) -> int:
        """Delete every expired entry; how many went."""

    def _count(self) -> tuple[int, int]:
        """Entries (quarantined and older formats too: they take room) and their payload bytes."""

    def _evict_lru(self, entries: int, size: int) -> tuple[int, int] | None:
        """Delete the least recently used entries until ``entries`` entries and ``size`` bytes are
        gone; how many entries and bytes went, or ``None`` when another process is evicting."""


def evict(store: Bounded, max_entries: int | None, max_bytes: int | None) -> int:
    """``LifecycleStore.evict`` of a database store."""
    store.flush()  # this process's last uses first, or a just-served entry could go
    evicted = store._delete_expired()
    if max_entries is not None or max_bytes is not None:
        entries, size = store._count()
        done = store._evict_lru(*excess(max_entries, max_bytes, entries, size))
        if done is None:
            raise StoreError(
                "another process is evicting from this store right now; run the command again when it has finished"
            )
        evicted += done[0]
    return evicted


def maintain(store: Bounded, check: CapCheck, where: str) -> None:
    """Run by a put that ``check`` said is due: delete expired entries and, over a cap, the least
    recently used down to the low-water mark. Best effort: the put has succeeded."""
    entries: int | None = None
    size: int | None = None
    try:
        store.flush()
        store._delete_expired()
        if store.limits.capped:
            entries, size = store._count()
            if store.limits.over(entries, size):
                done = store._evict_lru(*excess(*store.limits.low_water(), entries, size))
                if done is None:  # another process is at it: look again after the interval
                    entries = size = None
                else:
                    entries, size = entries - done[0], size - done[1]
    except StoreError as exc:
        entries = size = None
        logger.warning("%s: expired or least recently used entries were not deleted this time: %s", where, exc)
    finally:
        check.checked(entries, size)
