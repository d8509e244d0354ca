"""The PostgreSQL + pgvector store: one cache shared by a fleet of ``stepcache serve`` replicas.

``--store postgresql://user@host:5432/db`` (or ``PostgresStore(url)``). Optional query parameters set
the store's own options and are not passed to libpq: ``schema`` (default ``public``; several caches
can share a database), ``min_size``/``max_size`` (connection pool), ``ef_search`` (HNSW search
breadth: higher is more accurate and slower), ``pool_timeout`` (seconds), ``synchronous_commit``
(``on`` to wait for the WAL flush on every put; see :class:`PostgresSettings`), and ``max_entries``,
``max_bytes`` and ``ttl`` (the size cap and expiry every store takes)::

    postgresql://stepcache@db:5432/cache?schema=tenant_a&max_size=20&ef_search=100

How it keeps the Store contract with many writers:

* ``put`` is one transaction: ``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING``, and when another
  replica won, a ``SELECT`` of the winner. An entry is fully visible or absent; two replicas
  missing on the same prompt store one entry and both get it back.
* ``nearest`` uses an HNSW index (cosine) per embedding dimension (see ``_pg_migrations``), with
  pgvector 0.8's iterative scan so that the namespace/model/family filter still yields ``k`` rows.
* counters are buffered in memory and merged with ``INSERT ... ON CONFLICT DO UPDATE SET n = n + ...``,
  so replicas add to each other's counts instead of overwriting them. Last-use times of the entries
  lookups returned are buffered the same way and written with them, into ``entry_use`` (a narrow
  table: see migration 3 for why not ``entries``).
* with ``max_entries``/``max_bytes`` (``?max_entries=100000&max_bytes=2G&ttl=7d``), a replica whose
  puts may have filled the cap counts ``entry_use`` and evicts the least recently used entries under
  an advisory lock, so two replicas never evict for the same excess (``_lifecycle``).

The server needs the ``vector`` extension (pgvector >= 0.8); ``scripts/postgres.sh start`` sets up a
local one for tests.
"""

from __future__ import annotations

import logging
import re
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._exceptions import ConfigurationError, MissingDependency, StoreError
from .._types import FORMAT_VERSION, AuditOutcome, Entry, Route, Scope, StoreStats, TokenUsage, Vector
from ._base import Store, quarantined_key
from ._codec import add_count, dump_json, entry_filters, payload_size, row_to_entry, stats_from_rows
from ._lifecycle import (
    BATCH,
    CAPACITY,
    EVICTION_REASONS,
    EXPIRED,
    PURGED,
    CapCheck,
    Limits,
    UseBuffer,
    excess,
    limits_from_query,
    pick,
)
from ._pg_migrations import lock_key, migrate

if TYPE_CHECKING:
    import psycopg
    import psycopg.sql
    from psycopg_pool import ConnectionPool

__all__ = ["PostgresStore", "PostgresSettings"]

logger = logging.getLogger("stepcache.store")

#: pgvector cannot index ``vector`` columns wider than this; wider embeddings are searched exactly.
_HNSW_MAX_DIM = 2000

#: Flush buffered counters after this many records or this many seconds, whichever comes first.
_FLUSH_EVERY = 64
_FLUSH_SECONDS = 2.0

#: In the order of ``_codec.COLUMNS``, so rows decode with ``row_to_entry``.
_COLUMNS = (
    "id, key, namespace, model, family, signature, prompt, task, steps, text, embedding, prepared,"
    " format_version, created_at, cost_prompt, cost_completion, expires_at"
)

#: Quarantined entries are kept for inspection but never served.
_LIVE = "quarantined_at IS NULL"
#: Expired entries are never served (the argument is the time now).
_FRESH = "(expires_at IS NULL OR expires_at > %s)"
_DELETED = (
    "INSERT INTO deletions (namespace, family, reason, entries) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (namespace, family, reason) DO UPDATE SET entries = deletions.entries + excluded.entries"
)
#: Last-use times, in id order; rows another replica is updating right now are skipped (they are
#: being marked used anyway), so two replicas flushing the same entries never wait or deadlock.
_USED = (
    "UPDATE entry_use u SET last_used = greatest(u.last_used, v.t)"
    " FROM unnest(%s::bigint[], %s::float8[]) AS v(id, t)"
    " WHERE u.id = v.id AND u.id IN (SELECT id FROM entry_use WHERE id = ANY(%s) ORDER BY id FOR UPDATE SKIP LOCKED)"
)


