"""The Store seam: where verified entries live, and how they are found again.

A store must make each ``put`` atomic (an entry is fully visible or absent) and idempotent on the
entry's ``key``: when two writers store the same key, both get the one entry that won.

Audit sampling (``CacheConfig.audit_rate``) needs a store that is also an :class:`AuditStore`: it
counts audit outcomes and quarantines entries an audit found wrong. The built-in stores all are.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import ClassVar, Protocol, runtime_checkable

from .._types import AuditOutcome, Entry, Route, Scope, StoreStats, TokenUsage, Vector

__all__ = ["Store", "AuditStore", "quarantined_key"]


class Store(ABC):
    #: The store answers without a network round trip (it lives in this process: memory, a local
    #: file), so a lookup may run on an event loop; ``False`` for a store behind a server.
    in_process: ClassVar[bool] = False

    @abstractmethod
    def get(self, key: str) -> Entry | None:
        """The entry stored under the exact-match ``key``, or ``None``."""

    @abstractmethod
    def put(self, entry: Entry) -> Entry:
        """Store ``entry`` and return it with ``id`` and ``created_at`` set.

        If an entry with the same key exists, nothing is written and the existing entry is returned.
        """

    @abstractmethod
    def by_signature(self, scope: Scope, signature: str, limit: int = 8) -> list[Entry]:
        """Entries in ``scope`` with this template signature, newest first."""

    @abstractmethod
    def nearest(
        self,
        namespace: str,
        model: str,
        vector: Vector,
        k: int = 4,
        family: str | None = None,
        *,
        embedder: str | None = None,
    ) -> list[tuple[Entry, float]]:
        """The ``k`` entries most similar to ``vector`` (cosine, highest first) in one namespace and model.

        ``family=None`` searches every family; the engine uses that to tell a semantic change (skip)
        from a plain miss. Only vectors of ``embedder`` (an :attr:`Entry.embedder` name) are compared,
        whatever their length; ``None`` means the name an unnamed entry of this vector's length is
        stored under (see :attr:`Entry.embedder`).
        """

    @abstractmethod
    def record(self, namespace: str, family: str, path: Route, spent: TokenUsage, saved: int) -> None:
        """Count one served request for ``stepcache stats``. May be buffered; ``close`` flushes."""

    @abstractmethod
    def stats(self, namespace: str | None = None) -> StoreStats:
        """Entry counts and served-path counts, for one namespace or all."""

    def wait_ready(self) -> None:
        """Return once work the store does in the background (building vector indexes) is done, so
        that timings measure lookups, not index builds. Nothing to wait for by default."""

    def close(self) -> None:
        """Flush buffered counters and release connections."""

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@runtime_checkable
class AuditStore(Protocol):
    """A store that audit sampling can use: it keeps audit counts and quarantines entries."""

    def record_audit(
        self, namespace: str, family: str, outcome: AuditOutcome, spent: TokenUsage, count: int = 1
    ) -> None:
        """Count ``count`` audits with this outcome and the upstream tokens they cost (reported apart
        from ``tokens_spent``)."""

    def quarantine(self, entry_id: str, reason: str) -> bool:
        """Never serve entry ``entry_id`` again, but keep it for inspection with ``reason``.

        Exact, signature and neighbour lookups skip it from now on, and its key is moved aside
        (:func:`quarantined_key`) so that the next identical request stores a fresh answer. Returns
        ``False`` when the entry does not exist or is already quarantined.
        """


@runtime_checkable
class LifecycleStore(Protocol):
    """A store an operator can inspect and prune (``stepcache entries``, ``stepcache purge``) and
    bound (size cap and expiry; see ``stepcache.store._lifecycle``)."""

    def entries(
        self,
        *,
        namespace: str | None = None,
        family: str | None = None,
        limit: int = 100,
        ids: Sequence[str] | None = None,
    ) -> list[Entry]:
        """Stored entries, newest first, optionally of one namespace, family and/or these ids."""

    def purge(
        self,
        *,
        namespace: str | None = None,
        family: str | None = None,
        older_than: float | None = None,
        ids: Sequence[str] | None = None,
    ) -> int:
        """Delete the entries matching every filter given (``older_than``: seconds since stored);
        returns how many. Statistics are kept."""

    def evict(self, *, max_entries: int | None = None, max_bytes: int | None = None) -> int:
        """Delete expired entries, then the least recently used ones until at most ``max_entries``
        entries and ``max_bytes`` bytes of payload remain (``None``: no bound); returns how many went,
        all counted in :attr:`~stepcache.StoreStats.evicted`.

        A store opened with a size cap runs this itself (down to 90 % of the cap) when a put takes it
        over; ``stepcache purge --expired`` and ``--max-entries`` run it on demand.
        """


def quarantined_key(entry_id: str, key: str) -> str:
    """The key a quarantined entry is kept under: its original key stays readable in it."""
    return f"quarantined:{entry_id}:{key}"
