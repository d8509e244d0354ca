"""The PostgreSQL + pgvector store: one cache shared by a fleet of ``stepcache serve`` replicas.

``--store postgresql://user@host:5432/db`` (or ``PostgresStore(url)``). Query parameters that are
the store's options (:class:`PostgresSettings`: ``schema`` (default ``public``; several caches can
share a database), ``min_size``/``max_size`` (connection pool), ``ef_search`` (HNSW search breadth:
higher is more accurate and slower), ``pool_timeout`` (seconds), ``synchronous_commit``, and
``max_entries``, ``max_bytes`` and ``ttl`` (the size cap and expiry every store takes)) are taken
out; libpq's connection parameters are passed on::

    postgresql://stepcache@db:5432/cache?schema=tenant_a&max_size=20&ef_search=100&sslmode=require

How it keeps the Store contract with many writers:

* ``put`` is one transaction: ``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING``, and when another
  replica won, a ``SELECT`` of the winner. An entry is fully visible or absent; two replicas
  missing on the same prompt store one entry and both get it back.
* ``nearest`` uses an HNSW index (cosine) per embedder (see ``_pg_migrations``), with pgvector 0.8's
  iterative scan so that the namespace/model/family filter still yields ``k`` rows.
* counters are buffered in memory (``_counters``) and merged with ``INSERT ... ON CONFLICT DO UPDATE
  SET n = n + ...``, so replicas add to each other's counts instead of overwriting them. Last-use
  times of the entries lookups returned are buffered the same way and written with them, into
  ``entry_use`` (a narrow table: see migration 3 for why not ``entries``).
* with ``max_entries``/``max_bytes`` (``?max_entries=100000&max_bytes=2G&ttl=7d``), a replica whose
  puts may have filled the cap counts ``entry_use`` and evicts the least recently used entries under
  an advisory lock, so two replicas never evict for the same excess (``_lifecycle``).

Vectors cross the wire through pgvector-python's own psycopg adapter. The server needs the
``vector`` extension (pgvector >= 0.8); ``scripts/postgres.sh start`` sets up a local one for tests.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from .._exceptions import ConfigurationError, MissingDependency, StoreError
from .._types import FORMAT_VERSION, Entry, Vector
from ._base import quarantined_key
from ._codec import dump_json, entry_filters, payload_size, row_to_entry
from ._counters import Batch
from ._lifecycle import BATCH, CAPACITY, EXPIRED, PURGED, pick
from ._migrations import migrate
from ._pg_migrations import HNSW_MAX_DIM, MIGRATIONS, PostgresDatabase, hnsw_index_name, hnsw_index_statement, lock_key
from ._pg_settings import PostgresSettings, connect_defaults, redact, store_errors
from ._sql import LIVE, Query, SQLStore
from ._vectors import embedder_name

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["PostgresStore", "PostgresSettings", "hnsw_index_statement"]

#: In the order of ``_codec.COLUMNS``, so rows decode with ``row_to_entry``.
_COLUMNS = (
    "id, key, namespace, model, family, signature, prompt, task, steps, text, embedding, prepared,"
    " format_version, created_at, cost_prompt, cost_completion, expires_at, embedder"
)
_INSERT = (
    "INSERT INTO entries (key, namespace, model, family, signature, prompt, task, steps,"
    " text, prepared, format_version, created_at, cost_prompt, cost_completion, dim, embedding,"
    " expires_at, embedder)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s::json, %s, %s, %s::json, %s,"
    "  coalesce(nullif(%s, 0), extract(epoch FROM clock_timestamp())), %s, %s, %s, %b, %s, %s)"
    f" ON CONFLICT (key) DO NOTHING RETURNING {_COLUMNS}"
)
#: Last-use times, in id order; rows another replica is updating right now are skipped (they are
#: being marked used anyway), so two replicas flushing the same entries never wait or deadlock.
_USED = (
    "UPDATE entry_use u SET last_used = greatest(u.last_used, v.t)"
    " FROM unnest(%s::bigint[], %s::float8[]) AS v(id, t)"
    " WHERE u.id = v.id AND u.id IN (SELECT id FROM entry_use WHERE id = ANY(%s) ORDER BY id FOR UPDATE SKIP LOCKED)"
)


class PostgresStore(SQLStore):
    """``PostgresStore("postgresql://user@host:port/db", max_size=10, ef_search=64)``. Thread-safe.

    The options are :class:`PostgresSettings`' fields. Open one per process (after any ``fork``):
    the connection pool does not survive forking.
    """

    mark = "%s"
    columns = _COLUMNS

    settings: PostgresSettings

    def __init__(self, url: str, **options: Any) -> None:
        self._start(PostgresSettings.parse(options, "the PostgreSQL store"), redact(url))
        try:
            import psycopg
            import psycopg.conninfo
            import psycopg_pool
            from pgvector.psycopg import register_vector
        except ImportError as exc:
            raise MissingDependency(exc.name or "psycopg", "postgres", "The PostgreSQL store") from exc

        try:
            psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise ConfigurationError(
                f"{self._where} is not a valid PostgreSQL URL ({exc}); use postgresql://user@host:port/db"
            ) from exc
        self._schema = self.settings.schema_
        self._register_vector = register_vector
        self._index_lock = threading.Lock()
        self._closed = False

        with self._errors("open"):
            with psycopg.connect(url, autocommit=True, **connect_defaults(url)) as conn:
                self._set_search_path(conn)
                migrate(PostgresDatabase(conn, self._schema), MIGRATIONS)
                self._indexes = self._indexed(conn)
            self._pool: ConnectionPool[Any] = psycopg_pool.ConnectionPool(
                url,
                min_size=self.settings.min_size,
                max_size=self.settings.max_size,
                kwargs={"autocommit": True, **connect_defaults(url)},
                configure=self._configure,
                timeout=self.settings.pool_timeout,
                open=False,
                name="stepcache",
            )
            self._pool.open(wait=self.settings.min_size > 0, timeout=self.settings.pool_timeout)

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        """Open the store at ``url``; the store's options may be given as query parameters."""
        settings, libpq_url = PostgresSettings.from_url(url)
        return cls(libpq_url, **settings.model_dump(by_alias=True, exclude_unset=True))

    # -- SQLStore ---------------------------------------------------------------------------------

    def _reads(self, action: str, queries: Sequence[Query]) -> list[list[tuple[Any, ...]]]:
        with self._connection(action) as conn:
            return [conn.execute(sql, params).fetchall() for sql, params in queries]

    def _write(self, action: str, sql: str, params: Sequence[Any]) -> None:
        with self._connection(action) as conn:
            conn.execute(sql, params)

    def _decode(self, row: tuple[Any, ...]) -> Entry:
        # psycopg decodes json and text[]; pgvector's loader gives a pgvector Vector.
        vector = row[10].to_numpy()
        vector.flags.writeable = False
        return row_to_entry((*row[:10], vector, *row[11:]), decoded=True)

    def _write_batch(self, batch: Batch, wait: float | None) -> None:
        ids = sorted(batch.uses)
        with self._connection("record") as conn, conn.transaction(), conn.cursor() as cur:
            if batch.counts:
                cur.executemany(*self.counter_rows(batch))
            if ids:
                cur.execute(_USED, (ids, [batch.uses[i] for i in ids], ids))

    # -- Store ------------------------------------------------------------------------------------

    def put(self, entry: Entry) -> Entry:
        task = dump_json(entry.task, "task", entry.key)  # not JSON → StoreError before any write
        prepared = dump_json(entry.prepared, "prepared data", entry.key)
        steps = dump_json(list(entry.steps), "steps", entry.key)
        embedding = np.ascontiguousarray(entry.embedding, dtype=np.float32).reshape(-1)
        dim = int(embedding.shape[0])
        if dim == 0:
            raise StoreError("cannot store an entry with an empty embedding")
        embedder = embedder_name(entry.embedder, dim)
        now = time.time()
        expires_at = self.limits.expiry(entry.created_at or now, entry.expires_at)
        size = payload_size(entry.prompt, task, steps, entry.text, prepared) + 4 * dim
        self._ensure_index(embedder, dim)
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
            embedder,
        )
        with self._connection("put") as conn, conn.transaction():
            row = conn.execute(_INSERT, params).fetchone()
            if row is None:  # the key is taken; by an expired entry, no longer
                stale = conn.execute(
                    "DELETE FROM entries WHERE key = %s AND expires_at <= %s RETURNING namespace, family",
                    (entry.key, now),
                ).fetchall()
                if stale:
                    self._count_deletions(conn, stale, EXPIRED)
                    row = conn.execute(_INSERT, params).fetchone()
            if row is None:  # another writer stored this key first: theirs is the entry
                winner = conn.execute(f"SELECT {_COLUMNS} FROM entries WHERE key = %s", (entry.key,)).fetchone()
                if winner is None:  # the winner was evicted or purged since: the caller may put again
                    raise StoreError(f"entry {entry.key!r} conflicted but cannot be read back; retry the put")
                return self._decode(winner)
            conn.execute("INSERT INTO entry_use (id, last_used, size) VALUES (%s, %s, %s)", (row[0], now, size))
        self._stored(size)
        # Built from what was stored, so the caller sees exactly what a later get() returns
        # (JSON turns tuples into lists).
        return self._decode(row)

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
        from psycopg import sql

        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        dim = int(query.shape[0])
        if k <= 0 or dim == 0:
            return []
        # The ORDER BY expression must be the index expression, and `embedder = <literal> AND dim =
        # <literal>` must imply the partial index's predicate, or the planner cannot use the index.
        as_dim = sql.SQL("::vector({})").format(sql.SQL(str(dim)))
        statement = sql.SQL(
            "SELECT {columns}, (embedding{as_dim}) <=> (%b{as_dim}) AS distance FROM entries"
            " WHERE embedder = {embedder} AND dim = {dim} AND namespace = %s AND model = %s AND format_version = %s"
            " AND {live} AND {fresh}{family} ORDER BY distance LIMIT %s"
        ).format(
            columns=sql.SQL(_COLUMNS),
            as_dim=as_dim,
            embedder=sql.Literal(embedder_name(embedder, dim)),
            dim=sql.SQL(str(dim)),
            live=sql.SQL(LIVE),
            fresh=sql.SQL(self._fresh()),
            family=sql.SQL(" AND family = %s" if family is not None else ""),
        )
        params: list[Any] = [query, namespace, model, FORMAT_VERSION, time.time()]
        if family is not None:
            params.append(family)
        params.append(k)
        with self._connection("nearest") as conn:
            rows = conn.execute(statement, params).fetchall()
        # relaxed_order iterative scans may return rows slightly out of order; the caller wants best first.
        found = [(self._decode(r[:-1]), 1.0 - float(r[-1])) for r in rows]
        found.sort(key=lambda pair: pair[1], reverse=True)
        self._counts.touch(e.id for e, _ in found)
        return found

    def quarantine(self, entry_id: str, reason: str) -> bool:
        if not entry_id.isdigit():
            return False
        with self._connection("quarantine") as conn, conn.transaction():
            row = conn.execute(
                f"SELECT key FROM entries WHERE id = %s AND {LIVE} FOR UPDATE", (int(entry_id),)
            ).fetchone()
            if row is None:
                return False
            conn.execute(
                "UPDATE entries SET key = %s, quarantined_at = extract(epoch FROM clock_timestamp()),"
                " quarantine_reason = %s WHERE id = %s",
                (quarantined_key(entry_id, row[0]), reason, int(entry_id)),
            )
        return True

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
            self._count_deletions(conn, rows, PURGED)
        return len(rows)

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    # -- bounds -----------------------------------------------------------------------------------

    def _count(self) -> tuple[int, int]:
        entries, size = self._read("count entries", "SELECT count(*), coalesce(sum(size), 0) FROM entry_use")[0]
        return int(entries), int(size)

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
                    self._count_deletions(conn, rows, EXPIRED)
                deleted += len(rows)
                if len(rows) < BATCH:
                    return deleted

    def _evict_lru(self, entries: int, size: int) -> tuple[int, int] | None:
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
                        self._count_deletions(conn, rows, CAPACITY)
                    if not chosen:
                        break
                    gone = sum(int(r[1]) for r in chosen)
                    entries, size = entries - len(chosen), size - gone
                    removed, freed = removed + len(rows), freed + gone
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return removed, freed

    def _count_deletions(self, conn: psycopg.Connection[Any], rows: Sequence[Sequence[Any]], reason: str) -> None:
        """Count deleted ``(namespace, family)`` rows under ``reason`` (inside the deleting transaction)."""
        if rows:
            with conn.cursor() as cur:
                cur.executemany(*self.deletion_rows(Counter((str(r[0]), str(r[1])) for r in rows), reason))

    # -- connections and indexes ------------------------------------------------------------------

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """Run on every new pooled connection: types, search path and HNSW search settings."""
        self._set_search_path(conn)
        self._register_vector(conn)
        conn.execute(f"SET hnsw.ef_search = {self.settings.ef_search}")
        conn.execute(f"SET synchronous_commit = {'on' if self.settings.synchronous_commit else 'off'}")
        # Filtered HNSW scans would otherwise stop after ef_search candidates and return fewer than
        # k rows when most neighbours belong to other namespaces or families.
        conn.execute("SET hnsw.iterative_scan = relaxed_order")

    def _set_search_path(self, conn: psycopg.Connection[Any]) -> None:
        from psycopg import sql

        conn.execute(sql.SQL("SET search_path = {}, public").format(sql.Identifier(self._schema)))

    def _indexed(self, conn: psycopg.Connection[Any]) -> set[str]:
        rows = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'entries'"
            " AND indexname LIKE 'entries\\_hnsw\\_%%'",
            (self._schema,),
        ).fetchall()
        return {str(name) for (name,) in rows}

    def _ensure_index(self, embedder: str, dim: int) -> None:
        """Create the HNSW index of ``embedder``'s vectors the first time one of them is stored."""
        name = hnsw_index_name(embedder, dim)
        if name in self._indexes or dim > HNSW_MAX_DIM:
            return
        with self._connection("create index") as conn, conn.transaction():
            # Two replicas creating the same index at once would collide in the catalog; queue them.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self._schema, "index"),))
            conn.execute(hnsw_index_statement(dim, embedder))
        with self._index_lock:
            self._indexes.add(name)

    @contextmanager
    def _connection(self, action: str) -> Iterator[psycopg.Connection[Any]]:
        if self._closed:
            raise StoreError("the PostgreSQL store is closed; open a new one")
        with self._errors(action), self._pool.connection() as conn:
            yield conn

    def _errors(self, action: str) -> AbstractContextManager[None]:
        return store_errors(self._where, self.settings, action)
