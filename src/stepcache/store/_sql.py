"""What the SQLite and PostgreSQL stores share: one schema's queries, written once.

Both keep entries, counters, audits and deletions in tables of the same names and columns (see
their migrations), so reading entries and statistics, counting audits, and the counter buffer's
and size cap's policies live here, in :class:`SQLStore`. A subclass says how to run a statement
(:meth:`SQLStore._reads`, :meth:`SQLStore._write`), how a row becomes an :class:`Entry`, and does
what the two databases do differently: ``put``, ``nearest``, quarantine, and deleting rows.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from .._exceptions import StoreError
from .._types import FORMAT_VERSION, AuditOutcome, Entry, Route, Scope, StoreStats, TokenUsage
from ._base import Store
from ._codec import entry_filters, stats_from_rows
from ._counters import Batch, CounterBuffer
from ._lifecycle import EVICTION_REASONS, CapCheck, evict, maintain
from ._settings import DatabaseSettings

__all__ = ["SQLStore", "LIVE"]

logger = logging.getLogger("stepcache.store")

#: Quarantined entries are kept for inspection but never served.
LIVE = "quarantined_at IS NULL"

#: A statement and its parameters.
Query = tuple[str, Sequence[Any]]


class SQLStore(Store):
    """A store in a SQL database with StepCache's schema."""

    #: The driver's placeholder: ``?`` or ``%s``.
    mark: ClassVar[str]
    #: The ``entries`` columns in ``_codec.COLUMNS`` order, for ``SELECT``.
    columns: ClassVar[str]
    #: How long a flush started by :meth:`record` (on the request path) waits for the database;
    #: ``None``: as long as any write.
    record_wait: ClassVar[float | None] = None

    settings: DatabaseSettings

    def _start(self, settings: DatabaseSettings, where: str) -> None:
        """Set up what this class keeps (the subclass's ``__init__`` calls it first)."""
        self.settings = settings
        self.limits = settings
        self._where = where
        self._check = CapCheck(settings)
        self._counts = CounterBuffer(settings.flush_every, settings.flush_interval)

    # -- what a subclass provides ----------------------------------------------------------------

    @abstractmethod
    def _reads(self, action: str, queries: Sequence[Query]) -> list[list[tuple[Any, ...]]]:
        """Run read-only ``queries`` on one connection; the rows of each."""

    @abstractmethod
    def _write(self, action: str, sql: str, params: Sequence[Any]) -> None:
        """Run one writing statement, committed at once."""

    @abstractmethod
    def _decode(self, row: tuple[Any, ...]) -> Entry:
        """The entry in a row of :attr:`columns`."""

    @abstractmethod
    def _write_batch(self, batch: Batch, wait: float | None) -> None:
        """Write buffered counters and last uses in one transaction, waiting at most ``wait``
        seconds for the database (``None``: the store's own bound)."""

    @abstractmethod
    def _delete_expired(self) -> int:
        """Delete every expired entry; how many went."""

    @abstractmethod
    def _count(self) -> tuple[int, int]:
        """Entries (quarantined and older formats too: they take room) and their payload bytes."""

    @abstractmethod
    def _evict_lru(self, entries: int, size: int) -> tuple[int, int] | None:
        """Delete the least recently used entries until ``entries`` entries and ``size`` bytes are
        gone, a batch per transaction; how many entries and bytes went, or ``None`` when another
        process holds the eviction lock."""

    # -- reading ---------------------------------------------------------------------------------

    def _read(self, action: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._reads(action, [(sql, params)])[0]

    def _fresh(self) -> str:
        """Expired entries are never served (the parameter is the time now)."""
        return f"(expires_at IS NULL OR expires_at > {self.mark})"

    def get(self, key: str) -> Entry | None:
        m = self.mark
        rows = self._read(
            "get",
            f"SELECT {self.columns} FROM entries WHERE key = {m} AND format_version = {m} AND {LIVE} AND {self._fresh()}",
            (key, FORMAT_VERSION, time.time()),
        )
        if not rows:
            return None
        entry = self._decode(rows[0])
        self._counts.touch([entry.id])
        return entry

    def by_signature(self, scope: Scope, signature: str, limit: int = 8) -> list[Entry]:
        if limit <= 0:
            return []
        m = self.mark
        rows = self._read(
            "by_signature",
            f"SELECT {self.columns} FROM entries WHERE namespace = {m} AND model = {m} AND family = {m}"
            f" AND signature = {m} AND format_version = {m} AND {LIVE} AND {self._fresh()}"
            f" ORDER BY created_at DESC, id DESC LIMIT {m}",
            (scope.namespace, scope.model, scope.family, signature, FORMAT_VERSION, time.time(), limit),
        )
        found = [self._decode(r) for r in rows]
        self._counts.touch(e.id for e in found)
        return found

    def entries(
        self,
        *,
        namespace: str | None = None,
        family: str | None = None,
        limit: int = 100,
        ids: Sequence[str] | None = None,
    ) -> list[Entry]:
        where, args = entry_filters(self.mark, namespace, family, None, ids)
        rows = self._read(
            "list entries",
            f"SELECT {self.columns} FROM entries WHERE {where} ORDER BY created_at DESC, id DESC LIMIT {self.mark}",
            (*args, limit),
        )
        return [self._decode(r) for r in rows]

    def stats(self, namespace: str | None = None) -> StoreStats:
        self.flush()
        m = self.mark
        where, args = (f" AND namespace = {m}", (namespace,)) if namespace is not None else ("", ())
        families, paths, audits, evicted = self._reads(
            "stats",
            [
                (
                    "SELECT family, count(*) - count(quarantined_at), count(quarantined_at) FROM entries"
                    f" WHERE format_version = {m}{where} GROUP BY family",
                    (FORMAT_VERSION, *args),
                ),
                (
                    "SELECT path, sum(requests), sum(tokens_spent), sum(tokens_saved) FROM counters"
                    f" WHERE 1 = 1{where} GROUP BY path",
                    args,
                ),
                (
                    "SELECT family, outcome, sum(audits), sum(prompt_tokens), sum(completion_tokens) FROM audits"
                    f" WHERE 1 = 1{where} GROUP BY family, outcome",
                    args,
                ),
                (
                    f"SELECT coalesce(sum(entries), 0) FROM deletions WHERE reason IN ({m}, {m}){where}",
                    (*EVICTION_REASONS, *args),
                ),
            ],
        )
        live = [(family, n) for family, n, _ in families]
        held = [(family, n) for family, _, n in families]
        return stats_from_rows(live, paths, audits, held, evicted[0][0] if evicted else 0)

    # -- counting --------------------------------------------------------------------------------

    def record(self, namespace: str, family: str, path: Route, spent: TokenUsage, saved: int) -> None:
        if not self._counts.record(namespace, family, Route(path).value, spent.total, saved):
            return
        try:
            self._flush(self.record_wait)
        except StoreError as exc:
            if not exc.retryable:
                raise
            logger.info("counters stay buffered for the next flush: %s", exc)

    def flush(self) -> None:
        """Write buffered counters and last-use times now. On failure they stay buffered for the
        next flush, and :class:`StoreError` says why."""
        self._flush(None)

    def _flush(self, wait: float | None) -> None:
        batch = self._counts.take()
        if not batch:
            return
        try:
            self._write_batch(batch, wait)
        except BaseException:
            self._counts.give_back(batch)
            raise

    def counter_rows(self, batch: Batch) -> tuple[str, list[tuple[Any, ...]]]:
        """The statement adding ``batch``'s counters to the ``counters`` table, and its rows: replicas
        add to each other's counts instead of overwriting them."""
        m = self.mark
        return (
            f"INSERT INTO counters (namespace, family, path, requests, tokens_spent, tokens_saved)"
            f" VALUES ({m}, {m}, {m}, {m}, {m}, {m}) ON CONFLICT (namespace, family, path) DO UPDATE SET"
            " requests = counters.requests + excluded.requests,"
            " tokens_spent = counters.tokens_spent + excluded.tokens_spent,"
            " tokens_saved = counters.tokens_saved + excluded.tokens_saved",
            batch.rows(),
        )

    def deletion_rows(self, counted: dict[tuple[str, str], int], reason: str) -> tuple[str, list[tuple[Any, ...]]]:
        """The statement counting deleted entries per ``(namespace, family)`` under ``reason``, and its
        rows (in a fixed order, so two deleting processes cannot deadlock)."""
        m = self.mark
        return (
            f"INSERT INTO deletions (namespace, family, reason, entries) VALUES ({m}, {m}, {m}, {m})"
            " ON CONFLICT (namespace, family, reason) DO UPDATE SET entries = deletions.entries + excluded.entries",
            [(ns, fam, reason, n) for (ns, fam), n in sorted(counted.items())],
        )

    def record_audit(
        self, namespace: str, family: str, outcome: AuditOutcome, spent: TokenUsage, count: int = 1
    ) -> None:
        # Written at once (audits are a sampled few, counted off the request path).
        m = self.mark
        self._write(
            "record_audit",
            "INSERT INTO audits (namespace, family, outcome, audits, prompt_tokens, completion_tokens)"
            f" VALUES ({m}, {m}, {m}, {m}, {m}, {m}) ON CONFLICT (namespace, family, outcome) DO UPDATE SET"
            " audits = audits.audits + excluded.audits,"
            " prompt_tokens = audits.prompt_tokens + excluded.prompt_tokens,"
            " completion_tokens = audits.completion_tokens + excluded.completion_tokens",
            (namespace, family, AuditOutcome(outcome).value, count, spent.prompt, spent.completion),
        )

    # -- bounds ----------------------------------------------------------------------------------

    def evict(self, *, max_entries: int | None = None, max_bytes: int | None = None) -> int:
        return evict(self, max_entries, max_bytes)

    def _stored(self, size: int) -> None:
        """After a put that added an entry of ``size`` bytes: check the bounds when it is due."""
        if self._check.stored(size):
            maintain(self, self._check, self._where)