class PostgresSettings(BaseModel):
    """The store's own options (the rest of the URL is libpq's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: str = Field(default="public", alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    min_size: int = Field(default=1, ge=0)
    max_size: int = Field(default=10, ge=1)
    ef_search: int = Field(default=64, ge=1, le=1000)
    #: How long a caller waits for a free pooled connection before the store reports it is overloaded.
    #: Seconds a request waits for a pooled connection. Short on purpose: a server that is down
    #: (or so loaded that no connection frees up) then fails fast, and the proxy answers uncached.
    pool_timeout: float = Field(default=5.0, gt=0)
    #: Wait for the WAL flush on every commit. Off by default: a server crash may then lose the last
    #: fraction of a second of entries (extra misses, never a torn entry), and a put is several
    #: times faster. Client crashes lose nothing either way.
    synchronous_commit: bool = False


class PostgresStore(Store):
    """``PostgresStore("postgresql://user@host:port/db", max_size=10, ef_search=64)``. Thread-safe.

    Open one per process (after any ``fork``): the connection pool does not survive forking.
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        ef_search: int = 64,
        schema: str = "public",
        pool_timeout: float = 5.0,
        synchronous_commit: bool = False,
        max_entries: int | None = None,
        max_bytes: int | None = None,
        ttl: float | None = None,
    ) -> None:
        self.limits = Limits.of(
            max_entries=max_entries, max_bytes=max_bytes, ttl=ttl, where="the PostgreSQL store"
        )
        try:
            self.settings = PostgresSettings.model_validate(
                {
                    "schema": schema,
                    "min_size": min_size,
                    "max_size": max_size,
                    "ef_search": ef_search,
                    "pool_timeout": pool_timeout,
                    "synchronous_commit": synchronous_commit,
                }
            )
        except ValidationError as exc:
            raise ConfigurationError(f"invalid PostgreSQL store option: {exc}") from exc
        if self.settings.min_size > self.settings.max_size:
            raise ConfigurationError("min_size must not exceed max_size for the PostgreSQL store")
        try:
            import psycopg
            import psycopg.conninfo
            import psycopg_pool
        except ImportError as exc:
            raise MissingDependency("psycopg", "postgres", "The PostgreSQL store") from exc

        self._url = url
        self._where = _redact(url)
        try:
            psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise ConfigurationError(
                f"{self._where} is not a valid PostgreSQL URL ({exc}); use postgresql://user@host:port/db"
            ) from exc
        self._schema = self.settings.schema_
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, str, str], list[int]] = {}
        self._uses = UseBuffer()
        self._check = CapCheck(self.limits)
        self._pending = 0
        self._last_flush = time.monotonic()
        self._closed = False

        with self._errors("open"):
            with psycopg.connect(url, autocommit=True, **_connect_defaults(url)) as conn:
                self._set_search_path(conn)
                migrate(conn, self._schema)
                row = conn.execute("SELECT 'vector'::regtype::oid").fetchone()
                assert row is not None
                self._vector_oid = int(row[0])
                self._dims = self._indexed_dims(conn)
            self._pool: ConnectionPool[Any] = psycopg_pool.ConnectionPool(
                url,
                min_size=self.settings.min_size,
                max_size=self.settings.max_size,
                kwargs={"autocommit": True, **_connect_defaults(url)},
                configure=self._configure,
                timeout=self.settings.pool_timeout,
                open=False,
                name="stepcache",
            )
            self._pool.open(wait=self.settings.min_size > 0, timeout=self.settings.pool_timeout)

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        """Open the store at ``url``; ``schema``, ``min_size``, ``max_size``, ``ef_search``,
        ``pool_timeout``, ``synchronous_commit``, ``max_entries``, ``max_bytes`` and ``ttl`` may be
        given as query parameters."""
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ConfigurationError(f"not a PostgreSQL URL: {_redact(url)!r} (use postgresql://user@host:port/db)")
        libpq: list[tuple[str, str]] = []
        ours, rest = limits_from_query(parse_qsl(parts.query, keep_blank_values=True), "the PostgreSQL store")
        for name, value in rest:
            if name in ("min_size", "max_size", "ef_search"):
                ours[name] = _int_option(name, value)
            elif name == "pool_timeout":
                ours[name] = _float_option(name, value)
            elif name == "schema":
                ours[name] = value
            elif name == "synchronous_commit":
                ours[name] = value.lower() in ("1", "on", "true", "yes")
            else:
                libpq.append((name, value))
        # libpq decodes %XX but not '+', so spaces (as in options=-c x=y) must stay %20.
        return cls(urlunsplit(parts._replace(query=urlencode(libpq, quote_via=quote))), **ours)

    # -- Store -------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        with self._connection("get") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE key = %s AND format_version = %s AND {_LIVE} AND {_FRESH}",
                (key, FORMAT_VERSION, time.time()),
            ).fetchone()
        if row is None:
            return None
        entry = _entry(row)
        self._uses.touch([entry.id])
        return entry

    def put(self, entry: Entry) -> Entry:
        task = dump_json(entry.task, "task", entry.key)  # not JSON → StoreError before any write
        prepared = dump_json(entry.prepared, "prepared data", entry.key)
        steps = dump_json(list(entry.steps), "steps", entry.key)
        embedding = np.ascontiguousarray(entry.embedding, dtype=np.float32).reshape(-1)
        dim = int(embedding.shape[0])
        if dim == 0:
            raise StoreError("cannot store an entry with an empty embedding")
        now = time.time()
        expires_at = self.limits.expiry(entry.created_at or now, entry.expires_at)
        size = payload_size(entry.prompt, task, steps, entry.text, prepared) + 4 * dim
        self._ensure_index(dim)
        insert = (
            "INSERT INTO entries (key, namespace, model, family, signature, prompt, task, steps,"
            " text, prepared, format_version, created_at, cost_prompt, cost_completion, dim, embedding,"
            " expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s::json, %s, %s, %s::json, %s,"
            "  coalesce(nullif(%s, 0), extract(epoch FROM clock_timestamp())), %s, %s, %s, %b, %s)"
            f" ON CONFLICT (key) DO NOTHING RETURNING {_COLUMNS}"
        )
        params = (
            entry.key,
            entry.scope.namespace,
            entry.scope.model,
            entry.scope.family,
            entry.signature,
            entry.prompt,
            task,
            list(entry.steps),
            entry.text,
            prepared,
            entry.format_version,
            float(entry.created_at),
            entry.cost.prompt,
            entry.cost.completion,
            dim,
            embedding,
            expires_at,
        )
        with self._connection("put") as conn, conn.transaction():
            row = conn.execute(insert, params).fetchone()
            if row is None:  # the key is taken; by an expired entry, no longer
                stale = conn.execute(
                    "DELETE FROM entries WHERE key = %s AND expires_at <= %s RETURNING namespace, family",
                    (entry.key, now),
                ).fetchall()
                if stale:
                    _count_deletions(conn, stale, EXPIRED)
                    row = conn.execute(insert, params).fetchone()
            if row is None:  # another writer stored this key first: theirs is the entry
                winner = conn.execute(f"SELECT {_COLUMNS} FROM entries WHERE key = %s", (entry.key,)).fetchone()
                if winner is None:  # the winner was evicted or purged since: the caller may put again
                    raise StoreError(f"entry {entry.key!r} conflicted but cannot be read back; retry the put")
                return _entry(winner)
            conn.execute("INSERT INTO entry_use (id, last_used, size) VALUES (%s, %s, %s)", (row[0], now, size))
        if self._check.stored(size):
            self._maintain()
        # Built from what was stored, so the caller sees exactly what a later get() returns
        # (JSON turns tuples into lists).
        return _entry(row)

    def by_signature(self, scope: Scope, signature: str, limit: int = 8) -> list[Entry]:
        if limit <= 0:
            return []
        with self._connection("by_signature") as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM entries"
                " WHERE namespace = %s AND model = %s AND family = %s AND signature = %s AND format_version = %s"
                f" AND {_LIVE} AND {_FRESH} ORDER BY created_at DESC, id DESC LIMIT %s",
                (scope.namespace, scope.model, scope.family, signature, FORMAT_VERSION, time.time(), limit),
            ).fetchall()
        found = [_entry(r) for r in rows]
        self._uses.touch(e.id for e in found)
        return found

    def nearest(
        self,
        namespace: str,
        model: str,
        vector: Vector,
        k: int = 4,
        family: str | None = None,
    ) -> list[tuple[Entry, float]]:
        from psycopg import sql

        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        dim = int(query.shape[0])
        if k <= 0 or dim == 0:
            return []
        # The ORDER BY expression must be the index expression, and `dim = <literal>` must imply the
        # partial index's predicate, or the planner cannot use the HNSW index for this dimension.
        as_dim = sql.SQL("::vector({})").format(sql.SQL(str(dim)))
        statement = sql.SQL(
            "SELECT {columns}, (embedding{as_dim}) <=> (%b{as_dim}) AS distance FROM entries"
            " WHERE dim = {dim} AND namespace = %s AND model = %s AND format_version = %s AND {live} AND {fresh}{family}"
            " ORDER BY distance LIMIT %s"
        ).format(
            columns=sql.SQL(_COLUMNS),
            as_dim=as_dim,
            dim=sql.SQL(str(dim)),
            live=sql.SQL(_LIVE),
            fresh=sql.SQL(_FRESH),
            family=sql.SQL(" AND family = %s" if family is not None else ""),
        )
        params: list[Any] = [query, namespace, model, FORMAT_VERSION, time.time()]
        if family is not None:
            params.append(family)
        params.append(k)
        with self._connection("nearest") as conn:
            rows = conn.execute(statement, params).fetchall()
        # relaxed_order iterative scans may return rows slightly out of order; the caller wants best first.
        found = [(_entry(r[:-1]), 1.0 - float(r[-1])) for r in rows]
        found.sort(key=lambda pair: pair[1], reverse=True)
        self._uses.touch(e.id for e, _ in found)
        return found

    def record(self, namespace: str, family: str, path: Route, spent: TokenUsage, saved: int) -> None:
        with self._lock:
            add_count(self._counters, (namespace, family, Route(path).value), 1, spent.total, saved)
            self._pending += 1
            due = self._pending >= _FLUSH_EVERY or time.monotonic() - self._last_flush >= _FLUSH_SECONDS
        if due:
            self.flush()

    def record_audit(
        self, namespace: str, family: str, outcome: AuditOutcome, spent: TokenUsage, count: int = 1
    ) -> None:
        # Written at once (audits are a sampled few, counted off the request path).
        with self._connection("record_audit") as conn:
            conn.execute(
                "INSERT INTO audits (namespace, family, outcome, audits, prompt_tokens, completion_tokens)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (namespace, family, outcome) DO UPDATE SET"
                " audits = audits.audits + excluded.audits,"
                " prompt_tokens = audits.prompt_tokens + excluded.prompt_tokens,"
                " completion_tokens = audits.completion_tokens + excluded.completion_tokens",
                (namespace, family, AuditOutcome(outcome).value, count, spent.prompt, spent.completion),
            )

    def quarantine(self, entry_id: str, reason: str) -> bool:
        if not entry_id.isdigit():
            return False
        with self._connection("quarantine") as conn, conn.transaction():
            row = conn.execute(
                f"SELECT key FROM entries WHERE id = %s AND {_LIVE} FOR UPDATE", (int(entry_id),)
            ).fetchone()
            if row is None:
                return False
            conn.execute(
                "UPDATE entries SET key = %s, quarantined_at = extract(epoch FROM clock_timestamp()),"
                " quarantine_reason = %s WHERE id = %s",
                (quarantined_key(entry_id, row[0]), reason, int(entry_id)),
            )
        return True

    # -- lifecycle -----------------------------------------------------------------------------
    def entries(
        self,
        *,
        namespace: str | None = None,
        family: str | None = None,
        limit: int = 100,
        ids: Sequence[str] | None = None,
    ) -> list[Entry]:
        where, args = entry_filters("%s", namespace, family, None, ids)
        with self._connection("list entries") as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM entries WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %s", (*args, limit)
            ).fetchall()
        return [_entry(r) for r in rows]

    def purge(
        self,
        *,
        namespace: str | None = None,
        family: str | None = None,
        older_than: float | None = None,
        ids: Sequence[str] | None = None,
    ) -> int:
        where, args = entry_filters("%s", namespace, family, older_than, ids)
        with self._connection("purge entries") as conn, conn.transaction():
            rows = conn.execute(f"DELETE FROM entries WHERE {where} RETURNING namespace, family", args).fetchall()
            _count_deletions(conn, rows, PURGED)
        return len(rows)

    def evict(self, *, max_entries: int | None = None, max_bytes: int | None = None) -> int:
        self.flush()  # this replica's last uses first, or a just-served entry could go
        evicted = self._delete_expired()
        if max_entries is not None or max_bytes is not None:
            entries, size = self._count()
            done = self._evict_lru(*excess(max_entries, max_bytes, entries, size))
            if done is None:
                raise StoreError(
                    "another replica is evicting from this PostgreSQL store right now; run the command again "
                    "when it has finished"
                )
            evicted += done[0]
        return evicted

    def _maintain(self) -> None:
        """Run by a put that :class:`CapCheck` says is due: delete expired entries and, over a cap,
        the least recently used down to the low-water mark. Best effort: the put has succeeded."""
        entries: int | None = None
        size: int | None = None
        try:
            self.flush()
            self._delete_expired()
            if self.limits.capped:
                entries, size = self._count()
                if self.limits.over(entries, size):
                    done = self._evict_lru(*excess(*self.limits.low_water(), entries, size))
                    if done is None:  # another replica is at it: look again after the interval
                        entries = size = None
                    else:
                        entries, size = entries - done[0], size - done[1]
        except StoreError as exc:
            entries = size = None
            logger.warning("%s: expired or least recently used entries were not deleted this time: %s", self._where, exc)
        finally:
            self._check.checked(entries, size)

    def _count(self) -> tuple[int, int]:
        """Entries (quarantined and older formats too: they take room) and their payload bytes."""
        with self._connection("count entries") as conn:
            row = conn.execute("SELECT count(*), coalesce(sum(size), 0) FROM entry_use").fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def _delete_expired(self) -> int:
        deleted = 0
        now = time.time()
        with self._connection("delete expired entries") as conn:
            while True:
                with conn.transaction():
                    rows = conn.execute(
                        "DELETE FROM entries WHERE id IN (SELECT id FROM entries WHERE expires_at <= %s LIMIT %s"
                        " FOR UPDATE SKIP LOCKED) RETURNING namespace, family",
                        (now, BATCH),
                    ).fetchall()
                    _count_deletions(conn, rows, EXPIRED)
                deleted += len(rows)
                if len(rows) < BATCH:
                    return deleted

    def _evict_lru(self, entries: int, size: int) -> tuple[int, int] | None:
        """Delete the least recently used entries until ``entries`` entries and ``size`` bytes are gone,
        a batch per transaction; how many entries and bytes went, or ``None`` when another replica
        holds the eviction lock (it is evicting for the same excess)."""
        removed = freed = 0
        key = lock_key(self._schema, "evict")
        with self._connection("evict entries") as conn:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not (row and row[0]):
                return None
            try:
                while entries > 0 or size > 0:
                    with conn.transaction():
                        batch = conn.execute(
                            "SELECT id, size FROM entry_use ORDER BY last_used, id LIMIT %s", (BATCH,)
                        ).fetchall()
                        chosen = pick(batch, entries, size)
                        rows = conn.execute(
                            "DELETE FROM entries WHERE id = ANY(%s) RETURNING namespace, family",
                            ([int(r[0]) for r in chosen],),
                        ).fetchall()
                        _count_deletions(conn, rows, CAPACITY)
                    if not chosen:
                        break
                    gone = sum(int(r[1]) for r in chosen)
                    entries, size = entries - len(chosen), size - gone
                    removed, freed = removed + len(rows), freed + gone
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return removed, freed

    def stats(self, namespace: str | None = None) -> StoreStats:
        self.flush()
        where = "" if namespace is None else " AND namespace = %s"
        args: tuple[Any, ...] = (FORMAT_VERSION,) if namespace is None else (FORMAT_VERSION, namespace)
        only = () if namespace is None else (namespace,)
        with self._connection("stats") as conn:
            families = conn.execute(
                "SELECT family, count(*) - count(quarantined_at), count(quarantined_at) FROM entries"
                f" WHERE format_version = %s{where} GROUP BY family",
                args,
            ).fetchall()
            paths = conn.execute(
                "SELECT path, sum(requests), sum(tokens_spent), sum(tokens_saved) FROM counters"
                + ("" if namespace is None else " WHERE namespace = %s")
                + " GROUP BY path",
                only,
            ).fetchall()
            audits = conn.execute(
                "SELECT family, outcome, sum(audits), sum(prompt_tokens), sum(completion_tokens) FROM audits"
                + ("" if namespace is None else " WHERE namespace = %s")
                + " GROUP BY family, outcome",
                only,
            ).fetchall()
            evicted = conn.execute(
                "SELECT coalesce(sum(entries), 0) FROM deletions WHERE reason = ANY(%s)"
                + ("" if namespace is None else " AND namespace = %s"),
                (list(EVICTION_REASONS), *only),
            ).fetchone()
        live = [(family, n) for family, n, _ in families]
        held = [(family, n) for family, _, n in families]
        return stats_from_rows(live, paths, audits, held, evicted[0] if evicted else 0)

    def flush(self) -> None:
        """Write buffered counters and last-use times. On failure they stay buffered for the next flush."""
        with self._lock:
            batch, self._counters = self._counters, {}
            self._pending = 0
            self._last_flush = time.monotonic()
        used = self._uses.take()
        if not batch and not used:
            return
        # A fixed row order means two replicas flushing the same counters cannot deadlock.
        rows = [(*key, *batch[key]) for key in sorted(batch)]
        ids = sorted(used)
        try:
            with self._connection("record") as conn, conn.transaction(), conn.cursor() as cur:
                if rows:
                    cur.executemany(
                        "INSERT INTO counters (namespace, family, path, requests, tokens_spent, tokens_saved)"
                        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (namespace, family, path) DO UPDATE SET"
                        " requests = counters.requests + excluded.requests,"
                        " tokens_spent = counters.tokens_spent + excluded.tokens_spent,"
                        " tokens_saved = counters.tokens_saved + excluded.tokens_saved",
                        rows,
                    )
                if ids:
                    cur.execute(_USED, (ids, [used[i] for i in ids], ids))
        except BaseException:
            with self._lock:
                for key, (n, spent, saved) in batch.items():
                    add_count(self._counters, key, n, spent, saved)
                    self._pending += n
            self._uses.give_back(used)
            raise

    def __enter__(self) -> PostgresStore:
        return self

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._pool.close()

    # -- internals ---------------------------------------------------------------------------

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """Run on every new pooled connection: types, search path and HNSW search settings."""
        self._set_search_path(conn)
        _register_vector(conn, self._vector_oid)
        conn.execute(f"SET hnsw.ef_search = {self.settings.ef_search}")
        conn.execute(f"SET synchronous_commit = {'on' if self.settings.synchronous_commit else 'off'}")
        # Filtered HNSW scans would otherwise stop after ef_search candidates and return fewer than
        # k rows when most neighbours belong to other namespaces or families.
        conn.execute("SET hnsw.iterative_scan = relaxed_order")

    def _set_search_path(self, conn: psycopg.Connection[Any]) -> None:
        from psycopg import sql

        conn.execute(sql.SQL("SET search_path = {}, public").format(sql.Identifier(self._schema)))

    def _indexed_dims(self, conn: psycopg.Connection[Any]) -> set[int]:
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'entries'"
            " AND indexname LIKE 'entries\\_hnsw\\_%%'",
            (self._schema,),
        ).fetchall()
        return {int(name.rsplit("_", 1)[1]) for (name,) in rows}

    def _ensure_index(self, dim: int) -> None:
        """Create the HNSW index for ``dim`` the first time an embedding of that length is stored."""
        if dim in self._dims or dim > _HNSW_MAX_DIM:
            return
        with self._connection("create index") as conn, conn.transaction():
            # Two replicas creating the same index at once would collide in the catalog; queue them.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self._schema, "index"),))
            conn.execute(hnsw_index_statement(dim))
        self._dims.add(dim)

    @contextmanager
    def _connection(self, action: str) -> Iterator[psycopg.Connection[Any]]:
        if self._closed:
            raise StoreError("the PostgreSQL store is closed; open a new one")
        with self._errors(action), self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Convert psycopg's errors into StoreError, with a hint on how to fix them."""
        import psycopg
        from psycopg import errors
        from psycopg_pool import PoolTimeout

        try:
            yield
        except PoolTimeout as exc:
            err = StoreError(
                f"PostgreSQL store ({self._where}): no connection free for {action} within "
                f"{self.settings.pool_timeout:g}s; the server is unreachable or overloaded, or "
                f"max_size={self.settings.max_size} is too small (add ?max_size=N to the URL)"
            )
            err.retryable = True
            raise err from exc
        except (errors.UndefinedFile, errors.FeatureNotSupported) as exc:
            raise StoreError(
                f"PostgreSQL at {self._where} lacks the pgvector extension ({exc}); install pgvector >= 0.8 "
                "on the server (scripts/postgres.sh start does it for a local test server)"
            ) from exc
        except errors.InsufficientPrivilege as exc:
            raise StoreError(
                f"PostgreSQL store ({self._where}): permission denied during {action} ({exc}); "
                "ask the database owner to run CREATE EXTENSION vector and grant this user CREATE on the database"
            ) from exc
        except psycopg.OperationalError as exc:
            err = StoreError(
                f"cannot reach PostgreSQL at {self._where} ({str(exc).strip()}); check the --store URL, "
                "or start a local test server with scripts/postgres.sh start"
            )
            err.retryable = True
            raise err from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL store ({self._where}) failed during {action}: {exc}") from exc


def hnsw_index_statement(dim: int) -> psycopg.sql.Composed:
    """``CREATE INDEX IF NOT EXISTS`` of the cosine HNSW index for embeddings of length ``dim``."""
    from psycopg import sql

    return sql.SQL(
        "CREATE INDEX IF NOT EXISTS {name} ON entries"
        " USING hnsw ((embedding::vector({dim})) vector_cosine_ops) WHERE dim = {dim}"
    ).format(name=sql.Identifier(f"entries_hnsw_{dim}"), dim=sql.SQL(str(int(dim))))


def _count_deletions(conn: psycopg.Connection[Any], rows: Sequence[Sequence[Any]], reason: str) -> None:
    """Count deleted ``(namespace, family)`` rows under ``reason`` (inside the deleting transaction)."""
    counted = sorted(Counter((str(r[0]), str(r[1])) for r in rows).items())  # a fixed order: no deadlocks
    if counted:
        with conn.cursor() as cur:
            cur.executemany(_DELETED, [(ns, fam, reason, n) for (ns, fam), n in counted])


def _entry(row: tuple[Any, ...]) -> Entry:
    return row_to_entry(row, decoded=True)  # psycopg decodes json, text[] and (our loaders) vector


def _register_vector(conn: psycopg.Connection[Any], oid: int) -> None:
    """numpy float32 arrays ⇄ pgvector's ``vector``, in pgvector's binary wire format."""
    from psycopg.adapt import Dumper, Loader
    from psycopg.pq import Format

    class VectorDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj: Any) -> bytes:
            v = np.ascontiguousarray(obj, dtype=">f4").reshape(-1)
            return struct.pack(">HH", v.shape[0], 0) + v.tobytes()

    VectorDumper.oid = oid

    class VectorTextLoader(Loader):
        def load(self, data: Any) -> Vector:
            text = bytes(data).decode()
            vector = np.array(text[1:-1].split(","), dtype=np.float32)
            vector.flags.writeable = False
            return vector

    class VectorBinaryLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> Vector:
            (dim,) = struct.unpack_from(">H", data)
            vector = np.frombuffer(data, dtype=">f4", count=dim, offset=4).astype(np.float32)
            vector.flags.writeable = False
            return vector

    conn.adapters.register_dumper(np.ndarray, VectorDumper)
    conn.adapters.register_loader(oid, VectorTextLoader)
    conn.adapters.register_loader(oid, VectorBinaryLoader)


def _connect_defaults(url: str) -> dict[str, Any]:
    # libpq waits forever for an unreachable host unless told otherwise.
    return {} if "connect_timeout" in url else {"connect_timeout": 10}


def _redact(url: str) -> str:
    """The URL without its password, for error messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _int_option(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigurationError(f"PostgreSQL store option {name}={value!r} must be an integer") from exc


def _float_option(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError as exc:
        raise ConfigurationError(f"PostgreSQL store option {name}={value!r} must be a number") from exc

